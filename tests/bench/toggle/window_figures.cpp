#include "window_figures.h"

#include <algorithm>
#include <random>

namespace tcpconnect::bench {
namespace {

// Totals of one arm over a set of groups.
Totals arm_totals(const std::vector<const Group*>& groups, int arm) {
  Totals t;
  for (const Group* g : groups) t.add(g->arm[arm]);
  return t;
}

}  // namespace

const char* arm_name(int arm) { return arm == kOn ? "on" : arm == kPeer ? "peer" : "off"; }

Window difference(int arm, const Sample& a, const Sample& b) {
  Window w;
  w.arm = arm;
  w.seconds = std::chrono::duration<double>(b.at - a.at).count();
  w.connects = b.connects - a.connects;
  w.storm_cpu = static_cast<double>(b.storm_cpu_ns - a.storm_cpu_ns) / 1e9;
  w.process_cpu = static_cast<double>(b.process_cpu_ns - a.process_cpu_ns) / 1e9;
  w.daemon_cpu = static_cast<double>(b.daemon_cpu_ns - a.daemon_cpu_ns) / 1e9;
  w.machine = static_cast<double>(b.machine_ns - a.machine_ns) / 1e9;
  for (size_t i = 0; i < a.progs.size() && i < b.progs.size(); ++i) {
    w.run_ns.push_back(b.progs[i].run_time_ns - a.progs[i].run_time_ns);
    w.runs.push_back(b.progs[i].run_cnt - a.progs[i].run_cnt);
    w.misses.push_back(b.progs[i].recursion_misses - a.progs[i].recursion_misses);
  }
  return w;
}

void Totals::add(const Window& w) {
  seconds += w.seconds;
  connects += w.connects;
  storm_cpu += w.storm_cpu;
  process_cpu += w.process_cpu;
  daemon_cpu += w.daemon_cpu;
  machine += w.machine;
  run_ns.resize(w.run_ns.size());
  runs.resize(w.runs.size());
  misses.resize(w.misses.size());
  for (size_t i = 0; i < w.run_ns.size(); ++i) {
    run_ns[i] += w.run_ns[i];
    runs[i] += w.runs[i];
    misses[i] += w.misses[i];
  }
  ++windows;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

GroupRatio rate_ratio(int arm) {
  return [arm](const std::vector<const Group*>& groups) {
    const Totals a = arm_totals(groups, arm), off = arm_totals(groups, kOff);
    return off.rate() > 0 ? a.rate() / off.rate() : 0;
  };
}

GroupRatio cpu_ratio(int arm) {
  return [arm](const std::vector<const Group*>& groups) {
    const Totals a = arm_totals(groups, arm), off = arm_totals(groups, kOff);
    return a.storm_us() > 0 ? off.storm_us() / a.storm_us() : 0;
  };
}

GroupRatio extra_us(int arm) {
  return [arm](const std::vector<const Group*>& groups) {
    return arm_totals(groups, arm).storm_us() - arm_totals(groups, kOff).storm_us();
  };
}

double cost_ratio(const std::vector<const Group*>& groups) {
  const double peer = extra_us(kPeer)(groups);
  return peer != 0 ? extra_us(kOn)(groups) / peer : 0;
}

Spreads spreads(const std::vector<Group>& groups, const GroupRatio& ratio, int resamples) {
  Spreads s;
  std::vector<const Group*> all;
  for (const Group& g : groups) all.push_back(&g);
  s.total = ratio(all);
  std::vector<double> each;
  for (const Group* g : all) each.push_back(ratio({g}));
  s.median = quantile(each, 0.5);
  s.min = each.empty() ? 0 : *std::min_element(each.begin(), each.end());
  s.max = each.empty() ? 0 : *std::max_element(each.begin(), each.end());
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<size_t> pick(0, all.empty() ? 0 : all.size() - 1);
  std::vector<double> boot;
  std::vector<const Group*> draw(all.size());
  for (int r = 0; r < resamples && !all.empty(); ++r) {
    for (auto& d : draw) d = all[pick(rng)];
    boot.push_back(ratio(draw));
  }
  s.lo = quantile(boot, 0.025);
  s.hi = quantile(boot, 0.975);
  return s;
}

}  // namespace tcpconnect::bench
