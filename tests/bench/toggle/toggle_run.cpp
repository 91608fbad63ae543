#include "toggle_run.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <optional>
#include <random>
#include <thread>

#include "bpf/percpu_map.h"
#include "common/http.h"
#include "common/metric_samples.h"
#include "gated_storm.h"
#include "peer.h"
#include "shared/connect.h"
#include "window_figures.h"

namespace tcpconnect::bench {
namespace {

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

std::string count_text(const std::optional<uint64_t>& n) { return n ? std::to_string(*n) : "?"; }

// Counts read after the windows, against the connects made.
struct Exactness {
  int64_t all_connects = 0, on_connects = 0, peer_connects = 0;
  std::optional<uint64_t> switched, peer;
  double daemon = -1;
  int64_t daemon_expected = 0;
  bool switched_exact() const { return switched && static_cast<int64_t>(*switched) == on_connects; }
  bool peer_exact() const { return peer && static_cast<int64_t>(*peer) == peer_connects; }
  bool daemon_exact() const { return static_cast<int64_t>(daemon) == daemon_expected; }
};

// The ratios between the arms, with their spread over the groups.
struct Ratios {
  Spreads rate, cpu, peer_rate, peer_cpu, on_extra, peer_extra, cost;
};

class ToggleRun {
 public:
  ToggleRun(const ToggleOptions& o, OnArm& on, PeerArm* peer, ExporterProcess* daemon,
            SeenObjects& seen, const BpfStatsSwitch& bpf_stats)
      : o_(o),
        on_(on),
        peer_(peer),
        daemon_(daemon),
        seen_(seen),
        bpf_stats_(bpf_stats),
        n_arms_(peer ? 3 : 2) {}

  int run();

 private:
  void track_programs();
  bool start_load();
  int64_t storm_listen_overflows() const;
  void start_scraper();
  void stop_scraper();
  Sample sample();
  std::optional<Window> window(int arm);
  void run_windows();
  Exactness read_counts();
  std::vector<Group> groups() const;
  void report_arms(const std::vector<Totals>& totals) const;
  void report_bpf_stats(const std::vector<Totals>& totals) const;
  Ratios report_ratios(const std::vector<Group>& groups) const;
  void report_exactness(const Exactness& e) const;
  void report_left_behind();
  void print_result(const Ratios& r, const std::vector<Totals>& totals, const Exactness& e) const;

