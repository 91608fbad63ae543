// toggle_daemon_bench: loopback connect throughput with the running daemon's BPF programs
// switched on and off in alternating windows of one run (toggle_run.h says how).
//
// The daemon runs on the config, drains, and is scraped once a second in both arms. What
// is switched:
// - its DNS program (cgroup_skb/ingress on the cgroup2 root): the daemon's link is detached
//   (BPF_LINK_DETACH), and the same program is attached through a link of this process in
//   "on" windows only;
// - its connect program (sock:inet_sock_set_state). The kernel implements BPF_LINK_DETACH
//   for cgroup, netns, XDP and tc links, not for the daemon's raw_tracepoint (or
//   perf-event) link (EOPNOTSUPP on 6.18): that one goes only when its last fd, the
//   daemon's, is closed. If the kernel does detach it, the daemon's program is switched
//   like the DNS one ("takeover"). Otherwise a second instance of the probe is loaded here
//   by the daemon's own code from the same config, checked to be the same program with the
//   same constants and settings, and switched ("second instance"): "off" windows run the
//   daemon's probe, "on" windows the daemon's and one more, and the difference is what one
//   probe costs.
// --peer adds a third arm (bpftrace's one-liner written out, or an empty program).
#include "toggle_run.h"

int main(int argc, char** argv) {
  using namespace tcpconnect::bench;
  CLI::App app{
      "Connect throughput with the running daemon's programs switched on and off in alternating "
      "windows (benchmark; asserts nothing)."};
  ToggleOptions o;
  app.add_option("--daemon", o.daemon, "The exporter binary")->capture_default_str();
  app.add_option("--scrape-interval", o.scrape_interval, "Seconds between scrapes (0: none)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  add_toggle_options(app, o, peer_kind_names());
  CLI11_PARSE(app, argc, argv);
  return run_scenario(o, [&o](const tcpconnect::Config& c, ExporterProcess& daemon,
                              SeenObjects& seen) { return daemon_arm(o, c, daemon, seen); });
}
