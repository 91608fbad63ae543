// The built daemon with filters, labels, caps, the allowlist, idle expiry and SIGHUP
// reloads, over HTTP: real probes, real connects, exact counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/http.h"
#include "common/locked_map.h"
#include "common/metric_samples.h"
#include "common/net.h"
#include "integration/daemon_process.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

std::string dport(uint16_t port) { return "dport=\"" + std::to_string(port) + "\""; }

class ConfiguredDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (loads BPF programs into the kernel)";
    char path[] = "/tmp/tcpconnect_reload_it_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    ASSERT_GE(fd, 0);
    close(fd);
    config_ = path;
  }
  void TearDown() override {
    if (!config_.empty()) unlink(config_.c_str());
  }
  void write_config(const std::string& text) {
    std::ofstream out(config_ + ".tmp");
    out << text;
    out.close();
    // Atomic, so that a reload never reads half a file.
    ASSERT_EQ(rename((config_ + ".tmp").c_str(), config_.c_str()), 0);
  }
  void start(const std::string& text, const std::vector<std::string>& extra = {}) {
    write_config(text);
    port_ = free_tcp_port();
    DaemonProcess::Options o;
    o.args = {"--config.file", config_, "--web.listen-address",
              "127.0.0.1:" + std::to_string(port_)};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(o);
    ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  }
  std::string scrape() {
    auto r = http_get("127.0.0.1", port_, "/metrics");
    if (!r || r->status != 200) {
      ADD_FAILURE() << "scrape failed";
      return "";
    }
    return r->body;
  }
  double reload_time(const std::string& body) {
    return metric_value(body, "tcpconnect_config_last_reload_success_timestamp_seconds")
        .value_or(-1);
  }
  // Sends SIGHUP and waits (bounded) until the daemon has answered it: the success
  // metric or the timestamp changes, or the log grows by a reload line.
  void reload_and_wait() {
    const size_t log_before = daemon_->stderr_text().size();
    ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
    for (int i = 0; i < 200; ++i) {
      std::string log = daemon_->stderr_text().substr(log_before);
      if (log.find("reload") != std::string::npos) return;
      std::this_thread::sleep_for(25ms);
    }
    FAIL() << "no reload in the log:\n" << daemon_->stderr_text();
  }

  std::string config_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ConfiguredDaemon, ValidReloadAppliesFiltersAndLabelsWithoutReattaching) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), b = listen_tcp(AF_INET, "127.0.0.1");
  start("filters:\n  ports: [" + std::to_string(a.port) + "]\n");
  std::string body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 1);
  const double started = reload_time(body);
  EXPECT_GT(started, 1e9);
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(body, m, std::regex("tcpconnect_probe_info\\{[^}]*id=\"([0-9]+)\"")));
  const std::string prog_id = "id=\"" + m[1].str() + "\"";

  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 2), 2);
  body = scrape();
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(a.port)}).sum, 3);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(b.port)}).count, 0);

  std::this_thread::sleep_for(1100ms);  // a timestamp with another second
  write_config("filters:\n  ports: [" + std::to_string(a.port) + ", " + std::to_string(b.port) +
               "]\nlabels:\n  keep: [daddr, dport, comm]\n");
  reload_and_wait();
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 4), 4);
  body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 1);
  EXPECT_GT(reload_time(body), started);
  // Same program: nothing was reattached.
  EXPECT_THAT(body, HasSubstr(prog_id));
  // The series counted before the reload, re-folded under the new labels: same count,
  // comm unknown (the kernel did not collect it then).
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total", {dport(a.port), "comm=\"\""}), 3);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(b.port)}).sum, 4);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(b.port), "comm=\"\""}).count, 0);
  EXPECT_THAT(body, Not(HasSubstr("saddr=")));
}

TEST_F(ConfiguredDaemon, InvalidReloadIsRejectedAndTheOldConfigKeepsRunning) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), b = listen_tcp(AF_INET, "127.0.0.1");
  start("filters:\n  ports: [" + std::to_string(a.port) + "]\n");
  const double started = reload_time(scrape());
  write_config("filters:\n  ports: [" + std::to_string(b.port) + "]\n  pids: [0]\n");
  reload_and_wait();
  std::string body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 0);
  EXPECT_EQ(reload_time(body), started);
  // FILE:LINE:COLUMN of the bad value ("  pids: [0]": the 0 is in column 10).
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr(config_ + ":3:10: filters.pids[0]"));
  // Still the old filter.
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 2), 2);
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 2), 2);
  body = scrape();
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(a.port)}).sum, 2);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(b.port)}).count, 0);
  // A pinned map that does not exist: valid YAML, rejected all the same.
  write_config("filters:\n  ports: [" + std::to_string(b.port) +
               "]\n  cgroupmap: /sys/fs/bpf/tcx-no-such-map\n");
  reload_and_wait();
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_config_last_reload_successful"), 0);
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr("tcx-no-such-map"));
  // Fixed: accepted.
  write_config("filters:\n  ports: [" + std::to_string(b.port) + "]\n");
  reload_and_wait();
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 2), 2);
  body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 1);
  EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(b.port)}).sum, 2);
}

