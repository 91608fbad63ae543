#include "metrics/self_metrics.h"

#include <linux/types.h>

#include "metrics/metric_families.h"

namespace tcpconnect {
namespace {

const char* error_map_name(size_t i) {
  switch (i) {
    case TC_ERR_CONNECTS_FULL:
      return "connects";
    case TC_ERR_PENDING_FULL:
      return "pending";
    case TC_ERR_START_LOST:
      return "starts";
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
      build_info_(register_family(prometheus::BuildGauge(), metric::kBuildInfo, *registry_)),
      probe_info_(register_family(prometheus::BuildGauge(), metric::kProbeInfo, *registry_)),
      map_full_(register_family(prometheus::BuildCounter(), metric::kMapFull, *registry_)),
      drain_errors_(register_family(prometheus::BuildCounter(), metric::kDrainErrors, *registry_)),
      drain_duration_(
          register_family(prometheus::BuildHistogram(), metric::kDrainDuration, *registry_)),
      series_(register_family(prometheus::BuildGauge(), metric::kSeries, *registry_)),
      series_dropped_(
          register_family(prometheus::BuildCounter(), metric::kSeriesDropped, *registry_)),
      prog_run_seconds_(
          register_family(prometheus::BuildCounter(), metric::kProgramRunSeconds, *registry_)),
      prog_run_count_(
          register_family(prometheus::BuildCounter(), metric::kProgramRuns, *registry_)),
      prog_misses_(
          register_family(prometheus::BuildCounter(), metric::kProgramRecursionMisses, *registry_)),
      outcomes_lost_(
          register_family(prometheus::BuildCounter(), metric::kOutcomesLost, *registry_)),
      reload_ok_(register_family(prometheus::BuildGauge(), metric::kReloadSuccessful, *registry_)),
      reload_time_(register_family(prometheus::BuildGauge(), metric::kReloadTimestamp, *registry_)),
      series_expired_(
          register_family(prometheus::BuildCounter(), metric::kSeriesExpired, *registry_)),
      keys_expired_(
          register_family(prometheus::BuildCounter(), metric::kKernelKeysExpired, *registry_)) {
  outcomes_lost_.Add({});
  for (size_t i = 0; i < TC_ERR_MAX; ++i)
    map_full_.Add(metric::kMapFull.labels_of({error_map_name(i)}));
  drain_errors_.Add({});
}

void SelfMetrics::set_build_info(const std::string& version, const std::string& revision) {
  build_info_.Add(metric::kBuildInfo.labels_of({version, revision})).Set(1);
}

void SelfMetrics::set_probe_info(const std::string& backend, const std::string& program,
                                 uint32_t id) {
  // The id is what `bpftool prog show id N` takes, as in ebpf_exporter's program info.
  probe_info_.Add(metric::kProbeInfo.labels_of({"connect", backend, program, std::to_string(id)}))
      .Set(1);
}

void SelfMetrics::update_kernel_errors(const ErrorCounts& errors) {
  for (size_t i = 0; i < errors.size(); ++i)
    advance_to(map_full_.Add(metric::kMapFull.labels_of({error_map_name(i)})),
               static_cast<double>(errors[i]));
}

void SelfMetrics::observe_drain(double seconds, bool ok) {
  static const prometheus::Histogram::BucketBoundaries kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  drain_duration_.Add({}, kBounds).Observe(seconds);
  if (!ok) drain_errors_.Add({}).Increment();
}

void SelfMetrics::set_series(const MetricDef& def, double n) {
  series_.Add(metric::kSeries.labels_of({def.name})).Set(n);
}

void SelfMetrics::set_series_dropped(const MetricDef& def, uint64_t total) {
  advance_to(series_dropped_.Add(metric::kSeriesDropped.labels_of({def.name})),
             static_cast<double>(total));
}

void SelfMetrics::set_config_reload(bool ok, double unix_seconds) {
  reload_ok_.Add({}).Set(ok ? 1 : 0);
  if (ok) reload_time_.Add({}).Set(unix_seconds);
}

void SelfMetrics::set_series_expired(const MetricDef& def, uint64_t total) {
  advance_to(series_expired_.Add(metric::kSeriesExpired.labels_of({def.name})),
             static_cast<double>(total));
}

void SelfMetrics::set_keys_expired(const std::string& map, uint64_t total) {
  advance_to(keys_expired_.Add(metric::kKernelKeysExpired.labels_of({map})),
             static_cast<double>(total));
}

void SelfMetrics::set_kubelet_log_entries_rejected(uint64_t n) {
  if (!kubelet_rejected_) {
    kubelet_rejected_ =
        &register_family(prometheus::BuildGauge(), metric::kKubeletLogEntriesRejected, *registry_);
  }
  kubelet_rejected_->Add({}).Set(static_cast<double>(n));
}

void SelfMetrics::add_outcomes_lost(uint64_t n) {
  outcomes_lost_.Add({}).Increment(static_cast<double>(n));
}

void SelfMetrics::set_program_stats(const std::string& program, uint64_t run_time_ns,
                                    uint64_t run_count, uint64_t recursion_misses) {
  advance_to(prog_misses_.Add(metric::kProgramRecursionMisses.labels_of({program})),
             static_cast<double>(recursion_misses));
  advance_to(prog_run_seconds_.Add(metric::kProgramRunSeconds.labels_of({program})),
             static_cast<double>(run_time_ns) / 1e9);
  advance_to(prog_run_count_.Add(metric::kProgramRuns.labels_of({program})),
             static_cast<double>(run_count));
}

}  // namespace tcpconnect

namespace tcpconnect {

void SelfMetrics::update_store(const SeriesStore& store) {
  set_series(metric::kConnects, static_cast<double>(store.connects().size()));
  set_series(metric::kConnectDuration, static_cast<double>(store.latency().size()));
  set_series_dropped(metric::kConnects, store.dropped().connects);
  set_series_dropped(metric::kConnectFailures, store.dropped().failures);
  set_series_dropped(metric::kConnectDuration, store.dropped().duration);
  if (store.unexpected_enabled()) {
    set_series(metric::kUnexpectedConnects, static_cast<double>(store.unexpected().size()));
    set_series_dropped(metric::kUnexpectedConnects, store.dropped().unexpected);
    set_series_expired(metric::kUnexpectedConnects, store.expired().unexpected);
  }
  if (store.stale_enabled()) {
    set_series(metric::kStaleConnects, static_cast<double>(store.stale().size()));
    set_series_dropped(metric::kStaleConnects, store.dropped().stale);
    set_series_expired(metric::kStaleConnects, store.expired().stale);
  }
  set_series_expired(metric::kConnects, store.expired().connects);
  set_series_expired(metric::kConnectDuration, store.expired().duration);
}

}  // namespace tcpconnect
