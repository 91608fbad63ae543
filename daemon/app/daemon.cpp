#include "app/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>

#include "app/drain.h"
#include "app/drain_loop.h"
#include "app/fd_store.h"
#include "app/notify.h"
#include "app/privileges.h"
#include "app/probe_handover.h"
#include "app/reload.h"
#include "app/web_server.h"
#include "dns/dns_collector.h"
#include "dns/dns_layer.h"
#include "metrics/text_renderer.h"
#include "metrics/self_metrics.h"
#include "probes/cgroup_fs.h"
#include "probes/connect_probe.h"
#include "probes/kube_pods.h"

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
constexpr std::chrono::minutes kPendingMaxAge{10};

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

// The namespace, pod and container labels and the pod filters: a cgroup id's pod from
// its cgroup path (CgroupUnits), named by kubelet's log directories.
std::unique_ptr<KubeletLogs> name_pods(Drain& drain, CgroupUnits& units,
                                       const KubernetesConfig& kubernetes) {
  KubeletLogs::Options options;
  options.pod_logs_dir = kubernetes.pod_logs_dir;
  options.container_logs_dir = kubernetes.container_logs_dir;
  auto logs = std::make_unique<KubeletLogs>(std::move(options));
  drain.set_pod_namer(
      [&units, logs = logs.get()](uint64_t id) {
        const std::optional<PodCgroup> cgroup = units.pod_of(id);
        if (!cgroup) return PodLabels{};
        const std::optional<PodIdentity> pod = logs->identity_of(*cgroup);
        if (!pod) return PodLabels{};
        return PodLabels{pod->namespace_name, pod->pod, pod->container};
      },
      [logs = logs.get()] { logs->begin_round(); });
  return logs;
}

}  // namespace

std::string version_string() {
  return std::string(TCPCONNECT_VERSION) + " (git " + TCPCONNECT_GIT_REVISION + ")";
}

