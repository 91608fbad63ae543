// The whole /metrics body for a fixed input, byte for byte: kernel keys fed through the
// drain into the store, the self metrics and the DNS metrics set to fixed values, served
// by the web server in the daemon's order and fetched over HTTP. It pins the exposition
// (names, help, types, label order, formatting, family order) so that moving the code
// that writes it cannot change it unnoticed.
//
// TCPCONNECT_UPDATE_GOLDEN=1 rewrites the golden file from what is served now; the diff
// is then the change to review.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/http.h"
#include "dns/dns_collector.h"
#include "dns/dns_layer.h"
#include "drain/drain.h"
#include "fake_connect_source.h"
#include "metrics/self_metrics.h"
#include "metrics/text_renderer.h"
#include "web/web_server.h"

namespace tcpconnect {
namespace {

using testing::counts;
using testing::FakeConnectSource;
using testing::v4_key;

const std::string kGoldenPath =
    std::string(TCPCONNECT_SOURCE_DIR) + "/tests/unit/golden/metrics.txt";

tc_connect_key v6_key(const char* saddr, const char* daddr, uint16_t dport) {
  tc_connect_key k{};
  k.family = TC_AF_INET6;
  k.dport = dport;
  inet_pton(AF_INET6, saddr, k.saddr);
  inet_pton(AF_INET6, daddr, k.daddr);
  return k;
}

// Connects of every shape the renderer writes: established, failed by several reasons,
// SYN retransmissions, a latency histogram, one in flight, IPv4 and IPv6, named, unnamed
// and stale destinations.
void fill_kernel(FakeConnectSource& source) {
  const tc_connect_key named = v4_key("127.0.0.1", "127.0.0.2", 443);
  const tc_connect_key refused = v4_key("127.0.0.1", "127.0.0.3", 8080);
  const tc_connect_key stale = v4_key("127.0.0.1", "127.0.0.9", 80);
  const tc_connect_key v6 = v6_key("::1", "::1", 9476);
  tc_connect_counts failing = counts(7, 2, 3);
  failing.failed[TC_FAIL_TIMEOUT] = 1;
  failing.failed[TC_FAIL_RESET] = 1;
  failing.syn_retransmits = 4;
  tc_connect_counts named_counts = counts(12, 12);
  named_counts.latency.count = 12;
  named_counts.latency.sum_ns = 3'750'000;
  named_counts.latency.buckets[0] = 8;
  named_counts.latency.buckets[2] = 3;
  named_counts.latency.buckets[5] = 1;
  tc_connect_counts v6_counts = counts(3, 3);
  v6_counts.latency.count = 3;
  v6_counts.latency.sum_ns = 90'001;
  v6_counts.latency.buckets[0] = 3;
  source.connects = {
      {named, named_counts}, {refused, failing}, {stale, counts(2, 2)}, {v6, v6_counts}};
  source.in_flight = {refused};
  source.errors[TC_ERR_PENDING_FULL] = 5;
}

bool same_address(const uint8_t (&addr)[16], const char* v4) {
  in_addr a{};
  inet_pton(AF_INET, v4, &a);
  return std::memcmp(addr, &a, 4) == 0;
}

// The store statistics the daemon publishes after each drain.
void publish_store(SelfMetrics& self, const SeriesStore& store, const Drain& drain) {
  self.update_kernel_errors(drain.kernel_errors());
  self.update_store(store);
  Drain::ExpiryStats expired = drain.expiry_stats();
  self.set_keys_expired("connects", expired.connect_keys_deleted);
}

// DNS counters with fixed values (what the capture, parser and attribution would count).
std::shared_ptr<DnsLayerState> dns_state() {
  auto s = std::make_shared<DnsLayerState>(DnsCache::Options{}, DnsQueries::Options{}, 100);
  s->method = DnsCapture::kCgroupSkb;
  s->stats.responses[0][dns_qtype_slot(1)] = 4;
  s->stats.responses[3][dns_qtype_slot(28)] = 1;
  s->stats.queries = 6;
  s->stats.count(DnsParseError::kCaptureTruncated);
  s->stats.reject(DnsRejection::kMismatch);
  s->captured = 11;
  s->unreadable = 1;
  std::array<uint8_t, 16> server{127, 0, 0, 53};
  s->lookups.answered("example.test", dns_qtype_slot(1), 0, AF_INET, server, 300'000);
  s->lookups.answered("missing.test", dns_qtype_slot(28), 3, AF_INET, server, 2'000'000);
  s->lookups.unanswered("slow.test", dns_qtype_slot(1));
  s->attribution = std::make_unique<DnsAttribution>(s->cache, DestinationReader{});
  return s;
}

std::string served_metrics() {
  FakeConnectSource source;
  fill_kernel(source);
  auto store = std::make_shared<SeriesStore>(100);
  store->set_stale_enabled(true);
  LabelsConfig labels;
  DestinationNamer namer = [](uint64_t, uint16_t family, const uint8_t(&addr)[16]) {
    return family == TC_AF_INET && same_address(addr, "127.0.0.2") ? std::string("example.test")
                                                                   : std::string();
  };
  Drain drain(source, store, labels, namer);
  drain.set_stale_checker([](uint64_t, uint16_t family, const uint8_t(&addr)[16]) {
    return family == TC_AF_INET && same_address(addr, "127.0.0.9");
  });
  AllowlistConfig allowlist;
  allowlist.enabled = true;  // no rule: every connect is unexpected
  EXPECT_TRUE(drain.configure(labels, allowlist).ok());
  EXPECT_TRUE(drain.run_once().ok());

  SelfMetrics self;
  self.set_build_info("1.2.3", "golden");
  self.set_probe_info("tp_btf", "tc_connect_tp_btf", 42);
  self.set_config_reload(true, 1700000000.5);
  self.observe_drain(0.0003, true);
  self.observe_drain(0.02, false);
  publish_store(self, *store, drain);
  self.set_program_stats("tc_connect_tp_btf", 1'500'000'000, 3000, 1);
  self.add_outcomes_lost(2);

  WebConfig web;
  web.listen_address = "127.0.0.1:0";
  auto server = WebServer::start(web);
  EXPECT_TRUE(server) << (server ? "" : server.error().message);
  if (!server) return {};
  std::vector<std::string> names;
  for (Label l : labels.keep) names.emplace_back(to_string(l));
  server.value()->add(
      [store, names](std::string& out) { render_connect_series(*store, names, out); });
  server.value()->add(self.registry());
  std::shared_ptr<prometheus::Collectable> dns = std::make_shared<DnsCollector>(dns_state());
  server.value()->add(dns);
  auto response =
      testing::http_get("127.0.0.1", static_cast<uint16_t>(server.value()->port()), "/metrics",
                        30000);  // a loaded machine can be slow to answer
  EXPECT_TRUE(response);
  if (!response) return {};
  EXPECT_EQ(response->status, 200);
  return response->body;
}

TEST(MetricsGolden, ServedTextIsTheGoldenFile) {
  const std::string body = served_metrics();
  ASSERT_FALSE(body.empty());
  if (std::getenv("TCPCONNECT_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(kGoldenPath, std::ios::binary) << body;
    GTEST_SKIP() << "rewrote " << kGoldenPath;
  }
  std::ifstream in(kGoldenPath, std::ios::binary);
  ASSERT_TRUE(in) << kGoldenPath;
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(body, golden.str());
}

// Without a capture the DNS metrics say so in one family.
TEST(MetricsGolden, UnavailableDnsCapture) {
  std::string out;
  render_families(dns_capture_unavailable_collector()->Collect(), out);
  EXPECT_EQ(out,
            "# HELP tcpconnect_dns_capture_info How DNS responses are captured (fentry, cgroup_skb "
            "or packet_socket; none when no capture could start); always 1.\n"
            "# TYPE tcpconnect_dns_capture_info gauge\n"
            "tcpconnect_dns_capture_info{method=\"none\"} 1\n");
}

}  // namespace
}  // namespace tcpconnect