  const ToggleOptions& o_;
  OnArm& on_;
  PeerArm* peer_;
  ExporterProcess* daemon_;
  SeenObjects& seen_;
  const BpfStatsSwitch& bpf_stats_;
  const int n_arms_;
  // Programs whose bpf_stats are read per window.
  std::vector<std::pair<std::string, UniqueFd>> tracked_;
  LoadNetns netns_;  // with --netns: where the listener and the storm threads are
  std::unique_ptr<StormListener> listener_;
  std::unique_ptr<GatedStorm> storm_;
  std::vector<clockid_t> storm_clocks_;
  clockid_t daemon_clock_{};
  bool have_daemon_clock_ = false;
  std::thread scraper_;
  std::atomic<bool> scraper_stop_{false};
  std::atomic<int> scrapes_{0}, scrape_failures_{0};
  std::vector<Window> windows_;
  std::vector<double> toggle_us_;
  std::string failure_;
  int64_t on_connects_ = 0, peer_connects_ = 0, overflows_before_ = 0;
  std::map<int, int64_t> errors_;
  std::string load_before_;
};

constexpr auto kParkTimeout = std::chrono::milliseconds(5000);

// The switched connect program, the DNS one, the daemon's own connect program when it
// stays attached, and the peer.
void ToggleRun::track_programs() {
  auto track = [this](const char* name, uint32_t id) {
    tracked_.emplace_back(name, UniqueFd(bpf_prog_get_fd_by_id(id)));
  };
  track(on_.mode == "takeover" ? "connect (switched, the daemon's)"
        : o_.alone             ? "connect (switched, alone)"
                               : "connect (switched, 2nd instance)",
        on_.connect.id);
  if (on_.dns) track("DNS (switched)", on_.dns->id);
  if (on_.daemon_connect) track("connect (the daemon's, always on)", on_.daemon_connect->id);
  if (peer_) track("peer (switched)", peer_->info.id);
}

void ToggleRun::start_scraper() {
  if (o_.scrape_interval <= 0 || !daemon_) return;
  scraper_ = std::thread([this] {
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o_.scrape_interval));
    auto next = Clock::now();
    while (!scraper_stop_.load()) {
      next += period;
      auto r = tcpconnect::testing::http_get("127.0.0.1", daemon_->web_port(), "/metrics", 2000);
      ++(r && r->status == 200 ? scrapes_ : scrape_failures_);
      // Sleeps in slices so that the stop is seen within 50 ms.
      while (!scraper_stop_.load() && Clock::now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

void ToggleRun::stop_scraper() {
  scraper_stop_ = true;
  if (scraper_.joinable()) scraper_.join();
}

bool ToggleRun::start_load() {
  std::string error;
  if (o_.netns && !(error = netns_.create()).empty()) {
    std::fprintf(stderr, "toggle_bench: %s\n", error.c_str());
    return false;
  }
  {
    // Threads inherit the namespace they are started in; the scraper's is the host's.
    std::optional<LoadNetns::Entered> in;
    if (o_.netns) in.emplace(netns_);
    listener_ = StormListener::start(o_.family, o_.accept_threads, &error);
    if (!listener_) {
      std::fprintf(stderr, "toggle_bench: %s\n", error.c_str());
      return false;
    }
    storm_ = std::make_unique<GatedStorm>(
        *listener_, o_.close_mode == "rst" ? CloseMode::kRst : CloseMode::kFin, o_.threads);
  }
  start_scraper();
  have_daemon_clock_ = daemon_ && clock_getcpuclockid(daemon_->pid(), &daemon_clock_) == 0;
  storm_clocks_ = storm_->cpu_clocks();
  for (clockid_t c : listener_->cpu_clocks()) storm_clocks_.push_back(c);
  if (!storm_->wait_parked(kParkTimeout)) {
    std::fprintf(stderr, "toggle_bench: the storm threads did not start\n");
    return false;
  }
  char scraping[64] = "no daemon, no scrapes";
  if (daemon_)
    std::snprintf(scraping, sizeof(scraping),
                  o_.scrape_interval > 0 ? "scrape every %.1f s" : "no scrapes",
                  o_.scrape_interval);
  std::printf(
      "storm: %d connecting + %d accepting threads to %s port %u%s, close=%s; windows of %d ms "
      "in %s, %s, for %.0f s or %" PRId64 " connects; %s; bpf_stats %s\n",
      o_.threads, o_.accept_threads, listener_->ip().c_str(), listener_->port(),
      o_.netns ? " (own netns)" : "", o_.close_mode.c_str(), o_.window_ms,
      peer_ ? "groups of three (off, on, peer)" : "pairs",
      o_.order == "abba" ? "ABBA (on off, off on, ...)"
                         : ("each in random order (seed " + std::to_string(o_.seed) + ")").c_str(),
      o_.seconds, o_.max_connects, scraping, bpf_stats_.describe().c_str());
  std::fflush(stdout);
  return true;
}

Sample ToggleRun::sample() {
  Sample s;
  s.connects = storm_->connects();
  for (clockid_t c : storm_clocks_) s.storm_cpu_ns += clock_ns(c);
  s.process_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  s.daemon_cpu_ns = have_daemon_clock_ ? clock_ns(daemon_clock_) : 0;
  s.machine_ns = machine_busy_ns();
  for (const auto& [name, fd] : tracked_) {
    auto p = prog_info(fd.get());
    s.progs.push_back(p ? *p : ProgInfo{});
  }
  s.at = Clock::now();
  return s;
}

// One window: the storm runs for window_ms with the programs of `arm` switched on, and
// only those.
std::optional<Window> ToggleRun::window(int arm) {
  const auto t0 = Clock::now();
  if (arm != kOn) on_.programs->off();
  if (arm != kPeer && peer_) peer_->programs->off();
  if (arm == kOn) failure_ = on_.programs->on();
  if (arm == kPeer) failure_ = peer_->programs->on();
  if (!failure_.empty()) return std::nullopt;
  toggle_us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  Sample a = sample();
  storm_->open();
  std::this_thread::sleep_until(a.at + std::chrono::milliseconds(o_.window_ms));
  if (!storm_->close(kParkTimeout)) {
    failure_ = "a storm thread did not park within 5 s";
    return std::nullopt;
  }
  return difference(arm, a, sample());
}

int64_t ToggleRun::storm_listen_overflows() const {
  std::optional<LoadNetns::Entered> in;  // /proc/net: the main thread's namespace
  if (o_.netns) in.emplace(netns_);
  return listen_overflows();
}

void ToggleRun::run_windows() {
  overflows_before_ = storm_listen_overflows();
  load_before_ = loadavg();
  // Warm-up, off, counted in the totals but not in the figures.
  auto warm = window(kOff);
  if (!warm) std::fprintf(stderr, "toggle_bench: the warm-up window failed\n");
  const auto run_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(o_.seconds));
  std::mt19937_64 order_rng(o_.seed);
  std::vector<int> order(n_arms_);
  const size_t n = static_cast<size_t>(n_arms_);
  // Bounded by time, the connect cap and a window count.
  const size_t max_windows = static_cast<size_t>(o_.seconds * 1000 / o_.window_ms) + n;
  while (warm && windows_.size() < max_windows && !interrupted()) {
    const size_t w = windows_.size();
    if (w % n == 0) {
      if (Clock::now() >= run_deadline || storm_->connects() >= o_.max_connects) break;
      // A new group: its arms in random order, or (abba) in order and reversed in turn.
      std::iota(order.begin(), order.end(), 0);
      if (o_.order == "abba") {
        std::rotate(order.begin(), order.begin() + 1, order.end());  // on, (peer,) off
        if ((w / n) % 2 == 1) std::reverse(order.begin(), order.end());
      } else {
        std::shuffle(order.begin(), order.end(), order_rng);
      }
    }
    auto result = window(order[w % n]);
    if (!result) break;
    windows_.push_back(*result);
    if (result->arm == kOn) on_connects_ += result->connects;
    if (result->arm == kPeer) peer_connects_ += result->connects;
  }
  on_.programs->off();
  if (peer_) peer_->programs->off();
  errors_ = storm_->errors();
  stop_scraper();
  if (!failure_.empty()) std::fprintf(stderr, "toggle_bench: %s\n", failure_.c_str());
  windows_.resize(windows_.size() - windows_.size() % n);  // an incomplete group (interrupted)
}

Exactness ToggleRun::read_counts() {
  Exactness e;
  e.all_connects = storm_->connects();
  e.on_connects = on_connects_;
  e.peer_connects = peer_connects_;
  e.daemon_expected = on_.mode == "takeover" ? on_connects_ : e.all_connects;
  if (daemon_) {
    auto body = tcpconnect::testing::http_get("127.0.0.1", daemon_->web_port(), "/metrics", 10000);
    const std::string port = "dport=\"" + std::to_string(listener_->port()) + "\"";
    const std::string daddr = "daddr=\"" + listener_->ip() + "\"";
    if (body)
      e.daemon =
          tcpconnect::testing::samples(body->body, "tcpconnect_connects_total", {daddr, port}).sum;
  }
  e.switched =
      program_attempts(on_.connect, listener_->domain(), listener_->addr(), listener_->port());
  if (peer_ && peer_->kind->counts)
    e.peer = peer_attempts(bpf_map__fd(peer_->skel->maps.peer_counts), listener_->port());
  return e;
}

std::vector<Group> ToggleRun::groups() const {
  std::vector<Group> out;
  for (size_t i = 0; i + n_arms_ <= windows_.size(); i += n_arms_) {
    Group g;
    g.arm.resize(n_arms_);
    for (int k = 0; k < n_arms_; ++k) g.arm[windows_[i + k].arm] = windows_[i + k];
    out.push_back(std::move(g));
  }
  return out;
}

void ToggleRun::report_arms(const std::vector<Totals>& totals) const {
  if (o_.print_windows) {
    std::printf("\n%6s %4s %8s %10s %9s %9s %8s\n", "window", "arm", "seconds", "connects/s",
                "storm_us/c", "daemon_ms/s", "others");
    for (size_t i = 0; i < windows_.size(); ++i) {
      const Window& w = windows_[i];
      std::printf("%6zu %4s %8.3f %10.0f %9.2f %9.2f %8.2f\n", i, arm_name(w.arm), w.seconds,
                  w.connects / w.seconds, w.connects ? w.storm_cpu * 1e6 / w.connects : 0,
                  w.daemon_cpu * 1e3 / w.seconds,
                  std::max(0.0, (w.machine - w.storm_cpu - w.daemon_cpu) / w.seconds));
    }
  }
  std::printf("\n%-4s %7s %8s %11s %10s %11s %12s %11s %11s\n", "arm", "windows", "seconds",
              "connects", "connects/s", "storm_us/c", "process_us/c", "daemon_ms/s", "others_CPUs");
  for (int arm = 0; arm < n_arms_; ++arm) {
    const Totals& t = totals[arm];
    const double c = static_cast<double>(t.connects);
    std::printf(
        "%-4s %7d %8.2f %11" PRId64 " %10.0f %11.2f %12.2f %11.2f %11.2f\n", arm_name(arm),
        t.windows, t.seconds, t.connects, t.rate(), t.storm_us(), c ? t.process_cpu * 1e6 / c : 0,
        t.seconds ? t.daemon_cpu * 1e3 / t.seconds : 0,
        t.seconds ? std::max(0.0, (t.machine - t.storm_cpu - t.daemon_cpu) / t.seconds) : 0);
  }
}

void ToggleRun::report_bpf_stats(const std::vector<Totals>& totals) const {
  std::printf(
      "\nbpf_stats per arm: program, runs per connect, ns per run, ns per connect, skipped runs "
      "(recursion_misses)\n");
  for (size_t i = 0; i < tracked_.size(); ++i) {
    for (int arm = 0; arm < n_arms_; ++arm) {
      const Totals& t = totals[arm];
      if (i >= t.runs.size() || t.runs[i] == 0) continue;
      const double c = static_cast<double>(t.connects);
      const double runs = static_cast<double>(t.runs[i]);
      std::printf("  %-36s %-3s %7.2f %8.1f %9.1f %8" PRIu64 "\n", tracked_[i].first.c_str(),
                  arm_name(arm), c ? runs / c : 0, static_cast<double>(t.run_ns[i]) / runs,
                  c ? static_cast<double>(t.run_ns[i]) / c : 0, t.misses[i]);
    }
  }
}

void print_spreads(const char* what, const char* per, const Spreads& s) {
  std::printf("%s: total %.4f, %s median %.4f [min %.3f, max %.3f], bootstrap 95%% %.4f-%.4f\n",
              what, s.total, per, s.median, s.min, s.max, s.lo, s.hi);
}

Ratios ToggleRun::report_ratios(const std::vector<Group>& groups) const {
  Ratios r;
  const char* per = peer_ ? "per-group" : "per-pair";
  r.rate = spreads(groups, rate_ratio(kOn), o_.bootstrap);
  r.cpu = spreads(groups, cpu_ratio(kOn), o_.bootstrap);
  std::printf("\n%zu %s.\n", groups.size(), peer_ ? "groups" : "pairs");
  print_spreads("on/off connects/s", per, r.rate);
  print_spreads("off/on storm CPU per connect", per, r.cpu);
  if (peer_) {
    r.peer_rate = spreads(groups, rate_ratio(kPeer), o_.bootstrap);
    r.peer_cpu = spreads(groups, cpu_ratio(kPeer), o_.bootstrap);
    r.on_extra = spreads(groups, extra_us(kOn), o_.bootstrap);
    r.peer_extra = spreads(groups, extra_us(kPeer), o_.bootstrap);
    r.cost = spreads(groups, cost_ratio, o_.bootstrap);
    print_spreads("peer/off connects/s", per, r.peer_rate);
    print_spreads("off/peer storm CPU per connect", per, r.peer_cpu);
    std::printf(
        "storm CPU each adds per connect (us; its programs, their dispatch, all): on %.3f "
        "[bootstrap 95%% %.3f-%.3f], peer %.3f [%.3f-%.3f]; on/peer %.2f [%.2f-%.2f]\n",
        r.on_extra.total, r.on_extra.lo, r.on_extra.hi, r.peer_extra.total, r.peer_extra.lo,
        r.peer_extra.hi, r.cost.total, r.cost.lo, r.cost.hi);
  }
  std::vector<double> toggles = toggle_us_;
  std::sort(toggles.begin(), toggles.end());
  std::printf("switching (links made or closed, storm parked): median %.0f us, max %.0f us\n",
              quantile(toggles, 0.5), toggles.empty() ? 0 : toggles.back());
  return r;
}

void ToggleRun::report_exactness(const Exactness& e) const {
  std::printf("\nexactness: the storm made %" PRId64 " connects, %" PRId64 " in on windows; ",
              e.all_connects, e.on_connects);
  std::printf("the switched connect program counted %s (%s)", count_text(e.switched).c_str(),
              e.switched_exact() ? "exact" : "NOT EXACT");
  if (peer_ && peer_->kind->counts)
    std::printf("; the peer counted %s (%s, expected %" PRId64 ")", count_text(e.peer).c_str(),
                e.peer_exact() ? "exact" : "NOT EXACT", e.peer_connects);
  if (!daemon_)
    std::printf("; no daemon (alone)\n");
  else
    std::printf("; the daemon's /metrics says %.0f (%s, expected %" PRId64 ")\n", e.daemon,
                e.daemon_exact() ? "exact" : "NOT EXACT", e.daemon_expected);
  for (auto [err, n] : errors_)
    std::printf("connect errors: %" PRId64 " x %s\n", n, std::strerror(err));
  std::printf("listen overflows during the run: %" PRId64 "; scrapes %d, failed %d\n",
              storm_listen_overflows() - overflows_before_, scrapes_.load(),
              scrape_failures_.load());
}

// Nothing left: the run's links are closed already, its program fds now, then the
// daemon stops and takes its own with it.
void ToggleRun::report_left_behind() {
  tracked_.clear();
  for (uint32_t id : on_.programs->link_ids()) seen_.links.push_back(id);
  on_.programs.reset();
  if (peer_) {
    for (uint32_t id : peer_->programs->link_ids()) seen_.links.push_back(id);
    peer_->programs.reset();
    peer_->skel.reset();
  }
  if (daemon_) daemon_->stop();
  const std::string left = left_behind(seen_.progs, seen_.links);
  std::printf("%s: %s\n", daemon_ ? "after the daemon stopped" : "after the run",
              left.empty() ? "none of its or this run's programs and links is left"
                           : ("LEFT BEHIND:" + left).c_str());
}

void ToggleRun::print_result(const Ratios& r, const std::vector<Totals>& totals,
                             const Exactness& e) const {
  std::printf(
      "result mode=%s pairs=%zu on_cps=%.0f off_cps=%.0f ratio=%.4f pair_median=%.4f "
      "boot_lo=%.4f boot_hi=%.4f cpu_ratio=%.4f",
      on_.mode.c_str(), windows_.size() / n_arms_, totals[kOn].rate(), totals[kOff].rate(),
      r.rate.total, r.rate.median, r.rate.lo, r.rate.hi, r.cpu.total);
  if (peer_)
    std::printf(
        " peer_cps=%.0f peer_ratio=%.4f peer_cpu_ratio=%.4f on_extra_us=%.3f peer_extra_us=%.3f "
        "on_over_peer=%.3f",
        totals[kPeer].rate(), r.peer_rate.total, r.peer_cpu.total, r.on_extra.total,
        r.peer_extra.total, r.cost.total);
  std::printf(" exact=%d\n", e.switched_exact() && (!daemon_ || e.daemon_exact()) &&
                                 (!peer_ || !peer_->kind->counts || e.peer_exact()));
}

int ToggleRun::run() {
  if (std::string err = on_.programs->prepare(); !err.empty()) {
    std::fprintf(stderr, "toggle_bench: %s\n", err.c_str());
    return 1;
  }
  track_programs();
  if (!start_load()) return 1;
  run_windows();
  const Exactness exact = read_counts();
  storm_.reset();  // joins its threads
  listener_->stop();

  std::vector<Totals> totals(n_arms_);
  for (const Window& w : windows_) totals[w.arm].add(w);
  std::printf("load average before %s, after %s\n", load_before_.c_str(), loadavg().c_str());
  report_arms(totals);
  if (o_.bpf_stats) report_bpf_stats(totals);
  const Ratios ratios = report_ratios(groups());
  report_exactness(exact);
  report_left_behind();
  print_result(ratios, totals, exact);
  return 0;
}

}  // namespace

int run_toggle(const ToggleOptions& o, OnArm& on, PeerArm* peer, ExporterProcess* daemon,
               SeenObjects& seen, const BpfStatsSwitch& bpf_stats) {
  return ToggleRun(o, on, peer, daemon, seen, bpf_stats).run();
}

}  // namespace tcpconnect::bench

namespace tcpconnect::bench {

int run_scenario(const ToggleOptions& o, const OnArmFactory& make_on_arm) {
  spdlog::set_level(spdlog::level::warn);
  stop_on_signals();
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
  std::printf("toggle_bench: %s; load average %s\n", machine_description().c_str(),
              loadavg().c_str());
  ExporterProcess daemon;
  SeenObjects seen;
  std::optional<OnArm> on = make_on_arm(config.value(), daemon, seen);
  if (!on) return 1;
  std::optional<PeerArm> peer;
  if (o.peer) {
    peer = load_peer(o.peer_kind, seen);
    if (!peer) return 1;
  }
  return run_toggle(o, *on, peer ? &*peer : nullptr, o.alone ? nullptr : &daemon, seen, bpf_stats);
}

}  // namespace tcpconnect::bench
