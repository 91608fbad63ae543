#include "tracers.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/net.h"

extern char** environ;

namespace tcpconnect::bench {
namespace {

// Polls up to `tenths` tenths of a second until `done` holds.
template <typename F>
bool poll_until(int tenths, F done) {
  for (int i = 0; i < tenths; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

bool tracefs_mounted() {
  struct stat st {};
  return stat("/sys/kernel/tracing/events/sock", &st) == 0 ||
         stat("/sys/kernel/debug/tracing/events/sock", &st) == 0;
}

}  // namespace

std::vector<ProgInfo> snapshot(const std::vector<uint32_t>& ids) {
  std::vector<ProgInfo> out;
  for (uint32_t id : ids) {
    auto p = prog_info_by_id(id);
    out.push_back(p ? *p : ProgInfo{});
  }
  return out;
}

std::vector<ProgDelta> deltas(const std::vector<ProgInfo>& before,
                              const std::vector<ProgInfo>& after) {
  std::vector<ProgDelta> out;
  for (size_t i = 0; i < before.size() && i < after.size(); ++i)
    out.push_back({after[i].name, after[i].type, after[i].run_time_ns - before[i].run_time_ns,
                   after[i].run_cnt - before[i].run_cnt});
  return out;
}

std::string ExporterUnderTest::start(const std::string& binary, const std::string& config) {
  // Twice: on a loaded machine a start can miss its deadline once.
  std::string err = start_once(binary, config);
  if (err.empty()) return err;
  std::fprintf(stderr, "cost_bench: %s; starting it again\n", err.c_str());
  process_.stop();
  return start_once(binary, config);
}

std::string ExporterUnderTest::start_once(const std::string& binary, const std::string& config) {
  ExporterProcess::Options options;
  options.binary = binary;
  options.config_file = config;
  options.web_port = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  options.stderr_path = "/tmp/cost_bench_daemon.log";
  if (!process_.start(options)) return "cannot start " + binary;
  auto body = process_.wait_until_serving();
  if (!body) return "the exporter did not serve /metrics (log: /tmp/cost_bench_daemon.log)";
  dns_method_ = metric_label(*body, "tcpconnect_dns_capture_info", "method");
  programs_ = programs_of_process(process_.pid());
  return programs_.empty() ? "the exporter holds no BPF program" : "";
}

std::string BpftraceProcess::start(const std::string& script) {
  const std::string bpftrace = find_bpftrace();
  if (bpftrace.empty()) return "bpftrace is not installed";
  // Without tracefs, bpftrace mounts nothing itself: mount it in a private mount namespace
  // that dies with bpftrace, so the host is left as it was (unshare execs, same pid).
  std::vector<std::string> args = {bpftrace, "-e", script};
  if (!tracefs_mounted())
    args = {"unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tracefs nodev /sys/kernel/tracing && exec \"$0\" -e \"$1\"",
            bpftrace,
            script};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/tmp/cost_bench_bpftrace.log",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int err = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) {
    pid_ = -1;
    return "cannot start bpftrace";
  }
  // The program is attached right after it is loaded; the caller's settling pause covers it.
  poll_until(300, [this] {
    programs_ = programs_of_process(pid_);
    return !programs_.empty() || waitpid(pid_, nullptr, WNOHANG) != 0;
  });
  return programs_.empty() ? "bpftrace loaded no program (log: /tmp/cost_bench_bpftrace.log)" : "";
}

void BpftraceProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);  // it prints its map and detaches
  if (!poll_until(100, [this] { return waitpid(pid_, nullptr, WNOHANG) == pid_; })) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

std::string EmptySkbProgram::attach() {
  skel_.reset(peer_bpf::open_and_load());
  Cgroup2Root root = open_cgroup2_root();
  if (!skel_ || !root.fd) return "cannot load the empty program or open the cgroup2 root";
  link_.reset(bpf_program__attach_cgroup(skel_->progs.peer_empty_skb, root.fd.get()));
  return link_ ? "" : "cannot attach the empty program to " + root.path;
}

void EmptySkbProgram::detach() {
  link_.reset();
  skel_.reset();
}

uint32_t EmptySkbProgram::id() const {
  if (!skel_) return 0;
  auto p = prog_info(bpf_program__fd(skel_->progs.peer_empty_skb));
  return p ? p->id : 0;
}

std::string find_bpftrace() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  // Bounded by the length of PATH.
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string candidate =
        dirs.substr(start, end == std::string::npos ? std::string::npos : end - start) +
        "/bpftrace";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

}  // namespace tcpconnect::bench