// Reloads every few ms while a bounded connect loop runs, alternating label sets (every
// reload re-folds) and limits: the totals equal the connects made, exactly.
// A reload whose filters the kernel refuses part-way (the pinned cgroupmap has the layout
// the daemon checks, but its values hold a spin lock, which the filter's slot does not
// take; the port and pid maps were written before it) is rejected, and what is counted
// is exactly what the old filters count.
TEST_F(ConfiguredDaemon, ReloadRefusedPartWayKeepsTheOldFiltersWhole) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), c = listen_tcp(AF_INET, "127.0.0.1");
  // root: the pinned map is root's, under /sys/fs/bpf (mode 0700).
  start("filters:\n  ports: [" + std::to_string(a.port) + "]\n  uids: [0]\n",
        {"--runas.user", "root"});
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total", {dport(a.port)}), 2);

  std::string error;
  auto locked = LockedIdSet::create("tcx_reload_locked_" + std::to_string(getpid()), &error);
  ASSERT_TRUE(locked) << error;
  write_config("filters:\n  ports: [" + std::to_string(c.port) + "]\n  pids: [" +
               std::to_string(getpid()) + "]\n  cgroupmap: " + locked->path() + "\n");
  const size_t before = daemon_->stderr_text().size();
  reload_and_wait();
  const std::string log = daemon_->stderr_text().substr(before);
  EXPECT_THAT(log, HasSubstr("reload rejected, the running configuration stays"));
  EXPECT_THAT(log, HasSubstr("the previous filters are back in place"));

  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(c, AF_INET, "127.0.0.1", 2), 2);
  const std::string body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 0);
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total", {dport(a.port)}), 5) << body;
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total", {dport(c.port)}), std::nullopt) << body;
}

TEST_F(ConfiguredDaemon, ReloadsUnderTrafficLoseAndDoubleCountNothing) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  const std::string filters = "filters:\n  ports: [" + std::to_string(l.port) + "]\n";
  const std::string configs[] = {
      filters + "labels:\n  keep: [daddr, dport]\n",
      filters +
          "labels:\n  keep: [family, saddr, daddr, dport, comm]\nlimits:\n  max_series: 500\n",
      filters + "labels:\n  keep: [dport, uid, pid]\n  daddr_prefix_v4: 8\n",
  };
  start(configs[0]);
  constexpr int kConnects = 3000;
  std::atomic<bool> done{false};
  std::atomic<int> made{0};
  std::atomic<int> reloads{0};
  // Paced by the reloads, not by the clock: after each tenth of its connects the traffic
  // waits (bounded) for one more reload, so that reloads land amid traffic however fast
  // the machine connects.
  std::thread traffic([&] {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; i < kConnects && std::chrono::steady_clock::now() < deadline; ++i) {
      if (connect_once(AF_INET, "127.0.0.1", l.port) == 0) ++made;
      if (i % 64 == 0) drain_accepts(l);
      if (i % (kConnects / 10) == kConnects / 10 - 1) {
        const int seen = reloads.load();
        for (int w = 0; w < 200 && reloads.load() == seen; ++w)
          std::this_thread::sleep_for(10ms);
      }
    }
    done = true;
  });
  for (; !done && reloads < 400; ++reloads) {
    write_config(configs[reloads % 3]);
    kill(daemon_->pid(), SIGHUP);
    std::this_thread::sleep_for(20ms);
  }
  traffic.join();
  drain_accepts(l);
  EXPECT_GT(reloads, 5);
  ASSERT_EQ(made.load(), kConnects);
  // Whatever labels the last reload left, the sum over our port is every connect.
  for (int i = 0; i < 2; ++i) {
    std::string body = scrape();
    EXPECT_EQ(samples(body, "tcpconnect_connects_total", {dport(l.port)}).sum, kConnects)
        << "scrape " << i;
    EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 1);
    std::this_thread::sleep_for(1200ms);
  }
  EXPECT_TRUE(daemon_->running());
}

