// What the benchmarks that run the real exporter as a process share: starting it with a
// config of their own, reading its memory from /proc and its BPF maps' kernel memory
// from bpftool, timing scrapes, and the distinct loopback destinations they connect to.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tcpconnect::bench {

// stdout of a shell command.
std::string run_command(const std::string& cmd);

// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"); -1 if absent.
long proc_status_kib(pid_t pid, const char* field);
// CPU time (user + system) of a process so far, in seconds; -1 if gone.
double process_cpu_seconds(pid_t pid);

// Kernel memory of every map a BPF program uses (bpftool's bytes_memlock: what the map
// charges, preallocated hash maps in full). per_map names the maps of 1 MiB or more.
struct MapMemory {
  long long total = 0;
  std::string per_map;
};
MapMemory map_memory(const std::string& prog_id);

// The value of `label` on the first sample of `metric` in a /metrics body ("" if absent).
std::string metric_label(const std::string& metrics_body, const std::string& metric,
                         const std::string& label);
// The id label of tcpconnect_probe_info in a /metrics body ("" if absent).
std::string probe_program_id(const std::string& metrics_body);

// The i-th of the distinct destinations 127.1.0.0 onwards (clear of 127.0.0.x, which
// the machine itself uses).
std::string loopback_destination(uint32_t i);

// Writes text to a new file /tmp/<stem>_XXXXXX.yaml and returns its path ("" on error).
std::string write_temp_file(const std::string& stem, const std::string& text);

// The exporter as a child process: exec'd with --config.file, --web.listen-address
// 127.0.0.1:<web_port> and --log.level, plus `env` ("NAME=value") in its environment.
// stderr goes to stderr_path when set. stop() sends SIGTERM and reaps it.
class ExporterProcess {
 public:
  ExporterProcess() = default;
  ExporterProcess(const ExporterProcess&) = delete;
  ExporterProcess& operator=(const ExporterProcess&) = delete;
  ~ExporterProcess() { stop(); }

  struct Options {
    std::string binary;
    std::string config_file;
    uint16_t web_port = 0;
    std::string log_level = "warn";
    std::vector<std::string> env;
    std::string stderr_path;
    // Set to when the child called execve (CLOCK_REALTIME ns, taken in the child just
    // before the call: the clock of SO_TIMESTAMPNS and of the daemon's log).
    int64_t* exec_ns = nullptr;
  };
  bool start(const Options& options);
  // Polls /metrics until it answers 200 or the timeout; returns the body.
  std::optional<std::string> wait_until_serving(int timeout_ms = 20000) const;
  // SIGTERM, then waits; returns the seconds from the signal to the exit (-1: not running).
  double stop();
  pid_t pid() const { return pid_; }
  uint16_t web_port() const { return web_port_; }

 private:
  pid_t pid_ = -1;
  uint16_t web_port_ = 0;
};

// One scrape, timed from before connect() to the last byte (the client closes nothing
// early: Connection: close, read to EOF).
struct Scrape {
  bool ok = false;
  double seconds = 0;
  size_t body_bytes = 0;  // as sent (compressed when gzip)
  bool gzip = false;      // the server answered Content-Encoding: gzip
  std::string body;
};
Scrape timed_scrape(uint16_t port, const std::string& path, bool accept_gzip,
                    int timeout_ms = 60000);

// Median, 90th percentile (nearest rank) and maximum of samples (all 0 when empty).
struct Spread {
  double median = 0, p90 = 0, max = 0;
};
Spread spread(std::vector<double> samples);

int64_t monotonic_ns();
int64_t realtime_ns();

}  // namespace tcpconnect::bench
