// One toggle run: a loopback connect storm in this process's threads for the whole run,
// time cut into groups of windows (one per arm: off, on, and the peer when there is one)
// in random or ABBA order; at each window's end the threads park (every connect they
// started has returned and its socket is closed), the figures are read, the programs
// are switched if the next window's arm differs, and the threads go on. Both arms thus
// see the same machine, a few hundred milliseconds apart.
//
// At the end it checks exactness while switching: the switched connect program counted,
// for the storm's port, exactly the connects made in "on" windows (and the daemon, when
// it keeps its own probe, all of them); and that nothing it loaded or attached is left.
// A benchmark: it prints what it measured and asserts nothing about it.
#pragma once

#include <functional>

#include "arms.h"
#include "host_stats.h"
#include "toggle_options.h"

namespace tcpconnect::bench {

// daemon: the running exporter, or nullptr (alone). peer: the third arm, or nullptr.
// Returns the exit status.
int run_toggle(const ToggleOptions& o, OnArm& on, PeerArm* peer, ExporterProcess* daemon,
               SeenObjects& seen, const BpfStatsSwitch& bpf_stats);

}  // namespace tcpconnect::bench

namespace tcpconnect::bench {

// What a scenario switches in its "on" windows, made once the config is loaded.
using OnArmFactory =
    std::function<std::optional<OnArm>(const Config&, ExporterProcess&, SeenObjects&)>;

// A scenario's main after its flags: root, the config, bpf_stats, the "on" arm, the peer,
// the run. Returns the exit status.
int run_scenario(const ToggleOptions& o, const OnArmFactory& make_on_arm);

}  // namespace tcpconnect::bench
