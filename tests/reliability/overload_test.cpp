// Overload: the built daemon given more than it can carry. Root only; traffic stays on
// loopback; every load is bounded by count and time; no performance is asserted, only
// the functional bounds a service needs (a scrape answered within 1 s, a watchdog ping
// within WatchdogSec).
//
// DNS: a flood of real responses from the configured DNS source port into a 4 KiB ring,
// first while the daemon runs (it must keep answering /metrics), then while its consumer
// is stopped (SIGSTOP: the ring fills and the rest must be counted as lost). Connects
// made meanwhile are counted exactly all the same: they come from the kernel's counters,
// not from an event ring. And a flood from many senders at once, faster than the
// daemon's consumer: its DNS work is bounded per drain, so drains, scrapes and the
// service manager's watchdog pings go on.
//
// Connect map: more distinct destinations than probes.max_entries: the rest is counted in
// the overflow series and in tcpconnect_map_full_total, and the totals stay exact. (The
// probe-level case is tests/bpf/connect_probe_test.cpp; this is the daemon's rendering.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/datagram.h"
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
    // Searchable by the user a daemon started as root continues as (its notify socket is
    // here).
    ASSERT_EQ(chmod(dir_.c_str(), 0711), 0);
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) kill(daemon_->pid(), SIGCONT);
    daemon_.reset();
    if (!dir_.empty()) run_shell("rm -rf '" + dir_ + "'");
  }
  void start(const std::string& config_text, std::map<std::string, std::string> env = {}) {
    const std::string config = dir_ + "/config.yaml";
    write_file_atomically(config, config_text);
    port_ = free_tcp_port();
    daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{
        {"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)},
        std::move(env),
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

// The threads that measure (scrapes, watchdog pings) run ahead of the flood's senders
// and readers in this process, so that what they see is the daemon's delay, not theirs.
// For the calling thread, as long as it lives.
class MeasuringThread {
 public:
  MeasuringThread() { setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), -10); }
  ~MeasuringThread() { setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 0); }
  MeasuringThread(const MeasuringThread&) = delete;
  MeasuringThread& operator=(const MeasuringThread&) = delete;
};

// A service manager's notification socket, as systemd gives it ($NOTIFY_SOCKET): the
// times at which WATCHDOG=1 arrived, read on a thread of its own.
class WatchdogListener {
 public:
  explicit WatchdogListener(const std::string& path) : path_(path) {
    unlink(path_.c_str());
    fd_ = Fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("binding " + path_ + ": " + std::strerror(errno));
    // Writable by all, as systemd's /run/systemd/notify: the daemon pings as nobody.
    chmod(path_.c_str(), 0666);
    timeval tv{0, 100000};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    thread_ = std::thread([this] {
      MeasuringThread measuring;
      while (!stop_) {
        std::optional<Datagram> d = receive_datagram(fd_.get());
        if (!d || d->text.find("WATCHDOG=1") == std::string::npos) continue;
        for (int fd : d->fds) close(fd);
        std::lock_guard<std::mutex> lock(mu_);
        pings_.push_back(Clock::now());
      }
    });
  }
  ~WatchdogListener() {
    stop_ = true;
    thread_.join();
    unlink(path_.c_str());
  }
  std::vector<Clock::time_point> pings() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pings_;
  }
  // The longest time without a ping between `from` and `to` (the last ping before `from`
  // to the first after it, and so on; up to `to` when none came after the last).
  Clock::duration longest_gap(Clock::time_point from, Clock::time_point to) const {
    Clock::time_point last = from;
    Clock::duration gap{0};
    for (Clock::time_point t : pings()) {
      if (t <= from) {
        last = t;
        continue;
      }
      gap = std::max(gap, std::min(t, to) - last);
      last = t;
      if (t >= to) return gap;
    }
    return std::max(gap, to - last);
  }

 private:
  std::string path_;
  Fd fd_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Clock::time_point> pings_;
  std::thread thread_;
};

