// cost_bench: what the exporter costs on ordinary traffic, in one run, against references
// measured the same way on the same machine:
//   1. BPF ns per loopback connect (the kernel's run-time statistics) of the exporter's
//      programs, and of real bpftrace running the counting one-liner on the same
//      tracepoint; the two in alternating rounds (ABBA), never attached together;
//   2. ns per non-DNS UDP datagram of the exporter's packet programs, and of an empty
//      cgroup_skb program attached beside them on the same packets;
//   3. throughput with the exporter running over throughput without it, for a connect
//      storm (closed with an RST: loads.h says why), small UDP datagrams and one TCP
//      stream, in interleaved rounds (ABBA), with the statistics let go (their clock
//      reads would slow every program); and, as the reference, throughput with
//      bpftrace's one-liner running over the same rounds' without (run between the
//      other two arms).
// Prints median [min-max] over the rounds. The statistics are held through a
// BPF_ENABLE_STATS fd (host_stats.h): kernel.bpf_stats_enabled is never written.
// --short runs part 1 and 2 once, for a few seconds, for a CI log. A benchmark: it
// asserts nothing, and exits non-zero only when it cannot run at all.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host_stats.h"
#include "loads.h"
#include "tracers.h"

namespace {

using namespace tcpconnect::bench;
using Clock = std::chrono::steady_clock;

const char* const kOneLiner =
    "tracepoint:sock:inet_sock_set_state /args->oldstate == 7 && args->newstate == 2/ "
    "{ @[ntop(args->daddr), args->dport] = count(); }";

struct Options {
  std::string daemon = "build/tcpconnect_exporter";
  std::string config = "config/tcpconnect_exporter.yaml";
  bool short_mode = false;
  bool throughput_only = false;
  int stats_rounds = 6;
  int rounds = 10;
  double load_seconds = 1.5;
  int threads = 2;
  int udp_size = 64;
  double max_seconds = 900;
};

// One figure per round, printed as median [min-max].
struct Series {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  std::string text(const char* fmt = "%.1f") const {
    if (v.empty()) return "-";
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    const double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    char out[128], m[32], lo[32], hi[32];
    std::snprintf(m, sizeof(m), fmt, median);
    std::snprintf(lo, sizeof(lo), fmt, s.front());
    std::snprintf(hi, sizeof(hi), fmt, s.back());
    std::snprintf(out, sizeof(out), "%s [%s-%s]", m, lo, hi);
    return out;
  }
};

// Per program name: ns per run and runs per unit (connect, datagram), over the rounds.
struct PerProgram {
  std::map<std::string, std::pair<Series, Series>> by_name;
  void add(const std::vector<ProgDelta>& d, int64_t units) {
    for (const ProgDelta& p : d) {
      if (p.runs == 0) continue;
      by_name[p.name].first.add(static_cast<double>(p.ns) / static_cast<double>(p.runs));
      by_name[p.name].second.add(static_cast<double>(p.runs) / static_cast<double>(units));
    }
  }
  void print(const char* unit) const {
    for (const auto& [name, s] : by_name)
      std::printf("    %-20s %s ns per run, %s runs per %s\n", name.c_str(), s.first.text().c_str(),
                  s.second.text("%.2f").c_str(), unit);
  }
};

// Σ ns of the programs `pick` selects, per unit.
double ns_per(const std::vector<ProgDelta>& d, int64_t units,
              const std::function<bool(const ProgDelta&)>& pick) {
  uint64_t ns = 0;
  for (const ProgDelta& p : d)
    if (pick(p)) ns += p.ns;
  return units > 0 ? static_cast<double>(ns) / static_cast<double>(units) : 0;
}

bool is_connect_program(const ProgDelta& p) {
  return p.type == BPF_PROG_TYPE_TRACEPOINT || p.type == BPF_PROG_TYPE_RAW_TRACEPOINT ||
         p.type == BPF_PROG_TYPE_TRACING;
}
bool is_packet_program(const ProgDelta& p) { return p.type == BPF_PROG_TYPE_CGROUP_SKB; }
bool is_sock_addr_program(const ProgDelta& p) { return p.type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR; }

// Runs `load` and returns it with what `programs` ran meanwhile.
template <typename Load>
std::pair<LoadResult, std::vector<ProgDelta>> measured(const std::vector<uint32_t>& programs,
                                                       Load load) {
  const auto before = snapshot(programs);
  LoadResult r = load();
  return {r, deltas(before, snapshot(programs))};
}

// The bpf_stats figures of parts 1 and 2, over the rounds.
struct StatsFigures {
  Series exporter_connect, exporter_sock_addr, exporter_packets_per_connect, bpftrace_connect,
      ratio;
  PerProgram exporter_programs, bpftrace_programs, udp_programs;
  Series udp_ingress, udp_all, empty_ingress, ingress_over_empty;
  std::string dns_method;
  int rounds = 0;
  int bpftrace_rounds = 0;
};

// One exporter round: connects, then datagrams with the empty program beside.
std::string exporter_stats_round(const Options& o, StatsFigures& f, double& last_connect_ns) {
  ExporterUnderTest exporter;
  if (std::string err = exporter.start(o.daemon, o.config); !err.empty()) return err;
  f.dns_method = exporter.dns_method();
  connect_load(0.2, o.threads);  // warm-up: the first connects fill the maps
  auto [c, cd] =
      measured(exporter.programs(), [&] { return connect_load(o.load_seconds, o.threads); });
  last_connect_ns = ns_per(cd, c.units, is_connect_program);
  f.exporter_connect.add(last_connect_ns);
  f.exporter_sock_addr.add(ns_per(cd, c.units, is_sock_addr_program));
  f.exporter_packets_per_connect.add(ns_per(cd, c.units, is_packet_program));
  f.exporter_programs.add(cd, c.units);
  EmptySkbProgram empty;
  if (std::string err = empty.attach(); !err.empty()) return err;
  std::vector<uint32_t> ids = exporter.programs();
  ids.push_back(empty.id());
  auto [u, ud] = measured(ids, [&] { return udp_load(o.load_seconds, o.udp_size); });
  const ProgDelta empty_delta = ud.back();
  ud.pop_back();
  f.udp_programs.add(ud, u.sent);
  const double ingress = ns_per(ud, u.sent, [](const ProgDelta& p) {
    return is_packet_program(p) && p.name.find("ingress") != std::string::npos;
  });
  const double empty_ns =
      static_cast<double>(empty_delta.ns) / static_cast<double>(std::max<int64_t>(u.sent, 1));
  f.udp_ingress.add(ingress);
  f.udp_all.add(ns_per(ud, u.sent, [](const ProgDelta&) { return true; }));
  f.empty_ingress.add(empty_ns);
  f.ingress_over_empty.add(ingress - empty_ns);
  empty.detach();
  exporter.stop();
  return "";
}

// One bpftrace round: the same connects under the one-liner.
std::string bpftrace_stats_round(const Options& o, StatsFigures& f, double& connect_ns) {
  BpftraceProcess bpftrace;
  if (std::string err = bpftrace.start(kOneLiner); !err.empty()) return err;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // from load to attach
  connect_load(0.2, o.threads);
  auto [c, cd] =
      measured(bpftrace.programs(), [&] { return connect_load(o.load_seconds, o.threads); });
  connect_ns = ns_per(cd, c.units, [](const ProgDelta&) { return true; });
  f.bpftrace_connect.add(connect_ns);
  f.bpftrace_programs.add(cd, c.units);
  bpftrace.stop();
  return "";
}

// Parts 1 and 2: exporter and bpftrace rounds in ABBA order. "" or why it could not run.
std::string stats_phase(const Options& o, StatsFigures& f) {
  const bool have_bpftrace = !find_bpftrace().empty();
  if (!have_bpftrace) std::printf("note: bpftrace is not installed: no bpftrace figures\n");
  for (int r = 0; r < o.stats_rounds; ++r) {
    double ours = 0, theirs = 0;
    const bool bpftrace_first = have_bpftrace && r % 2 == 1;
    std::string bpftrace_err;
    if (bpftrace_first) bpftrace_err = bpftrace_stats_round(o, f, theirs);
    if (std::string err = exporter_stats_round(o, f, ours); !err.empty()) return err;
    if (have_bpftrace && !bpftrace_first) bpftrace_err = bpftrace_stats_round(o, f, theirs);
    if (!bpftrace_err.empty())
      std::printf("note: bpftrace round %d: %s\n", r + 1, bpftrace_err.c_str());
    if (have_bpftrace && bpftrace_err.empty() && theirs > 0) {
      f.ratio.add(ours / theirs);
      ++f.bpftrace_rounds;
    }
    ++f.rounds;
  }
  return "";
}

void print_stats(const Options& o, const StatsFigures& f) {
  std::printf(
      "\n1. BPF ns per loopback connect (bpf_stats run time / connects; %d rounds, %d with "
      "bpftrace; median [min-max])\n",
      f.rounds, f.bpftrace_rounds);
  std::printf("  exporter, connect programs (tracepoint)   %s\n",
              f.exporter_connect.text().c_str());
  std::printf("  exporter, socket-address programs         %s\n",
              f.exporter_sock_addr.text().c_str());
  std::printf("  exporter, packet programs                 %s\n",
              f.exporter_packets_per_connect.text().c_str());
  f.exporter_programs.print("connect");
  std::printf("  bpftrace one-liner                        %s\n",
              f.bpftrace_connect.text().c_str());
  f.bpftrace_programs.print("connect");
  std::printf("  exporter connect programs / bpftrace      %s (per-round ratios)\n",
              f.ratio.text("%.2f").c_str());
  std::printf("\n2. ns per non-DNS UDP datagram (%d B, sendto 127.0.0.1; DNS capture %s)\n",
              o.udp_size, f.dns_method.c_str());
  std::printf("  exporter, ingress packet program          %s\n", f.udp_ingress.text().c_str());
  std::printf("  empty cgroup_skb ingress beside it        %s\n", f.empty_ingress.text().c_str());
  std::printf("  exporter ingress - empty                  %s\n",
              f.ingress_over_empty.text().c_str());
  std::printf("  exporter, all its programs                %s\n", f.udp_all.text().c_str());
  f.udp_programs.print("datagram");
}

// Part 3: per load, the per-round ratios with/without, of the rate (units per second) and
// of the units per CPU second of the load's own threads.
constexpr int kLoads = 3;  // connect storm, UDP datagrams, TCP stream

struct ThroughputFigures {
  Series rate[kLoads], per_cpu[kLoads], base[kLoads];
  // bpftrace's one-liner over without, in the same rounds (when bpftrace is installed).
  Series peer_rate[kLoads], peer_per_cpu[kLoads];
  int rounds = 0;
};

struct LoadRates {
  double rate[kLoads] = {}, per_cpu[kLoads] = {};
};

LoadRates run_loads(const Options& o, const LoadNetns& netns) {
  const LoadNetns::Entered in(netns);
  LoadResult loads[kLoads] = {connect_storm_load(o.load_seconds, o.threads),
                              udp_load(o.load_seconds, o.udp_size),
                              tcp_stream_load(o.load_seconds)};
  // Datagrams sent: each carried the whole loopback path (both packet programs); how many
  // the receiving thread kept up with depends on scheduling.
  loads[1].units = loads[1].sent;
  LoadRates r;
  for (int i = 0; i < kLoads; ++i) {
    if (!loads[i].error.empty()) std::printf("  note: %s\n", loads[i].error.c_str());
    r.rate[i] = loads[i].rate();
    r.per_cpu[i] = loads[i].per_cpu();
  }
  return r;
}

std::string stats_sysctl() {
  std::string v = "?";
  std::ifstream("/proc/sys/kernel/bpf_stats_enabled") >> v;
  return v;
}

double ratio(double with, double without) { return without > 0 ? with / without : 0; }

// The loads with the exporter running, or with bpftrace's one-liner: "" or why not.
std::string run_loads_with(const Options& o, const LoadNetns& netns, bool bpftrace,
                           LoadRates& out) {
  if (bpftrace) {
    BpftraceProcess peer;
    if (std::string err = peer.start(kOneLiner); !err.empty()) return err;
    out = run_loads(o, netns);
    return "";
  }
  ExporterUnderTest exporter;
  if (std::string err = exporter.start(o.daemon, o.config); !err.empty()) return err;
  {
    const LoadNetns::Entered in(netns);
    connect_storm_load(0.2, o.threads);
  }
  out = run_loads(o, netns);
  return "";
}

std::string throughput_phase(const Options& o, Clock::time_point deadline, ThroughputFigures& f) {
  std::printf(
      "\nthroughput rounds (this run's statistics let go; kernel.bpf_stats_enabled=%s, "
      "another process's if 1: every program then pays two clock reads); with / without: "
      "connects/s, datagrams/s, stream MB/s; the same per CPU second\n",
      stats_sysctl().c_str());
  LoadNetns netns;
  if (std::string err = netns.create(); !err.empty()) return err;
  const bool have_bpftrace = !find_bpftrace().empty();
  for (int r = 0; r < o.rounds && Clock::now() < deadline; ++r) {
    LoadRates with, without, peer;
    const bool exporter_first = r % 2 == 1;
    if (!exporter_first) without = run_loads(o, netns);
    if (std::string err = run_loads_with(o, netns, false, with); !err.empty()) return err;
    // bpftrace between the two: each arm's neighbours in time alternate over the rounds.
    std::string peer_err = "not installed";
    if (have_bpftrace) peer_err = run_loads_with(o, netns, true, peer);
    if (have_bpftrace && !peer_err.empty())
      std::printf("  note: bpftrace round %d: %s\n", r + 1, peer_err.c_str());
    if (exporter_first) without = run_loads(o, netns);
    std::printf(
        "  round %2d (%s first): %.0f / %.0f, %.0f / %.0f, %.0f / %.0f; per CPU s %.0f / %.0f, "
        "%.0f / %.0f, %.0f / %.0f; host TIME_WAIT %lld, load %s\n",
        r + 1, exporter_first ? "exporter" : "baseline", with.rate[0], without.rate[0],
        with.rate[1], without.rate[1], with.rate[2] / 1e6, without.rate[2] / 1e6, with.per_cpu[0],
        without.per_cpu[0], with.per_cpu[1], without.per_cpu[1], with.per_cpu[2] / 1e6,
        without.per_cpu[2] / 1e6, static_cast<long long>(time_wait_sockets()), loadavg().c_str());
    std::fflush(stdout);
    if (peer_err.empty())
      std::printf("    bpftrace: %.0f, %.0f, %.0f; per CPU s %.0f, %.0f, %.0f\n", peer.rate[0],
                  peer.rate[1], peer.rate[2] / 1e6, peer.per_cpu[0], peer.per_cpu[1],
                  peer.per_cpu[2] / 1e6);
    for (int i = 0; i < kLoads; ++i) {
      f.rate[i].add(ratio(with.rate[i], without.rate[i]));
      f.per_cpu[i].add(ratio(with.per_cpu[i], without.per_cpu[i]));
      f.base[i].add(i == 2 ? without.rate[i] / 1e6 : without.rate[i]);
      if (!peer_err.empty()) continue;
      f.peer_rate[i].add(ratio(peer.rate[i], without.rate[i]));
      f.peer_per_cpu[i].add(ratio(peer.per_cpu[i], without.per_cpu[i]));
    }
    ++f.rounds;
  }
  return "";
}

void print_throughput(const Options& o, const ThroughputFigures& f) {
  std::printf(
      "\n3. throughput with the exporter / without (%d interleaved rounds of %.1f s per "
      "load and arm; median [min-max] of the per-round ratios)\n"
      "                                     per second           per CPU second       "
      "without, per second\n",
      f.rounds, o.load_seconds);
  char names[kLoads][48];
  std::snprintf(names[0], sizeof(names[0]), "connect storm (%d threads, RST)", o.threads);
  std::snprintf(names[1], sizeof(names[1]), "UDP %d B datagrams sent", o.udp_size);
  std::snprintf(names[2], sizeof(names[2]), "TCP stream");
  const char* units[kLoads] = {"connects", "datagrams", "MB"};
  for (int i = 0; i < kLoads; ++i)
    std::printf("  %-34s %-20s %-20s %s %s\n", names[i], f.rate[i].text("%.3f").c_str(),
                f.per_cpu[i].text("%.3f").c_str(), f.base[i].text("%.0f").c_str(), units[i]);
  if (f.peer_rate[0].v.empty()) return;
  std::printf("   bpftrace's one-liner / without, the same rounds (the reference)\n");
  for (int i = 0; i < kLoads; ++i)
    std::printf("  %-34s %-20s %s\n", names[i], f.peer_rate[i].text("%.3f").c_str(),
                f.peer_per_cpu[i].text("%.3f").c_str());
}

int run(const Options& o) {
  spdlog::set_level(spdlog::level::warn);
  if (geteuid() != 0) {
    std::fprintf(stderr, "cost_bench: needs root (loads BPF programs, enables their statistics)\n");
    return 1;
  }
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.max_seconds));
  std::printf("cost_bench: %s; load average %s; config %s\n", machine_description().c_str(),
              loadavg().c_str(), o.config.c_str());
  StatsFigures stats;
  if (!o.throughput_only) {
    BpfStatsSwitch bpf_stats(true);
    if (!bpf_stats.available()) {
      std::fprintf(stderr,
                   "cost_bench: cannot enable BPF run-time statistics (BPF_ENABLE_STATS)\n");
      return 1;
    }
    std::printf("bpf_stats %s\n", bpf_stats.describe().c_str());
    if (std::string err = stats_phase(o, stats); !err.empty()) {
      std::fprintf(stderr, "cost_bench: %s\n", err.c_str());
      return 1;
    }
    print_stats(o, stats);
  }  // statistics let go
  if (o.short_mode || o.rounds == 0) return 0;
  ThroughputFigures throughput;
  if (std::string err = throughput_phase(o, deadline, throughput); !err.empty()) {
    std::fprintf(stderr, "cost_bench: %s\n", err.c_str());
    return 1;
  }
  print_throughput(o, throughput);
  std::printf("load average after %s\n", loadavg().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "What the exporter costs on ordinary traffic against bpftrace's one-liner and an empty "
      "program, and its throughput ratios (benchmark; asserts nothing)."};
  Options o;
  app.add_option("--daemon", o.daemon, "The exporter binary")->capture_default_str();
  app.add_option("--config", o.config, "Its config file")->capture_default_str();
  app.add_flag("--short", o.short_mode,
               "Parts 1 and 2 once, a few seconds (for CI logs); no throughput rounds");
  app.add_flag("--throughput-only", o.throughput_only, "Part 3 alone");
  app.add_option("--stats-rounds", o.stats_rounds, "Rounds of parts 1 and 2")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  app.add_option("--rounds", o.rounds, "Throughput rounds (part 3; 0: none)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app.add_option("--load-seconds", o.load_seconds, "Length of each load")
      ->check(CLI::Range(0.2, 30.0))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Connecting threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--udp-size", o.udp_size, "UDP payload bytes")
      ->check(CLI::Range(1, 1400))
      ->capture_default_str();
  app.add_option("--max-seconds", o.max_seconds, "No throughput round starts after this")
      ->check(CLI::Range(10.0, 7200.0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.short_mode) {
    o.stats_rounds = 1;
    o.load_seconds = std::min(o.load_seconds, 1.0);
  }
  return run(o);
}
