// The built daemon as a child process, for integration tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tcpconnect::testing {

std::string daemon_binary();  // build/tcpconnect_exporter
uint16_t free_tcp_port();     // an unused 127.0.0.1 port
// A new /tmp/tcpconnect_config_*.yaml holding `text`, readable by all: a daemon started
// as root rereads it as nobody on SIGHUP. Throws when it cannot be written.
std::string write_temp_config(const std::string& text);

class DaemonProcess {
 public:
  struct Options {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;  // added to the environment
    bool as_nobody = false;                  // drop to uid/gid 65534 before exec
    bool separate_stdout = false;            // stdout to its own file (stdout_text())
    std::vector<std::string> wrapper{};      // a command that execs the daemon (setpriv ...)
  };
  explicit DaemonProcess(const Options& options);
  ~DaemonProcess();  // SIGKILLs a daemon still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Polls GET /metrics until it answers 200; false if the process exits or time runs out.
  bool wait_serving(uint16_t port, std::chrono::milliseconds timeout);
  // Sends sig and waits for exit; returns the exit code, 128+signal if killed by one,
  // or -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout);
  // Waits for the process to exit by itself.
  int wait_exit(std::chrono::milliseconds timeout);
  std::string stderr_text() const;
  // What it wrote to stdout; "" unless Options::separate_stdout.
  std::string stdout_text() const;
  bool running();

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string stderr_path_;
  std::string stdout_path_;
};

// Runs a shell command, returning its exit status and, if out is given, its stdout.
int run_command(const std::string& command, std::string* out = nullptr);

}  // namespace tcpconnect::testing
