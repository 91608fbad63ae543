#include "toggle_options.h"

#include <signal.h>

#include <atomic>

namespace tcpconnect::bench {
namespace {
std::atomic<bool> g_interrupted{false};
}

void stop_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted.load(); }

void add_toggle_options(CLI::App& app, ToggleOptions& o,
                        const std::vector<std::string>& peer_kind_names) {
  app.add_option("--config", o.config, "The exporter's config file")->capture_default_str();
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
  app.add_flag("--netns", o.netns,
               "Run the storm in a network namespace of its own: no conntrack table (a full "
               "one drops SYNs) and no one else's TIME_WAIT sockets");
  app.add_flag(
      "--bpf-stats", o.bpf_stats,
      "Enable BPF run-time statistics for the run (BPF_ENABLE_STATS; ns per program run; adds the "
      "stats' own cost to every program run, in every arm)");
  app.add_flag("--peer", o.peer,
               "Add a third arm: the peer, bpftrace's counting one-liner as tests/bench/bpf/"
               "peer.bpf.c spells it, switched on alone (groups of three windows)");
  app.add_option("--peer-kind", o.peer_kind,
                 "What the peer arm switches: bpftrace (the one-liner), or an empty program where "
                 "the DNS capture (empty_cgroup_skb) or the connect probe (empty_tp_btf) "
                 "attaches: the kernel's dispatch alone; or one where a loopback connect never "
                 "runs it (empty_tp_btf_elsewhere): what switching costs by itself")
      ->check(CLI::IsMember(peer_kind_names))
      ->capture_default_str();
  app.add_flag("--windows", o.print_windows, "Print every window");
  app.add_option("--order", o.order,
                 "Order within each pair (or group) of windows: random (seeded), or abba (on "
                 "off, off on, ...; with --peer on peer off, off peer on, ...; periodic: work that "
                 "recurs every 4 windows, such as a 1 s drain with 250 ms windows, then always "
                 "falls in the same arm)")
      ->check(CLI::IsMember({"random", "abba"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the random order")->capture_default_str();
  app.add_option("--bootstrap", o.bootstrap, "Bootstrap resamples")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
}

}  // namespace tcpconnect::bench
