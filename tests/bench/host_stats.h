// The host around a benchmark: kernel.bpf_stats_enabled for the run, the machine's load
// and busy time, and a one-line description of the machine for the figures' header.
#pragma once

#include <cstdint>
#include <string>

#include "util/unique_fd.h"

namespace tcpconnect::bench {

// Run-time statistics of every BPF program on for the run: held through a BPF_ENABLE_STATS
// fd, which keeps them on whatever anyone writes to kernel.bpf_stats_enabled meanwhile
// (other benchmarks on a shared machine put it back to 0 when they end); the sysctl
// itself is never written. With statistics on, every run of every program also reads the
// clock twice, which this guest charges to every arm's cost.
class BpfStatsSwitch {
 public:
  explicit BpfStatsSwitch(bool enable);
  BpfStatsSwitch(const BpfStatsSwitch&) = delete;
  BpfStatsSwitch& operator=(const BpfStatsSwitch&) = delete;
  // Lets go of the statistics now (idempotent); they stay on only if the sysctl says so.
  void restore() { fd_.reset(); }
  // "on (...)" or "off", and the sysctl's value.
  std::string describe() const;
  // Statistics are on: held here, or on through the sysctl.
  bool available() const;

 private:
  UniqueFd fd_;
};

// The first three fields of /proc/loadavg.
std::string loadavg();

// CPU time used by the whole machine so far (all CPUs, every state but idle and iowait), ns.
int64_t machine_busy_ns();

// "N CPUs (MODEL), kernel RELEASE": nproc, /proc/cpuinfo's model name, uname -r.
std::string machine_description();

}  // namespace tcpconnect::bench
