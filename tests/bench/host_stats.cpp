#include "host_stats.h"

#include <bpf/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

namespace tcpconnect::bench {
namespace {
constexpr const char* kBpfStatsPath = "/proc/sys/kernel/bpf_stats_enabled";
}

BpfStatsSwitch::BpfStatsSwitch(bool enable) {
  if (enable) fd_.reset(bpf_enable_stats(BPF_STATS_RUN_TIME));
}

bool BpfStatsSwitch::available() const {
  std::ifstream in(kBpfStatsPath);
  std::string now;
  in >> now;
  return fd_ || (!now.empty() && now != "0");
}

std::string BpfStatsSwitch::describe() const {
  std::ifstream in(kBpfStatsPath);
  std::string now = "?";
  in >> now;
  if (fd_)
    return "on (held by this run through BPF_ENABLE_STATS; kernel.bpf_stats_enabled=" + now +
           ", untouched)";
  if (now != "0")
    return "ON through kernel.bpf_stats_enabled=" + now +
           ": every arm's cost includes the stats' own";
  return "off";
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

int64_t machine_busy_ns() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
  const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<int64_t>(busy * (1000000000 / sysconf(_SC_CLK_TCK)));
}

std::string machine_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) model = line.substr(line.find_first_not_of(' ', colon + 1));
    break;
  }
  utsname u{};
  uname(&u);
  return std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs (" + model + "), kernel " +
         u.release;
}

}  // namespace tcpconnect::bench
