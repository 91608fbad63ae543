// toggle_alone_bench: loopback connect throughput with the exporter's programs, and
// nothing else, switched on and off in alternating windows of one run (toggle_run.h says
// how).
//
// No daemon runs: the exporter's two programs are loaded here from the config by the
// daemon's own code and switched by themselves, so that "off" is no tracer at all and each
// program is the only one at its attach point, as on a host with the daemon and nothing
// else. The daemon's own CPU (its drain and scrapes) is not in the figures. --peer adds a
// third arm: bpftrace's counting one-liner as tests/bench/bpf/peer.bpf.c spells it, or an
// empty program where the DNS capture or the connect probe attaches (what the kernel's
// dispatch costs by itself), or one on a tracepoint the storm never fires (what switching
// costs by itself).
#include "toggle_run.h"

int main(int argc, char** argv) {
  using namespace tcpconnect::bench;
  CLI::App app{
      "Connect throughput with the exporter's programs, loaded here with no daemon, switched on "
      "and off in alternating windows (benchmark; asserts nothing)."};
  ToggleOptions o;
  o.alone = true;
  add_toggle_options(app, o, peer_kind_names());
  CLI11_PARSE(app, argc, argv);
  return run_scenario(o, [](const tcpconnect::Config& c, ExporterProcess&, SeenObjects& seen) {
    return alone_arm(c, seen);
  });
}
