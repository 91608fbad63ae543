#include "metrics/self_metrics.h"

#include <linux/types.h>

namespace tcpconnect {
namespace {

const char* error_map_name(size_t i) {
  switch (i) {
    case TC_ERR_CONNECTS_FULL:
      return "connects";
    case TC_ERR_PENDING_FULL:
      return "pending";
    case TC_ERR_LATENCY_FULL:
      return "latency";
    case TC_ERR_DESTINATIONS_FULL:
      return "destinations";
    default:
      return "connects_outcome";
  }
}

// prometheus-cpp counters only increase; set one to a kernel-side cumulative value.
void advance_to(prometheus::Counter& c, double total) {
  double now = c.Value();
  if (total > now) c.Increment(total - now);
}

}  // namespace

SelfMetrics::SelfMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      build_info_(prometheus::BuildGauge()
                      .Name("tcpconnect_exporter_build_info")
                      .Help("Version of the running tcpconnect_exporter; always 1.")
                      .Register(*registry_)),
      probe_info_(prometheus::BuildGauge()
                      .Name("tcpconnect_probe_info")
                      .Help("The attached connect probe and the program type it uses; always 1.")
                      .Register(*registry_)),
      map_full_(prometheus::BuildCounter()
                    .Name("tcpconnect_map_full_total")
                    .Help("Kernel map updates that failed because the map was full. Connects "
                          "that hit a full 'connects' map are still counted, in the overflow "
                          "series.")
                    .Register(*registry_)),
      drain_errors_(prometheus::BuildCounter()
                        .Name("tcpconnect_drain_errors_total")
                        .Help("Drains of the kernel maps that failed.")
                        .Register(*registry_)),
      drain_duration_(prometheus::BuildHistogram()
                          .Name("tcpconnect_drain_duration_seconds")
                          .Help("Time taken to read the kernel maps and fold them into the "
                                "series store.")
                          .Register(*registry_)),
      series_(prometheus::BuildGauge()
                  .Name("tcpconnect_series")
                  .Help("Distinct label sets currently held, per metric.")
                  .Register(*registry_)),
      series_dropped_(prometheus::BuildCounter()
                          .Name("tcpconnect_series_dropped_total")
                          .Help("Increments folded into a metric's overflow series because "
                                "limits.max_series was reached.")
                          .Register(*registry_)),
      prog_run_seconds_(prometheus::BuildCounter()
                            .Name("tcpconnect_bpf_program_run_seconds_total")
                            .Help("Time spent in the BPF program (needs sysctl "
                                  "kernel.bpf_stats_enabled=1).")
                            .Register(*registry_)),
      prog_run_count_(prometheus::BuildCounter()
                          .Name("tcpconnect_bpf_program_runs_total")
                          .Help("Runs of the BPF program (needs sysctl "
                                "kernel.bpf_stats_enabled=1).")
                          .Register(*registry_)),
      prog_misses_(prometheus::BuildCounter()
                       .Name("tcpconnect_bpf_program_recursion_misses_total")
                       .Help("Runs of the BPF program the kernel skipped because it was "
                             "already running on that CPU. Connect attempts are never "
                             "skipped; an outcome (established/failed) can be.")
                       .Register(*registry_)),
      outcomes_lost_(prometheus::BuildCounter()
                         .Name("tcpconnect_connect_outcomes_lost_total")
                         .Help("Connects whose outcome was never seen (still in flight "
                               "after 10 minutes) and were removed from the stash.")
                         .Register(*registry_)),
      reload_ok_(prometheus::BuildGauge()
                     .Name("tcpconnect_config_last_reload_successful")
                     .Help("Whether the last configuration (re)load succeeded (1) or was "
                           "rejected, the previous configuration still running (0).")
                     .Register(*registry_)),
      reload_time_(prometheus::BuildGauge()
                       .Name("tcpconnect_config_last_reload_success_timestamp_seconds")
                       .Help("Time of the last successful configuration (re)load.")
                       .Register(*registry_)),
      series_expired_(prometheus::BuildCounter()
                          .Name("tcpconnect_series_expired_total")
                          .Help("Series removed because they did not grow for "
                                "limits.idle_expiry.")
                          .Register(*registry_)),
      keys_expired_(prometheus::BuildCounter()
                        .Name("tcpconnect_kernel_keys_expired_total")
                        .Help("Kernel map entries deleted because they did not grow for "
                              "limits.idle_expiry (their final counts folded first).")
                        .Register(*registry_)) {
  outcomes_lost_.Add({});
  for (size_t i = 0; i < TC_ERR_MAX; ++i) map_full_.Add({{"map", error_map_name(i)}});
  drain_errors_.Add({});
}

void SelfMetrics::set_build_info(const std::string& version, const std::string& revision) {
  build_info_.Add({{"version", version}, {"revision", revision}}).Set(1);
}

void SelfMetrics::set_probe_info(const std::string& backend, const std::string& program,
                                 uint32_t id) {
  // The id is what `bpftool prog show id N` takes, as in ebpf_exporter's program info.
  probe_info_
      .Add({{"probe", "connect"},
            {"backend", backend},
            {"program", program},
            {"id", std::to_string(id)}})
      .Set(1);
}

void SelfMetrics::update_kernel_errors(const ErrorCounts& errors) {
  for (size_t i = 0; i < errors.size(); ++i)
    advance_to(map_full_.Add({{"map", error_map_name(i)}}), static_cast<double>(errors[i]));
}

void SelfMetrics::observe_drain(double seconds, bool ok) {
  static const prometheus::Histogram::BucketBoundaries kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  drain_duration_.Add({}, kBounds).Observe(seconds);
  if (!ok) drain_errors_.Add({}).Increment();
}

void SelfMetrics::set_series(const std::string& metric, double n) {
  series_.Add({{"metric", metric}}).Set(n);
}

void SelfMetrics::set_series_dropped(const std::string& metric, uint64_t total) {
  advance_to(series_dropped_.Add({{"metric", metric}}), static_cast<double>(total));
}

void SelfMetrics::set_config_reload(bool ok, double unix_seconds) {
  reload_ok_.Add({}).Set(ok ? 1 : 0);
  if (ok) reload_time_.Add({}).Set(unix_seconds);
}

void SelfMetrics::set_series_expired(const std::string& metric, uint64_t total) {
  advance_to(series_expired_.Add({{"metric", metric}}), static_cast<double>(total));
}

void SelfMetrics::set_keys_expired(const std::string& map, uint64_t total) {
  advance_to(keys_expired_.Add({{"map", map}}), static_cast<double>(total));
}

void SelfMetrics::add_outcomes_lost(uint64_t n) {
  outcomes_lost_.Add({}).Increment(static_cast<double>(n));
}

void SelfMetrics::set_program_stats(const std::string& program, uint64_t run_time_ns,
                                    uint64_t run_count, uint64_t recursion_misses) {
  advance_to(prog_misses_.Add({{"program", program}}), static_cast<double>(recursion_misses));
  advance_to(prog_run_seconds_.Add({{"program", program}}),
             static_cast<double>(run_time_ns) / 1e9);
  advance_to(prog_run_count_.Add({{"program", program}}), static_cast<double>(run_count));
}

}  // namespace tcpconnect
