// The built daemon as a process: real probes, real HTTP, real connects.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <mutex>
#include <thread>

#include "common/http.h"
#include "common/net.h"
#include "integration/daemon_process.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

std::string shipped_config() { return std::string(TCPCONNECT_SOURCE_DIR) + "/config/tcpconnect_exporter.yaml"; }

// Lines at error level or above; a start-up failure must say why in exactly one, and
// libbpf's own messages stay at debug level.
int error_lines(const std::string& s) {
  std::istringstream in(s);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(" error: ") != std::string::npos;
  return n;
}

std::optional<std::string> scrape(uint16_t port) {
  auto r = http_get("127.0.0.1", port, "/metrics");
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

class RunningDaemon : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    port_ = free_tcp_port();
    std::vector<std::string> args = {"--config.file", shipped_config(), "--web.listen-address",
                                     "127.0.0.1:" + std::to_string(port_)};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{args, {}, false});
    ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  }
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> daemon_;
};

// The acceptance check: 200 connects to a listening 127.0.0.1 port and 50 to a
// closed ::1 port appear as exactly 200 and 50 (reason refused).
TEST_F(RunningDaemon, CountsExactlyAndServesValidMetrics) {
  TCPCONNECT_REQUIRE_ROOT();
  start();
  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 200), 200);
  uint16_t closed = closed_port(AF_INET6, "::1");
  for (int i = 0; i < 50; ++i) ASSERT_EQ(connect_once(AF_INET6, "::1", closed), ECONNREFUSED);

  std::string dport = "dport=\"" + std::to_string(listener.port) + "\"";
  std::string closed_dport = "dport=\"" + std::to_string(closed) + "\"";
  // A scrape asks for a fresh drain first, so the first one already has every count.
  auto body = scrape(port_);
  ASSERT_TRUE(body);
  EXPECT_EQ(metric_value(*body, "tcpconnect_connects_total",
                         {dport, "family=\"ipv4\"", "saddr=\"127.0.0.1\"", "daddr=\"127.0.0.1\""}),
            200);
  EXPECT_EQ(metric_value(*body, "tcpconnect_connects_total",
                         {closed_dport, "family=\"ipv6\"", "daddr=\"::1\""}),
            50);
  EXPECT_EQ(metric_value(*body, "tcpconnect_connect_failures_total",
                         {closed_dport, "reason=\"refused\""}),
            50);
  EXPECT_FALSE(metric_value(*body, "tcpconnect_connect_failures_total", {dport}));
  // Loopback is named "localhost" (as tcpconnect -d does), so its latency series is the
  // name's, with daddr empty.
  EXPECT_GE(metric_value(*body, "tcpconnect_connect_duration_seconds_count",
                         {"dns_name=\"localhost\""}).value_or(0),
            200);
  EXPECT_EQ(metric_value(*body, "tcpconnect_probe_info", {"backend=\"tp_btf\""}), 1);

  // Counters never go back and are not counted twice by later drains.
  std::this_thread::sleep_for(1500ms);
  auto later = scrape(port_);
  ASSERT_TRUE(later);
  EXPECT_EQ(metric_value(*later, "tcpconnect_connects_total", {dport}), 200);
  EXPECT_EQ(metric_value(*later, "tcpconnect_connect_failures_total", {closed_dport}), 50);

  // The output passes promtool's own checks.
  std::string path = write_temp_config(*later);
  std::string out;
  int rc = run_command("promtool check metrics < " + path + " 2>&1", &out);
  unlink(path.c_str());
  EXPECT_EQ(rc, 0) << out;
}

TEST_F(RunningDaemon, SigtermDetachesEverything) {
  TCPCONNECT_REQUIRE_ROOT();
  start();
  auto body = scrape(port_);
  ASSERT_TRUE(body);
  // The probe's program id, from its info metric.
  auto pos = body->find("tcpconnect_probe_info{");
  ASSERT_NE(pos, std::string::npos);
  auto id_pos = body->find("id=\"", pos);
  ASSERT_NE(id_pos, std::string::npos);
  int id = std::atoi(body->c_str() + id_pos + 4);
  ASSERT_GT(id, 0);
  EXPECT_EQ(run_command("bpftool prog show id " + std::to_string(id) + " >/dev/null 2>&1"), 0);

  EXPECT_EQ(daemon_->stop(SIGTERM, 10s), 0) << daemon_->stderr_text();
  // The kernel frees a program after an RCU grace period once its last fd is closed.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = run_command("bpftool prog show id " + std::to_string(id) + " >/dev/null 2>&1") != 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "program " << id << " still loaded 5 s after SIGTERM";
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr("SIGTERM"));
}

