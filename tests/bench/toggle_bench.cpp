// toggle_bench: loopback connect throughput with the exporter's BPF programs switched on
// and off in alternating windows of one run, while the real daemon keeps running.
//
// A storm of connect()+close() to a listener on 127.0.0.1 (or ::1) runs in this process's
// threads for the whole run. Time is cut into pairs of windows of --window-ms, one "on"
// and one "off", in random order within each pair (seeded). --order abba alternates
// on off, off on, ..., which lines up with anything that recurs every four windows: with
// 250 ms windows the daemon's 1 s drain always fell in an "off" window. At each window's
// end the threads park (every connect they started has returned and its socket is
// closed), the figures are read, the programs are switched if the next window's arm
// differs, and the threads go on. Both arms thus see the same machine, a few hundred
// milliseconds apart, which rounds of seconds on this shared 2-vCPU machine did not.
//
// What is switched:
// - the daemon's DNS program (cgroup_skb/ingress on the cgroup2 root): the daemon's link
//   is detached (BPF_LINK_DETACH), and the same program is attached through a link of
//   this process in "on" windows only;
// - the connect program (sock:inet_sock_set_state). The kernel implements BPF_LINK_DETACH
//   for cgroup, netns, XDP and tc links, not for the daemon's raw_tracepoint (or
//   perf-event) link (EOPNOTSUPP on 6.18): that one goes only when its last fd, the
//   daemon's, is closed. If the kernel does detach it, the daemon's program is switched
//   like the DNS one ("takeover"). Otherwise a second instance of the probe is loaded here
//   by the daemon's own code (ConnectProbe::attach) from the same config, checked to be
//   the same program with the same constants and settings, and switched ("second
//   instance"): "off" windows run the daemon's probe, "on" windows the daemon's and one
//   more, and the difference is what one probe costs.
// The daemon drains, and is scraped once a second, in both arms.
//
// --alone runs no daemon: the exporter's two programs are loaded here from the config by
// the daemon's own code and switched by themselves, so that "off" is no tracer at all
// and each program is the only one at its attach point, as on a host with the daemon and
// nothing else. The daemon's own CPU (its drain and scrapes: "daemon_ms/s" of a run with
// it) is then not in the figures.
//
// --peer adds a third arm, switched alone: bpftrace's counting one-liner as
// tests/bench/bpf/peer.bpf.c spells it (the peer issue 8 names; bpftrace itself takes
// seconds to start), or, with --peer-kind, an empty program where the DNS capture or the
// connect probe attaches (what the kernel's dispatch costs by itself), or an empty program
// on a tracepoint the storm never fires (what switching costs by itself). Windows then
// come in groups of three, one per arm, and each arm is compared with "off" in the same
// groups; "storm CPU each adds per connect" is what an arm costs in the kernel in all
// (programs, dispatch, everything bpf_stats does not see).
//
// At the end it checks exactness while switching: the switched connect program counted,
// for the storm's port, exactly the connects made in "on" windows (and the daemon, in
// second-instance mode, all of them); and that nothing it loaded or attached is left.
// A benchmark: it prints what it measured and asserts nothing about it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_exporter.h"
#include "bpf/percpu_map.h"
#include "common/http.h"
#include "common/metric_samples.h"
#include "config/config.h"
#include "dns/dns_capture.h"
#include "dns/dns_layer.h"
#include "loopback_storm.h"
#include "metrics/label_renderer.h"
#include "peer.h"
#include "peer.skel.h"
#include "probes/cgroup_fs.h"
#include "probes/connect_probe.h"
#include "shared/connect.h"
#include "util/unique_fd.h"

namespace {

using namespace tcpconnect;
using namespace tcpconnect::bench;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

struct Options {
  std::string daemon = "build/tcpconnect_exporter";
  std::string config = "config/tcpconnect_exporter.yaml";
  double seconds = 60;
  int window_ms = 250;
  int threads = 2;
  int accept_threads = 1;
  int64_t max_connects = 50000000;
  int family = 4;
  std::string close_mode = "fin";
  double scrape_interval = 1;
  bool bpf_stats = false;
  bool alone = false;
  bool peer = false;
  std::string peer_kind = "bpftrace";
  bool print_windows = false;
  int bootstrap = 2000;
  std::string order = "random";
  uint64_t seed = 1;
};

// ---------------------------------------------------------------------------------------
// BPF objects by id.

struct ProgInfo {
  uint32_t id = 0;
  uint32_t type = 0;
  std::string name;
  std::string tag;
  std::vector<uint32_t> map_ids;
  uint64_t run_time_ns = 0, run_cnt = 0, recursion_misses = 0;
};

std::optional<ProgInfo> prog_info(int fd) {
  bpf_prog_info info{};
  std::vector<uint32_t> maps(64);
  info.nr_map_ids = static_cast<uint32_t>(maps.size());
  info.map_ids = reinterpret_cast<uint64_t>(maps.data());
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return std::nullopt;
  ProgInfo p;
  p.id = info.id;
  p.type = info.type;
  p.name = info.name;
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; ++i) std::snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
  p.tag = tag;
  maps.resize(std::min<size_t>(info.nr_map_ids, maps.size()));
  p.map_ids = maps;
  p.run_time_ns = info.run_time_ns;
  p.run_cnt = info.run_cnt;
  p.recursion_misses = info.recursion_misses;
  return p;
}

// A map or link opened by id, with its info (Info: bpf_map_info, bpf_link_info).
template <typename Info>
struct ObjectById {
  UniqueFd fd;
  Info info{};
};
using MapInfo = ObjectById<bpf_map_info>;
using LinkInfo = ObjectById<bpf_link_info>;

template <typename Info>
std::optional<ObjectById<Info>> object_by_id(int (*fd_by_id)(uint32_t), uint32_t id) {
  ObjectById<Info> o;
  o.fd.reset(fd_by_id(id));
  if (!o.fd) return std::nullopt;
  uint32_t len = sizeof(o.info);
  if (bpf_obj_get_info_by_fd(o.fd.get(), &o.info, &len) != 0) return std::nullopt;
  return o;
}

std::optional<MapInfo> map_by_id(uint32_t id) {
  return object_by_id<bpf_map_info>(bpf_map_get_fd_by_id, id);
}

// The map of a program with this name (the kernel keeps 15 characters of it).
std::optional<MapInfo> program_map(const ProgInfo& prog, const std::string& name) {
  for (uint32_t id : prog.map_ids) {
    auto m = map_by_id(id);
    if (m && name.compare(0, BPF_OBJ_NAME_LEN - 1, m->info.name) == 0) return m;
  }
  return std::nullopt;
}

// Link ids held by a process, from its fds' fdinfo ("link_id:").
std::vector<uint32_t> links_of_process(pid_t pid) {
  std::vector<uint32_t> ids;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return ids;
  // Bounded by the process's fds.
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("link_id:", 0) == 0) ids.push_back(std::stoul(line.substr(8)));
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::optional<LinkInfo> link_by_id(uint32_t id) {
  return object_by_id<bpf_link_info>(bpf_link_get_fd_by_id, id);
}

