// The exporter's metrics about itself: what is attached, what it costs, and what could
// not be counted per key.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "metrics/series_store.h"
#include "probes/connect_source.h"

namespace tcpconnect {

struct MetricDef;

class SelfMetrics {
 public:
  SelfMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void set_build_info(const std::string& version, const std::string& revision);
  void set_probe_info(const std::string& backend, const std::string& program, uint32_t id);
  // Cumulative in-kernel error counters.
  void update_kernel_errors(const ErrorCounts& errors);
  void observe_drain(double seconds, bool ok);
  // Per family of the store: series held, increments dropped by the cap, series
  // expired.
  void update_store(const SeriesStore& store);
  void set_program_stats(const std::string& program, uint64_t run_time_ns, uint64_t run_count,
                         uint64_t recursion_misses);
  void add_outcomes_lost(uint64_t n);
  // The Prometheus server's own convention: whether the last (re)load of the config file
  // succeeded, and when one last did (set at start too).
  void set_config_reload(bool ok, double unix_seconds);
  // Cumulative: kernel keys deleted by limits.idle_expiry, per map.
  void set_keys_expired(const std::string& map, uint64_t total);
  // Registered at the first call: hosts without kubelet pods never show it.
  void set_kubelet_log_entries_rejected(uint64_t n);

 private:
  void set_series(const MetricDef& family, double n);
  void set_series_dropped(const MetricDef& family, uint64_t total);
  // Cumulative: series removed by limits.idle_expiry.
  void set_series_expired(const MetricDef& family, uint64_t total);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Gauge>& probe_info_;
  prometheus::Family<prometheus::Counter>& map_full_;
  prometheus::Family<prometheus::Counter>& drain_errors_;
  prometheus::Family<prometheus::Histogram>& drain_duration_;
  prometheus::Family<prometheus::Gauge>& series_;
  prometheus::Family<prometheus::Counter>& series_dropped_;
  prometheus::Family<prometheus::Counter>& prog_run_seconds_;
  prometheus::Family<prometheus::Counter>& prog_run_count_;
  prometheus::Family<prometheus::Counter>& prog_misses_;
  prometheus::Family<prometheus::Counter>& outcomes_lost_;
  prometheus::Family<prometheus::Gauge>& reload_ok_;
  prometheus::Family<prometheus::Gauge>& reload_time_;
  prometheus::Family<prometheus::Counter>& series_expired_;
  prometheus::Family<prometheus::Counter>& keys_expired_;
  prometheus::Family<prometheus::Gauge>* kubelet_rejected_ = nullptr;
};

}  // namespace tcpconnect