TEST_F(RunningDaemon, SigintAlsoExitsCleanly) {
  TCPCONNECT_REQUIRE_ROOT();
  start();
  EXPECT_EQ(daemon_->stop(SIGINT, 10s), 0) << daemon_->stderr_text();
}

TEST_F(RunningDaemon, EachForcedBackendServes) {
  TCPCONNECT_REQUIRE_ROOT();
  for (const char* backend : {"tp_btf", "raw_tp", "tracepoint"}) {
    SCOPED_TRACE(backend);
    std::string config = write_temp_config(std::string("probes:\n  backend: ") + backend + "\n");
    port_ = free_tcp_port();
    DaemonProcess d({{"--config.file", config, "--web.listen-address",
                      "127.0.0.1:" + std::to_string(port_)},
                     {},
                     false});
    ASSERT_TRUE(d.wait_serving(port_, 20s)) << d.stderr_text();
    Listener l = listen_tcp(AF_INET, "127.0.0.1");
    ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 25), 25);
    auto body = scrape(port_);
    ASSERT_TRUE(body);
    EXPECT_EQ(metric_value(*body, "tcpconnect_probe_info",
                           {std::string("backend=\"") + backend + "\""}),
              1);
    EXPECT_EQ(metric_value(*body, "tcpconnect_connects_total",
                           {"dport=\"" + std::to_string(l.port) + "\""}),
              25);
    EXPECT_EQ(d.stop(SIGTERM, 10s), 0);
    unlink(config.c_str());
  }
}

TEST_F(RunningDaemon, UnknownPathIs404) {
  TCPCONNECT_REQUIRE_ROOT();
  start();
  auto r = http_get("127.0.0.1", port_, "/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(RunningDaemon, InvalidReloadKeepsRunning) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string config = write_temp_config("limits:\n  max_series: 100\n");
  port_ = free_tcp_port();
  daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{
      {"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)},
      {},
      false});
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  std::ofstream(config) << "limits:\n  max_series: lots\n";
  kill(daemon_->pid(), SIGHUP);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(daemon_->running());
  EXPECT_TRUE(scrape(port_));
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr(config + ":2:15"));
  unlink(config.c_str());
}

// Start-up failures: non-zero exit and one line that says why, not libbpf noise.
TEST(DaemonStartup, PortTakenFailsWithOneLine) {
  TCPCONNECT_REQUIRE_ROOT();
  Listener taken = listen_tcp(AF_INET, "127.0.0.1");
  DaemonProcess d({{"--config.file", shipped_config(), "--web.listen-address",
                    "127.0.0.1:" + std::to_string(taken.port)},
                   {},
                   false});
  EXPECT_EQ(d.wait_exit(20s), 1);
  std::string err = d.stderr_text();
  EXPECT_THAT(err, HasSubstr("Address already in use"));
  EXPECT_EQ(error_lines(err), 1) << err;
  EXPECT_THAT(err, Not(HasSubstr("libbpf"))) << err;
}

TEST(DaemonStartup, WithoutPrivilegesFailsWithOneLine) {
  TCPCONNECT_REQUIRE_ROOT();  // to become nobody
  DaemonProcess d({{"--config.file", shipped_config(), "--web.listen-address",
                    "127.0.0.1:" + std::to_string(free_tcp_port())},
                   {},
                   true});
  EXPECT_EQ(d.wait_exit(20s), 1);
  std::string err = d.stderr_text();
  EXPECT_THAT(err, HasSubstr("cannot attach the connect probe"));
  EXPECT_THAT(err, HasSubstr("run as root"));
  EXPECT_EQ(error_lines(err), 1) << err;
  EXPECT_THAT(err, Not(HasSubstr("libbpf"))) << err;
}

TEST(DaemonStartup, BadConfigNamesFileLineColumn) {
  std::string config = write_temp_config("web:\n  listen_address: \":9476\"\nprobes:\n  backend: kprobe\n");
  DaemonProcess d({{"--config.file", config}, {}, false});
  EXPECT_EQ(d.wait_exit(10s), 1);
  EXPECT_THAT(d.stderr_text(), HasSubstr(config + ":4:12"));
  EXPECT_EQ(error_lines(d.stderr_text()), 1) << d.stderr_text();
  unlink(config.c_str());
}

