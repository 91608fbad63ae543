#include "connect_collector.h"

#include <prometheus/metric_type.h>

#include <limits>

#include "metrics/labels.h"
#include "metrics/metric_families.h"

namespace tcpconnect {
namespace {

constexpr uint64_t kLatencyBoundsNs[TC_LAT_BUCKETS - 1] = {TC_LAT_BOUNDS_NS};

std::vector<prometheus::ClientMetric::Label> make_labels(const std::vector<std::string>& names,
                                                         const LabelValues* values) {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(names.size() + 1);
  for (size_t i = 0; i < names.size(); ++i) {
    out.push_back({names[i], values ? (*values)[i] : std::string(kOverflowValue)});
  }
  return out;
}

}  // namespace

ConnectCollector::ConnectCollector(std::shared_ptr<const SeriesStore> store,
                                   std::vector<std::string> label_names)
    : store_(std::move(store)), label_names_(std::move(label_names)) {}

std::vector<prometheus::MetricFamily> ConnectCollector::Collect() const {
  // One consistent view: a reload that re-folds the store waits for this scrape.
  auto lock = store_->read_lock();
  std::vector<std::string> store_names = store_->label_names();
  const std::vector<std::string>& names = store_names.empty() ? label_names_ : store_names;
  prometheus::MetricFamily connects = metric::kConnects.family();
  prometheus::MetricFamily failures = metric::kConnectFailures.family();
  prometheus::MetricFamily retransmits = metric::kSynRetransmits.family();
  prometheus::MetricFamily in_flight = metric::kConnectsInFlight.family();
  prometheus::MetricFamily duration = metric::kConnectDuration.family();

  // Sized up front: at 100k series a vector grown by doubling copies its ClientMetrics
  // (each with its label vector) about 17 times over and peaks at 1.5 times the size.
  connects.metric.reserve(store_->connects().size() + 1);
  failures.metric.reserve(store_->connects().size() + 1);
  store_->connects().for_each([&](const LabelValues* values, const ConnectCounts& c) {
    prometheus::ClientMetric& m = connects.metric.emplace_back();
    m.label = make_labels(names, values);
    m.counter.value = static_cast<double>(c.attempts);
    for (uint32_t r = 0; r < c.failed.size(); ++r) {
      if (c.failed[r] == 0) continue;
      prometheus::ClientMetric& f = failures.metric.emplace_back();
      f.label.reserve(m.label.size() + 1);
      f.label = m.label;
      f.label.push_back({std::string(metric::kConnectFailures.label_names[0]),
                         std::string(failure_reason_name(r))});
      f.counter.value = static_cast<double>(c.failed[r]);
    }
    if (c.syn_retransmits != 0) {
      prometheus::ClientMetric& r = retransmits.metric.emplace_back();
      r.label = m.label;
      r.counter.value = static_cast<double>(c.syn_retransmits);
    }
  });

  const SeriesStore::InFlight waiting = store_->in_flight();
  for (const auto& [values, n] : waiting.series) {
    prometheus::ClientMetric& m = in_flight.metric.emplace_back();
    m.label = make_labels(names, &values);
    m.gauge.value = static_cast<double>(n);
  }
  if (waiting.overflow != 0) {
    prometheus::ClientMetric& m = in_flight.metric.emplace_back();
    m.label = make_labels(names, nullptr);
    m.gauge.value = static_cast<double>(waiting.overflow);
  }

  duration.metric.reserve(store_->latency().size() + 1);
  store_->latency().for_each([&](const LabelValues* values, const LatencyCounts& l) {
    prometheus::ClientMetric m;
    m.label = make_labels(metric::kConnectDuration.label_vector(), values);
    m.histogram.sample_count = l.count;
    m.histogram.sample_sum = static_cast<double>(l.sum_ns) / 1e9;
    uint64_t cumulative = 0;
    m.histogram.bucket.reserve(l.buckets.size());
    for (size_t i = 0; i < l.buckets.size(); ++i) {
      cumulative += l.buckets[i];
      double bound = i < TC_LAT_BUCKETS - 1 ? static_cast<double>(kLatencyBoundsNs[i]) / 1e9
                                            : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    duration.metric.push_back(std::move(m));
  });

  std::vector<prometheus::MetricFamily> out;
  out.push_back(std::move(connects));
  out.push_back(std::move(failures));
  out.push_back(std::move(retransmits));
  out.push_back(std::move(in_flight));
  out.push_back(std::move(duration));
  // Only with an allowlist: absent, the family does not exist at all.
  if (store_->unexpected_enabled()) {
    prometheus::MetricFamily unexpected = metric::kUnexpectedConnects.family();
    store_->unexpected().for_each([&](const LabelValues* values, const UnexpectedCounts& c) {
      prometheus::ClientMetric m;
      m.label = make_labels(names, values);
      m.counter.value = static_cast<double>(c.attempts);
      unexpected.metric.push_back(std::move(m));
    });
    out.push_back(std::move(unexpected));
  }
  if (store_->stale_enabled()) {
    prometheus::MetricFamily stale = metric::kStaleConnects.family();
    store_->stale().for_each([&](const LabelValues* values, const UnexpectedCounts& c) {
      prometheus::ClientMetric m;
      m.label = make_labels(names, values);
      m.counter.value = static_cast<double>(c.attempts);
      stale.metric.push_back(std::move(m));
    });
    out.push_back(std::move(stale));
  }
  return out;
}

}  // namespace tcpconnect
