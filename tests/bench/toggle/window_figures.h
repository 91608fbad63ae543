// Figures of the toggle benchmarks: what one window measured, the totals of an arm, and
// ratios between arms over groups of adjacent windows with their spread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "bpf_programs.h"

namespace tcpconnect::bench {

using Clock = std::chrono::steady_clock;

struct Sample {
  Clock::time_point at;
  int64_t connects = 0;
  int64_t storm_cpu_ns = 0;    // connecting and accepting threads
  int64_t process_cpu_ns = 0;  // this process (storm, scraper, controller)
  int64_t daemon_cpu_ns = 0;
  int64_t machine_ns = 0;
  std::vector<ProgInfo> progs;  // bpf_stats of the tracked programs
};

// The arms a window may run: nothing switched on, the exporter's switched programs, or
// the peer.
enum Arm { kOff = 0, kOn = 1, kPeer = 2 };
const char* arm_name(int arm);

struct Window {
  int arm = kOff;
  double seconds = 0;
  int64_t connects = 0;
  double storm_cpu = 0, process_cpu = 0, daemon_cpu = 0, machine = 0;  // seconds
  std::vector<uint64_t> run_ns, runs, misses;                          // per program
};

Window difference(int arm, const Sample& a, const Sample& b);

struct Totals {
  double seconds = 0, storm_cpu = 0, process_cpu = 0, daemon_cpu = 0, machine = 0;
  int64_t connects = 0;
  std::vector<uint64_t> run_ns, runs, misses;
  int windows = 0;
  void add(const Window& w);
  double rate() const { return seconds > 0 ? static_cast<double>(connects) / seconds : 0; }
  double storm_us() const { return connects ? storm_cpu * 1e6 / static_cast<double>(connects) : 0; }
};

// Linear-interpolated quantile q (0..1) of v; 0 when empty.
double quantile(std::vector<double> v, double q);

// A group: adjacent windows, one of each arm (a pair without a peer), indexed by arm.
struct Group {
  std::vector<Window> arm;
};

using GroupRatio = std::function<double(const std::vector<const Group*>&)>;

// arm/off of connects per second, and off/arm of storm CPU per connect (so that 1.000
// means free for both), over a set of groups.
GroupRatio rate_ratio(int arm);
GroupRatio cpu_ratio(int arm);
// What the arm adds to the storm's CPU per connect, in microseconds: everything its
// programs cost in the kernel, their dispatch included (bpf_stats sees only their runs).
GroupRatio extra_us(int arm);
// The exporter's extra CPU per connect over the peer's.
double cost_ratio(const std::vector<const Group*>& groups);

struct Spreads {
  double total = 0, median = 0, min = 0, max = 0, lo = 0, hi = 0;
};

// The ratio over all groups; the median, minimum and maximum of the per-group ratios; a
// 95% percentile bootstrap interval of the total ratio, groups resampled (fixed seed).
Spreads spreads(const std::vector<Group>& groups, const GroupRatio& ratio, int resamples);

}  // namespace tcpconnect::bench
