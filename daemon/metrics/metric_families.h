// Every metric family the exporter serves: its name, type, help and label names, written
// here and nowhere else. The producers take them from here: the direct renderer of the
// connect series (metrics/text_renderer), the self metrics through prometheus-cpp
// (metrics/self_metrics, web/scrape_metrics), the DNS metrics (dns/dns_collector). A new
// metric is one entry here plus the code that sets its value.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/registry.h>

#include <array>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tcpconnect {

struct MetricDef {
  static constexpr size_t kMaxLabels = 4;

  std::string_view name;
  prometheus::MetricType type;
  std::string_view help;
  // The labels this definition fixes, in the order they are written. Families of the
  // connect series (connect_labels) are first labelled by the configured label set
  // (labels.keep); their own labels follow it.
  std::array<std::string_view, kMaxLabels> label_names{};
  bool connect_labels = false;
  // A help text that names another family: help, then that family's name, then
  // help_tail.
  const MetricDef* help_names = nullptr;
  std::string_view help_tail{};

  constexpr std::span<const std::string_view> labels() const {
    size_t n = 0;
    while (n < label_names.size() && !label_names[n].empty()) ++n;
    return {label_names.data(), n};
  }
  std::vector<std::string> label_vector() const { return {labels().begin(), labels().end()}; }
  std::string full_help() const;
  // "counter", "gauge", "histogram", ... as the text format's TYPE line says.
  std::string_view type_name() const;
  // An empty family to fill (for collectables).
  prometheus::MetricFamily family() const;
  // The label names zipped with these values, in order (as many values as labels).
  std::vector<prometheus::ClientMetric::Label> with(
      std::initializer_list<std::string_view> values) const;
  // The same, as prometheus-cpp's families take them.
  prometheus::Labels labels_of(std::initializer_list<std::string_view> values) const;
};

// A family of the catalogue registered with prometheus-cpp, e.g.
// register_family(prometheus::BuildGauge(), metric::kSeries, registry).
template <typename Builder>
auto& register_family(Builder builder, const MetricDef& def, prometheus::Registry& registry) {
  return builder.Name(std::string(def.name)).Help(def.full_help()).Register(registry);
}

