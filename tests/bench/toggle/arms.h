// What each arm of a toggle run switches: the exporter's programs ("on"), taken from the
// running daemon or loaded here by the daemon's own code, and the peer (tests/bench/bpf/
// peer.bpf.c: bpftrace's one-liner written out, or an empty program).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_exporter.h"
#include "bpf_programs.h"
#include "config/config.h"
#include "peer.skel.h"
#include "probes/connect_probe.h"
#include "program_switch.h"
#include "toggle_options.h"

namespace tcpconnect::bench {

// What the "on" arm switches, and where its programs came from.
struct OnArm {
  std::string mode;  // "takeover", "second_instance" or "alone"
  std::optional<ProgramSwitch> programs;
  ProgInfo connect;                        // the switched connect program
  std::optional<ProgInfo> dns;             // the switched DNS program (DNS on)
  std::optional<ProgInfo> daemon_connect;  // the daemon's, attached in every window
};

// Every program and link a run saw, for the check that none is left behind.
struct SeenObjects {
  std::vector<uint32_t> progs, links;
};

// The daemon's programs: the daemon started on the config, its DNS link detached and its
// connect program taken over, or, where its link cannot be detached, a second instance.
std::optional<OnArm> daemon_arm(const ToggleOptions& o, const Config& c, ExporterProcess& daemon,
                                SeenObjects& seen);

// No daemon: the exporter's programs loaded here by the daemon's own code from the config
// (ConnectProbe::attach, open_cgroup_skb_capture), their own links closed at once, and
// switched through links of this process: "off" windows then run no program at all at
// either attach point, and each "on" program is the only one where it attaches, as under
// the daemon alone. Nothing drains the maps: the storm's one destination needs one entry
// of each, and its outcomes empty the stash.
std::optional<OnArm> alone_arm(const Config& c, SeenObjects& seen);

// What --peer-kind may switch: the programs of tests/bench/bpf/peer.bpf.c.
struct PeerKind {
  std::string name;
  bpf_program* (*program)(peer_bpf*);
  bool on_cgroup;        // cgroup inet ingress of the cgroup2 root; else a tracepoint,
  ProbeBackend backend;  // attached as this backend attaches the probe
  const char* where;
  bool counts;  // keeps counts per destination, checked for exactness
};
std::vector<std::string> peer_kind_names();
// The kind named (the CLI accepts only these names); the first otherwise.
const PeerKind& peer_kind(const std::string& name);

// The peer, loaded here and switched through a link of its own in "peer" windows.
struct PeerArm {
  std::unique_ptr<peer_bpf, void (*)(peer_bpf*)> skel{nullptr, peer_bpf::destroy};
  std::optional<ProgramSwitch> programs;
  ProgInfo info;
  const PeerKind* kind = nullptr;
};
std::optional<PeerArm> load_peer(const std::string& kind_name, SeenObjects& seen);

}  // namespace tcpconnect::bench
