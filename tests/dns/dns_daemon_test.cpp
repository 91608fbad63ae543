// The built daemon as a process, with dns.* in its config file: a real dnsmasq, glibc's
// getaddrinfo then connect, and the names read back from /metrics on exact counts, for
// each capture method; an allowlist name rule matched against those names. Root only
// (the daemon loads BPF programs).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/http.h"
#include "common/metric_samples.h"
#include "common/net.h"
#include "dns/dns_testing.h"
#include "integration/daemon_process.h"

namespace tcpconnect {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Dnsmasq;

std::string answer_v4(int n) {
  return "127.83." + std::to_string(getpid() % 250 + 1) + "." + std::to_string(n);
}

class DnsDaemonTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    if (testing::run_shell("command -v dnsmasq") != 0) GTEST_SKIP() << "dnsmasq is not installed";
    std::string error;
    Dnsmasq::Options o;
    o.listen = {testing::unique_loopback_v4(7)};
    o.port = 53;
    o.records = {"--host-record=api.daemon.tcx.test," + answer_v4(1),
                 "--cname=www.daemon.tcx.test,api.daemon.tcx.test",
                 "--host-record=ready.daemon.tcx.test,127.0.0.1"};
    o.ready_name = "ready.daemon.tcx.test";
    dns_ = Dnsmasq::start(o, &error);
    ASSERT_TRUE(dns_) << error;

    char dir[] = "/tmp/tcx-dns-daemon-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    dir_ = dir;
    const std::string config = dir_ + "/config.yaml";
    // Only a name rule: a connect is expected only through the name DNS gave it.
    std::ofstream(config) << "dns:\n  enabled: true\n  ports: [53]\n  capture: " << GetParam()
                          << "\nallowlist:\n  - name: \"*.daemon.tcx.test\"\n";
    port_ = testing::free_tcp_port();
    daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{
        {"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)},
        {},
        false});
    ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  }
  void TearDown() override {
    daemon_.reset();
    if (!dir_.empty()) testing::run_shell("rm -rf '" + dir_ + "'");
  }

  // The value once the daemon has folded it: a scrape drains first, but waits for the
  // drain at most 200 ms, so a busy machine may need a second scrape (at most 50).
  std::optional<double> scrape(const std::string& metric, std::initializer_list<std::string> labels,
                               double want) {
    std::optional<double> v;
    for (int i = 0; i < 50; ++i) {
      auto r = testing::http_get("127.0.0.1", port_, "/metrics");
      if (r && r->status == 200) {
        body_ = r->body;
        v = testing::metric_value(r->body, metric, labels);
        if (v && *v >= want) return v;
      }
      std::this_thread::sleep_for(100ms);
    }
    return v;
  }

  std::unique_ptr<Dnsmasq> dns_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::string dir_;
  std::string body_;
  uint16_t port_ = 0;
};

