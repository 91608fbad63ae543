// Overload: the built daemon given more than it can carry. Root only; traffic stays on
// loopback; every load is bounded by count and time; nothing asserts on a duration.
//
// DNS: a flood of real responses from the configured DNS source port into a 4 KiB ring,
// first while the daemon runs (it must keep answering /metrics), then while its consumer
// is stopped (SIGSTOP: the ring fills and the rest must be counted as lost). Connects
// made meanwhile are counted exactly all the same: they come from the kernel's counters,
// not from an event ring.
//
// Connect map: more distinct destinations than probes.max_entries: the rest is counted in
// the overflow series and in tcpconnect_map_full_total, and the totals stay exact. (The
// probe-level case is tests/bpf/connect_probe_test.cpp; this is the daemon's rendering.)
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "common/http.h"
#include "common/metric_samples.h"
#include "common/net.h"
#include "dns/dns_flood.h"
#include "dns/dns_testing.h"
#include "integration/daemon_process.h"
#include "reliability/reliability_testing.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string dport(uint16_t port) { return "dport=\"" + std::to_string(port) + "\""; }

class OverloadedDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    char dir[] = "/tmp/tcx-overload-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    dir_ = dir;
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) kill(daemon_->pid(), SIGCONT);
    daemon_.reset();
    if (!dir_.empty()) run_shell("rm -rf '" + dir_ + "'");
  }
  void start(const std::string& config_text) {
    const std::string config = dir_ + "/config.yaml";
    write_file_atomically(config, config_text);
    port_ = free_tcp_port();
    daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{
        {"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)},
        {},
        false});
    ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  }
  // A scrape once `metric` (summed) reaches `want`: a scrape drains first but waits for
  // the drain at most 200 ms, so a busy machine may need another (bounded: 50 x 100 ms).
  std::string scrape_until(const std::string& metric, double want) {
    std::string body;
    for (int i = 0; i < 50; ++i) {
      auto r = http_get("127.0.0.1", port_, "/metrics");
      if (r && r->status == 200) {
        body = r->body;
        if (samples(body, metric).sum >= want) break;
      }
      std::this_thread::sleep_for(100ms);
    }
    return body;
  }

  std::string dir_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(OverloadedDaemon, DnsFloodLosesOnlyEnrichmentAndMetricsKeepAnswering) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  const uint16_t closed = closed_port(AF_INET, "127.0.0.1");
  const uint16_t sport = free_udp_tcp_port(AF_INET, "127.0.0.1");
  constexpr uint32_t kRingBytes = 4096;  // the smallest dns.ring_bytes
  start("filters:\n  ports: [" + std::to_string(l.port) + ", " + std::to_string(closed) +
        "]\ndns:\n  ports: [" + std::to_string(sport) +
        "]\n  capture: cgroup_skb\n"
        "  ring_bytes: " +
        std::to_string(kRingBytes) + "\n");
  DnsResponseFlood flood(
      sport, load_flood_responses(std::string(TCPCONNECT_SOURCE_DIR) + "/tests/dns/fixtures"));
  uint64_t established = 0, refused = 0, other = 0;
  auto connects = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const int err = connect_once(AF_INET, "127.0.0.1", i % 4 ? l.port : closed);
      if (err == 0)
        ++established;
      else if (err == ECONNREFUSED)
        ++refused;
      else
        ++other;
    }
    drain_accepts(l);
  };

  // 1. The daemon running: a flood as fast as one thread sends (at most 2M responses or
  // 8 s), connects and a scrape every ~100 ms meanwhile.
  std::atomic<bool> flooding{true};
  std::thread sender([&] {
    flood.send(2000000, 0, 8.0);
    flooding = false;
  });
  int scrapes = 0, scrape_failures = 0;
  while (flooding && scrapes < 200) {
    connects(40);
    auto r = http_get("127.0.0.1", port_, "/metrics");
    ++scrapes;
    if (!r || r->status != 200) ++scrape_failures;
    std::this_thread::sleep_for(100ms);
  }
  sender.join();
  const uint64_t received_running = flood.settle();
  const uint64_t sent_running = flood.sent();
  std::string body =
      scrape_until("tcpconnect_connects_total", static_cast<double>(established + refused));
  const double lost_running = samples(body, "tcpconnect_dns_events_lost_total").sum;
  const double captured_running = samples(body, "tcpconnect_dns_packets_captured_total").sum;
  std::printf(
      "overload, running: sent %llu, received %llu, captured %.0f, lost %.0f; "
      "%d scrapes during the flood, %d failed\n",
      static_cast<unsigned long long>(sent_running),
      static_cast<unsigned long long>(received_running), captured_running, lost_running, scrapes,
      scrape_failures);
  EXPECT_GT(scrapes, 0);
  EXPECT_EQ(scrape_failures, 0);

  // 2. The consumer stopped: the ring holds at most kRingBytes / 8 events (each has an
  // 8-byte ring header and more), so nearly all of these must be counted as lost.
  ASSERT_EQ(kill(daemon_->pid(), SIGSTOP), 0);
  flood.send(20000, 0, 10.0);
  connects(200);
  const uint64_t received_stopped = flood.settle() - received_running;
  ASSERT_EQ(kill(daemon_->pid(), SIGCONT), 0);
  body = scrape_until("tcpconnect_connects_total", static_cast<double>(established + refused));
  // And once more, so that what the poller took after SIGCONT is in.
  body = scrape_until("tcpconnect_dns_events_lost_total",
                      lost_running + static_cast<double>(received_stopped) - kRingBytes / 8.0);
  const double lost = samples(body, "tcpconnect_dns_events_lost_total").sum;
  const double captured = samples(body, "tcpconnect_dns_packets_captured_total").sum;
  const double responses = samples(body, "tcpconnect_dns_responses_total").sum;
  const double rejected = samples(body, "tcpconnect_dns_responses_rejected_total").sum;
  std::printf(
      "overload, stopped: received %llu, lost %.0f (of those %.0f); in all: sent %llu, "
      "received %llu, captured %.0f, lost %.0f, parsed %.0f\n",
      static_cast<unsigned long long>(received_stopped), lost - lost_running,
      static_cast<double>(received_stopped), static_cast<unsigned long long>(flood.sent()),
      static_cast<unsigned long long>(flood.received()), captured, lost, responses);

  // Enrichment lost, and counted: every response that reached its socket went past the
  // capture and was either captured or counted lost; none is counted twice. (The reader's
  // one query is captured too.)
  EXPECT_GT(received_stopped, static_cast<uint64_t>(kRingBytes / 8));
  EXPECT_GE(lost - lost_running, static_cast<double>(received_stopped) - kRingBytes / 8.0);
  EXPECT_GE(captured + lost, static_cast<double>(flood.received()));
  EXPECT_LE(captured + lost, static_cast<double>(flood.sent()) + 1);
  // Every captured fixture is a well-formed response, used once if it answers the
  // reader's question and rejected otherwise.
  EXPECT_EQ(responses + rejected, captured - 1);
  EXPECT_LE(responses, 1);
  EXPECT_EQ(samples(body, "tcpconnect_dns_parse_errors_total").sum, 0);

  // Counts exact: the kernel's counters carried every connect.
  EXPECT_EQ(other, 0u);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(l.port)}).sum, established);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(closed)}).sum, refused);
  EXPECT_EQ(
      samples(body, "tcpconnect_connect_failures_total", {dport(closed), "reason=\"refused\""}).sum,
      refused);
  EXPECT_EQ(samples(body, "tcpconnect_connect_failures_total", {dport(l.port)}).sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_drain_errors_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_map_full_total").sum, 0);
  EXPECT_TRUE(daemon_->running());
  const std::string log = daemon_->stderr_text();
  for (const std::string& line : warning_and_error_lines(log))
    EXPECT_EQ(line.find(" error: "), std::string::npos) << line;
  EXPECT_EQ(daemon_->stop(SIGTERM, 20s), 0) << log;
}

