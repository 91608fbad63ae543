#include "app/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>

#include "app/fd_store.h"
#include "app/notify.h"
#include "app/privileges.h"
#include "app/probe_handover.h"
#include "app/reload.h"
#include "dns/dns_collector.h"
#include "dns/dns_layer.h"
#include "drain/drain.h"
#include "drain/drain_loop.h"
#include "metrics/self_metrics.h"
#include "metrics/text_renderer.h"
#include "probes/cgroup_fs.h"
#include "probes/connect_probe.h"
#include "probes/kube_pods.h"
#include "web/web_server.h"

#ifndef TCPCONNECT_VERSION
#define TCPCONNECT_VERSION "0.0.0"
#endif
#ifndef TCPCONNECT_GIT_REVISION
#define TCPCONNECT_GIT_REVISION "unknown"
#endif

namespace tcpconnect {
namespace {

// How long a scrape waits for a fresh drain before it renders what the store has.
constexpr std::chrono::milliseconds kScrapeDrainWait{200};
constexpr std::chrono::seconds kSweepInterval{60};
// How often freed heap pages are given back to the kernel (malloc_trim) at most.
constexpr std::chrono::seconds kTrimInterval{10};

std::vector<std::string> label_names(const LabelsConfig& labels) {
  std::vector<std::string> out;
  for (Label l : labels.keep) out.emplace_back(to_string(l));
  return out;
}

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

double unix_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The daemon's parts, in the order they start; members are destroyed in reverse, so the
// web server (last) stops before anything its scrapes read, and the drain loop before
// what its drains touch.
class Daemon {
 public:
  explicit Daemon(const DaemonOptions& options) : options_(options), config_(options.config) {}

  Status choose_user();
  void block_signals();
  void start_dns();
  Status attach_probe();
  Status start_drain();
  Status start_web();
  void start_threads();
  void serve();

 private:
  void name_pods();
  Status give_up_privileges();
  void after_drain();
  void sweep_pending();
  void add_metric_sources();
  void reload();