TEST_P(DnsDaemonTest, NamesConnectsOnMetrics) {
  testing::Listener l = testing::listen_tcp(AF_INET, answer_v4(1));
  std::string out;
  ASSERT_EQ(testing::run_shell(testing::dns_client_binary() + " --nameserver " + dns_->address() +
                                   " --family inet --connect-port " + std::to_string(l.port) +
                                   " resolve www.daemon.tcx.test www.daemon.tcx.test",
                               &out),
            0)
      << out;
  const std::string dport = "dport=\"" + std::to_string(l.port) + "\"";
  auto v = scrape("tcpconnect_connects_total", {dport, "dns_name=\"www.daemon.tcx.test\""}, 2);
  ASSERT_TRUE(v) << body_;
  EXPECT_EQ(*v, 2);
  // No other series for that port: the destination carries no other name (without an
  // answer, a loopback destination would be named "localhost", not left empty).
  const testing::Samples all = testing::samples(body_, "tcpconnect_connects_total", {dport});
  EXPECT_EQ(all.count, 1) << body_;
  EXPECT_EQ(all.sum, 2);
  // auto: cgroup_skb (the test hosts mount cgroup2); never fentry, even where it loads.
  const std::string method = GetParam() == "auto" ? "cgroup_skb" : GetParam();
  EXPECT_EQ(
      testing::metric_value(body_, "tcpconnect_dns_capture_info", {"method=\"" + method + "\""}), 1)
      << body_;
  auto responses = testing::metric_value(body_, "tcpconnect_dns_responses_total",
                                         {"rcode=\"NOERROR\"", "qtype=\"A\""});
  ASSERT_TRUE(responses);
  EXPECT_GE(*responses, 2);
  EXPECT_EQ(testing::metric_value(body_, "tcpconnect_dns_events_lost_total"), 0);
  // Lookup health, rendered: the name asked, its qtype and rcode; the time per server.
  auto lookups =
      scrape("tcpconnect_dns_lookups_total",
             {"dns_name=\"www.daemon.tcx.test\"", "qtype=\"A\"", "rcode=\"NOERROR\""}, 2);
  ASSERT_TRUE(lookups) << body_;
  EXPECT_GE(*lookups, 2);
  auto timed = testing::metric_value(body_, "tcpconnect_dns_lookup_duration_seconds_count",
                                     {"server=\"" + dns_->address() + "\""});
  ASSERT_TRUE(timed) << body_;
  EXPECT_GE(*timed, 2);
  ASSERT_TRUE(testing::dns_query(dns_->address(), 53, "nx.daemon.tcx.test", 1, false));
  auto nx = scrape("tcpconnect_dns_lookups_total",
                   {"dns_name=\"nx.daemon.tcx.test\"", "qtype=\"A\"", "rcode=\"NXDOMAIN\""}, 1);
  ASSERT_TRUE(nx) << body_;
  EXPECT_EQ(*nx, 1);
  // Stale connects exist as a family whenever DNS names are on (none here).
  EXPECT_NE(body_.find("# TYPE tcpconnect_dns_stale_connects_total counter"), std::string::npos);
  EXPECT_EQ(testing::metric_value(body_, "tcpconnect_dns_lookup_series_dropped_total",
                                  {"metric=\"tcpconnect_dns_lookups_total\""}),
            0);
  // Attribution runs in the periodic drains only (not in a scrape's), so it may trail the
  // connect counts by a drain interval: polled for.
  auto hits = scrape("tcpconnect_dns_attributions_total", {"result=\"hit\""}, 2);
  ASSERT_TRUE(hits) << body_;
  EXPECT_GE(*hits, 2);
  auto delays = scrape("tcpconnect_dns_connect_delay_seconds_count", {}, 1);
  ASSERT_TRUE(delays) << body_;
  EXPECT_GE(*delays, 1);

  // The allowlist's name glob: the named destination is expected; an address no answer
  // named (loopback, so dns_name="localhost") matches no rule and is unexpected.
  testing::Listener unnamed = testing::listen_tcp(AF_INET, answer_v4(2));
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(testing::connect_once(AF_INET, answer_v4(2), unnamed.port), 0);
  const std::string unnamed_dport = "dport=\"" + std::to_string(unnamed.port) + "\"";
  auto unexpected =
      scrape("tcpconnect_unexpected_connects_total", {unnamed_dport, "dns_name=\"localhost\""}, 3);
  ASSERT_TRUE(unexpected) << body_;
  EXPECT_EQ(*unexpected, 3);
  EXPECT_EQ(testing::metric_value(body_, "tcpconnect_connects_total", {unnamed_dport}), 3);
  EXPECT_EQ(testing::metric_value(body_, "tcpconnect_unexpected_connects_total", {dport}),
            std::nullopt)
      << body_;
}

// Whoever can send a datagram from port 53 cannot satisfy a name rule: a forged answer
// naming an address with a name the allowlist expects, sent to a socket that never asked,
// names nothing, and connects there stay unexpected.
TEST_P(DnsDaemonTest, ForgedAnswerDoesNotSatisfyANameRule) {
  testing::Listener l = testing::listen_tcp(AF_INET, answer_v4(3));
  ASSERT_TRUE(
      testing::send_unsolicited(testing::a_answer(0x4242, "trusted.daemon.tcx.test", answer_v4(3)),
                                testing::unique_loopback_v4(8)));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(testing::connect_once(AF_INET, answer_v4(3), l.port), 0);
  const std::string dport = "dport=\"" + std::to_string(l.port) + "\"";
  auto unexpected =
      scrape("tcpconnect_unexpected_connects_total", {dport, "dns_name=\"localhost\""}, 3);
  ASSERT_TRUE(unexpected) << body_;
  EXPECT_EQ(*unexpected, 3);
  EXPECT_EQ(testing::metric_value(body_, "tcpconnect_connects_total",
                                  {dport, "dns_name=\"trusted.daemon.tcx.test\""}),
            std::nullopt)
      << body_;
  auto rejected = testing::metric_value(body_, "tcpconnect_dns_responses_rejected_total",
                                        {"reason=\"unsolicited\""});
  ASSERT_TRUE(rejected) << body_;
  EXPECT_GE(*rejected, 1);
}

INSTANTIATE_TEST_SUITE_P(Methods, DnsDaemonTest,
                         ::testing::Values("auto", "cgroup_skb", "packet_socket"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tcpconnect