int run_daemon(const DaemonOptions& options) {
  Notifier notify;
  Config config = options.config;

  // Started as root (not by the unit, which sets User=): the user to continue as, chosen
  // before anything is attached so that a wrong --runas.user fails at once.
  std::optional<RunAsUser> runas;
  if (geteuid() == 0) {
    auto chosen = choose_runas_user(options.runas_user);
    if (!chosen) {
      spdlog::error("{}", chosen.error().message);
      return 1;
    }
    runas = std::move(chosen).value();
    if (!runas)
      spdlog::warn(
          "--runas.user {}: the daemon keeps uid 0 after start-up (it can read and "
          "write every file root can)",
          *options.runas_user);
  } else if (options.runas_user) {
    spdlog::warn("--runas.user {} ignored: not started as root, running as uid {}",
                 *options.runas_user, geteuid());
  }

  // Signals are taken synchronously by this thread; every thread started below inherits
  // the mask.
  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // DNS names are optional: a capture that cannot start is a warning, never an exit.
  std::unique_ptr<DnsLayer> dns;
  if (config.dns.enabled) {
    notify.status("starting the DNS capture");
    dns = start_dns_layer(config.dns, config.limits.max_series);
  }

  notify.status("attaching probes");
  ConnectProbe::Options probe_options{config.probes.backend, config.probes.max_entries};
  probe_options.track_destinations = dns != nullptr;
  // Filters and key fields are in place before the program is attached: nothing is
  // counted under anything else. A cgroup path or pinned map that cannot be used is a
  // start-up error, said once.
  if (auto checked = ConnectFilters(ConnectFilters::MapFds{}).prepare(config.filters); !checked) {
    spdlog::error("{}", checked.error().message);
    return 1;
  }
  // DNS names are scoped to the network namespace that looked them up: connects keep
  // theirs in the kernel's key (dns.scope: host trusts every tenant and keeps none).
  const bool names_by_netns = dns != nullptr && config.dns.scope == DnsScope::kNetns;
  probe_options.before_attach = [&config, names_by_netns](ConnectProbe& unattached) -> Status {
    if (Status s = unattached.filters().apply(config.filters); !s) return s;
    return unattached.set_key_fields(
        kernel_key_fields(config.labels, config.allowlist, names_by_netns));
  };
  // Under systemd the probe outlives restarts in the fd store (app/fd_store.h).
  FdStore fd_store = FdStore::from_environment();
  auto probe = attach_connect_probe(probe_options, fd_store);
  if (!probe) {
    spdlog::error("{}", probe.error().message);
    return 1;
  }
  ConnectProbe& connect_probe = *probe.value();
  fd_store.forget_untaken();

  auto self = std::make_unique<SelfMetrics>();
  self->set_build_info(TCPCONNECT_VERSION, TCPCONNECT_GIT_REVISION);
  self->set_probe_info(std::string(to_string(connect_probe.backend())),
                       connect_probe.program_name(), connect_probe.program_stats().id);

  // An adopted probe kept the previous process's filters until now.
  if (Status s = DaemonReloadTarget::apply_filters_to(connect_probe, config.filters); !s) {
    spdlog::error("{}", s.error().message);
    return 1;
  }

  auto store = std::make_shared<SeriesStore>(config.limits.max_series);
  DestinationNamer namer;
  if (dns) {
    namer = [&dns](uint64_t netns, uint16_t family, const uint8_t(&addr)[16]) {
      return dns->name_of(netns, family, addr);
    };
  }
  Drain drain(connect_probe, store, config.labels, namer);
  drain.set_key_netns(names_by_netns);
  if (dns) {
    // Every drain consumes the DNS ring before it reads a count (app/drain.h); only the
    // periodic ones walk the destinations map for the attribution metrics, which a
    // scrape therefore does not wait for.
    drain.set_before_read(
        [&dns](DrainKind kind) { dns->before_drain(kind == DrainKind::kPeriodic); });
    dns->set_destination_reader([&connect_probe](const DestinationVisitor& visit) {
      return connect_probe.read_destinations(visit);
    });
    dns->set_destination_forgetter([&connect_probe](const tc_latency_key& key) {
      return connect_probe.forget_destination(key);
    });
    drain.set_stale_checker([&dns](uint64_t netns, uint16_t family, const uint8_t(&addr)[16]) {
      return dns->is_stale(netns, family, addr);
    });
    store->set_stale_enabled(true);
  }
  // The unit label: cgroup ids named by walking the cgroup2 tree (probes/cgroup_fs.h).
  std::unique_ptr<CgroupUnits> units;
  std::unique_ptr<KubeletLogs> pods;
  if (auto mount = find_cgroup2_mount()) {
    units = std::make_unique<CgroupUnits>(mount.value());
    drain.set_unit_namer([&units](uint64_t id) { return units->unit_of(id); },
                         [&units] { units->begin_round(); });
    pods = name_pods(drain, *units, config.kubernetes);
  } else if (config.labels.has(Label::kUnit)) {
    spdlog::warn("labels.keep includes unit, but {}: unit will be empty", mount.error().message);
  }
  if (Status s = drain.set_pod_filters(config.filters); !s) {
    spdlog::error("filters on pods: {}", s.error().message);
    return 1;
  }
  drain.set_idle_expiry(config.limits.idle_expiry);
  if (Status s = drain.configure(config.labels, config.allowlist); !s) {
    spdlog::error("configuring the connect probe's keys: {}", s.error().message);
    return 1;
  }
  log_config_warnings(config);
  self->set_config_reload(true, unix_now());
  auto next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
  auto next_trim = std::chrono::steady_clock::now() + kTrimInterval;
  auto after_drain = [&] {
    self->update_kernel_errors(drain.kernel_errors());
    self->set_series("tcpconnect_connects_total", static_cast<double>(store->connects().size()));
    self->set_series("tcpconnect_connect_duration_seconds",
                     static_cast<double>(store->latency().size()));
    self->set_series_dropped("tcpconnect_connects_total", store->dropped().connects);
    self->set_series_dropped("tcpconnect_connect_failures_total", store->dropped().failures);
    self->set_series_dropped("tcpconnect_connect_duration_seconds", store->dropped().duration);
    if (store->unexpected_enabled()) {
      self->set_series("tcpconnect_unexpected_connects_total",
                       static_cast<double>(store->unexpected().size()));
      self->set_series_dropped("tcpconnect_unexpected_connects_total",
                               store->dropped().unexpected);
      self->set_series_expired("tcpconnect_unexpected_connects_total",
                               store->expired().unexpected);
    }
    if (store->stale_enabled()) {
      self->set_series("tcpconnect_dns_stale_connects_total",
                       static_cast<double>(store->stale().size()));
      self->set_series_dropped("tcpconnect_dns_stale_connects_total", store->dropped().stale);
      self->set_series_expired("tcpconnect_dns_stale_connects_total", store->expired().stale);
    }
    self->set_series_expired("tcpconnect_connects_total", store->expired().connects);
    self->set_series_expired("tcpconnect_connect_duration_seconds", store->expired().duration);
    Drain::ExpiryStats expired = drain.expiry_stats();
    self->set_keys_expired("connects", expired.connect_keys_deleted);
    self->set_keys_expired("latency", expired.latency_keys_deleted);
    if (dns) self->set_keys_expired("destinations", dns->destinations_forgotten());
    // A restarted unit has a new cgroup id.
    if (Status s = connect_probe.filters().refresh_cgroups(); !s)
      spdlog::warn("filters.cgroups: {}", s.error().message);
    // Scrapes of many series build large transient strings on the web server's threads,
    // each with its own malloc arena: give the freed pages back, so that the resident size
    // follows the series held rather than the largest scrape each thread ever served.
    // Not after every drain (each scrape asks for one): a trim consolidates every arena
    // under its lock, ~100 MB of heap at 100k series, and the next scrape faults the
    // pages it gave back in again.
    if (const auto t = std::chrono::steady_clock::now(); t >= next_trim) {
      next_trim = t + kTrimInterval;
      malloc_trim(0);
    }
    ProgramStats stats = connect_probe.program_stats();
    self->set_program_stats(stats.name, stats.run_time_ns, stats.run_count,
                            stats.recursion_misses);
    // A SYN_SENT socket gives up after ~2 min with default retries; one still stashed
    // after 10 has had its outcome missed.
    if (std::chrono::steady_clock::now() >= next_sweep) {
      next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
      std::vector<tc_connect_key> deferred;
      if (auto n = connect_probe.sweep_pending(kPendingMaxAge, &deferred); !n)
        spdlog::warn("sweeping the in-flight stash: {}", n.error().message);
      else if (n.value() > 0)
        self->add_outcomes_lost(n.value());
      drain.add_settled_attempts(deferred);
    }
  };
  // Everything that needs privileges is done above this line (attach) and in the web
  // server's start (bind, read the certificate and key); the privileges go right after
  // that, before the web server, the drain loop or the DNS poller starts a thread: uid,
  // groups and capabilities are then the same in every thread.
  auto give_up_privileges = [&]() -> Status {
    if (runas) {
      if (Status s = switch_user(*runas); !s) return s;
    }
    auto kept = drop_capabilities_after_attach(needs_privileged_port(config.web.listen_address));
    if (!kept) return Error{"dropping capabilities: " + kept.error().message};
    spdlog::info("running as {} (uid {}, gid {}) with {}",
                 runas ? runas->name : (getuid() == 0 ? "root" : "uid " + std::to_string(getuid())),
                 getuid(), getgid(),
                 kept.value().empty() ? "no capabilities"
                                      : fmt::format("{}", fmt::join(kept.value(), ", ")));
    return Ok{};
  };
  notify.status("binding " + config.web.listen_address);
  auto web = WebServer::start(config.web, give_up_privileges);
  if (!web) {
    spdlog::error("{}", web.error().message);
    return 1;
  }
  if (dns) {
    if (Status s = dns->start_poller(); !s) spdlog::warn("DNS poller: {}", s.error().message);
  }
  DrainLoop loop(drain, *self, config.probes.drain_interval, after_drain);
  DaemonReloadTarget reload_target(connect_probe, drain, *store, loop, dns.get());
  // The connect series, rendered straight from the store after asking the drain loop for
  // fresh counts. web is destroyed before loop and store (declared after them).
  web.value()->add([store, names = label_names(config.labels), &loop](std::string& out) {
    loop.drain_now(kScrapeDrainWait);
    render_connect_series(*store, names, out);
  });
  web.value()->add(self->registry());
  // The Exposer keeps weak pointers only: this scope owns the collector.
  std::shared_ptr<prometheus::Collectable> dns_collector;
  if (dns)
    dns_collector = dns->collector();
  else if (config.dns.enabled)
    dns_collector = dns_capture_unavailable_collector();
  if (dns_collector) web.value()->add(dns_collector);

  std::string serving = "serving on port " + std::to_string(web.value()->port()) +
                        config.web.telemetry_path + " (probe: " +
                        std::string(to_string(connect_probe.backend())) + ")";
  spdlog::info("tcpconnect_exporter {} {}", version_string(), serving);
  notify.ready(serving);

  // Wake at least every watchdog half-period; ping only while the drain loop is alive.
  auto tick = notify.watchdog_interval().count() > 0
                  ? std::chrono::duration_cast<std::chrono::milliseconds>(
                        notify.watchdog_interval() / 2)
                  : std::chrono::milliseconds(1000);
  for (;;) {
    timespec ts{static_cast<time_t>(tick.count() / 1000),
                static_cast<long>((tick.count() % 1000) * 1000000)};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("received {}, detaching and exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) {
      notify.reloading();
      if (options.config_path.empty()) {
        spdlog::info("SIGHUP: no config file to reload");
      } else {
        ReloadOutcome r =
            reload_config(options.config_path, options.listen_override, config, reload_target);
        self->set_config_reload(r.ok, unix_now());
      }
      notify.ready(serving);
    }
    auto since = std::chrono::steady_clock::now() - loop.last_drain();
    if (since < 3 * config.probes.drain_interval + std::chrono::seconds(1)) notify.watchdog();
  }
  notify.stopping();
  return 0;
}

}  // namespace tcpconnect