  const DaemonOptions& options_;
  Config config_;
  Notifier notify_;
  std::optional<RunAsUser> runas_;
  sigset_t signals_ = handled_signals();
  std::unique_ptr<DnsLayer> dns_;
  bool names_by_netns_ = false;
  FdStore fd_store_;
  std::unique_ptr<ConnectProbe> probe_;
  std::unique_ptr<SelfMetrics> self_;
  uint64_t outcomes_written_off_reported_ = 0;
  std::shared_ptr<SeriesStore> store_;
  std::unique_ptr<Drain> drain_;
  std::unique_ptr<CgroupUnits> units_;
  std::unique_ptr<KubeletLogs> pods_;
  std::chrono::steady_clock::time_point next_sweep_;
  std::chrono::steady_clock::time_point next_trim_;
  std::unique_ptr<DrainLoop> loop_;
  std::unique_ptr<DaemonReloadTarget> reload_target_;
  std::shared_ptr<prometheus::Collectable> dns_collector_;
  std::string serving_;
  std::unique_ptr<WebServer> web_;
};

// Started as root (not by the unit, which sets User=): the user to continue as, chosen
// before anything is attached so that a wrong --runas.user fails at once.
Status Daemon::choose_user() {
  if (geteuid() == 0) {
    auto chosen = choose_runas_user(options_.runas_user);
    if (!chosen) return chosen.error();
    runas_ = std::move(chosen).value();
    if (!runas_)
      spdlog::warn(
          "--runas.user {}: the daemon keeps uid 0 after start-up (it can read and "
          "write every file root can)",
          *options_.runas_user);
  } else if (options_.runas_user) {
    spdlog::warn("--runas.user {} ignored: not started as root, running as uid {}",
                 *options_.runas_user, geteuid());
  }
  if (geteuid() != 0) {
    if (auto raised = raise_permitted_capabilities(); !raised)
      spdlog::warn("raising the permitted capabilities: {}", raised.error().message);
  }
  return Ok{};
}

// Signals are taken synchronously by the main thread; every thread started later inherits
// the mask.
void Daemon::block_signals() { pthread_sigmask(SIG_BLOCK, &signals_, nullptr); }

// DNS names are optional: a capture that cannot start is a warning, never an exit.
void Daemon::start_dns() {
  if (!config_.dns.enabled) return;
  notify_.status("starting the DNS capture");
  dns_ = start_dns_layer(config_.dns, config_.limits.max_series);
  // DNS names are scoped to the network namespace that looked them up: connects keep
  // theirs in the kernel's key (dns.scope: host trusts every tenant and keeps none).
  names_by_netns_ = dns_ != nullptr && config_.dns.scope == DnsScope::kNetns;
}

Status Daemon::attach_probe() {
  notify_.status("attaching probes");
  ConnectProbe::Options probe_options{config_.probes.backend, config_.probes.max_entries};
  // Filters and key fields are in place before the program is attached: nothing is
  // counted under anything else. A cgroup path or pinned map that cannot be used is a
  // start-up error, said once.
  if (auto checked = ConnectFilters(ConnectFilters::MapFds{}).prepare(config_.filters); !checked)
    return checked.error();
  probe_options.before_attach = [this](ConnectProbe& unattached) -> Status {
    if (Status s = unattached.filters().apply(config_.filters); !s) return s;
    return unattached.set_key_fields(kernel_key_fields(
        config_.labels, config_.allowlist, names_by_netns_, config_.filters.filters_pods()));
  };
  // Under systemd the probe outlives restarts in the fd store (app/fd_store.h).
  fd_store_ = FdStore::from_environment();
  auto probe = attach_connect_probe(probe_options, fd_store_);
  if (!probe) return probe.error();
  probe_ = std::move(probe).value();
  fd_store_.forget_untaken();

  self_ = std::make_unique<SelfMetrics>();
  self_->set_build_info(TCPCONNECT_VERSION, TCPCONNECT_GIT_REVISION);
  self_->set_probe_info(std::string(to_string(probe_->backend())), probe_->program_name(),
                        probe_->program_stats().id);
  // An adopted probe kept the previous process's filters until now.
  return DaemonReloadTarget::apply_filters_to(*probe_, config_.filters);
}

// The store, and the drain that folds the kernel's counts into it, named by DNS and the
// cgroup tree.
Status Daemon::start_drain() {
  store_ = std::make_shared<SeriesStore>(config_.limits.max_series);
  DestinationNamer namer;
  if (dns_) {
    namer = [this](uint64_t netns, uint16_t family, const uint8_t(&addr)[16]) {
      return dns_->name_of(netns, family, addr);
    };
  }
  drain_ = std::make_unique<Drain>(*probe_, store_, config_.labels, namer);
  drain_->set_key_netns(names_by_netns_);
  if (dns_) {
    // Every drain consumes the DNS ring before it reads a count (drain/drain.h); only the
    // periodic ones walk the destinations' activity for the attribution metrics, which a
    // scrape therefore does not wait for.
    drain_->set_before_read([this](DrainKind) { dns_->before_drain(); });
    drain_->set_after_fold([this](DrainKind kind) {
      if (kind == DrainKind::kPeriodic) dns_->attribute();
    });
    drain_->set_track_destinations(true);
    dns_->set_destination_reader(
        [this](const DestinationVisitor& visit) { return drain_->destinations().take(visit); });
    drain_->set_stale_checker([this](uint64_t netns, uint16_t family, const uint8_t(&addr)[16]) {
      return dns_->is_stale(netns, family, addr);
    });
    store_->set_stale_enabled(true);
  }
  // The unit label: cgroup ids named by walking the cgroup2 tree (probes/cgroup_fs.h).
  if (auto mount = find_cgroup2_mount()) {
    units_ = std::make_unique<CgroupUnits>(mount.value());
    drain_->set_unit_namer([this](uint64_t id) { return units_->unit_of(id); },
                           [this] { units_->begin_round(); });
    name_pods();
  } else if (config_.labels.has(Label::kUnit)) {
    spdlog::warn("labels.keep includes unit, but {}: unit will be empty", mount.error().message);
  }
  if (Status s = drain_->set_pod_filters(config_.filters); !s)
    return Error{"filters on pods: " + s.error().message};
  drain_->set_idle_expiry(config_.limits.idle_expiry);
  if (Status s = drain_->configure(config_.labels, config_.allowlist); !s)
    return Error{"configuring the connect probe's keys: " + s.error().message};
  log_config_warnings(config_);
  self_->set_config_reload(true, unix_now());
  next_sweep_ = std::chrono::steady_clock::now() + kSweepInterval;
  next_trim_ = std::chrono::steady_clock::now() + kTrimInterval;
  return Ok{};
}

// The namespace, pod and container labels and the pod filters: a cgroup id's pod from its
// cgroup path (CgroupUnits), named by kubelet's log directories.
void Daemon::name_pods() {
  KubeletLogs::Options options;
  options.pod_logs_dir = config_.kubernetes.pod_logs_dir;
  options.container_logs_dir = config_.kubernetes.container_logs_dir;
  pods_ = std::make_unique<KubeletLogs>(std::move(options));
  drain_->set_pod_namer(
      [this](uint64_t id) {
        const std::optional<PodCgroup> cgroup = units_->pod_of(id);
        if (!cgroup) return PodLabels{};
        const std::optional<PodIdentity> pod = pods_->identity_of(*cgroup);
        if (!pod) return PodLabels{};
        return PodLabels{pod->namespace_name, pod->pod, pod->container};
      },
      [this] { pods_->begin_round(); });
}

// After every drain, on the drain loop's thread: the self metrics, and the upkeep that
// follows the kernel's state.
void Daemon::after_drain() {
  self_->update_kernel_errors(drain_->kernel_errors());
  self_->update_store(*store_);
  Drain::ExpiryStats expired = drain_->expiry_stats();
  self_->set_keys_expired("connects", expired.connect_keys_deleted);
  if (pods_ && pods_->scans() > 0) self_->set_kubelet_log_entries_rejected(pods_->rejected());
  // A restarted unit has a new cgroup id.
  if (Status s = probe_->filters().refresh_cgroups(); !s)
    spdlog::warn("filters.cgroups: {}", s.error().message);
  // Scrapes of many series build large transient strings on the web server's threads,
  // each with its own malloc arena: give the freed pages back, so that the resident size
  // follows the series held rather than the largest scrape each thread ever served.
  // Not after every drain (each scrape asks for one): a trim consolidates every arena
  // under its lock, ~100 MB of heap at 100k series, and the next scrape faults the
  // pages it gave back in again.
  if (const auto t = std::chrono::steady_clock::now(); t >= next_trim_) {
    next_trim_ = t + kTrimInterval;
    malloc_trim(0);
  }
  ProgramStats stats = probe_->program_stats();
  self_->set_program_stats(stats.name, stats.run_time_ns, stats.run_count, stats.recursion_misses);
  sweep_pending();
}

// A SYN_SENT socket gives up after ~2 min with default retries; a connect still in
// flight after kOutcomeMaxWait has had its outcome missed: in the stash, or in the
// counts of a key (Drain::outcomes_written_off).
void Daemon::sweep_pending() {
  if (std::chrono::steady_clock::now() < next_sweep_) return;
  next_sweep_ = std::chrono::steady_clock::now() + kSweepInterval;
  std::vector<tc_connect_key> deferred;
  if (auto n = probe_->sweep_pending(kOutcomeMaxWait, &deferred); !n)
    spdlog::warn("sweeping the in-flight stash: {}", n.error().message);
  else if (n.value() > 0)
    self_->add_outcomes_lost(n.value());
  drain_->add_settled_attempts(deferred);
  const uint64_t written_off = drain_->outcomes_written_off();
  self_->add_outcomes_lost(written_off - outcomes_written_off_reported_);
  outcomes_written_off_reported_ = written_off;
}

// Everything that needs privileges is done before this (attach) and in the web server's
// start (bind, read the certificate and key); the privileges go right after that, before
// the web server, the drain loop or the DNS poller starts a thread: uid, groups and
// capabilities are then the same in every thread.
Status Daemon::give_up_privileges() {
  if (runas_) {
    if (Status s = switch_user(*runas_); !s) return s;
  }
  auto kept = drop_capabilities_after_attach(needs_privileged_port(config_.web.listen_address));
  if (!kept) return Error{"dropping capabilities: " + kept.error().message};
  spdlog::info(
      "running as {} (uid {}, gid {}) with {}",
      runas_ ? runas_->name : (getuid() == 0 ? "root" : "uid " + std::to_string(getuid())),
      getuid(), getgid(),
      kept.value().empty() ? "no capabilities" : fmt::format("{}", fmt::join(kept.value(), ", ")));
  return Ok{};
}

Status Daemon::start_web() {
  notify_.status("binding " + config_.web.listen_address);
  auto web = WebServer::start(config_.web, [this] { return give_up_privileges(); });
  if (!web) return web.error();
  web_ = std::move(web).value();
  return Ok{};
}

// The drain loop and the DNS poller, once the privileges are gone; then what /metrics
// serves.
void Daemon::start_threads() {
  if (dns_) {
    if (Status s = dns_->start_poller(); !s) spdlog::warn("DNS poller: {}", s.error().message);
  }
  loop_ = std::make_unique<DrainLoop>(*drain_, *self_, config_.probes.drain_interval,
                                      [this] { after_drain(); });
  reload_target_ =
      std::make_unique<DaemonReloadTarget>(*probe_, *drain_, *store_, *loop_, dns_.get());
  add_metric_sources();
  serving_ = "serving on port " + std::to_string(web_->port()) + config_.web.telemetry_path +
             " (probe: " + std::string(to_string(probe_->backend())) + ")";
  spdlog::info("tcpconnect_exporter {} {}", version_string(), serving_);
  notify_.ready(serving_);
}

// The telemetry path: the connect series, rendered straight from the store after asking
// the drain loop for fresh counts; the self metrics; the DNS metrics.
void Daemon::add_metric_sources() {
  web_->add(
      [store = store_, names = label_names(config_.labels), loop = loop_.get()](std::string& out) {
        loop->drain_now(kScrapeDrainWait);
        render_connect_series(*store, names, out);
      });
  web_->add(self_->registry());
  // The web server keeps weak pointers only: this object owns the collector.
  if (dns_)
    dns_collector_ = dns_->collector();
  else if (config_.dns.enabled)
    dns_collector_ = dns_capture_unavailable_collector();
  if (dns_collector_) web_->add(dns_collector_);
}

void Daemon::reload() {
  notify_.reloading();
  if (options_.config_path.empty()) {
    spdlog::info("SIGHUP: no config file to reload");
  } else {
    ReloadOutcome r =
        reload_config(options_.config_path, options_.listen_override, config_, *reload_target_);
    self_->set_config_reload(r.ok, unix_now());
  }
  notify_.ready(serving_);
}

// Until SIGTERM or SIGINT: reloads on SIGHUP, and wakes at least every watchdog
// half-period to ping, only while the drain loop is alive.
void Daemon::serve() {
  auto tick =
      notify_.watchdog_interval().count() > 0
          ? std::chrono::duration_cast<std::chrono::milliseconds>(notify_.watchdog_interval() / 2)
          : std::chrono::milliseconds(1000);
  for (;;) {
    timespec ts{static_cast<time_t>(tick.count() / 1000),
                static_cast<long>((tick.count() % 1000) * 1000000)};
    int sig = sigtimedwait(&signals_, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("received {}, detaching and exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) reload();
    auto since = std::chrono::steady_clock::now() - loop_->last_drain();
    if (since < 3 * config_.probes.drain_interval + std::chrono::seconds(1)) notify_.watchdog();
  }
  notify_.stopping();
}

// A start-up step's error, logged as the one line the daemon exits with.
bool failed(const Status& s) {
  if (s) return false;
  spdlog::error("{}", s.error().message);
  return true;
}

}  // namespace

std::string version_string() {
  return std::string(TCPCONNECT_VERSION) + " (git " + TCPCONNECT_GIT_REVISION + ")";
}

int run_daemon(const DaemonOptions& options) {
  Daemon daemon(options);
  if (failed(daemon.choose_user())) return 1;
  daemon.block_signals();
  daemon.start_dns();
  if (failed(daemon.attach_probe())) return 1;
  if (failed(daemon.start_drain())) return 1;
  if (failed(daemon.start_web())) return 1;
  daemon.start_threads();
  daemon.serve();
  return 0;
}

}  // namespace tcpconnect
