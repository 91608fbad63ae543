// The host around a benchmark: kernel.bpf_stats_enabled for the run, the machine's load
// and busy time, and a one-line description of the machine for the figures' header.
#pragma once

#include <cstdint>
#include <string>

namespace tcpconnect::bench {

// kernel.bpf_stats_enabled set for the run, the old value put back on every exit path.
// What the run had is printed, whoever set it: with bpf_stats on, every run of every
// program also reads the clock twice, which this guest charges to every arm's cost.
class BpfStatsSwitch {
 public:
  explicit BpfStatsSwitch(bool enable);
  BpfStatsSwitch(const BpfStatsSwitch&) = delete;
  BpfStatsSwitch& operator=(const BpfStatsSwitch&) = delete;
  ~BpfStatsSwitch() { restore(); }
  // Puts the old value back now (idempotent).
  void restore();
  // "on (set for this run)", "ON, and it was on before this run ...", or "off".
  std::string describe() const;
  // The sysctl is readable: the switch can work.
  bool available() const { return !old_.empty(); }

 private:
  std::string old_;
  bool enabled_here_ = false;
};

// The first three fields of /proc/loadavg.
std::string loadavg();

// CPU time used by the whole machine so far (all CPUs, every state but idle and iowait), ns.
int64_t machine_busy_ns();

// "N CPUs (MODEL), kernel RELEASE": nproc, /proc/cpuinfo's model name, uname -r.
std::string machine_description();

}  // namespace tcpconnect::bench
