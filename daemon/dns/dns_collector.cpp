#include "dns/dns_collector.h"

#include <prometheus/metric_type.h>

#include <cstring>
#include <limits>
#include <string>

#include "dns/dns_layer.h"
#include "metrics/labels.h"
#include "metrics/metric_families.h"

namespace tcpconnect {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

ClientMetric counter(double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  return m;
}

ClientMetric gauge(double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  return m;
}

double load(const std::atomic<uint64_t>& a) {
  return static_cast<double>(a.load(std::memory_order_relaxed));
}

std::string name_label(const std::string& name) {
  return name.empty() ? std::string(kOverflowValue) : name;
}

// The lookup health metrics (dns/dns_lookups.h).
void append_lookups(const DnsLookups& lookups, std::vector<MetricFamily>& out) {
  const DnsLookups::Snapshot snap = lookups.snapshot();

  MetricFamily answered = metric::kDnsLookups.family();
  for (const auto& l : snap.lookups) {
    answered.metric.push_back(
        counter(static_cast<double>(l.count),
                metric::kDnsLookups.with(
                    {name_label(l.name), dns_qtype_name(l.qtype_slot), dns_rcode_name(l.rcode)})));
  }
  out.push_back(std::move(answered));

  MetricFamily unanswered = metric::kDnsLookupsUnanswered.family();
  for (const auto& u : snap.unanswered) {
    unanswered.metric.push_back(counter(
        static_cast<double>(u.count),
        metric::kDnsLookupsUnanswered.with({name_label(u.name), dns_qtype_name(u.qtype_slot)})));
  }
  out.push_back(std::move(unanswered));

  MetricFamily duration = metric::kDnsLookupDuration.family();
  for (const auto& [server, hist] : snap.durations) {
    ClientMetric m;
    uint8_t addr[16];
    std::memcpy(addr, server.addr.data(), sizeof(addr));
    m.label = metric::kDnsLookupDuration.with(
        {server.family == 0 ? std::string(kOverflowValue) : format_address(server.family, addr)});
    uint64_t cumulative = 0;
    for (size_t i = 0; i < hist.buckets.size(); ++i) {
      cumulative += hist.buckets[i];
      double bound = i < kDnsLookupBounds.size() ? kDnsLookupBounds[i]
                                                 : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(hist.sum_ns) / 1e9;
    duration.metric.push_back(std::move(m));
  }
  out.push_back(std::move(duration));

  MetricFamily dropped = metric::kDnsLookupSeriesDropped.family();
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_lookups),
              metric::kDnsLookupSeriesDropped.with({metric::kDnsLookups.name})));
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_unanswered),
              metric::kDnsLookupSeriesDropped.with({metric::kDnsLookupsUnanswered.name})));
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_durations),
              metric::kDnsLookupSeriesDropped.with({metric::kDnsLookupDuration.name})));
  out.push_back(std::move(dropped));
}

// How responses are captured, and what parsing made of them.
void append_responses(const DnsLayerState& s, std::vector<MetricFamily>& out) {
  MetricFamily info = metric::kDnsCaptureInfo.family();
  info.metric.push_back(gauge(1, metric::kDnsCaptureInfo.with({to_string(s.method)})));
  out.push_back(std::move(info));

  MetricFamily responses = metric::kDnsResponses.family();
  for (size_t r = 0; r < kDnsRcodeSlots; ++r) {
    for (size_t q = 0; q < kDnsQtypeSlots; ++q) {
      uint64_t n = s.stats.responses[r][q].load(std::memory_order_relaxed);
      if (n == 0) continue;
      responses.metric.push_back(
          counter(static_cast<double>(n),
                  metric::kDnsResponses.with({dns_rcode_name(r), dns_qtype_name(q)})));
    }
  }
  out.push_back(std::move(responses));

  MetricFamily errors = metric::kDnsParseErrors.family();
  for (size_t i = 0; i < static_cast<size_t>(DnsParseError::kCount); ++i) {
    errors.metric.push_back(
        counter(load(s.stats.parse_errors[i]),
                metric::kDnsParseErrors.with({to_string(static_cast<DnsParseError>(i))})));
  }
  out.push_back(std::move(errors));

  MetricFamily rejected = metric::kDnsResponsesRejected.family();
  rejected.metric.push_back(
      counter(static_cast<double>(s.stats.rejected_of(DnsRejection::kUnsolicited) +
                                  s.unsolicited_in_kernel.load(std::memory_order_relaxed)),
              metric::kDnsResponsesRejected.with({to_string(DnsRejection::kUnsolicited)})));
  rejected.metric.push_back(
      counter(static_cast<double>(s.stats.rejected_of(DnsRejection::kMismatch)),
              metric::kDnsResponsesRejected.with({to_string(DnsRejection::kMismatch)})));
  out.push_back(std::move(rejected));
}

