// The daemon as a service: privileges after start, and the hand-over of the probe from
// one process to the next through a service manager's fd store. The manager here is a
// stand-in that speaks the protocol (sd_notify(3) with SCM_RIGHTS, sd_listen_fds(3)):
// what systemd itself does with the store is checked in tests/integration/vm.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "common/datagram.h"
#include "common/http.h"
#include "common/net.h"
#include "integration/daemon_process.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kCapBpf = uint64_t{1} << 39;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t status_hex(const std::string& status, const std::string& field) {
  auto at = status.find(field + ":");
  if (at == std::string::npos) return ~uint64_t{0};
  return std::stoull(status.substr(at + field.size() + 1), nullptr, 16);
}

std::optional<std::string> scrape(uint16_t port) {
  auto r = http_get("127.0.0.1", port, "/metrics");
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

double connects_to(uint16_t daemon_port, uint16_t dport) {
  auto body = scrape(daemon_port);
  if (!body) return -1;
  return metric_value(*body, "tcpconnect_connects_total",
                      {"dport=\"" + std::to_string(dport) + "\""})
      .value_or(0);
}

// The id of the connect probe's program, from tcpconnect_probe_info.
std::string probe_id(uint16_t daemon_port) {
  auto body = scrape(daemon_port);
  if (!body) return "";
  std::istringstream in(*body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("tcpconnect_probe_info{", 0) != 0 ||
        line.find("probe=\"connect\"") == std::string::npos)
      continue;
    auto id = line.find(",id=\"");
    if (id == std::string::npos) id = line.find("{id=\"");
    if (id == std::string::npos) return "";
    id += 5;
    return line.substr(id, line.find('"', id) - id);
  }
  return "";
}

// Whether a program of that id is still loaded. Closing the last fd of a link or program
// frees it before close() returns; the bounded retry only absorbs deferred kernel work.
bool program_loaded(uint32_t id) {
  for (int i = 0; i < 50; ++i) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return false;
    close(fd);
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// A service manager's notify socket and fd store, and the daemon started as systemd
// starts it: the stored fds at 3.., $LISTEN_FDS, $LISTEN_FDNAMES, $LISTEN_PID.
class FakeServiceManager {
 public:
  FakeServiceManager() {
    path_ = "/tmp/tcpconnect_fdstore_" + std::to_string(getpid()) + "_" +
            std::to_string(counter_++);
    unlink(path_.c_str());
    sock_ = Fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    EXPECT_EQ(bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    // Writable by all, as systemd's /run/systemd/notify: a daemon started as root sends
    // READY=1 and the rest as nobody.
    EXPECT_EQ(chmod(path_.c_str(), 0666), 0);
    int one = 1;
    setsockopt(sock_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
    timeval tv{0, 100000};
    setsockopt(sock_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~FakeServiceManager() {
    stop_daemon(SIGKILL);
    unlink(path_.c_str());
  }

  // Reads notifications until one contains `until`, applying FDSTORE=1 and
  // FDSTOREREMOVE=1 as systemd does. False if the daemon exits or time runs out.
  bool wait_for(const std::string& until, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<Datagram> d = receive_datagram(sock_.get());
      if (!d || d->text.empty()) {
        if (!running()) return false;
        continue;
      }
      std::vector<int> fds = std::move(d->fds);
      const std::string& text = d->text;
      messages.push_back(text);
      std::string name = field(text, "FDNAME");
      if (field(text, "FDSTORE") == "1") {
        for (int fd : fds) store.emplace(name.empty() ? "stored" : name, Fd(fd));
        fds.clear();
      } else if (field(text, "FDSTOREREMOVE") == "1") {
        removed.push_back(name);
        store.erase(name);
      }
      for (int fd : fds) close(fd);
      if (text.find(until) != std::string::npos) return true;
    }
    return false;
  }

  // Starts the daemon with the current store, and `env` set as the manager sets it
  // (e.g. $WATCHDOG_USEC).
  void start_daemon(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
    stderr_path_ = "/tmp/tcpconnect_service_stderr_" + std::to_string(getpid()) + "_" +
                   std::to_string(counter_++);
    messages.clear();
    removed.clear();
    // Copies above any number the child will use, so that moving them to 3.. cannot
    // overwrite one another.
    std::vector<int> high;
    std::string names;
    for (const auto& [name, fd] : store) {
      high.push_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, 200));
      names += (names.empty() ? "" : ":") + name;
    }
    std::vector<std::string> argv_s = {daemon_binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, STDERR_FILENO);
      dup2(err, STDOUT_FILENO);
      for (size_t i = 0; i < high.size(); ++i) dup2(high[i], 3 + static_cast<int>(i));
      if (!high.empty()) {
        setenv("LISTEN_FDS", std::to_string(high.size()).c_str(), 1);
        setenv("LISTEN_FDNAMES", names.c_str(), 1);
        setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
      }
      setenv("NOTIFY_SOCKET", path_.c_str(), 1);
      for (const auto& [key, value] : env) setenv(key.c_str(), value.c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int fd : high) close(fd);
  }

  // Sends sig and reaps the daemon; returns its exit code or 128+signal.
  int stop_daemon(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }
  std::string daemon_log() const { return read_file(stderr_path_); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, fd] : store) out.push_back(name);
    return out;
  }

  std::vector<std::string> messages;
  std::vector<std::string> removed;
  std::multimap<std::string, Fd> store;

 private:
  static std::string field(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    return "";
  }

  static inline int counter_ = 0;
  std::string path_;
  std::string stderr_path_;
  Fd sock_;
  pid_t pid_ = -1;
};

