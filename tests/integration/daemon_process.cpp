#include "integration/daemon_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/http.h"
#include "common/net.h"

namespace tcpconnect::testing {

std::string write_temp_config(const std::string& text) {
  char path[] = "/tmp/tcpconnect_config_XXXXXX.yaml";
  const int fd = mkstemps(path, 5);
  if (fd < 0) throw std::runtime_error("mkstemps: cannot make a config file in /tmp");
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool readable = fchmod(fd, 0644) == 0;
  close(fd);
  if (!written || !readable) throw std::runtime_error(std::string("cannot write ") + path);
  return path;
}

std::string daemon_binary() { return std::string(TCPCONNECT_BINARY_DIR) + "/tcpconnect_exporter"; }

uint16_t free_tcp_port() { return closed_port(AF_INET, "127.0.0.1"); }

DaemonProcess::DaemonProcess(const Options& options) {
  char path[] = "/tmp/tcpconnect_daemon_stderr.XXXXXX";
  int err_fd = mkstemp(path);
  if (err_fd < 0) throw std::runtime_error("mkstemp failed");
  stderr_path_ = path;
  fchmod(err_fd, 0666);
  int out_fd = err_fd;
  if (options.separate_stdout) {
    char out_path[] = "/tmp/tcpconnect_daemon_stdout.XXXXXX";
    out_fd = mkstemp(out_path);
    if (out_fd < 0) throw std::runtime_error("mkstemp failed");
    stdout_path_ = out_path;
  }
  std::vector<std::string> argv_s = options.wrapper;
  argv_s.push_back(daemon_binary());
  argv_s.insert(argv_s.end(), options.args.begin(), options.args.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(err_fd, STDERR_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    for (const auto& [k, v] : options.env) setenv(k.c_str(), v.c_str(), 1);
    if (options.as_nobody) {
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(126);
    }
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(err_fd);
  if (out_fd != err_fd) close(out_fd);
}

DaemonProcess::~DaemonProcess() {
  if (running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(stderr_path_.c_str());
  if (!stdout_path_.empty()) unlink(stdout_path_.c_str());
}

bool DaemonProcess::running() {
  if (exit_code_ != -1) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

bool DaemonProcess::wait_serving(uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return false;
    auto r = http_get("127.0.0.1", port, "/metrics", 2000);
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

int DaemonProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (running()) kill(pid_, sig);
  return wait_exit(timeout);
}

namespace {

std::string file_text(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string DaemonProcess::stderr_text() const { return file_text(stderr_path_); }

std::string DaemonProcess::stdout_text() const { return file_text(stdout_path_); }

int run_command(const std::string& command, std::string* out) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
  int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tcpconnect::testing
