#include "arms.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/net.h"
#include "dns/dns_capture.h"
#include "dns/dns_layer.h"
#include "metrics/label_renderer.h"

namespace tcpconnect::bench {
namespace {

// The connect probe as the daemon loads it, by the daemon's own code, from the config: its
// own link closed at once, its program kept through `prog`, as attached by `backend`.
struct LoadedProbe {
  UniqueFd prog;
  ProbeBackend backend;
};

std::optional<LoadedProbe> load_probe(const Config& c, ProbeBackend backend, const char* what) {
  ConnectProbe::Options probe_options{backend, c.probes.max_entries};
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

// The DNS program the "on" arm switches, with the cgroup it attaches to.
struct SwitchedDns {
  UniqueFd prog, cgroup;
  std::optional<ProgInfo> info;
};

// What the running daemon reports of its probes on /metrics.
struct DaemonProbe {
  ProbeBackend backend = ProbeBackend::kTracepoint;
  std::string backend_name, dns_method;
  ProgInfo prog;
};

std::optional<DaemonProbe> start_daemon(const ToggleOptions& o, ExporterProcess& daemon) {
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
  DaemonProbe p;
  p.backend_name = metric_label(*body, "tcpconnect_probe_info", "backend");
  p.dns_method = metric_label(*body, "tcpconnect_dns_capture_info", "method");
  if (p.backend_name == "tp_btf") p.backend = ProbeBackend::kTpBtf;
  if (p.backend_name == "raw_tp") p.backend = ProbeBackend::kRawTp;
  const std::string connect_id = probe_program_id(*body);
  if (connect_id.empty() || p.backend_name.empty()) {
    std::fprintf(stderr, "toggle_bench: no tcpconnect_probe_info with an id and a backend\n");
    return std::nullopt;
  }
  auto info = prog_info_by_id(std::stoul(connect_id));
  if (!info) {
    std::fprintf(stderr, "toggle_bench: cannot open program %s\n", connect_id.c_str());
    return std::nullopt;
  }
  p.prog = *info;
  std::printf("daemon: pid %d, %s, connect probe %s (program %s, id %u), DNS capture %s\n",
              daemon.pid(), o.config.c_str(), p.backend_name.c_str(), p.prog.name.c_str(),
              p.prog.id, p.dns_method.c_str());
  return p;
}

// The daemon's links: its connect link (the program of probe_info) and its DNS link
// (cgroup inet ingress).
struct DaemonLinks {
  std::optional<LinkInfo> connect, dns;
};

DaemonLinks daemon_links(pid_t pid, uint32_t connect_prog_id, SeenObjects& seen) {
  DaemonLinks out;
  for (uint32_t id : links_of_process(pid)) {
    auto l = link_by_id(id);
    if (!l) continue;
    seen.links.push_back(id);
    seen.progs.push_back(l->info.prog_id);
    std::printf("daemon link %u: type %u, program %u\n", id, l->info.type, l->info.prog_id);
    if (l->info.prog_id == connect_prog_id)
      out.connect = std::move(l);
    else if (l->info.type == BPF_LINK_TYPE_CGROUP &&
             l->info.cgroup.attach_type == BPF_CGROUP_INET_INGRESS)
      out.dns = std::move(l);
  }
  return out;
}

// The daemon's DNS program, its link detached, to be attached through ours when on.
std::optional<SwitchedDns> take_dns_program(const LinkInfo& dns_link) {
  SwitchedDns d;
  d.prog.reset(bpf_prog_get_fd_by_id(dns_link.info.prog_id));
  d.info = d.prog ? prog_info(d.prog.get()) : std::nullopt;
  Cgroup2Root root = open_cgroup2_root();
  if (!d.info || !root.fd) {
    std::fprintf(stderr, "toggle_bench: cannot open the DNS program or the cgroup2 mount\n");
    return std::nullopt;
  }
  d.cgroup = std::move(root.fd);
  struct stat st {};
  if (fstat(d.cgroup.get(), &st) != 0 || st.st_ino != dns_link.info.cgroup.cgroup_id) {
    std::fprintf(stderr, "toggle_bench: the daemon's DNS link is not on %s\n", root.path.c_str());
    return std::nullopt;
  }
  if (int err = bpf_link_detach(dns_link.fd.get())) {
    std::fprintf(stderr, "toggle_bench: detaching the daemon's DNS link: %s\n",
                 std::strerror(-err));
    return std::nullopt;
  }
  std::printf(
      "DNS program %s (id %u): the daemon's link %u detached; switched through links of this "
      "process on %s\n",
      d.info->name.c_str(), d.info->id, dns_link.info.id, root.path.c_str());
  return d;
}

// A second instance of the daemon's connect probe, loaded here from the same config and
// checked to be the same program with the same constants and settings.
std::optional<std::pair<UniqueFd, ProgInfo>> second_instance(const Config& c,
                                                             const DaemonProbe& daemon,
                                                             const LinkInfo& link, int detach_err,
                                                             SeenObjects& seen) {
  auto probe = load_probe(c, daemon.backend, "the second instance");
  if (!probe) return std::nullopt;
  auto info = probe->prog ? prog_info(probe->prog.get()) : std::nullopt;
  if (!info) {
    std::fprintf(stderr, "toggle_bench: cannot keep the second instance's program\n");
    return std::nullopt;
  }
  const std::string diff = differences(daemon.prog, *info);
  std::printf(
      "connect program: the daemon's link %u cannot be detached from here (BPF_LINK_DETACH: "
      "%s); switching a second instance, program id %u, %s\n",
      link.info.id, std::strerror(-detach_err), info->id,
      diff.empty()
          ? ("same as the daemon's: tag " + info->tag + ", same constants and settings").c_str()
          : ("DIFFERS from the daemon's:" + diff).c_str());
  seen.progs.push_back(info->id);
  return std::make_pair(std::move(probe->prog), *info);
}

// --alone's DNS program: the cgroup_skb capture loaded by the daemon's own code, its link
// closed, its ingress program kept.
std::optional<SwitchedDns> load_alone_dns(const Config& c, SeenObjects& seen) {
  DnsCaptureOptions capture_options = DnsLayer::options_from(c.dns).capture;
  capture_options.method = DnsCapture::kCgroupSkb;
  auto capture = open_cgroup_skb_capture(capture_options, [](const DnsPacket&) {});
  if (!capture) {
    std::fprintf(stderr, "toggle_bench: loading the DNS capture: %s\n",
                 capture.error().message.c_str());
    return std::nullopt;
  }
  SwitchedDns d;
  for (uint32_t id : links_of_process(getpid())) {
    auto l = link_by_id(id);
    if (l && l->info.type == BPF_LINK_TYPE_CGROUP &&
        l->info.cgroup.attach_type == BPF_CGROUP_INET_INGRESS)
      d.prog.reset(bpf_prog_get_fd_by_id(l->info.prog_id));
  }
  capture.value().reset();  // its link goes; the program lives on through our fd
  d.info = d.prog ? prog_info(d.prog.get()) : std::nullopt;
  Cgroup2Root root = open_cgroup2_root();
  if (!d.info || !root.fd) {
    std::fprintf(stderr, "toggle_bench: cannot keep the DNS program or open cgroup2\n");
    return std::nullopt;
  }
  d.cgroup = std::move(root.fd);
  seen.progs.push_back(d.info->id);
  std::printf("DNS program %s (id %u): loaded here, switched through links of this process on %s\n",
              d.info->name.c_str(), d.info->id, root.path.c_str());
  return d;
}

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

}  // namespace

std::optional<OnArm> daemon_arm(const ToggleOptions& o, const Config& c, ExporterProcess& daemon,
                                SeenObjects& seen) {
  auto probe = start_daemon(o, daemon);
  if (!probe) return std::nullopt;
  seen.progs.push_back(probe->prog.id);
  DaemonLinks links = daemon_links(daemon.pid(), probe->prog.id, seen);
  if (!links.connect) {
    std::fprintf(stderr, "toggle_bench: no link of the daemon runs program %u\n", probe->prog.id);
    return std::nullopt;
  }
  if (probe->dns_method == "cgroup_skb" && !links.dns) {
    std::fprintf(stderr,
                 "toggle_bench: the daemon captures DNS with cgroup_skb, but none of its links "
                 "is a cgroup ingress one\n");
    return std::nullopt;
  }
  SwitchedDns dns;
  if (links.dns) {
    auto taken = take_dns_program(*links.dns);
    if (!taken) return std::nullopt;
    dns = std::move(*taken);
  }
  OnArm arm;
  UniqueFd switched_prog;
  const int detach_err = bpf_link_detach(links.connect->fd.get());
  if (detach_err == 0) {
    arm.mode = "takeover";
    switched_prog.reset(bpf_prog_get_fd_by_id(probe->prog.id));
    arm.connect = probe->prog;
    std::printf("connect program: the daemon's link %u detached (takeover)\n",
                links.connect->info.id);
  } else {
    auto second = second_instance(c, *probe, *links.connect, detach_err, seen);
    if (!second) return std::nullopt;
    arm.mode = "second_instance";
    switched_prog = std::move(second->first);
    arm.connect = second->second;
    arm.daemon_connect = probe->prog;
  }
  arm.dns = dns.info;
  arm.programs.emplace(std::move(switched_prog), probe->backend, std::move(dns.prog),
                       std::move(dns.cgroup));
  return arm;
}

std::optional<OnArm> alone_arm(const Config& c, SeenObjects& seen) {
  OnArm arm;
  arm.mode = "alone";
  if (c.dns.enabled && c.dns.capture == DnsCapture::kPacketSocket) {
    std::fprintf(stderr,
                 "toggle_bench: alone switches the cgroup_skb DNS capture only; this config asks "
                 "for packet_socket\n");
    return std::nullopt;
  }
  SwitchedDns dns;
  if (c.dns.enabled) {
    auto loaded = load_alone_dns(c, seen);
    if (!loaded) return std::nullopt;
    dns = std::move(*loaded);
  }
  auto probe = load_probe(c, c.probes.backend, "the connect probe");
  if (!probe) return std::nullopt;
  auto connect = probe->prog ? prog_info(probe->prog.get()) : std::nullopt;
  if (!connect) {
    std::fprintf(stderr, "toggle_bench: cannot keep the connect probe's program\n");
    return std::nullopt;
  }
  arm.connect = *connect;
  arm.dns = dns.info;
  seen.progs.push_back(connect->id);
  std::printf("connect program %s (id %u, %s): loaded here from the config, switched alone\n",
              connect->name.c_str(), connect->id, std::string(to_string(probe->backend)).c_str());
  arm.programs.emplace(std::move(probe->prog), probe->backend, std::move(dns.prog),
                       std::move(dns.cgroup));
  return arm;
}

std::vector<std::string> peer_kind_names() {
  std::vector<std::string> names;
  for (const PeerKind& k : peer_kinds()) names.push_back(k.name);
  return names;
}

const PeerKind& peer_kind(const std::string& name) {
  for (const PeerKind& k : peer_kinds())
    if (k.name == name) return k;
  return peer_kinds().front();
}

std::optional<PeerArm> load_peer(const std::string& kind_name, SeenObjects& seen) {
  PeerArm peer;
  peer.kind = &peer_kind(kind_name);
  peer.skel.reset(peer_bpf::open_and_load());
  UniqueFd prog(peer.skel ? dup(bpf_program__fd(peer.kind->program(peer.skel.get()))) : -1);
  auto info = prog ? prog_info(prog.get()) : std::nullopt;
  Cgroup2Root root = peer.kind->on_cgroup ? open_cgroup2_root() : Cgroup2Root{};
  if (!info || (peer.kind->on_cgroup && !root.fd)) {
    std::fprintf(stderr, "toggle_bench: cannot load the peer program (or open cgroup2)\n");
    return std::nullopt;
  }
  peer.info = *info;
  if (peer.kind->on_cgroup)
    peer.programs.emplace(UniqueFd(), peer.kind->backend, std::move(prog), std::move(root.fd));
  else
    peer.programs.emplace(std::move(prog), peer.kind->backend, UniqueFd(), UniqueFd());
  if (std::string err = peer.programs->prepare(); !err.empty()) {
    std::fprintf(stderr, "toggle_bench: the peer: %s\n", err.c_str());
    return std::nullopt;
  }
  seen.progs.push_back(peer.info.id);
  std::printf("peer: program %s (id %u, tag %s) %s, switched in \"peer\" windows\n",
              peer.info.name.c_str(), peer.info.id, peer.info.tag.c_str(), peer.kind->where);
  return peer;
}

}  // namespace tcpconnect::bench