std::vector<std::string> daemon_args(uint16_t port, const std::string& config) {
  return {"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(port),
          "--log.level", "debug"};
}

const char* kDefaults = "probes:\n  max_entries: 16384\n";

// The capabilities needed to attach are gone once the daemon serves, from every thread;
// CAP_BPF stays (map reads are bpf() calls), and it is enough to keep counting.
TEST(Privileges, OnlyCapBpfIsLeftOnEveryThreadAndCountingGoesOn) {
  TCPCONNECT_REQUIRE_ROOT();
  uint16_t port = free_tcp_port();
  std::string config = write_temp_config(kDefaults);
  DaemonProcess d({daemon_args(port, config), {}, false});
  ASSERT_TRUE(d.wait_serving(port, 20s)) << d.stderr_text();

  int threads = 0;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(d.pid()) + "/task")) {
    std::string status = read_file(task.path().string() + "/status");
    SCOPED_TRACE(task.path().string());
    EXPECT_EQ(status_hex(status, "CapEff"), kCapBpf);
    EXPECT_EQ(status_hex(status, "CapPrm"), kCapBpf);
    EXPECT_EQ(status_hex(status, "CapInh"), 0u);
    EXPECT_EQ(status_hex(status, "CapAmb"), 0u);
    EXPECT_EQ(status_hex(status, "CapBnd"), kCapBpf);
    EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t1"));
    ++threads;
  }
  EXPECT_GT(threads, 1);  // the drain loop and the HTTP server run in threads of their own

  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 25), 25);
  EXPECT_EQ(connects_to(port, listener.port), 25);
  EXPECT_EQ(d.stop(SIGTERM, 10s), 0);
  unlink(config.c_str());
}

// WatchdogSec= as systemd passes it ($WATCHDOG_USEC, 2 s here: the daemon pings every
// second): WATCHDOG=1 comes only once READY=1 was sent, and keeps coming while the drain
// loop runs. ExecReload= (SIGHUP) is announced with RELOADING=1 and ends with READY=1.
TEST(ServiceNotify, WatchdogPingsOnceReadyAndReloadIsAnnounced) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string config = write_temp_config(kDefaults);
  FakeServiceManager manager;
  uint16_t port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config), {{"WATCHDOG_USEC", "2000000"}});
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  for (const std::string& m : manager.messages)
    EXPECT_THAT(m, Not(HasSubstr("WATCHDOG=1"))) << "a ping before READY=1";
  for (int ping = 0; ping < 3; ++ping)
    ASSERT_TRUE(manager.wait_for("WATCHDOG=1", 30s)) << "ping " << ping << "\n"
                                                     << manager.daemon_log();

  manager.messages.clear();
  ASSERT_EQ(kill(manager.pid(), SIGHUP), 0);
  ASSERT_TRUE(manager.wait_for("RELOADING=1", 20s)) << manager.daemon_log();
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  EXPECT_THAT(manager.daemon_log(), HasSubstr("configuration reloaded"));
  ASSERT_TRUE(manager.wait_for("WATCHDOG=1", 30s)) << "no ping after the reload\n"
                                                   << manager.daemon_log();
  EXPECT_EQ(manager.stop_daemon(SIGTERM), 0);
  unlink(config.c_str());
}

