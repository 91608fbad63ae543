#include "dns/dns_collector.h"

#include <prometheus/metric_type.h>

#include <cstring>
#include <limits>
#include <string>

#include "dns/dns_layer.h"
#include "metrics/labels.h"

namespace tcpconnect {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  return MetricFamily{name, help, type, {}};
}

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

constexpr const char* kLookupsName = "tcpconnect_dns_lookups_total";
constexpr const char* kUnansweredName = "tcpconnect_dns_lookups_unanswered_total";
constexpr const char* kDurationName = "tcpconnect_dns_lookup_duration_seconds";

std::string name_label(const std::string& name) {
  return name.empty() ? std::string(kOverflowValue) : name;
}

// The lookup health metrics (dns/dns_lookups.h).
void append_lookups(const DnsLookups& lookups, std::vector<MetricFamily>& out) {
  const DnsLookups::Snapshot snap = lookups.snapshot();

  MetricFamily answered =
      family(kLookupsName,
             "DNS lookups answered (responses matched to the question a local socket asked), "
             "by the name asked, question type and response code. At most limits.max_series "
             "names: beyond, dns_name=\"overflow\".",
             MetricType::Counter);
  for (const auto& l : snap.lookups) {
    answered.metric.push_back(
        counter(static_cast<double>(l.count), {{"dns_name", name_label(l.name)},
                                               {"qtype", std::string(dns_qtype_name(l.qtype_slot))},
                                               {"rcode", std::string(dns_rcode_name(l.rcode))}}));
  }
  out.push_back(std::move(answered));

  MetricFamily unanswered =
      family(kUnansweredName,
             "DNS questions a local socket asked that no matching response answered within "
             "dns.lookup_timeout, by the name asked and question type. At most "
             "limits.max_series names: beyond, dns_name=\"overflow\".",
             MetricType::Counter);
  for (const auto& u : snap.unanswered) {
    unanswered.metric.push_back(counter(
        static_cast<double>(u.count),
        {{"dns_name", name_label(u.name)}, {"qtype", std::string(dns_qtype_name(u.qtype_slot))}}));
  }
  out.push_back(std::move(unanswered));

  MetricFamily duration = family(kDurationName,
                                 "Time from a DNS query to its matching response, by the "
                                 "address the query went to. At most limits.max_series "
                                 "servers: beyond, server=\"overflow\".",
                                 MetricType::Histogram);
  for (const auto& [server, hist] : snap.durations) {
    ClientMetric m;
    uint8_t addr[16];
    std::memcpy(addr, server.addr.data(), sizeof(addr));
    m.label = {{"server", server.family == 0 ? std::string(kOverflowValue)
                                             : format_address(server.family, addr)}};
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

  MetricFamily dropped =
      family("tcpconnect_dns_lookup_series_dropped_total",
             "Increments of a DNS lookup metric that went to its overflow series because it "
             "already had limits.max_series label sets, by metric.",
             MetricType::Counter);
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_lookups), {{"metric", kLookupsName}}));
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_unanswered), {{"metric", kUnansweredName}}));
  dropped.metric.push_back(
      counter(static_cast<double>(snap.dropped_durations), {{"metric", kDurationName}}));
  out.push_back(std::move(dropped));
}

}  // namespace