TEST_F(OverloadedDaemon, FullConnectMapCountsTheRestInTheOverflowSeriesExactly) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  constexpr int kMaxEntries = 8;
  constexpr int kDestinations = 40;
  // The filters keep every other connect on the machine out of the map.
  start("probes:\n  max_entries: " + std::to_string(kMaxEntries) + "\nfilters:\n  ports: [" +
        std::to_string(port) + "]\n  include_cidrs: [127.0.0.0/8]\n");
  for (int i = 0; i < kDestinations; ++i) {
    const std::string ip =
        "127.0." + std::to_string(101 + i / 250) + "." + std::to_string(1 + i % 250);
    ASSERT_EQ(connect_once(AF_INET, ip, port), ECONNREFUSED) << ip;
  }
  const std::string body = scrape_until("tcpconnect_connects_total", kDestinations);
  const Samples keyed = samples(body, "tcpconnect_connects_total", {dport(port)});
  const Samples overflow = samples(body, "tcpconnect_connects_total", {"dport=\"overflow\""});
  std::printf("map full: %d keyed series (%.0f connects), overflow %.0f, map_full %s\n",
              keyed.count, keyed.sum, overflow.sum,
              [&] {
                std::string s;
                for (const char* m : {"connects", "pending", "latency", "connects_outcome"})
                  s += std::string(m) + "=" +
                       std::to_string(static_cast<long>(samples(body, "tcpconnect_map_full_total",
                                                                {"map=\"" + std::string(m) + "\""})
                                                            .sum)) +
                       " ";
                return s;
              }()
                  .c_str());
  // The map holds the first kMaxEntries destinations, one connect each; every later one
  // went to the overflow series: the total is exact.
  EXPECT_EQ(keyed.count, kMaxEntries);
  EXPECT_EQ(keyed.sum, kMaxEntries);
  EXPECT_EQ(overflow.sum, kDestinations - kMaxEntries);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total").sum, kDestinations);
  EXPECT_EQ(samples(body, "tcpconnect_map_full_total", {"map=\"connects\""}).sum,
            kDestinations - kMaxEntries);
  // Outcomes are known only for keyed connects; the others are counted as lost.
  EXPECT_EQ(samples(body, "tcpconnect_map_full_total", {"map=\"connects_outcome\""}).sum,
            kDestinations - kMaxEntries);
  EXPECT_EQ(
      samples(body, "tcpconnect_connect_failures_total", {dport(port), "reason=\"refused\""}).sum,
      kMaxEntries);
  EXPECT_EQ(samples(body, "tcpconnect_drain_errors_total").sum, 0);
  EXPECT_TRUE(daemon_->running());
  EXPECT_EQ(daemon_->stop(SIGTERM, 20s), 0) << daemon_->stderr_text();
}

}  // namespace
}  // namespace tcpconnect::testing