// A response to the flood client's query (example.com A) with `answers` A records
// (192.0.2.1...): 16 bytes each, as much parsing and cache work as a response of that
// size can ask for.
std::vector<uint8_t> many_answers_response(int answers) {
  std::vector<uint8_t> r = {0, 0, 0x81, 0x80, 0, 1, 0, static_cast<uint8_t>(answers), 0, 0, 0, 0};
  for (const char* label : {"example", "com"}) {
    r.push_back(static_cast<uint8_t>(std::strlen(label)));
    r.insert(r.end(), label, label + std::strlen(label));
  }
  r.insert(r.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  for (int i = 0; i < answers; ++i)    // name: a pointer to the question's; TTL 300
    r.insert(r.end(),
             {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, static_cast<uint8_t>(i + 1)});
  return r;
}

// A DNS response flood from as many senders as it takes to outrun the daemon's consumer
// (each on a 127.0.0.x of its own, to a client socket that first sent it a query; every
// response with 250 answers, captured whole with dns.capture_bytes 4096, so that parsing
// one costs far more than sending it), for
// 10 s, the daemon under a service manager's watchdog (WatchdogSec=4s: it pings every 2 s
// while its drain loop drains). Its DNS work is bounded per drain, so drains go on:
// every scrape answers within 1 s, and the watchdog is never left without a ping for
// as long as WatchdogSec, after which systemd would kill and restart the daemon.
TEST_F(OverloadedDaemon, DnsFloodFromManySendersKeepsScrapesAndWatchdogPings) {
  constexpr int kSenders = 8;
  constexpr double kFloodSeconds = 10.0;
  constexpr auto kWatchdog = 4s;
  const uint16_t sport = free_udp_tcp_port(AF_INET, "127.0.0.1");
  WatchdogListener watchdog(dir_ + "/notify");
  start("dns:\n  ports: [" + std::to_string(sport) +
            "]\n  capture: cgroup_skb\n  capture_bytes: 4096\n  ring_bytes: 33554432\n",
        {{"NOTIFY_SOCKET", dir_ + "/notify"},
         {"WATCHDOG_USEC", std::to_string(std::chrono::microseconds(kWatchdog).count())}});
  for (int i = 0; i < 100 && watchdog.pings().empty(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_FALSE(watchdog.pings().empty()) << "no WATCHDOG=1\n" << daemon_->stderr_text();

  const std::vector<std::vector<uint8_t>> responses = {many_answers_response(250)};
  std::vector<std::unique_ptr<DnsResponseFlood>> floods;
  for (int i = 0; i < kSenders; ++i)
    floods.push_back(
        std::make_unique<DnsResponseFlood>(sport, responses, "127.0.0." + std::to_string(11 + i)));
  auto drains = [&](const std::string& metrics_body, const char* le) {
    return samples(metrics_body, "tcpconnect_drain_duration_seconds_bucket",
                   {std::string("le=\"") + le + "\""})
        .sum;
  };
  std::string before = scrape_until("tcpconnect_drain_duration_seconds_count", 1);
  std::atomic<int> flooding{kSenders};
  const auto flood_start = Clock::now();
  std::vector<std::thread> senders;
  for (auto& flood : floods)
    senders.emplace_back([&flooding, f = flood.get()] {
      f->send(~uint64_t{0}, 0, kFloodSeconds);
      --flooding;
    });
  MeasuringThread measuring;
  std::vector<double> latencies_ms;
  int failures = 0;
  while (flooding > 0 && latencies_ms.size() < 200) {
    const auto t0 = Clock::now();
    auto r = http_get("127.0.0.1", port_, "/metrics", 5000);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status != 200) ++failures;
    std::this_thread::sleep_for(200ms);
  }
  for (auto& t : senders) t.join();
  const auto flood_end = Clock::now();
  uint64_t sent = 0;
  for (auto& f : floods) sent += f->sent();
  std::this_thread::sleep_for(1s);
  const auto gap = watchdog.longest_gap(flood_start, flood_end);
  std::string body = scrape_until("tcpconnect_dns_packets_captured_total", 1);
  const double drains_all = drains(body, "+Inf") - drains(before, "+Inf");
  const double drains_over_1s = drains_all - (drains(body, "1") - drains(before, "1"));
  const double drains_over_250ms = drains_all - (drains(body, "0.25") - drains(before, "0.25"));
  std::vector<double> sorted = latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  const double max_ms = sorted.empty() ? 0 : sorted.back();
  const double median_ms = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  std::printf(
      "dns flood, %d senders, %.1f s: sent %llu, captured %.0f, lost %.0f; %zu scrapes, "
      "%d failed, latency median %.1f ms, max %.1f ms; longest watchdog gap %.2f s (%zu pings); "
      "%.0f drains, %.0f over 250 ms, %.0f over 1 s\n",
      kSenders, std::chrono::duration<double>(flood_end - flood_start).count(),
      static_cast<unsigned long long>(sent),
      samples(body, "tcpconnect_dns_packets_captured_total").sum,
      samples(body, "tcpconnect_dns_events_lost_total").sum, latencies_ms.size(), failures,
      median_ms, max_ms, std::chrono::duration<double>(gap).count(), watchdog.pings().size(),
      drains_all, drains_over_250ms, drains_over_1s);
  EXPECT_GT(latencies_ms.size(), 0u);
  EXPECT_EQ(failures, 0);
  EXPECT_LT(max_ms, 1000.0) << "a scrape waited on DNS work";
  EXPECT_LT(gap, kWatchdog) << "systemd would have restarted the daemon\n"
                            << daemon_->stderr_text();
  EXPECT_TRUE(daemon_->running());
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
                for (const char* m : {"connects", "pending", "connects_outcome"})
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