std::vector<MetricFamily> DnsCollector::Collect() const {
  const DnsLayerState& s = *state_;
  std::vector<MetricFamily> out;

  MetricFamily info = family("tcpconnect_dns_capture_info",
                             "How DNS responses are captured (cgroup_skb or packet_socket); "
                             "always 1.",
                             MetricType::Gauge);
  info.metric.push_back(gauge(1, {{"method", std::string(to_string(s.method))}}));
  out.push_back(std::move(info));

  MetricFamily responses =
      family("tcpconnect_dns_responses_total",
             "DNS responses parsed, by response code and question type.", MetricType::Counter);
  for (size_t r = 0; r < kDnsRcodeSlots; ++r) {
    for (size_t q = 0; q < kDnsQtypeSlots; ++q) {
      uint64_t n = s.stats.responses[r][q].load(std::memory_order_relaxed);
      if (n == 0) continue;
      responses.metric.push_back(counter(
          static_cast<double>(n),
          {{"rcode", std::string(dns_rcode_name(r))}, {"qtype", std::string(dns_qtype_name(q))}}));
    }
  }
  out.push_back(std::move(responses));

  MetricFamily errors = family("tcpconnect_dns_parse_errors_total",
                               "DNS messages (or TCP segments) not used, or used in part, by "
                               "reason.",
                               MetricType::Counter);
  for (size_t i = 0; i < static_cast<size_t>(DnsParseError::kCount); ++i) {
    errors.metric.push_back(
        counter(load(s.stats.parse_errors[i]),
                {{"reason", std::string(to_string(static_cast<DnsParseError>(i)))}}));
  }
  out.push_back(std::move(errors));

  MetricFamily rejected =
      family("tcpconnect_dns_responses_rejected_total",
             "DNS responses that name nothing because they answer no question the receiving "
             "socket asked: unsolicited (no question outstanding from that socket to that "
             "server, or the socket never asked DNS at all), mismatch (questions outstanding, "
             "none with this id and question).",
             MetricType::Counter);
  rejected.metric.push_back(
      counter(static_cast<double>(s.stats.rejected_of(DnsRejection::kUnsolicited) +
                                  s.unsolicited_in_kernel.load(std::memory_order_relaxed)),
              {{"reason", std::string(to_string(DnsRejection::kUnsolicited))}}));
  rejected.metric.push_back(
      counter(static_cast<double>(s.stats.rejected_of(DnsRejection::kMismatch)),
              {{"reason", std::string(to_string(DnsRejection::kMismatch))}}));
  out.push_back(std::move(rejected));

  MetricFamily queries = family("tcpconnect_dns_queries_total",
                                "DNS queries sent by local sockets and remembered for their "
                                "answer.",
                                MetricType::Counter);
  queries.metric.push_back(counter(load(s.stats.queries)));
  out.push_back(std::move(queries));

  MetricFamily pending = family("tcpconnect_dns_queries_pending",
                                "DNS questions asked and not yet answered (at most "
                                "the query table's size).",
                                MetricType::Gauge);
  pending.metric.push_back(gauge(static_cast<double>(s.queries.pending())));
  out.push_back(std::move(pending));

  MetricFamily dropped = family("tcpconnect_dns_queries_dropped_total",
                                "DNS questions forgotten unanswered: after the lookup timeout "
                                "(timeout), or pushed out of a full query table (capacity), "
                                "whose late answers then name nothing.",
                                MetricType::Counter);
  dropped.metric.push_back(
      counter(static_cast<double>(s.queries.timed_out()), {{"reason", "timeout"}}));
  dropped.metric.push_back(
      counter(static_cast<double>(s.queries.pushed_out()), {{"reason", "capacity"}}));
  out.push_back(std::move(dropped));

  MetricFamily captured =
      family("tcpconnect_dns_packets_captured_total",
             "DNS packets (queries sent, and packets from a DNS port to sockets that asked) "
             "handed to the parser.",
             MetricType::Counter);
  captured.metric.push_back(counter(load(s.captured)));
  out.push_back(std::move(captured));

  MetricFamily lost = family("tcpconnect_dns_events_lost_total",
                             "Packets from a DNS source port the capture had no room for (ring "
                             "or socket buffer full).",
                             MetricType::Counter);
  lost.metric.push_back(counter(load(s.lost)));
  out.push_back(std::move(lost));

  MetricFamily skipped = family("tcpconnect_dns_packets_skipped_total",
                                "Packets the capture could not inspect: IPv6 packets whose "
                                "transport header is behind too many extension headers, and "
                                "packets from a DNS port with unreadable headers.",
                                MetricType::Counter);
  skipped.metric.push_back(counter(load(s.skipped_ipv6_ext), {{"reason", "ipv6_ext_headers"}}));
  skipped.metric.push_back(counter(load(s.unreadable), {{"reason", "unreadable"}}));
  out.push_back(std::move(skipped));

  MetricFamily entries = family("tcpconnect_dns_cache_entries",
                                "Addresses the DNS cache currently names.", MetricType::Gauge);
  entries.metric.push_back(gauge(static_cast<double>(s.cache.size())));
  out.push_back(std::move(entries));

  MetricFamily evictions = family("tcpconnect_dns_cache_evictions_total",
                                  "Answers dropped from the DNS cache: to make room (capacity) "
                                  "or older than dns.max_age (age).",
                                  MetricType::Counter);
  evictions.metric.push_back(
      counter(static_cast<double>(s.cache.evicted_capacity()), {{"reason", "capacity"}}));
  evictions.metric.push_back(
      counter(static_cast<double>(s.cache.evicted_age()), {{"reason", "age"}}));
  out.push_back(std::move(evictions));

  MetricFamily attributions = family("tcpconnect_dns_attributions_total",
                                     "Connects whose destination had a name (hit: a DNS answer, "
                                     "or localhost for loopback) or none (miss). Counted by "
                                     "the periodic drain: may trail "
                                     "tcpconnect_connects_total by up to probes.drain_interval.",
                                     MetricType::Counter);
  const DnsAttribution& a = *s.attribution;
  attributions.metric.push_back(counter(static_cast<double>(a.hits()), {{"result", "hit"}}));
  attributions.metric.push_back(counter(static_cast<double>(a.misses()), {{"result", "miss"}}));
  out.push_back(std::move(attributions));

  MetricFamily delay = family("tcpconnect_dns_connect_delay_seconds",
                              "Time from the DNS answer that named a destination to the latest "
                              "connect to it, once per destination and drain interval with "
                              "connects.",
                              MetricType::Histogram);
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
  append_lookups(s.lookups, out);
  return out;
}

namespace {

class UnavailableCollector final : public prometheus::Collectable {
 public:
  std::vector<MetricFamily> Collect() const override {
    MetricFamily info = family("tcpconnect_dns_capture_info",
                               "How DNS responses are captured (cgroup_skb or packet_socket; "
                               "none when no capture could start); always 1.",
                               MetricType::Gauge);
    info.metric.push_back(gauge(1, {{"method", "none"}}));
    return {info};
  }
};

}  // namespace

std::shared_ptr<prometheus::Collectable> dns_capture_unavailable_collector() {
  return std::make_shared<UnavailableCollector>();
}

}  // namespace tcpconnect
