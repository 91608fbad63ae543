// SIGHUP: reread the configuration file and apply what can change while the probes stay
// attached — filters, labels, limits, the allowlist, the drain interval — without
// resetting or losing any count. What cannot (web, probes.backend, probes.max_entries,
// dns) is logged as needing a restart and keeps running as it is. An invalid file, or one
// whose filters or labels cannot be applied (a pinned map that does not exist, or that the
// kernel refuses), is rejected as a whole: the running configuration stays, the kernel's
// filter maps included.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/diff.h"
#include "util/result.h"

namespace tcpconnect {

class ConnectProbe;
class Drain;
class DnsLayer;
class DrainLoop;
class SeriesStore;

// Where a reload's changes go. The daemon's implementation is DaemonReloadTarget; tests
// record the calls.
class ReloadTarget {
 public:
  virtual ~ReloadTarget() = default;
  // Validates everything the file alone does not show (cgroup paths, pinned maps) and
  // only then changes the kernel's filter maps. On error nothing changed.
  virtual Status apply_filters(const FiltersConfig& filters) = 0;
  // Takes back the last apply_filters (a later step of the same reload failed).
  virtual Status revert_filters() = 0;
  virtual Status apply_labels(const LabelsConfig& labels, const AllowlistConfig& allowlist) = 0;
  virtual void apply_limits(const LimitsConfig& limits) = 0;
  virtual void apply_drain_interval(std::chrono::milliseconds interval) = 0;
};

struct ReloadOutcome {
  bool ok = false;
  std::string error;  // "FILE:LINE:COLUMN: problem" for a bad file
  ConfigDiff diff;
};

// Loads and validates `path` (a --web.listen-address override replaces the file's
// listen address, as at start), then applies the live changes to `target` — filters
// first, the one step that can still refuse — and updates `running` to what now runs
// (the restart-only keys keep their running values). Logs what it did.
ReloadOutcome reload_config(const std::string& path, const std::string& listen_override,
                            Config& running, ReloadTarget& target);

// The daemon's running parts a reload changes.
class DaemonReloadTarget final : public ReloadTarget {
 public:
  // `dns`, when DNS names are on, follows limits.max_series too (its lookup metrics).
  DaemonReloadTarget(ConnectProbe& probe, Drain& drain, SeriesStore& store, DrainLoop& loop,
                     DnsLayer* dns = nullptr)
      : probe_(probe), drain_(drain), store_(store), loop_(loop), dns_(dns) {}
  // The kernel's filters, then the drain's pod filters.
  Status apply_filters(const FiltersConfig& filters) override;
  Status revert_filters() override;
  // The kernel's filters, at start.
  static Status apply_filters_to(ConnectProbe& probe, const FiltersConfig& filters);
  Status apply_labels(const LabelsConfig& labels, const AllowlistConfig& allowlist) override;
  void apply_limits(const LimitsConfig& limits) override;
  void apply_drain_interval(std::chrono::milliseconds interval) override;

 private:
  ConnectProbe& probe_;
  Drain& drain_;
  SeriesStore& store_;
  DrainLoop& loop_;
  DnsLayer* dns_;
  FiltersConfig previous_pod_filters_;
};

// Logs config_warnings() and the filters' unresolved cgroups, at start and after every
// reload.
void log_config_warnings(const Config& config);

}  // namespace tcpconnect
