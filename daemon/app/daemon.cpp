#include "app/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <memory>

#include "app/drain.h"
#include "app/drain_loop.h"
#include "app/fd_store.h"
#include "app/notify.h"
#include "app/privileges.h"
#include "app/probe_handover.h"
#include "app/web_server.h"
#include "metrics/connect_collector.h"
#include "metrics/self_metrics.h"
#include "probes/connect_probe.h"

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
constexpr std::chrono::minutes kPendingMaxAge{10};

std::vector<std::string> label_names(const LabelsConfig& labels) {
  std::vector<std::string> out;
  for (Label l : labels.keep) out.emplace_back(to_string(l));
  return out;
}

// Renders the store after asking the drain loop for fresh counts.
class FreshCollector final : public prometheus::Collectable {
 public:
  FreshCollector(std::shared_ptr<ConnectCollector> inner, DrainLoop& loop)
      : inner_(std::move(inner)), loop_(loop) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    loop_.drain_now(kScrapeDrainWait);
    return inner_->Collect();
  }

 private:
  std::shared_ptr<ConnectCollector> inner_;
  DrainLoop& loop_;
};

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Reloads what can change without reattaching. Returns false (old config kept) when the
// new file is invalid.
bool reload(const DaemonOptions& options, Config& current, SeriesStore& store, DrainLoop& loop) {
  if (options.config_path.empty()) {
    spdlog::info("SIGHUP: no config file to reload");
    return true;
  }
  auto next = load_config_file(options.config_path);
  if (!next) {
    spdlog::error("reload failed, keeping the running config: {}", next.error().message);
    return false;
  }
  Config& n = next.value();
  if (!options.listen_override.empty()) n.web.listen_address = options.listen_override;
  if (n.web != current.web || n.probes.backend != current.probes.backend ||
      n.probes.max_entries != current.probes.max_entries || n.labels != current.labels) {
    spdlog::warn(
        "reload: changes to web, probes.backend, probes.max_entries and labels take effect "
        "at the next restart");
  }
  store.set_max_series(n.limits.max_series);
  loop.set_interval(n.probes.drain_interval);
  current.limits = n.limits;
  current.probes.drain_interval = n.probes.drain_interval;
  spdlog::info("configuration reloaded from {}", options.config_path);
  return true;
}

}  // namespace

std::string version_string() {
  return std::string(TCPCONNECT_VERSION) + " (git " + TCPCONNECT_GIT_REVISION + ")";
}

int run_daemon(const DaemonOptions& options) {
  Notifier notify;
  Config config = options.config;

  // Signals are taken synchronously by this thread; every thread started below inherits
  // the mask.
  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  notify.status("attaching probes");
  ConnectProbe::Options probe_options{config.probes.backend, config.probes.max_entries};
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

  auto store = std::make_shared<SeriesStore>(config.limits.max_series);
  Drain drain(connect_probe, store, config.labels);
  auto next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
  auto after_drain = [&] {
    self->update_kernel_errors(drain.kernel_errors());
    self->set_series("tcpconnect_connects_total", static_cast<double>(store->connects().size()));
    self->set_series("tcpconnect_connect_duration_seconds",
                     static_cast<double>(store->latency().size()));
    self->set_series_dropped("tcpconnect_connects_total", store->dropped().connects);
    self->set_series_dropped("tcpconnect_connect_failures_total", store->dropped().failures);
    self->set_series_dropped("tcpconnect_connect_duration_seconds", store->dropped().duration);
    ProgramStats stats = connect_probe.program_stats();
    self->set_program_stats(stats.name, stats.run_time_ns, stats.run_count,
                            stats.recursion_misses);
    // A SYN_SENT socket gives up after ~2 min with default retries; one still stashed
    // after 10 has had its outcome missed.
    if (std::chrono::steady_clock::now() >= next_sweep) {
      next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
      if (auto n = connect_probe.sweep_pending(kPendingMaxAge); n && n.value() > 0)
        self->add_outcomes_lost(n.value());
    }
  };
  // Everything that needs privileges is done above this line (attach here), and threads
  // start below it: capabilities are per thread.
  if (auto kept = drop_capabilities_after_attach(); !kept) {
    spdlog::error("dropping capabilities: {}", kept.error().message);
    return 1;
  }
  DrainLoop loop(drain, *self, config.probes.drain_interval, after_drain);

  notify.status("binding " + config.web.listen_address);
  auto web = WebServer::start(config.web);
  if (!web) {
    spdlog::error("{}", web.error().message);
    return 1;
  }
  auto collector = std::make_shared<FreshCollector>(
      std::make_shared<ConnectCollector>(store, label_names(config.labels)), loop);
  web.value()->add(collector);
  web.value()->add(self->registry());

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
      reload(options, config, *store, loop);
      notify.ready(serving);
    }
    auto since = std::chrono::steady_clock::now() - loop.last_drain();
    if (since < 3 * config.probes.drain_interval + std::chrono::seconds(1)) notify.watchdog();
  }
  notify.stopping();
  return 0;
}

}  // namespace tcpconnect