// Under systemd (stderr is the stream JOURNAL_STREAM names) each line starts with its
// syslog priority, which journald strips and files the line under; elsewhere, a time.
TEST(DaemonStartup, JournalLinesCarryTheirPriority) {
  std::string config = write_temp_config("probes:\n  backend: kprobe\n");
  std::string log = config + ".stderr";
  std::string out;
  ASSERT_EQ(run_command(": >" + log + "; JOURNAL_STREAM=$(stat -c %d:%i " + log + ") " +
                            daemon_binary() + " --config.file " + config + " 2>>" + log +
                            "; cat " + log,
                        &out),
            0);
  EXPECT_THAT(out, ::testing::StartsWith("<3>error: " + config + ":2:12")) << out;
  // The variable alone (inherited, but stderr is elsewhere) changes nothing.
  ASSERT_EQ(run_command("JOURNAL_STREAM=1:1 " + daemon_binary() + " --config.file " + config +
                            " 2>&1",
                        &out),
            1);
  EXPECT_THAT(out, ::testing::MatchesRegex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* error: .*\n")) << out;
  unlink(config.c_str());
  unlink(log.c_str());
}

TEST(DaemonStartup, MissingExplicitConfigFails) {
  DaemonProcess d({{"--config.file", "/nonexistent/config.yaml"}, {}, false});
  EXPECT_EQ(d.wait_exit(10s), 1);
  EXPECT_THAT(d.stderr_text(), HasSubstr("/nonexistent/config.yaml"));
}

TEST(DaemonStartup, CheckConfigAcceptsTheShippedFile) {
  DaemonProcess d({{"--config.file", shipped_config(), "--check-config"}, {}, false});
  EXPECT_EQ(d.wait_exit(10s), 0) << d.stderr_text();
  EXPECT_THAT(d.stderr_text(), HasSubstr("valid"));
}

TEST(DaemonStartup, BadListenAddressFlagIsRejected) {
  DaemonProcess d({{"--config.file", shipped_config(), "--web.listen-address", "127.0.0.1"},
                   {},
                   false});
  EXPECT_EQ(d.wait_exit(10s), 1);
  EXPECT_THAT(d.stderr_text(), HasSubstr("--web.listen-address"));
}

TEST(DaemonStartup, VersionAndHelp) {
  std::string out;
  EXPECT_EQ(run_command(daemon_binary() + " --version", &out), 0);
  EXPECT_THAT(out, HasSubstr("tcpconnect_exporter 0."));
  EXPECT_EQ(run_command(daemon_binary() + " --help", &out), 0);
  for (const char* flag : {"--config.file", "--web.listen-address", "--log.level",
                           "--runas.user", "--check-config", "--version"})
    EXPECT_THAT(out, HasSubstr(flag));
}

// sd_notify: STATUS while starting, READY only once /metrics answers, STOPPING at the end.
TEST(DaemonNotify, ReadyOnlyAfterProbesAndPort) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string sock_path = "/tmp/tcpconnect_notify_" + std::to_string(getpid());
  unlink(sock_path.c_str());
  Fd sock(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
  ASSERT_EQ(bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // Writable by all, as systemd's: READY=1 comes from the daemon once it runs as nobody.
  ASSERT_EQ(chmod(sock_path.c_str(), 0666), 0);
  timeval tv{0, 100000};
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  uint16_t port = free_tcp_port();
  DaemonProcess d({{"--config.file", shipped_config(), "--web.listen-address",
                    "127.0.0.1:" + std::to_string(port)},
                   {{"NOTIFY_SOCKET", sock_path}},
                   false});
  std::vector<std::string> messages;
  bool served_at_ready = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    ssize_t n = recv(sock.get(), buf, sizeof(buf), 0);
    if (n <= 0) continue;
    messages.emplace_back(buf, n);
    if (messages.back().find("READY=1") != std::string::npos) {
      auto r = http_get("127.0.0.1", port, "/metrics");
      served_at_ready = r && r->status == 200;
      break;
    }
  }
  ASSERT_FALSE(messages.empty()) << d.stderr_text();
  EXPECT_THAT(messages.front(), HasSubstr("STATUS="));
  EXPECT_THAT(messages.back(), HasSubstr("READY=1"));
  EXPECT_TRUE(served_at_ready);
  kill(d.pid(), SIGTERM);
  bool stopping = false;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!stopping && std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    ssize_t n = recv(sock.get(), buf, sizeof(buf), 0);
    if (n > 0) stopping = std::string(buf, n).find("STOPPING=1") != std::string::npos;
  }
  EXPECT_TRUE(stopping);
  EXPECT_EQ(d.wait_exit(10s), 0);
  unlink(sock_path.c_str());
}

}  // namespace
}  // namespace tcpconnect::testing