TEST_F(ConfiguredDaemon, CapsFoldTheRestIntoOneOverflowSeriesExactly) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  start("filters:\n  ports: [" + std::to_string(port) +
        "]\n  include_cidrs: [127.0.0.0/8]\nlimits:\n  max_series: 50\n");
  constexpr int kDestinations = 200;
  for (int i = 0; i < kDestinations; ++i) {
    const std::string ip =
        "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
    ASSERT_EQ(connect_once(AF_INET, ip, port), ECONNREFUSED) << ip;
  }
  std::string body = scrape();
  Samples named = samples(body, "tcpconnect_connects_total", {dport(port)});
  // What else is there, if anything (a connect counted under no filter would show here).
  EXPECT_EQ(named.count, 50) << [&] {
    std::string odd;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("tcpconnect_c", 0) == 0 && line.find(dport(port)) == std::string::npos)
        odd += line + "\n";
    return odd;
  }();
  EXPECT_EQ(named.sum, 50);
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total", {"dport=\"overflow\""}), 150);
  EXPECT_EQ(metric_value(body, "tcpconnect_connect_failures_total",
                         {"dport=\"overflow\"", "reason=\"refused\""}),
            150);
  EXPECT_EQ(metric_value(body, "tcpconnect_series_dropped_total",
                         {"metric=\"tcpconnect_connects_total\""}),
            150);
  EXPECT_EQ(metric_value(body, "tcpconnect_series_dropped_total",
                         {"metric=\"tcpconnect_connect_failures_total\""}),
            150);
  EXPECT_EQ(metric_value(body, "tcpconnect_series", {"metric=\"tcpconnect_connects_total\""}), 50);
}

TEST_F(ConfiguredDaemon, AllowlistCountsWhatMatchesNoRule) {
  Listener web = listen_tcp(AF_INET, "127.0.0.1");
  const uint16_t other = closed_port(AF_INET, "127.0.0.1");
  const std::string filters =
      "filters:\n  ports: [" + std::to_string(web.port) + ", " + std::to_string(other) + "]\n";
  start(filters);
  // No allowlist: no such family (self-metrics may name it in a label, never as a family).
  EXPECT_THAT(scrape(), Not(HasSubstr("# TYPE tcpconnect_unexpected_connects_total")));
  write_config(filters + "allowlist:\n  - cidr: 127.0.0.1/32\n    ports: [" +
               std::to_string(web.port) + "]\n");
  reload_and_wait();
  ASSERT_EQ(connect_and_accept(web, AF_INET, "127.0.0.1", 3), 3);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.2", other), ECONNREFUSED);
  std::string body = scrape();
  EXPECT_THAT(body, HasSubstr("# TYPE tcpconnect_unexpected_connects_total counter"));
  EXPECT_EQ(samples(body, "tcpconnect_unexpected_connects_total", {dport(web.port)}).count, 0);
  EXPECT_EQ(metric_value(body, "tcpconnect_unexpected_connects_total",
                         {dport(other), "daddr=\"127.0.0.2\"", "family=\"ipv4\""}),
            2);
  // Output stays valid for Prometheus with every new family in it.
  char path[] = "/tmp/tcpconnect_metrics_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
  close(fd);
  std::string out;
  EXPECT_EQ(run_command(std::string("promtool check metrics < ") + path + " 2>&1", &out), 0) << out;
  unlink(path);
  // Allowlist removed: the family goes away.
  write_config(filters);
  reload_and_wait();
  body = scrape();
  EXPECT_THAT(body, Not(HasSubstr("# TYPE tcpconnect_unexpected_connects_total")));
  EXPECT_THAT(body, Not(HasSubstr("\ntcpconnect_unexpected_connects_total{")));
}

TEST_F(ConfiguredDaemon, IdleSeriesAndTheirKernelKeysExpire) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  start("filters:\n  ports: [" + std::to_string(port) + "]\nlimits:\n  idle_expiry: 1s\n" +
        "probes:\n  drain_interval: 200ms\n");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.5", port), ECONNREFUSED);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total", {dport(port)}), 2);
  // Bounded wait for the expiry (not a timing assertion: only the outcome is checked).
  std::string body;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(100ms);
    body = scrape();
    if (!metric_value(body, "tcpconnect_connects_total", {dport(port)})) break;
  }
  EXPECT_FALSE(metric_value(body, "tcpconnect_connects_total", {dport(port)}));
  EXPECT_GE(
      metric_value(body, "tcpconnect_kernel_keys_expired_total", {"map=\"connects\""}).value_or(0),
      1);
  EXPECT_GE(metric_value(body, "tcpconnect_series_expired_total",
                         {"metric=\"tcpconnect_connects_total\""})
                .value_or(0),
            1);
  // Back: a fresh series counting from the new kernel entry.
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.5", port), ECONNREFUSED);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total", {dport(port)}), 1);
}

TEST_F(ConfiguredDaemon, HighCardinalityLabelsWarnAtStartAndReload) {
  start("labels:\n  keep: [daddr, pid]\n");
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr("pid: one series per process"));
  write_config("labels:\n  keep: [daddr, lport]\n");
  reload_and_wait();
  for (int i = 0; i < 100 && daemon_->stderr_text().find("lport:") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr("includes lport"));
}

}  // namespace
}  // namespace tcpconnect::testing