namespace metric {

using prometheus::MetricType;
inline constexpr MetricType kCounter = MetricType::Counter;
inline constexpr MetricType kGauge = MetricType::Gauge;
inline constexpr MetricType kHistogram = MetricType::Histogram;

// The connect series, rendered from the series store (metrics/text_renderer).
inline constexpr MetricDef kConnects{
    "tcpconnect_connects_total",
    kCounter,
    "Outbound TCP connect attempts (SYN sent), counted in the kernel.",
    {},
    true};
inline constexpr MetricDef kConnectFailures{
    "tcpconnect_connect_failures_total",
    kCounter,
    "Outbound TCP connects that did not establish, by reason.",
    {"reason"},
    true};
inline constexpr MetricDef kSynRetransmits{
    "tcpconnect_syn_retransmits_total",
    kCounter,
    "SYN retransmissions of outbound TCP connects, counted at their outcome.",
    {},
    true};
inline constexpr MetricDef kConnectsInFlight{
    "tcpconnect_connects_in_flight",
    kGauge,
    "Outbound TCP connects waiting for an answer (SYN sent, no outcome yet), at the latest "
    "drain.",
    {},
    true};
inline constexpr MetricDef kConnectDuration{"tcpconnect_connect_duration_seconds",
                                            kHistogram,
                                            "Time from SYN sent to connection established.",
                                            {"dns_name", "daddr"}};
inline constexpr MetricDef kUnexpectedConnects{
    "tcpconnect_unexpected_connects_total",
    kCounter,
    "Outbound TCP connect attempts whose destination matched no allowlist rule.",
    {},
    true};
inline constexpr MetricDef kStaleConnects{
    "tcpconnect_dns_stale_connects_total",
    kCounter,
    "Outbound TCP connect attempts to an address that the latest DNS answer for its name "
    "no longer gives, once the answer that gave it outlived its TTL plus dns.stale_grace; "
    "dns_name is the name that gave it. Decided per destination and drain.",
    {},
    true};

// The exporter about itself (metrics/self_metrics).
inline constexpr MetricDef kBuildInfo{"tcpconnect_exporter_build_info",
                                      kGauge,
                                      "Version of the running tcpconnect_exporter; always 1.",
                                      {"version", "revision"}};
inline constexpr MetricDef kProbeInfo{
    "tcpconnect_probe_info",
    kGauge,
    "The attached connect probe and the program type it uses; always 1.",
    {"probe", "backend", "program", "id"}};
inline constexpr MetricDef kMapFull{
    "tcpconnect_map_full_total",
    kCounter,
    "Kernel map updates that failed because the map was full. Connects that hit a full "
    "'connects' map are still counted, in the overflow series.",
    {"map"}};
inline constexpr MetricDef kDrainErrors{"tcpconnect_drain_errors_total", kCounter,
                                        "Drains of the kernel maps that failed."};
inline constexpr MetricDef kDrainDuration{
    "tcpconnect_drain_duration_seconds", kHistogram,
    "Time taken to read the kernel maps and fold them into the series store."};
inline constexpr MetricDef kSeries{
    "tcpconnect_series", kGauge, "Distinct label sets currently held, per metric.", {"metric"}};
inline constexpr MetricDef kSeriesDropped{
    "tcpconnect_series_dropped_total",
    kCounter,
    "Increments folded into a metric's overflow series because limits.max_series was "
    "reached.",
    {"metric"}};
inline constexpr MetricDef kProgramRunSeconds{
    "tcpconnect_bpf_program_run_seconds_total",
    kCounter,
    "Time spent in the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
    {"program"}};
inline constexpr MetricDef kProgramRuns{
    "tcpconnect_bpf_program_runs_total",
    kCounter,
    "Runs of the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
    {"program"}};
inline constexpr MetricDef kProgramRecursionMisses{
    "tcpconnect_bpf_program_recursion_misses_total",
    kCounter,
    "Runs of the BPF program the kernel skipped because it was already running on that "
    "CPU. Connect attempts are never skipped; an outcome (established/failed) can be.",
    {"program"}};
inline constexpr MetricDef kOutcomesLost{
    "tcpconnect_connect_outcomes_lost_total", kCounter,
    "Connects whose outcome was never seen (still in flight after 10 minutes) and were "
    "given up on."};
inline constexpr MetricDef kReloadSuccessful{
    "tcpconnect_config_last_reload_successful", kGauge,
    "Whether the last configuration (re)load succeeded (1) or was rejected, the previous "
    "configuration still running (0)."};
inline constexpr MetricDef kReloadTimestamp{
    "tcpconnect_config_last_reload_success_timestamp_seconds", kGauge,
    "Time of the last successful configuration (re)load."};
inline constexpr MetricDef kSeriesExpired{
    "tcpconnect_series_expired_total",
    kCounter,
    "Series removed because they did not grow for limits.idle_expiry.",
    {"metric"}};
inline constexpr MetricDef kKernelKeysExpired{
    "tcpconnect_kernel_keys_expired_total",
    kCounter,
    "Kernel map entries deleted because they did not grow for limits.idle_expiry (their "
    "final counts folded first).",
    {"map"}};
inline constexpr MetricDef kKubeletLogEntriesRejected{
    "tcpconnect_kubelet_log_entries_rejected", kGauge,
    "Entries of kubelet's log directories that the latest scan refused to name pods by: "
    "names that are not Kubernetes names, pod uids or container ids claimed twice. Present "
    "once a connect from a kubelet pod cgroup was named."};

// The HTTP endpoint about its scrapes (web/scrape_metrics).
inline constexpr MetricDef kScrapes{"tcpconnect_scrapes_total", kCounter,
                                    "Responses to the telemetry path sent with the metrics."};
inline constexpr MetricDef kScrapeDuration{
    "tcpconnect_scrape_duration_seconds", kHistogram,
    "Time to render and send one response to the telemetry path."};
inline constexpr MetricDef kScrapeBytes{
    "tcpconnect_scrape_bytes_total", kCounter,
    "Bytes of the telemetry path's response bodies sent (gzip-compressed when the client "
    "asked for it)."};

// The DNS layer (dns/dns_collector).
inline constexpr MetricDef kDnsCaptureInfo{
    "tcpconnect_dns_capture_info",
    kGauge,
    "How DNS responses are captured (fentry, cgroup_skb or packet_socket); always 1.",
    {"method"}};
// The same family when dns.enabled but no capture could start.
inline constexpr MetricDef kDnsCaptureUnavailable{
    kDnsCaptureInfo.name,
    kGauge,
    "How DNS responses are captured (fentry, cgroup_skb or packet_socket; none when no "
    "capture "
    "could start); always 1.",
    {"method"}};
inline constexpr MetricDef kDnsResponses{
    "tcpconnect_dns_responses_total",
    kCounter,
    "DNS responses parsed, by response code and question type.",
    {"rcode", "qtype"}};
inline constexpr MetricDef kDnsParseErrors{
    "tcpconnect_dns_parse_errors_total",
    kCounter,
    "DNS messages (or TCP segments) not used, or used in part, by reason.",
    {"reason"}};
inline constexpr MetricDef kDnsResponsesRejected{
    "tcpconnect_dns_responses_rejected_total",
    kCounter,
    "DNS responses that name nothing because they answer no question the receiving socket "
    "asked: unsolicited (no question outstanding from that socket to that server, or the "
    "socket never asked DNS at all), mismatch (questions outstanding, none with this id "
    "and question).",
    {"reason"}};
inline constexpr MetricDef kDnsQueries{
    "tcpconnect_dns_queries_total", kCounter,
    "DNS queries sent by local sockets and remembered for their answer."};
inline constexpr MetricDef kDnsQueriesPending{
    "tcpconnect_dns_queries_pending", kGauge,
    "DNS questions asked and not yet answered (at most the query table's size)."};
inline constexpr MetricDef kDnsQueriesDropped{
    "tcpconnect_dns_queries_dropped_total",
    kCounter,
    "DNS questions forgotten unanswered: after the lookup timeout (timeout), or pushed out "
    "of a full query table (capacity), whose late answers then name nothing.",
    {"reason"}};
inline constexpr MetricDef kDnsPacketsCaptured{
    "tcpconnect_dns_packets_captured_total", kCounter,
    "DNS packets (queries sent, and packets from a DNS port to sockets that asked) handed "
    "to the parser."};
inline constexpr MetricDef kDnsEventsLost{
    "tcpconnect_dns_events_lost_total", kCounter,
    "Packets from a DNS source port the capture had no room for (ring or socket buffer "
    "full)."};
inline constexpr MetricDef kDnsPacketsSkipped{
    "tcpconnect_dns_packets_skipped_total",
    kCounter,
    "Packets the capture could not inspect: IPv6 packets whose transport header is behind "
    "too many extension headers, and packets from a DNS port with unreadable headers.",
    {"reason"}};
inline constexpr MetricDef kDnsCacheEntries{"tcpconnect_dns_cache_entries", kGauge,
                                            "Addresses the DNS cache currently names."};
inline constexpr MetricDef kDnsCacheEvictions{
    "tcpconnect_dns_cache_evictions_total",
    kCounter,
    "Answers dropped from the DNS cache: to make room (capacity) or older than dns.max_age "
    "(age).",
    {"reason"}};
inline constexpr MetricDef kDnsAttributions{
    "tcpconnect_dns_attributions_total",
    kCounter,
    "Connects whose destination had a name (hit: a DNS answer, or localhost for loopback) "
    "or none (miss). Counted by the periodic drain: may trail ",
    {"result"},
    false,
    &kConnects,
    " by up to probes.drain_interval."};
inline constexpr MetricDef kDnsConnectDelay{
    "tcpconnect_dns_connect_delay_seconds", kHistogram,
    "Time from the DNS answer that named a destination to the latest connect to it, once "
    "per destination and drain interval with connects."};
inline constexpr MetricDef kDnsLookups{
    "tcpconnect_dns_lookups_total",
    kCounter,
    "DNS lookups answered (responses matched to the question a local socket asked), by the "
    "name asked, question type and response code. At most limits.max_series names: beyond, "
    "dns_name=\"overflow\".",
    {"dns_name", "qtype", "rcode"}};
inline constexpr MetricDef kDnsLookupsUnanswered{
    "tcpconnect_dns_lookups_unanswered_total",
    kCounter,
    "DNS questions a local socket asked that no matching response answered within "
    "dns.lookup_timeout, by the name asked and question type. At most limits.max_series "
    "names: beyond, dns_name=\"overflow\".",
    {"dns_name", "qtype"}};
inline constexpr MetricDef kDnsLookupDuration{
    "tcpconnect_dns_lookup_duration_seconds",
    kHistogram,
    "Time from a DNS query to its matching response, by the address the query went to. At "
    "most limits.max_series servers: beyond, server=\"overflow\".",
    {"server"}};
inline constexpr MetricDef kDnsLookupSeriesDropped{
    "tcpconnect_dns_lookup_series_dropped_total",
    kCounter,
    "Increments of a DNS lookup metric that went to its overflow series because it already "
    "had limits.max_series label sets, by metric.",
    {"metric"}};

// Every family once (kDnsCaptureUnavailable is kDnsCaptureInfo's other help text), for the
// checks of the catalogue as a whole.
inline constexpr const MetricDef* kAll[] = {
    &kConnects,
    &kConnectFailures,
    &kSynRetransmits,
    &kConnectsInFlight,
    &kConnectDuration,
    &kUnexpectedConnects,
    &kStaleConnects,
    &kBuildInfo,
    &kProbeInfo,
    &kMapFull,
    &kDrainErrors,
    &kDrainDuration,
    &kSeries,
    &kSeriesDropped,
    &kProgramRunSeconds,
    &kProgramRuns,
    &kProgramRecursionMisses,
    &kOutcomesLost,
    &kReloadSuccessful,
    &kReloadTimestamp,
    &kSeriesExpired,
    &kKernelKeysExpired,
    &kKubeletLogEntriesRejected,
    &kScrapes,
    &kScrapeDuration,
    &kScrapeBytes,
    &kDnsCaptureInfo,
    &kDnsResponses,
    &kDnsParseErrors,
    &kDnsResponsesRejected,
    &kDnsQueries,
    &kDnsQueriesPending,
    &kDnsQueriesDropped,
    &kDnsPacketsCaptured,
    &kDnsEventsLost,
    &kDnsPacketsSkipped,
    &kDnsCacheEntries,
    &kDnsCacheEvictions,
    &kDnsAttributions,
    &kDnsConnectDelay,
    &kDnsLookups,
    &kDnsLookupsUnanswered,
    &kDnsLookupDuration,
    &kDnsLookupSeriesDropped,
};

}  // namespace metric
}  // namespace tcpconnect