// The questions local sockets asked.
void append_queries(const DnsLayerState& s, std::vector<MetricFamily>& out) {
  MetricFamily queries = metric::kDnsQueries.family();
  queries.metric.push_back(counter(load(s.stats.queries)));
  out.push_back(std::move(queries));

  MetricFamily pending = metric::kDnsQueriesPending.family();
  pending.metric.push_back(gauge(static_cast<double>(s.queries.pending())));
  out.push_back(std::move(pending));

  MetricFamily dropped = metric::kDnsQueriesDropped.family();
  dropped.metric.push_back(counter(static_cast<double>(s.queries.timed_out()),
                                   metric::kDnsQueriesDropped.with({"timeout"})));
  dropped.metric.push_back(counter(static_cast<double>(s.queries.pushed_out()),
                                   metric::kDnsQueriesDropped.with({"capacity"})));
  out.push_back(std::move(dropped));
}

// What the capture handed over, lost or could not read.
void append_packets(const DnsLayerState& s, std::vector<MetricFamily>& out) {
  MetricFamily captured = metric::kDnsPacketsCaptured.family();
  captured.metric.push_back(counter(load(s.captured)));
  out.push_back(std::move(captured));

  MetricFamily lost = metric::kDnsEventsLost.family();
  lost.metric.push_back(counter(load(s.lost)));
  out.push_back(std::move(lost));

  MetricFamily skipped = metric::kDnsPacketsSkipped.family();
  skipped.metric.push_back(
      counter(load(s.skipped_ipv6_ext), metric::kDnsPacketsSkipped.with({"ipv6_ext_headers"})));
  skipped.metric.push_back(
      counter(load(s.unreadable), metric::kDnsPacketsSkipped.with({"unreadable"})));
  out.push_back(std::move(skipped));
}

// The IP -> name cache.
void append_cache(const DnsLayerState& s, std::vector<MetricFamily>& out) {
  MetricFamily entries = metric::kDnsCacheEntries.family();
  entries.metric.push_back(gauge(static_cast<double>(s.cache.size())));
  out.push_back(std::move(entries));

  MetricFamily evictions = metric::kDnsCacheEvictions.family();
  evictions.metric.push_back(counter(static_cast<double>(s.cache.evicted_capacity()),
                                     metric::kDnsCacheEvictions.with({"capacity"})));
  evictions.metric.push_back(counter(static_cast<double>(s.cache.evicted_age()),
                                     metric::kDnsCacheEvictions.with({"age"})));
  out.push_back(std::move(evictions));
}

// Connects named by the cache, and how long after the answer they came.
void append_attribution(const DnsLayerState& s, std::vector<MetricFamily>& out) {
  MetricFamily attributions = metric::kDnsAttributions.family();
  const DnsAttribution& a = *s.attribution;
  attributions.metric.push_back(
      counter(static_cast<double>(a.hits()), metric::kDnsAttributions.with({"hit"})));
  attributions.metric.push_back(
      counter(static_cast<double>(a.misses()), metric::kDnsAttributions.with({"miss"})));
  out.push_back(std::move(attributions));

  MetricFamily delay = metric::kDnsConnectDelay.family();
  ClientMetric h;
  const DnsDelayHistogram& d = a.delay();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < d.buckets.size(); ++i) {
    cumulative += d.buckets[i].load(std::memory_order_relaxed);
    double bound =
        i < kDnsDelayBounds.size() ? kDnsDelayBounds[i] : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back({cumulative, bound});
  }
  // The count is the +Inf bucket, so that the two can never disagree mid-update.
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = load(d.sum_ns) / 1e9;
  delay.metric.push_back(std::move(h));
  out.push_back(std::move(delay));
}

}  // namespace

std::vector<MetricFamily> DnsCollector::Collect() const {
  const DnsLayerState& s = *state_;
  std::vector<MetricFamily> out;
  append_responses(s, out);
  append_queries(s, out);
  append_packets(s, out);
  append_cache(s, out);
  append_attribution(s, out);
  append_lookups(s.lookups, out);
  return out;
}

namespace {

class UnavailableCollector final : public prometheus::Collectable {
 public:
  std::vector<MetricFamily> Collect() const override {
    MetricFamily info = metric::kDnsCaptureUnavailable.family();
    info.metric.push_back(gauge(1, metric::kDnsCaptureUnavailable.with({"none"})));
    return {info};
  }
};

}  // namespace

std::shared_ptr<prometheus::Collectable> dns_capture_unavailable_collector() {
  return std::make_shared<UnavailableCollector>();
}

}  // namespace tcpconnect