// The daemon's thread named `name` (/proc/PID/task/TID/comm), or 0.
pid_t thread_named(pid_t pid, const std::string& name) {
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::string comm = read_file(task.path().string() + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm == name) return std::stoi(task.path().filename().string());
  }
  return 0;
}

// Halts one thread of another process alone, through ptrace (the process's other threads
// run on), at a moment it waits in futex(2): for the drain loop, between two drains,
// holding no lock. Detaching, or the destructor, lets it go on.
class HaltedThread {
 public:
  explicit HaltedThread(pid_t tid) : tid_(tid) {}
  ~HaltedThread() { resume(); }

  bool halt_while_waiting(std::chrono::milliseconds timeout) {
    const std::string futex = std::to_string(SYS_futex) + " ";
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0) return false;
      int status = 0;
      if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0 ||
          waitpid(tid_, &status, __WALL) != tid_) {
        ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
        return false;
      }
      halted_ = true;
      // The call it was in: "202 ..." for futex, "-1 ..." in user space.
      if (read_file("/proc/" + std::to_string(tid_) + "/syscall").rfind(futex, 0) == 0) return true;
      resume();
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  void resume() {
    if (halted_) ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
    halted_ = false;
  }

 private:
  pid_t tid_;
  bool halted_ = false;
};

// A drain loop that stops draining must stop the watchdog pings, so that systemd
// (WatchdogSec=) kills and restarts a daemon whose counts went stale, even though its
// main thread is well; /metrics keeps answering meanwhile (a scrape waits at most
// 200 ms for a drain), and the pings come back once it drains again. The drain thread is
// halted alone, from outside, as a drain stuck in the kernel would be.
TEST(ServiceNotify, WatchdogStopsWhileTheDrainLoopIsStalled) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string config = write_temp_config(kDefaults);  // drain_interval 1 s: stale after 4 s
  FakeServiceManager manager;
  uint16_t port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config), {{"WATCHDOG_USEC", "2000000"}});
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  ASSERT_TRUE(manager.wait_for("WATCHDOG=1", 30s)) << manager.daemon_log();
  const pid_t drain = thread_named(manager.pid(), "drain");
  ASSERT_GT(drain, 0) << "no thread named drain";

  {
    HaltedThread halted(drain);
    ASSERT_TRUE(halted.halt_while_waiting(10s)) << "cannot halt the drain thread between drains";
    // Pings may go on while the last drain is recent (3 intervals + 1 s).
    manager.wait_for("no such message", 5s);
    manager.messages.clear();
    EXPECT_FALSE(manager.wait_for("WATCHDOG=1", 3s)) << "pings while nothing drains";
    EXPECT_TRUE(manager.running()) << manager.daemon_log();
    auto body = scrape(port);
    ASSERT_TRUE(body) << "no answer on /metrics while the drain loop is stalled";
    EXPECT_THAT(*body, HasSubstr("tcpconnect_exporter_build_info"));
  }
  ASSERT_TRUE(manager.wait_for("WATCHDOG=1", 10s)) << "no ping once draining again\n"
                                                   << manager.daemon_log();
  EXPECT_EQ(manager.stop_daemon(SIGTERM), 0);
  unlink(config.c_str());
}

// What a restart by the service manager looks like to the daemon: the previous process
// ended (crashed, or stopped by SIGTERM), the store passed to the next one.
class FdStoreHandover : public ::testing::TestWithParam<std::pair<int, std::string>> {};

