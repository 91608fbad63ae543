#include "host_stats.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

namespace tcpconnect::bench {
namespace {
constexpr const char* kBpfStatsPath = "/proc/sys/kernel/bpf_stats_enabled";
}

BpfStatsSwitch::BpfStatsSwitch(bool enable) {
  std::ifstream in(kBpfStatsPath);
  if (!(in >> old_)) old_.clear();
  if (enable && !old_.empty()) std::ofstream(kBpfStatsPath) << "1\n";
  enabled_here_ = enable && !old_.empty();
}

void BpfStatsSwitch::restore() {
  if (enabled_here_) std::ofstream(kBpfStatsPath) << old_ << "\n";
  enabled_here_ = false;
}

std::string BpfStatsSwitch::describe() const {
  std::ifstream in(kBpfStatsPath);
  std::string now;
  in >> now;
  if (now == "0") return "off";
  if (enabled_here_ && old_ == "0") return "on (set for this run)";
  return "ON, as it was before this run (kernel.bpf_stats_enabled=" + now +
         "): every arm's cost includes the stats' own";
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
