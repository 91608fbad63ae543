#include "app/reload.h"

#include <spdlog/spdlog.h>

#include "dns/dns_layer.h"
#include "drain/drain.h"
#include "drain/drain_loop.h"
#include "metrics/series_store.h"
#include "probes/connect_probe.h"
#include "web/web_tls.h"

namespace tcpconnect {

void log_config_warnings(const Config& config) {
  for (const std::string& w : config_warnings(config)) spdlog::warn("config: {}", w);
}

namespace {

// What a reload applied, what waits for a restart, and the warnings of the new file.
void log_reloaded(const std::string& path, const ConfigDiff& d, const Config& running,
                  const Config& next) {
  std::string changed;
  for (const std::string& key : d.live_changed()) changed += (changed.empty() ? "" : ", ") + key;
  spdlog::info("configuration reloaded from {}: {}", path,
               changed.empty() ? "nothing that runs changed" : "applied " + changed);
  if (!d.needs_restart.empty()) {
    std::string keys;
    for (const std::string& k : d.needs_restart) keys += (keys.empty() ? "" : ", ") + k;
    spdlog::warn(
        "reload: changes to {} take effect at the next restart; the running values "
        "stay until then",
        keys);
  }
  Config effective = running;
  effective.dns = next.dns;  // warnings are about the file as written
  log_config_warnings(effective);
}

}  // namespace

ReloadOutcome reload_config(const std::string& path, const std::string& listen_override,
                            Config& running, ReloadTarget& target) {
  ReloadOutcome out;
  auto loaded = load_config_file(path, check_web_files);
  if (!loaded) {
    out.error = loaded.error().message;
    spdlog::error("reload rejected, the running configuration stays: {}", out.error);
    return out;
  }
  Config next = std::move(loaded).value();
  if (!listen_override.empty()) {
    next.web.listen_address = listen_override;
    if (Status s = validate_config(next); !s) {
      out.error = s.error().message;
      spdlog::error("reload rejected, the running configuration stays: {}", out.error);
      return out;
    }
  }
  out.diff = diff_config(running, next);
  const ConfigDiff& d = out.diff;

  if (d.filters) {
    if (Status s = target.apply_filters(next.filters); !s) {
      out.error = path + ": " + s.error().message;
      spdlog::error("reload rejected, the running configuration stays: {}", out.error);
      return out;
    }
  }
  if (d.labels || d.allowlist) {
    if (Status s = target.apply_labels(next.labels, next.allowlist); !s) {
      out.error = path + ": applying labels: " + s.error().message;
      // The filters applied above go back to what they were.
      if (Status r = d.filters ? target.revert_filters() : Status{Ok{}}; !r) {
        out.error += "; putting the previous filters back: " + r.error().message;
        running.filters = next.filters;
        spdlog::error("reload failed part-way (filters applied, labels not): {}", out.error);
        return out;
      }
      spdlog::error("reload rejected, the running configuration stays: {}", out.error);
      return out;
    }
    running.labels = next.labels;
    running.allowlist = next.allowlist;
  }
  if (d.filters) running.filters = next.filters;
  if (d.limits) {
    target.apply_limits(next.limits);
    running.limits = next.limits;
  }
  if (d.drain_interval) {
    target.apply_drain_interval(next.probes.drain_interval);
    running.probes.drain_interval = next.probes.drain_interval;
  }
  running.source = next.source;
  out.ok = true;

  log_reloaded(path, d, running, next);
  return out;
}

Status DaemonReloadTarget::apply_filters_to(ConnectProbe& probe, const FiltersConfig& filters) {
  ConnectFilters& f = probe.filters();
  Status s = f.apply(filters);
  if (s)
    for (const std::string& path : f.missing_cgroups())
      spdlog::warn("filters.cgroups: {} does not exist (yet): counted once it does", path);
  return s;
}

Status DaemonReloadTarget::apply_filters(const FiltersConfig& filters) {
  if (Status s = apply_filters_to(probe_, filters); !s) return s;
  previous_pod_filters_ = drain_.pod_filters();
  if (Status s = drain_.set_pod_filters(filters); !s) {
    if (Status r = probe_.filters().revert(); !r) return r;
    return s;
  }
  return Ok{};
}

Status DaemonReloadTarget::revert_filters() {
  Status s = probe_.filters().revert();
  Status pods = drain_.set_pod_filters(previous_pod_filters_);
  return s ? pods : s;
}

Status DaemonReloadTarget::apply_labels(const LabelsConfig& labels,
                                        const AllowlistConfig& allowlist) {
  Status s = drain_.configure(labels, allowlist);
  if (s) {
    std::vector<std::string> names;
    for (Label l : labels.keep) names.emplace_back(to_string(l));
    spdlog::info("labels now [{}]; existing series were re-folded from the kernel's counts",
                 fmt::join(names, ", "));
  }
  return s;
}

void DaemonReloadTarget::apply_limits(const LimitsConfig& limits) {
  store_.set_max_series(limits.max_series);
  if (dns_) dns_->set_max_series(limits.max_series);
  drain_.set_idle_expiry(limits.idle_expiry);
}

void DaemonReloadTarget::apply_drain_interval(std::chrono::milliseconds interval) {
  loop_.set_interval(interval);
}

}  // namespace tcpconnect