// What differs between two programs ("" if nothing): the tags (the instructions), and
// the bytes of their load-time constants (read-only ARRAY maps: .rodata) and run-time
// settings (the `settings` map), by map name.
std::string differences(const ProgInfo& a, const ProgInfo& b) {
  if (a.tag != b.tag) return "tag " + a.tag + " vs " + b.tag;
  if (a.type != b.type) return "program type";
  std::string out;
  for (uint32_t id : a.map_ids) {
    auto ma = map_by_id(id);
    if (!ma || ma->info.type != BPF_MAP_TYPE_ARRAY) continue;
    if (!(ma->info.map_flags & BPF_F_RDONLY_PROG) && std::string(ma->info.name) != "settings")
      continue;
    auto mb = program_map(b, ma->info.name);
    if (!mb) {
      out += std::string(" no map ") + ma->info.name;
      continue;
    }
    std::vector<uint8_t> va(ma->info.value_size), vb(mb->info.value_size);
    for (uint32_t k = 0; k < ma->info.max_entries && k < 65536; ++k) {
      if (va.size() != vb.size() || bpf_map_lookup_elem(ma->fd.get(), &k, va.data()) != 0 ||
          bpf_map_lookup_elem(mb->fd.get(), &k, vb.data()) != 0 || va != vb) {
        out += std::string(" map ") + ma->info.name + " differs";
        break;
      }
    }
  }
  return out;
}