TEST_P(FdStoreHandover, NextProcessAdoptsTheProbeAndNoConnectIsLost) {
  TCPCONNECT_REQUIRE_ROOT();
  const auto& [sig, backend] = GetParam();
  std::string config = write_temp_config(std::string(kDefaults) + "  backend: " + backend + "\n");
  FakeServiceManager manager;
  // A leftover of another version, which the daemon must forget.
  manager.store.emplace("other.leftover", Fd(dup(STDIN_FILENO)));
  uint16_t port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config));
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  EXPECT_THAT(manager.removed, ::testing::ElementsAre("other.leftover"));
  std::vector<std::string> names = manager.names();
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"connect.link", "connect.prog", "connect.map.connects",
                                       "connect.map.starts", "connect.map.pending",
                                       "connect.map.stash", "connect.map.errors"}));
  std::string first_id = probe_id(port);
  ASSERT_FALSE(first_id.empty());

  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 40), 40);
  ASSERT_EQ(connects_to(port, listener.port), 40);

  EXPECT_EQ(manager.stop_daemon(sig), sig == SIGTERM ? 0 : 128 + sig);
  // No process of the service runs now: only the store keeps the probe.
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 30), 30);

  port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config));
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  EXPECT_THAT(manager.daemon_log(), HasSubstr("adopted"));
  EXPECT_THAT(manager.removed, ::testing::IsEmpty());
  EXPECT_EQ(manager.names(), names) << "the store is unchanged: nothing stored twice";
  EXPECT_EQ(probe_id(port), first_id);
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 5), 5);
  EXPECT_EQ(connects_to(port, listener.port), 75) << manager.daemon_log();
  EXPECT_EQ(manager.stop_daemon(SIGTERM), 0);
  unlink(config.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    EndingAndBackend, FdStoreHandover,
    ::testing::Values(std::make_pair(SIGKILL, std::string("tp_btf")),
                      std::make_pair(SIGTERM, std::string("tp_btf")),
                      std::make_pair(SIGTERM, std::string("raw_tp")),
                      std::make_pair(SIGTERM, std::string("tracepoint"))),
    [](const auto& info) {
      return std::string(info.param.first == SIGKILL ? "Crash" : "Sigterm") + "_" +
             info.param.second;
    });

// A probe the next process cannot continue with (here: a different map size) is
// detached, removed from the store and replaced; counting starts again from zero.
TEST(FdStoreHandoverRefused, ChangedMapSizeStartsFreshAndReleasesTheOldProbe) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string config = write_temp_config(kDefaults);
  std::string smaller = write_temp_config("probes:\n  max_entries: 4096\n");
  FakeServiceManager manager;
  uint16_t port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config));
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  uint32_t first_id = static_cast<uint32_t>(std::stoul(probe_id(port)));
  std::vector<std::string> names = manager.names();
  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 10), 10);
  EXPECT_EQ(manager.stop_daemon(SIGKILL), 128 + SIGKILL);

  port = free_tcp_port();
  manager.start_daemon(daemon_args(port, smaller));
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  EXPECT_THAT(manager.daemon_log(), HasSubstr("not continuing"));
  EXPECT_THAT(manager.daemon_log(), HasSubstr("entries 16384/4096"));
  std::sort(manager.removed.begin(), manager.removed.end());
  EXPECT_EQ(manager.removed, names);
  EXPECT_EQ(manager.names(), names) << "the new probe's fds replace the old ones";
  // The store held the old program's last references.
  EXPECT_FALSE(program_loaded(first_id));
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 3), 3);
  EXPECT_EQ(connects_to(port, listener.port), 3);
  EXPECT_EQ(manager.stop_daemon(SIGTERM), 0);
  unlink(config.c_str());
  unlink(smaller.c_str());
}

// The store's copies are all that keeps the probe once no process holds it: releasing
// them (what systemd does on `systemctl stop`) detaches it.
TEST(FdStoreHandoverRefused, ReleasingTheStoreDetachesTheProbe) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string config = write_temp_config(kDefaults);
  FakeServiceManager manager;
  uint16_t port = free_tcp_port();
  manager.start_daemon(daemon_args(port, config));
  ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << manager.daemon_log();
  uint32_t id = static_cast<uint32_t>(std::stoul(probe_id(port)));
  EXPECT_EQ(manager.stop_daemon(SIGTERM), 0);
  int fd = bpf_prog_get_fd_by_id(id);
  EXPECT_GE(fd, 0) << "the store keeps the program";
  if (fd >= 0) close(fd);
  manager.store.clear();
  EXPECT_FALSE(program_loaded(id));
  unlink(config.c_str());
}

}  // namespace
}  // namespace tcpconnect::testing
