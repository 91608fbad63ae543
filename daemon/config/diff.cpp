#include "config/diff.h"

#include <utility>

namespace tcpconnect {

ConfigDiff diff_config(const Config& running, const Config& next) {
  ConfigDiff d;
  d.filters = running.filters != next.filters;
  d.labels = running.labels != next.labels;
  d.allowlist = running.allowlist != next.allowlist;
  d.limits = running.limits != next.limits;
  d.drain_interval = running.probes.drain_interval != next.probes.drain_interval;
  if (running.web != next.web) d.needs_restart.emplace_back("web");
  if (running.probes.backend != next.probes.backend) d.needs_restart.emplace_back("probes.backend");
  if (running.probes.max_entries != next.probes.max_entries)
    d.needs_restart.emplace_back("probes.max_entries");
  if (running.dns != next.dns) d.needs_restart.emplace_back("dns");
  if (running.kubernetes != next.kubernetes) d.needs_restart.emplace_back("kubernetes");
  return d;
}

std::vector<std::string> ConfigDiff::live_changed() const {
  std::vector<std::string> keys;
  for (auto [on, key] : {std::pair{filters, "filters"},
                         {labels, "labels"},
                         {allowlist, "allowlist"},
                         {limits, "limits"},
                         {drain_interval, "probes.drain_interval"}})
    if (on) keys.emplace_back(key);
  return keys;
}

}  // namespace tcpconnect