// Attempts counted by a connect program, per its `connects` map, to ip:port (summed over
// CPUs and over the key's other fields).
std::optional<uint64_t> program_attempts(const ProgInfo& prog, int domain, const sockaddr* addr,
                                         uint16_t port) {
  auto map = program_map(prog, "connects");
  if (!map) return std::nullopt;
  if (map->info.key_size != sizeof(tc_connect_key) ||
      map->info.value_size != sizeof(tc_connect_counts))
    return std::nullopt;
  uint8_t want[16] = {};
  if (domain == AF_INET)
    std::memcpy(want, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
  else
    std::memcpy(want, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
  const uint16_t family = domain == AF_INET ? TC_AF_INET : TC_AF_INET6;
  uint64_t sum = 0;
  Status read = read_percpu_counters<tc_connect_key, tc_connect_counts>(
      map->fd.get(), [&](const tc_connect_key& key, const tc_connect_counts& counts) {
        if (key.family == family && key.dport == port && std::memcmp(key.daddr, want, 16) == 0)
          sum += counts.attempts;
      });
  if (!read) return std::nullopt;
  return sum;
}

// Connects the peer counted to `port` (any address), summed over CPUs.
std::optional<uint64_t> peer_attempts(int map_fd, uint16_t port) {
  uint64_t sum = 0;
  Status read = read_percpu_counters<peer_key, uint64_t>(
      map_fd, [&](const peer_key& key, const uint64_t& count) {
        if (key.dport == port) sum += count;
      });
  if (!read) return std::nullopt;
  return sum;
}

// Polls until no program or link with these ids exists (freeing is deferred): what is
// still there after 5 s.
std::string left_behind(const std::vector<uint32_t>& progs, const std::vector<uint32_t>& links) {
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out.clear();
    for (uint32_t id : progs) {
      UniqueFd fd(bpf_prog_get_fd_by_id(id));
      if (fd) out += " prog " + std::to_string(id);
    }
    for (uint32_t id : links) {
      UniqueFd fd(bpf_link_get_fd_by_id(id));
      if (fd) out += " link " + std::to_string(id);
    }
    if (out.empty()) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The switch: the programs attached through links this process owns, or not. Either program
// may be absent (an invalid fd): the peer switches one program alone.

class ProgramSwitch {
 public:
  ProgramSwitch(UniqueFd connect_prog, ProbeBackend backend, UniqueFd dns_prog, UniqueFd cgroup)
      : connect_prog_(std::move(connect_prog)),
        backend_(backend),
        dns_prog_(std::move(dns_prog)),
        cgroup_(std::move(cgroup)) {}

  // For the classic tracepoint: the perf event the link goes through, opened once.
  std::string prepare() {
    if (backend_ != ProbeBackend::kTracepoint) return "";
    std::string id;
    for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
      std::ifstream in(std::string(root) + "/events/sock/inet_sock_set_state/id");
      if (in >> id) break;
    }
    if (id.empty()) return "cannot read the tracepoint's id from tracefs";
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = std::stoull(id);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    perf_event_.reset(
        static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
    if (!perf_event_) return std::string("perf_event_open: ") + std::strerror(errno);
    return "";
  }

  // Attaches every program; "" or what failed (then nothing is attached).
  std::string on() {
    if (!links_.empty()) return "";
    if (connect_prog_) {
      const int fd = attach_connect();
      if (fd < 0) return std::string("attaching the connect program: ") + std::strerror(-fd);
      links_.emplace_back(fd);
    }
    if (dns_prog_) {
      const int fd =
          bpf_link_create(dns_prog_.get(), cgroup_.get(), BPF_CGROUP_INET_INGRESS, nullptr);
      if (fd < 0) {
        links_.clear();
        return std::string("attaching the DNS program: ") + std::strerror(-fd);
      }
      links_.emplace_back(fd);
    }
    return "";
  }
  void off() {
    for (const auto& l : links_) {
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(l.get(), &info, &len) == 0) link_ids_.push_back(info.id);
    }
    links_.clear();
  }

  // Every link on() made, for the check that none is left.
  const std::vector<uint32_t>& link_ids() const { return link_ids_; }

 private:
  // A link for the connect program, the way backend_ attaches; its fd or -errno.
  int attach_connect() const {
    switch (backend_) {
      case ProbeBackend::kTpBtf:
        return bpf_raw_tracepoint_open(nullptr, connect_prog_.get());
      case ProbeBackend::kRawTp:
        return bpf_raw_tracepoint_open("inet_sock_set_state", connect_prog_.get());
      default:
        return bpf_link_create(connect_prog_.get(), perf_event_.get(), BPF_PERF_EVENT, nullptr);
    }
  }

  UniqueFd connect_prog_;
  ProbeBackend backend_;
  UniqueFd dns_prog_;
  UniqueFd cgroup_;
  UniqueFd perf_event_;
  std::vector<UniqueFd> links_;
  std::vector<uint32_t> link_ids_;
};

// ---------------------------------------------------------------------------------------
// The storm: threads that connect and close without pause, except when parked between
// two windows.

class GatedStorm {
 public:
  GatedStorm(const StormListener& target, CloseMode close, int threads)
      : target_(target), close_(close), workers_(threads) {
    for (auto& w : workers_) w.thread = std::thread([this, &w] { run(w); });
  }
  GatedStorm(const GatedStorm&) = delete;
  GatedStorm& operator=(const GatedStorm&) = delete;
  ~GatedStorm() {
    done_ = true;
    epoch_.fetch_add(2);
    epoch_.notify_all();
    for (auto& w : workers_) w.thread.join();
  }

  // Waits (at most timeout) until every thread is parked: false if one is not.
  bool wait_parked(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (parked_.load(std::memory_order_acquire) < static_cast<int>(workers_.size())) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    return true;
  }
  void open() {
    parked_.store(0, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);  // odd: open
    epoch_.notify_all();
  }
  // Parks every thread after the connect it is in: false if one did not within timeout.
  bool close(std::chrono::milliseconds timeout) {
    epoch_.fetch_add(1, std::memory_order_release);  // even: closed
    return wait_parked(timeout);
  }

  // Only while parked.
  int64_t connects() const {
    int64_t n = 0;
    for (const auto& w : workers_) n += w.connects.load(std::memory_order_relaxed);
    return n;
  }
  std::map<int, int64_t> errors() const {
    std::map<int, int64_t> out;
    for (const auto& w : workers_)
      for (auto [e, n] : w.errors) out[e] += n;
    return out;
  }
  std::vector<clockid_t> cpu_clocks() {
    std::vector<clockid_t> out;
    for (auto& w : workers_) {
      clockid_t c;
      if (pthread_getcpuclockid(w.thread.native_handle(), &c) == 0) out.push_back(c);
    }
    return out;
  }

 private:
  struct alignas(64) Worker {
    std::thread thread;
    std::atomic<int64_t> connects{0};
    std::map<int, int64_t> errors;  // errno -> count; read by others only while parked
  };

  void run(Worker& w) {
    uint64_t seen = ~uint64_t{0};
    for (;;) {
      const uint64_t e = epoch_.load(std::memory_order_acquire);
      if (done_.load(std::memory_order_relaxed)) return;
      if (e % 2 == 0) {
        if (seen != e) {
          seen = e;
          parked_.fetch_add(1, std::memory_order_acq_rel);
        }
        epoch_.wait(e, std::memory_order_acquire);
        continue;
      }
      if (int err = connect_and_close(target_, close_))
        ++w.errors[err];
      else
        w.connects.fetch_add(1, std::memory_order_relaxed);
    }
  }

  const StormListener& target_;
  const CloseMode close_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> parked_{0};
  std::atomic<bool> done_{false};
  std::vector<Worker> workers_;
};

// ---------------------------------------------------------------------------------------
// Figures.

// CPU time used by the whole machine so far (all CPUs, every state but idle and iowait), ns.
int64_t machine_busy_ns() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
  const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<int64_t>(busy * (1000000000 / sysconf(_SC_CLK_TCK)));
}

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
// the peer (--peer).
enum Arm { kOff = 0, kOn = 1, kPeer = 2 };
const char* arm_name(int arm) { return arm == kOn ? "on" : arm == kPeer ? "peer" : "off"; }

struct Window {
  int arm = kOff;
  double seconds = 0;
  int64_t connects = 0;
  double storm_cpu = 0, process_cpu = 0, daemon_cpu = 0, machine = 0;  // seconds
  std::vector<uint64_t> run_ns, runs, misses;                          // per program
};

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

struct Totals {
  double seconds = 0, storm_cpu = 0, process_cpu = 0, daemon_cpu = 0, machine = 0;
  int64_t connects = 0;
  std::vector<uint64_t> run_ns, runs, misses;
  int windows = 0;
  void add(const Window& w) {
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
  double rate() const { return seconds > 0 ? static_cast<double>(connects) / seconds : 0; }
  double storm_us() const { return connects ? storm_cpu * 1e6 / static_cast<double>(connects) : 0; }
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

// A group: adjacent windows, one of each arm (a pair without --peer), indexed by arm.
struct Group {
  std::vector<Window> arm;
};

using GroupRatio = std::function<double(const std::vector<const Group*>&)>;

// Totals of one arm over a set of groups.
Totals arm_totals(const std::vector<const Group*>& groups, int arm) {
  Totals t;
  for (const Group* g : groups) t.add(g->arm[arm]);
  return t;
}

// arm/off of connects per second, and off/arm of storm CPU per connect (so that 1.000
// means free for both), over a set of groups.
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
// What the arm adds to the storm's CPU per connect, in microseconds: everything its
// programs cost in the kernel, their dispatch included (bpf_stats sees only their runs).
GroupRatio extra_us(int arm) {
  return [arm](const std::vector<const Group*>& groups) {
    return arm_totals(groups, arm).storm_us() - arm_totals(groups, kOff).storm_us();
  };
}
// The exporter's extra CPU per connect over the peer's.
double cost_ratio(const std::vector<const Group*>& groups) {
  const double peer = extra_us(kPeer)(groups);
  return peer != 0 ? extra_us(kOn)(groups) / peer : 0;
}

struct Spreads {
  double total = 0, median = 0, min = 0, max = 0, lo = 0, hi = 0;
};

// The ratio over all groups; the median, minimum and maximum of the per-group ratios; a
// 95% percentile bootstrap interval of the total ratio, groups resampled (fixed seed).
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

// What --peer-kind may switch: the programs of tests/bench/bpf/peer.bpf.c.
struct PeerKind {
  std::string name;
  bpf_program* (*program)(peer_bpf*);
  bool on_cgroup;        // cgroup inet ingress of the cgroup2 root; else a tracepoint,
  ProbeBackend backend;  // attached as this backend attaches the probe
  const char* where;
  bool counts;  // keeps counts per destination, checked for exactness
};

const std::vector<PeerKind>& peer_kinds() {
  static const std::vector<PeerKind> kinds = {
      {"bpftrace", [](peer_bpf* s) { return s->progs.peer_count; }, false,
       ProbeBackend::kTracepoint, "on the classic tracepoint, counting", true},
      {"empty_cgroup_skb", [](peer_bpf* s) { return s->progs.peer_empty_skb; }, true,
       ProbeBackend::kTpBtf, "on cgroup inet ingress of the cgroup2 root, empty", false},
      {"empty_tp_btf", [](peer_bpf* s) { return s->progs.peer_empty_tp_btf; }, false,
       ProbeBackend::kTpBtf, "on tp_btf/inet_sock_set_state, empty", false},
      {"empty_tp_btf_elsewhere", [](peer_bpf* s) { return s->progs.peer_empty_elsewhere; }, false,
       ProbeBackend::kTpBtf, "on tp_btf/tcp_retransmit_synack, empty", false},
  };
  return kinds;
}

std::vector<std::string> peer_kind_names() {
  std::vector<std::string> names;
  for (const PeerKind& k : peer_kinds()) names.push_back(k.name);
  return names;
}

// The kind named (the CLI accepts only these names); the first otherwise.
const PeerKind& peer_kind(const std::string& name) {
  for (const PeerKind& k : peer_kinds())
    if (k.name == name) return k;
  return peer_kinds().front();
}

// kernel.bpf_stats_enabled set for the run, the old value put back on every exit path.
// What the run had is printed, whoever set it: with bpf_stats on, every run of every
// program also reads the clock twice, which this guest charges to every arm's cost.
class BpfStatsSwitch {
 public:
  explicit BpfStatsSwitch(bool enable) {
    std::ifstream in(kPath);
    if (!(in >> old_)) old_.clear();
    if (enable && !old_.empty()) std::ofstream(kPath) << "1\n";
    enabled_here_ = enable && !old_.empty();
  }
  ~BpfStatsSwitch() {
    if (enabled_here_) std::ofstream(kPath) << old_ << "\n";
  }
  // For the report: "on (set for this run)", "ON, and it was on before this run ...", "off".
  std::string describe() const {
    std::ifstream in(kPath);
    std::string now;
    in >> now;
    if (now == "0") return "off";
    if (enabled_here_ && old_ == "0") return "on (set for this run)";
    return "ON, as it was before this run (kernel.bpf_stats_enabled=" + now +
           "): every arm's cost includes the stats' own";
  }

 private:
  static constexpr const char* kPath = "/proc/sys/kernel/bpf_stats_enabled";
  std::string old_;
  bool enabled_here_ = false;
};

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The root of the cgroup2 hierarchy, where the DNS capture (and the empty_cgroup_skb peer)
// attaches: a directory fd (invalid if there is none) and its path, for messages.
struct Cgroup2Root {
  UniqueFd fd;
  std::string path;
};
Cgroup2Root open_cgroup2_root() {
  auto mount = find_cgroup2_mount();
  if (!mount) return {};
  const std::string& path = mount.value().mount_point;
  return {UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), path};
}

// The connect probe as the daemon loads it, by the daemon's own code, from the config: its
// own link closed at once, its program kept through `prog`, as attached by `backend`.
struct LoadedProbe {
  UniqueFd prog;
  ProbeBackend backend;
};
std::optional<LoadedProbe> load_probe(const Config& c, ProbeBackend backend,
                                      bool track_destinations, const char* what) {
  ConnectProbe::Options probe_options{backend, c.probes.max_entries};
  probe_options.track_destinations = track_destinations;
  probe_options.before_attach = [&c](ConnectProbe& unattached) -> Status {
    if (Status s = unattached.filters().apply(c.filters); !s) return s;
    return unattached.set_key_fields(kernel_key_fields(c.labels, c.allowlist));
  };
  auto probe = ConnectProbe::attach(probe_options);
  if (!probe) {
    std::fprintf(stderr, "toggle_bench: loading %s: %s\n", what, probe.error().message.c_str());
    return std::nullopt;
  }
  LoadedProbe loaded{UniqueFd(bpf_prog_get_fd_by_id(probe.value()->program_stats().id)),
                     probe.value()->backend()};
  probe.value().reset();  // its own link goes; the program lives on through our fd
  return loaded;
}

// What the "on" arm switches, and where its programs came from.
struct OnArm {
  std::string mode;  // "takeover", "second_instance" or "alone"
  std::optional<ProgramSwitch> programs;
  ProgInfo connect;                        // the switched connect program
  std::optional<ProgInfo> dns;             // the switched DNS program (DNS on)
  std::optional<ProgInfo> daemon_connect;  // the daemon's, attached in every window
};

// The daemon's programs: started on the config, its DNS link detached and its connect
// program taken over, or, where its link cannot be detached, a second instance of it.
// Every program and link seen goes into seen_progs and seen_links.
std::optional<OnArm> daemon_arm(const Options& o, const Config& c, ExporterProcess& daemon,
                                std::vector<uint32_t>& seen_progs,
                                std::vector<uint32_t>& seen_links) {
  ExporterProcess::Options daemon_options;
  daemon_options.binary = o.daemon;
  daemon_options.config_file = o.config;
  daemon_options.web_port = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  const std::string daemon_log = "/tmp/toggle_bench_daemon.log";
  daemon_options.stderr_path = daemon_log;
  if (!daemon.start(daemon_options)) {
    std::fprintf(stderr, "toggle_bench: cannot start %s\n", o.daemon.c_str());
    return std::nullopt;
  }
  auto body = daemon.wait_until_serving();
  if (!body) {
    std::fprintf(stderr, "toggle_bench: the exporter did not serve /metrics (log: %s)\n",
                 daemon_log.c_str());
    return std::nullopt;
  }
  const std::string backend_name = metric_label(*body, "tcpconnect_probe_info", "backend");
  const std::string connect_id = probe_program_id(*body);
  const std::string dns_method = metric_label(*body, "tcpconnect_dns_capture_info", "method");
  ProbeBackend backend = ProbeBackend::kTracepoint;
  if (backend_name == "tp_btf") backend = ProbeBackend::kTpBtf;
  if (backend_name == "raw_tp") backend = ProbeBackend::kRawTp;
  if (connect_id.empty() || backend_name.empty()) {
    std::fprintf(stderr, "toggle_bench: no tcpconnect_probe_info with an id and a backend\n");
    return std::nullopt;
  }
  UniqueFd daemon_prog(bpf_prog_get_fd_by_id(std::stoul(connect_id)));
  auto daemon_prog_info = daemon_prog ? prog_info(daemon_prog.get()) : std::nullopt;
  if (!daemon_prog_info) {
    std::fprintf(stderr, "toggle_bench: cannot open program %s\n", connect_id.c_str());
    return std::nullopt;
  }

  std::string kernel = run_command("uname -r");
  if (!kernel.empty() && kernel.back() == '\n') kernel.pop_back();
  std::printf("toggle_bench: %ld CPUs, kernel %s; load average %s\n", sysconf(_SC_NPROCESSORS_ONLN),
              kernel.c_str(), loadavg().c_str());
  std::printf("daemon: pid %d, %s, connect probe %s (program %s, id %u), DNS capture %s\n",
              daemon.pid(), o.config.c_str(), backend_name.c_str(), daemon_prog_info->name.c_str(),
              daemon_prog_info->id, dns_method.c_str());

  // The daemon's links: its connect link (the program of probe_info) and its DNS link
  // (cgroup inet ingress).
  seen_progs.push_back(daemon_prog_info->id);
  std::optional<LinkInfo> connect_link, dns_link;
  for (uint32_t id : links_of_process(daemon.pid())) {
    auto l = link_by_id(id);
    if (!l) continue;
    seen_links.push_back(id);
    seen_progs.push_back(l->info.prog_id);
    std::printf("daemon link %u: type %u, program %u\n", id, l->info.type, l->info.prog_id);
    if (l->info.prog_id == daemon_prog_info->id)
      connect_link = std::move(l);
    else if (l->info.type == BPF_LINK_TYPE_CGROUP &&
             l->info.cgroup.attach_type == BPF_CGROUP_INET_INGRESS)
      dns_link = std::move(l);
  }
  if (!connect_link) {
    std::fprintf(stderr, "toggle_bench: no link of the daemon runs program %u\n",
                 daemon_prog_info->id);
    return std::nullopt;
  }
  if (dns_method == "cgroup_skb" && !dns_link) {
    std::fprintf(stderr,
                 "toggle_bench: the daemon captures DNS with cgroup_skb, but none of "
                 "its links is a cgroup ingress one\n");
    return std::nullopt;
  }

  // The DNS program: taken from the daemon's link, attached through ours when on.
  UniqueFd dns_prog, cgroup;
  std::optional<ProgInfo> dns_prog_info;
  if (dns_link) {
    dns_prog.reset(bpf_prog_get_fd_by_id(dns_link->info.prog_id));
    dns_prog_info = dns_prog ? prog_info(dns_prog.get()) : std::nullopt;
    Cgroup2Root root = open_cgroup2_root();
    if (!dns_prog_info || !root.fd) {
      std::fprintf(stderr, "toggle_bench: cannot open the DNS program or the cgroup2 mount\n");
      return std::nullopt;
    }
    cgroup = std::move(root.fd);
    struct stat st {};
    if (fstat(cgroup.get(), &st) != 0 || st.st_ino != dns_link->info.cgroup.cgroup_id) {
      std::fprintf(stderr, "toggle_bench: the daemon's DNS link is not on %s\n", root.path.c_str());
      return std::nullopt;
    }
    if (int err = bpf_link_detach(dns_link->fd.get())) {
      std::fprintf(stderr, "toggle_bench: detaching the daemon's DNS link: %s\n",
                   std::strerror(-err));
      return std::nullopt;
    }
    std::printf(
        "DNS program %s (id %u): the daemon's link %u detached; switched through "
        "links of this process on %s\n",
        dns_prog_info->name.c_str(), dns_prog_info->id, dns_link->info.id, root.path.c_str());
  }

  // The connect program: the daemon's if its link can be detached, else a second instance.
  UniqueFd switched_prog;
  std::optional<ProgInfo> switched_info;
  const int detach_err = bpf_link_detach(connect_link->fd.get());
  const bool takeover = detach_err == 0;
  if (takeover) {
    switched_prog.reset(bpf_prog_get_fd_by_id(daemon_prog_info->id));
    switched_info = daemon_prog_info;
    std::printf("connect program: the daemon's link %u detached (takeover)\n",
                connect_link->info.id);
  } else {
    auto probe =
        load_probe(c, backend, dns_method != "none" && !dns_method.empty(), "the second instance");
    if (!probe) return std::nullopt;
    switched_prog = std::move(probe->prog);
    switched_info = switched_prog ? prog_info(switched_prog.get()) : std::nullopt;
    if (!switched_info) {
      std::fprintf(stderr, "toggle_bench: cannot keep the second instance's program\n");
      return std::nullopt;
    }
    const std::string diff = differences(*daemon_prog_info, *switched_info);
    std::printf(
        "connect program: the daemon's link %u cannot be detached from here "
        "(BPF_LINK_DETACH: %s); switching a second instance, program id %u, %s\n",
        connect_link->info.id, std::strerror(-detach_err), switched_info->id,
        diff.empty()
            ? ("same as the daemon's: tag " + switched_info->tag + ", same constants and settings")
                  .c_str()
            : ("DIFFERS from the daemon's:" + diff).c_str());
    seen_progs.push_back(switched_info->id);
  }
  OnArm arm;
  arm.mode = takeover ? "takeover" : "second_instance";
  arm.connect = *switched_info;
  arm.dns = dns_prog_info;
  if (!takeover) arm.daemon_connect = daemon_prog_info;
  arm.programs.emplace(std::move(switched_prog), backend, std::move(dns_prog), std::move(cgroup));
  return arm;
}

// --alone: no daemon. The exporter's programs are loaded here by the daemon's own code
// from the config (ConnectProbe::attach, open_cgroup_skb_capture), their own links closed
// at once, and switched through links of this process: "off" windows then run no program
// at all at either attach point (no tracer), and each "on" program is the first and only
// one where it attaches, as under the daemon alone. (With the daemon, "off" keeps the
// daemon's connect probe attached, and "on" adds a second program to a tracepoint already
// enabled, for sockets whose lines the first program just touched: measured cheaper, see
// docs/benchmarks.md.) Nothing drains the maps: the storm's one destination needs one
// entry of each, and its outcomes empty the stash.
std::optional<OnArm> alone_arm(const Config& c, std::vector<uint32_t>& seen_progs) {
  OnArm arm;
  arm.mode = "alone";
  UniqueFd dns_prog, cgroup;
  if (c.dns.enabled && c.dns.capture == DnsCapture::kPacketSocket) {
    std::fprintf(stderr,
                 "toggle_bench: --alone switches the cgroup_skb DNS capture only; this config "
                 "asks for packet_socket\n");
    return std::nullopt;
  }
  if (c.dns.enabled) {
    DnsCaptureOptions capture_options = DnsLayer::options_from(c.dns).capture;
    capture_options.method = DnsCapture::kCgroupSkb;
    auto capture = open_cgroup_skb_capture(capture_options, [](const DnsPacket&) {});
    if (!capture) {
      std::fprintf(stderr, "toggle_bench: loading the DNS capture: %s\n",
                   capture.error().message.c_str());
      return std::nullopt;
    }
    for (uint32_t id : links_of_process(getpid())) {
      auto l = link_by_id(id);
      if (l && l->info.type == BPF_LINK_TYPE_CGROUP &&
          l->info.cgroup.attach_type == BPF_CGROUP_INET_INGRESS)
        dns_prog.reset(bpf_prog_get_fd_by_id(l->info.prog_id));
    }
    capture.value().reset();  // its link goes; the program lives on through our fd
    arm.dns = dns_prog ? prog_info(dns_prog.get()) : std::nullopt;
    Cgroup2Root root = open_cgroup2_root();
    if (!arm.dns || !root.fd) {
      std::fprintf(stderr, "toggle_bench: cannot keep the DNS program or open cgroup2\n");
      return std::nullopt;
    }
    cgroup = std::move(root.fd);
    seen_progs.push_back(arm.dns->id);
    std::printf(
        "DNS program %s (id %u): loaded here, switched through links of this process on %s\n",
        arm.dns->name.c_str(), arm.dns->id, root.path.c_str());
  }
  auto probe = load_probe(c, c.probes.backend, c.dns.enabled, "the connect probe");
  if (!probe) return std::nullopt;
  const ProbeBackend backend = probe->backend;
  UniqueFd connect_prog = std::move(probe->prog);
  auto connect = connect_prog ? prog_info(connect_prog.get()) : std::nullopt;
  if (!connect) {
    std::fprintf(stderr, "toggle_bench: cannot keep the connect probe's program\n");
    return std::nullopt;
  }
  arm.connect = *connect;
  seen_progs.push_back(connect->id);
  std::printf("connect program %s (id %u, %s): loaded here from the config, switched alone\n",
              connect->name.c_str(), connect->id, std::string(to_string(backend)).c_str());
  arm.programs.emplace(std::move(connect_prog), backend, std::move(dns_prog), std::move(cgroup));
  return arm;
}

int run(const Options& o) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "toggle_bench: needs root (takes over BPF links, loads a probe)\n");
    return 1;
  }
  auto config = load_config_file(o.config);
  if (!config) {
    std::fprintf(stderr, "toggle_bench: %s\n", config.error().message.c_str());
    return 1;
  }
  BpfStatsSwitch bpf_stats(o.bpf_stats);

  // The daemon (unless --alone), and the programs the "on" arm switches.
  ExporterProcess daemon;
  std::vector<uint32_t> seen_links, seen_progs;
  std::optional<OnArm> on_arm = o.alone
                                    ? alone_arm(config.value(), seen_progs)
                                    : daemon_arm(o, config.value(), daemon, seen_progs, seen_links);
  if (!on_arm) return 1;
  const bool takeover = on_arm->mode == "takeover";
  std::optional<ProgramSwitch>& programs = on_arm->programs;
  if (std::string err = programs->prepare(); !err.empty()) {
    std::fprintf(stderr, "toggle_bench: %s\n", err.c_str());
    return 1;
  }
  // The peer (--peer): a program of tests/bench/bpf/peer.bpf.c (PeerKind), loaded here and
  // switched through a link of its own in "peer" windows.
  std::unique_ptr<peer_bpf, void (*)(peer_bpf*)> peer(nullptr, peer_bpf::destroy);
  std::optional<ProgramSwitch> peer_switch;
  std::optional<ProgInfo> peer_info;
  const PeerKind& kind = peer_kind(o.peer_kind);
  if (o.peer) {
    peer.reset(peer_bpf::open_and_load());
    UniqueFd peer_prog(peer ? dup(bpf_program__fd(kind.program(peer.get()))) : -1);
    peer_info = peer_prog ? prog_info(peer_prog.get()) : std::nullopt;
    Cgroup2Root root = kind.on_cgroup ? open_cgroup2_root() : Cgroup2Root{};
    if (!peer_info || (kind.on_cgroup && !root.fd)) {
      std::fprintf(stderr, "toggle_bench: cannot load the peer program (or open cgroup2)\n");
      return 1;
    }
    if (kind.on_cgroup)
      peer_switch.emplace(UniqueFd(), kind.backend, std::move(peer_prog), std::move(root.fd));
    else
      peer_switch.emplace(std::move(peer_prog), kind.backend, UniqueFd(), UniqueFd());
    if (std::string err = peer_switch->prepare(); !err.empty()) {
      std::fprintf(stderr, "toggle_bench: the peer: %s\n", err.c_str());
      return 1;
    }
    seen_progs.push_back(peer_info->id);
    std::printf("peer: program %s (id %u, tag %s) %s, switched in \"peer\" windows\n",
                peer_info->name.c_str(), peer_info->id, peer_info->tag.c_str(), kind.where);
  }
  const int n_arms = o.peer ? 3 : 2;

  // Programs whose bpf_stats are read per window: the switched one, the DNS one, and the
  // daemon's own connect program when it stays attached.
  std::vector<std::pair<std::string, UniqueFd>> tracked;
  tracked.emplace_back(takeover  ? "connect (switched, the daemon's)"
                       : o.alone ? "connect (switched, alone)"
                                 : "connect (switched, 2nd instance)",
                       UniqueFd(bpf_prog_get_fd_by_id(on_arm->connect.id)));
  if (on_arm->dns)
    tracked.emplace_back("DNS (switched)", UniqueFd(bpf_prog_get_fd_by_id(on_arm->dns->id)));
  if (on_arm->daemon_connect)
    tracked.emplace_back("connect (the daemon's, always on)",
                         UniqueFd(bpf_prog_get_fd_by_id(on_arm->daemon_connect->id)));
  if (peer_info)
    tracked.emplace_back("peer (switched)", UniqueFd(bpf_prog_get_fd_by_id(peer_info->id)));

  // The storm and the scraper.
  std::string error;
  auto listener = StormListener::start(o.family, o.accept_threads, &error);
  if (!listener) {
    std::fprintf(stderr, "toggle_bench: %s\n", error.c_str());
    return 1;
  }
  auto storm = std::make_unique<GatedStorm>(
      *listener, o.close_mode == "rst" ? CloseMode::kRst : CloseMode::kFin, o.threads);
  std::atomic<bool> scraper_stop{false};
  std::atomic<int> scrapes{0}, scrape_failures{0};
  std::thread scraper;
  if (o.scrape_interval > 0 && !o.alone) {
    scraper = std::thread([&] {
      const auto period = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(o.scrape_interval));
      auto next = Clock::now();
      while (!scraper_stop.load()) {
        next += period;
        auto r = tcpconnect::testing::http_get("127.0.0.1", daemon.web_port(), "/metrics", 2000);
        ++(r && r->status == 200 ? scrapes : scrape_failures);
        // Sleeps in slices so that the stop is seen within 50 ms.
        while (!scraper_stop.load() && Clock::now() < next)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }

  clockid_t daemon_clock;
  const bool have_daemon_clock = !o.alone && clock_getcpuclockid(daemon.pid(), &daemon_clock) == 0;
  std::vector<clockid_t> storm_clocks = storm->cpu_clocks();
  for (clockid_t c : listener->cpu_clocks()) storm_clocks.push_back(c);
  auto sample = [&] {
    Sample s;
    s.connects = storm->connects();
    for (clockid_t c : storm_clocks) s.storm_cpu_ns += clock_ns(c);
    s.process_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    s.daemon_cpu_ns = have_daemon_clock ? clock_ns(daemon_clock) : 0;
    s.machine_ns = machine_busy_ns();
    for (const auto& [name, fd] : tracked) {
      auto p = prog_info(fd.get());
      s.progs.push_back(p ? *p : ProgInfo{});
    }
    s.at = Clock::now();
    return s;
  };

  const auto park_timeout = std::chrono::milliseconds(5000);
  if (!storm->wait_parked(park_timeout)) {
    std::fprintf(stderr, "toggle_bench: the storm threads did not start\n");
    return 1;
  }
  char scraping[64] = "no daemon, no scrapes";
  if (!o.alone)
    std::snprintf(scraping, sizeof(scraping),
                  o.scrape_interval > 0 ? "scrape every %.1f s" : "no scrapes", o.scrape_interval);
  std::printf(
      "storm: %d connecting + %d accepting threads to %s port %u, close=%s; windows of "
      "%d ms in %s, %s, for %.0f s or %" PRId64 " connects; %s; bpf_stats %s\n",
      o.threads, o.accept_threads, listener->ip().c_str(), listener->port(), o.close_mode.c_str(),
      o.window_ms, o.peer ? "groups of three (off, on, peer)" : "pairs",
      o.order == "abba" ? "ABBA (on off, off on, ...)"
                        : ("each in random order (seed " + std::to_string(o.seed) + ")").c_str(),
      o.seconds, o.max_connects, scraping, bpf_stats.describe().c_str());
  std::fflush(stdout);

  // One window: run the storm for window_ms with the programs of `arm` switched on, and
  // only those.
  std::vector<double> toggle_us;
  std::string failure;
  auto window = [&](int arm) -> std::optional<Window> {
    const auto t0 = Clock::now();
    if (arm != kOn) programs->off();
    if (arm != kPeer && peer_switch) peer_switch->off();
    if (arm == kOn) failure = programs->on();
    if (arm == kPeer) failure = peer_switch->on();
    if (!failure.empty()) return std::nullopt;
    toggle_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    Sample a = sample();
    storm->open();
    std::this_thread::sleep_until(a.at + std::chrono::milliseconds(o.window_ms));
    if (!storm->close(park_timeout)) {
      failure = "a storm thread did not park within 5 s";
      return std::nullopt;
    }
    Sample b = sample();
    return difference(arm, a, b);
  };

  const int64_t overflows_before = listen_overflows();
  const std::string load_before = loadavg();
  // Warm-up, off, counted in the totals but not in the figures.
  int64_t on_connects = 0, peer_connects = 0;
  auto warm = window(kOff);
  const auto run_start = Clock::now();
  const auto run_deadline = run_start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(o.seconds));
  std::vector<Window> windows;
  std::mt19937_64 order_rng(o.seed);
  std::vector<int> order(n_arms);
  // Bounded by time, the connect cap and a window count.
  const size_t max_windows = static_cast<size_t>(o.seconds * 1000 / o.window_ms) + n_arms;
  while (warm && windows.size() < max_windows && !g_interrupted) {
    const size_t w = windows.size(), n = static_cast<size_t>(n_arms);
    if (w % n == 0 && (Clock::now() >= run_deadline || storm->connects() >= o.max_connects)) break;
    if (w % n == 0) {
      // A new group: its arms in random order, or (abba) in order and reversed in turn.
      std::iota(order.begin(), order.end(), 0);
      if (o.order == "abba") {
        std::rotate(order.begin(), order.begin() + 1, order.end());  // on, (peer,) off
        if ((w / n) % 2 == 1) std::reverse(order.begin(), order.end());
      } else {
        std::shuffle(order.begin(), order.end(), order_rng);
      }
    }
    const int arm = order[w % n];
    auto result = window(arm);
    if (!result) break;
    windows.push_back(*result);
    if (arm == kOn) on_connects += result->connects;
    if (arm == kPeer) peer_connects += result->connects;
  }
  programs->off();
  if (peer_switch) peer_switch->off();
  if (!warm) std::fprintf(stderr, "toggle_bench: the warm-up window failed\n");
  const int64_t all_connects = storm->connects();
  const auto errors = storm->errors();
  const int64_t overflows_after = listen_overflows();
  scraper_stop = true;
  if (scraper.joinable()) scraper.join();
  if (!failure.empty()) std::fprintf(stderr, "toggle_bench: %s\n", failure.c_str());
  windows.resize(windows.size() - windows.size() % n_arms);  // an incomplete group (interrupted)

  // Exactness while switching.
  std::optional<tcpconnect::testing::HttpResponse> final_body;
  if (!o.alone)
    final_body = tcpconnect::testing::http_get("127.0.0.1", daemon.web_port(), "/metrics", 10000);
  const std::string port = "dport=\"" + std::to_string(listener->port()) + "\"";
  const std::string daddr = "daddr=\"" + listener->ip() + "\"";
  const double daemon_count =
      final_body ? tcpconnect::testing::samples(final_body->body, "tcpconnect_connects_total",
                                                {daddr, port})
                       .sum
                 : -1;
  auto switched_count =
      program_attempts(on_arm->connect, listener->domain(), listener->addr(), listener->port());
  std::optional<uint64_t> peer_count;
  if (peer && kind.counts)
    peer_count = peer_attempts(bpf_map__fd(peer->maps.peer_counts), listener->port());
  storm.reset();  // joins its threads
  listener->stop();

  // Figures.
  std::vector<Group> groups;
  std::vector<Totals> totals(n_arms);
  for (size_t i = 0; i + n_arms <= windows.size(); i += n_arms) {
    Group g;
    g.arm.resize(n_arms);
    for (int k = 0; k < n_arms; ++k) g.arm[windows[i + k].arm] = windows[i + k];
    groups.push_back(std::move(g));
  }
  for (const Window& w : windows) totals[w.arm].add(w);
  const Totals& on_total = totals[kOn];
  const Totals& off_total = totals[kOff];
  std::printf("load average before %s, after %s\n", load_before.c_str(), loadavg().c_str());
  if (o.print_windows) {
    std::printf("\n%6s %4s %8s %10s %9s %9s %8s\n", "window", "arm", "seconds", "connects/s",
                "storm_us/c", "daemon_ms/s", "others");
    for (size_t i = 0; i < windows.size(); ++i) {
      const Window& w = windows[i];
      std::printf("%6zu %4s %8.3f %10.0f %9.2f %9.2f %8.2f\n", i, arm_name(w.arm), w.seconds,
                  w.connects / w.seconds, w.connects ? w.storm_cpu * 1e6 / w.connects : 0,
                  w.daemon_cpu * 1e3 / w.seconds,
                  std::max(0.0, (w.machine - w.storm_cpu - w.daemon_cpu) / w.seconds));
    }
  }
  std::printf("\n%-4s %7s %8s %11s %10s %11s %12s %11s %11s\n", "arm", "windows", "seconds",
              "connects", "connects/s", "storm_us/c", "process_us/c", "daemon_ms/s", "others_CPUs");
  for (int arm = 0; arm < n_arms; ++arm) {
    const Totals* t = &totals[arm];
    const double c = static_cast<double>(t->connects);
    std::printf(
        "%-4s %7d %8.2f %11" PRId64 " %10.0f %11.2f %12.2f %11.2f %11.2f\n", arm_name(arm),
        t->windows, t->seconds, t->connects, t->rate(), t->storm_us(),
        c ? t->process_cpu * 1e6 / c : 0, t->seconds ? t->daemon_cpu * 1e3 / t->seconds : 0,
        t->seconds ? std::max(0.0, (t->machine - t->storm_cpu - t->daemon_cpu) / t->seconds) : 0);
  }
  if (o.bpf_stats) {
    std::printf(
        "\nbpf_stats per arm: program, runs per connect, ns per run, ns per connect, "
        "skipped runs (recursion_misses)\n");
    for (size_t i = 0; i < tracked.size(); ++i) {
      for (int arm = 0; arm < n_arms; ++arm) {
        const Totals* t = &totals[arm];
        if (i >= t->runs.size() || t->runs[i] == 0) continue;
        const double c = static_cast<double>(t->connects);
        const double runs = static_cast<double>(t->runs[i]);
        std::printf("  %-36s %-3s %7.2f %8.1f %9.1f %8" PRIu64 "\n", tracked[i].first.c_str(),
                    arm_name(arm), c ? runs / c : 0,
                    runs ? static_cast<double>(t->run_ns[i]) / runs : 0,
                    c ? static_cast<double>(t->run_ns[i]) / c : 0, t->misses[i]);
      }
    }
  }
  const char* per = o.peer ? "per-group" : "per-pair";
  const Spreads rate = spreads(groups, rate_ratio(kOn), o.bootstrap);
  const Spreads cpu = spreads(groups, cpu_ratio(kOn), o.bootstrap);
  std::printf(
      "\n%zu %s. on/off connects/s: total %.4f, %s median %.4f [min %.3f, "
      "max %.3f], bootstrap 95%% %.4f-%.4f\n",
      groups.size(), o.peer ? "groups" : "pairs", rate.total, per, rate.median, rate.min, rate.max,
      rate.lo, rate.hi);
  std::printf(
      "off/on storm CPU per connect: total %.4f, %s median %.4f [min %.3f, "
      "max %.3f], bootstrap 95%% %.4f-%.4f\n",
      cpu.total, per, cpu.median, cpu.min, cpu.max, cpu.lo, cpu.hi);
  Spreads peer_rate, peer_cpu, on_extra, peer_extra, cost;
  if (o.peer) {
    peer_rate = spreads(groups, rate_ratio(kPeer), o.bootstrap);
    peer_cpu = spreads(groups, cpu_ratio(kPeer), o.bootstrap);
    on_extra = spreads(groups, extra_us(kOn), o.bootstrap);
    peer_extra = spreads(groups, extra_us(kPeer), o.bootstrap);
    cost = spreads(groups, cost_ratio, o.bootstrap);
    std::printf(
        "peer/off connects/s: total %.4f, %s median %.4f [min %.3f, max %.3f], bootstrap "
        "95%% %.4f-%.4f\n",
        peer_rate.total, per, peer_rate.median, peer_rate.min, peer_rate.max, peer_rate.lo,
        peer_rate.hi);
    std::printf(
        "off/peer storm CPU per connect: total %.4f, %s median %.4f [min %.3f, max %.3f], "
        "bootstrap 95%% %.4f-%.4f\n",
        peer_cpu.total, per, peer_cpu.median, peer_cpu.min, peer_cpu.max, peer_cpu.lo, peer_cpu.hi);
    std::printf(
        "storm CPU each adds per connect (us; its programs, their dispatch, all): on %.3f "
        "[bootstrap 95%% %.3f-%.3f], peer %.3f [%.3f-%.3f]; on/peer %.2f [%.2f-%.2f]\n",
        on_extra.total, on_extra.lo, on_extra.hi, peer_extra.total, peer_extra.lo, peer_extra.hi,
        cost.total, cost.lo, cost.hi);
  }
  std::sort(toggle_us.begin(), toggle_us.end());
  std::printf("switching (links made or closed, storm parked): median %.0f us, max %.0f us\n",
              quantile(toggle_us, 0.5), toggle_us.empty() ? 0 : toggle_us.back());

  std::printf("\nexactness: the storm made %" PRId64 " connects, %" PRId64 " in on windows; ",
              all_connects, on_connects);
  const int64_t switched_expected = on_connects;
  std::printf("the switched connect program counted %s (%s)",
              switched_count ? std::to_string(*switched_count).c_str() : "?",
              switched_count && static_cast<int64_t>(*switched_count) == switched_expected
                  ? "exact"
                  : "NOT EXACT");
  if (o.peer && kind.counts)
    std::printf(
        "; the peer counted %s (%s, expected %" PRId64 ")",
        peer_count ? std::to_string(*peer_count).c_str() : "?",
        peer_count && static_cast<int64_t>(*peer_count) == peer_connects ? "exact" : "NOT EXACT",
        peer_connects);
  const int64_t daemon_expected = takeover ? on_connects : all_connects;
  if (o.alone)
    std::printf("; no daemon (--alone)\n");
  else
    std::printf("; the daemon's /metrics says %.0f (%s, expected %" PRId64 ")\n", daemon_count,
                static_cast<int64_t>(daemon_count) == daemon_expected ? "exact" : "NOT EXACT",
                daemon_expected);
  for (auto [e, n] : errors) std::printf("connect errors: %" PRId64 " x %s\n", n, std::strerror(e));
  std::printf("listen overflows during the run: %" PRId64 "; scrapes %d, failed %d\n",
              overflows_after - overflows_before, scrapes.load(), scrape_failures.load());

  // Nothing left: the bench's links are closed already, its program fds now, then the
  // daemon stops and takes its own with it.
  tracked.clear();
  for (uint32_t id : programs->link_ids()) seen_links.push_back(id);
  programs.reset();
  if (peer_switch) {
    for (uint32_t id : peer_switch->link_ids()) seen_links.push_back(id);
    peer_switch.reset();
  }
  peer.reset();
  daemon.stop();
  const std::string left = left_behind(seen_progs, seen_links);
  std::printf("%s: %s\n", o.alone ? "after the run" : "after the daemon stopped",
              left.empty() ? "none of its or this run's programs and links is left"
                           : ("LEFT BEHIND:" + left).c_str());

  std::printf(
      "result mode=%s pairs=%zu on_cps=%.0f off_cps=%.0f ratio=%.4f pair_median=%.4f "
      "boot_lo=%.4f boot_hi=%.4f cpu_ratio=%.4f",
      on_arm->mode.c_str(), groups.size(), on_total.rate(), off_total.rate(), rate.total,
      rate.median, rate.lo, rate.hi, cpu.total);
  if (o.peer)
    std::printf(
        " peer_cps=%.0f peer_ratio=%.4f peer_cpu_ratio=%.4f on_extra_us=%.3f "
        "peer_extra_us=%.3f on_over_peer=%.3f",
        totals[kPeer].rate(), peer_rate.total, peer_cpu.total, on_extra.total, peer_extra.total,
        cost.total);
  std::printf(" exact=%d\n",
              switched_count && static_cast<int64_t>(*switched_count) == switched_expected &&
                  (o.alone || static_cast<int64_t>(daemon_count) == daemon_expected) &&
                  (!o.peer || !kind.counts ||
                   (peer_count && static_cast<int64_t>(*peer_count) == peer_connects)));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Connect throughput with the exporter's programs switched on and off in alternating "
      "windows while the daemon runs (benchmark; asserts nothing)."};
  Options o;
  app.add_option("--daemon", o.daemon, "The exporter binary")->capture_default_str();
  app.add_option("--config", o.config, "Its config file")->capture_default_str();
  app.add_option("--seconds", o.seconds, "Length of the measured run")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app.add_option("--window-ms", o.window_ms, "Length of one window")
      ->check(CLI::Range(20, 10000))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Connecting threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--accept-threads", o.accept_threads, "Accepting threads")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--max-connects", o.max_connects, "Stop after about this many connects")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--family", o.family, "4 (127.0.0.1) or 6 (::1)")
      ->check(CLI::IsMember({4, 6}))
      ->capture_default_str();
  app.add_option("--close", o.close_mode, "fin (orderly close) or rst (SO_LINGER 0)")
      ->check(CLI::IsMember({"fin", "rst"}))
      ->capture_default_str();
  app.add_option("--scrape-interval", o.scrape_interval, "Seconds between scrapes (0: none)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_flag("--bpf-stats", o.bpf_stats,
               "Set kernel.bpf_stats_enabled=1 for the run (ns per program run; adds the "
               "stats' own cost to every program run, in every arm)");
  app.add_flag("--alone", o.alone,
               "No daemon: the exporter's programs are loaded here from the config by the "
               "daemon's code and switched alone, so that \"off\" runs no program at all (no "
               "tracer) and \"on\" runs each as the only one at its attach point; no drain, no "
               "scrapes, no daemon count to check");
  app.add_flag("--peer", o.peer,
               "Add a third arm: the peer, bpftrace's counting one-liner as tests/bench/bpf/"
               "peer.bpf.c spells it, switched on alone (groups of three windows)");
  app.add_option("--peer-kind", o.peer_kind,
                 "What the peer arm switches: bpftrace (the one-liner), or an empty program where "
                 "the DNS capture (empty_cgroup_skb) or the connect probe (empty_tp_btf) "
                 "attaches: the kernel's dispatch alone; or one where a loopback connect never "
                 "runs it (empty_tp_btf_elsewhere): what switching costs by itself")
      ->check(CLI::IsMember(peer_kind_names()))
      ->capture_default_str();
  app.add_flag("--windows", o.print_windows, "Print every window");
  app.add_option("--order", o.order,
                 "Order within each pair (or group) of windows: random (seeded), or abba (on "
                 "off, off on, ...; with --peer on peer off, off peer on, ...; periodic: work that "
                 "recurs every 4 windows, such as a 1 s drain with "
                 "250 ms windows, then always falls in the same arm)")
      ->check(CLI::IsMember({"random", "abba"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the random order")->capture_default_str();
  app.add_option("--bootstrap", o.bootstrap, "Bootstrap resamples")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return run(o);
}
