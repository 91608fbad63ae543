#include "dns/dns_capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/types.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "bpf/bpf_failure.h"
#include "bpf/libbpf_owners.h"
#include "bpf/percpu_map.h"
#include "dns.skel.h"
#include "probes/cgroup_fs.h"
#include "shared/dns.h"
#include "util/unique_fd.h"

namespace tcpconnect {
namespace {

std::string explain(const std::string& step, int err) {
  return explain_bpf_failure(step, err, {"CAP_BPF and CAP_NET_ADMIN"});
}

class CgroupSkbCapture final : public DnsCaptureSource {
 public:
  using Skel = SkeletonPtr<dns_bpf>;
  using Ring = RingBufferPtr;

  // method: kCgroupSkb (the packet programs) or kFentry (the socket-call programs).
  static Result<std::unique_ptr<DnsCaptureSource>> open(const DnsCaptureOptions& options, Sink sink,
                                                        DnsCapture method);
  ~CgroupSkbCapture() override { spdlog::debug("detaching the DNS capture from {}", cgroup_); }

  DnsCapture method() const override { return method_; }
  Result<size_t> poll(size_t max_packets) override;
  int wait_fd() const override { return ring_buffer__epoll_fd(ring_.get()); }
  DnsCaptureCounters counters() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
  }
  std::string describe() const override {
    if (method_ == DnsCapture::kFentry)
      return "fentry on udp_sendmsg, udpv6_sendmsg and skb_consume_udp, UDP only (answer "
             "program id " +
             std::to_string(prog_id_) + ", query program id " + std::to_string(egress_prog_id_) +
             ")";
    return "cgroup_skb/ingress+egress and cgroup/connect4|6+sendmsg4|6 on " + cgroup_ +
           " (ingress program id " + std::to_string(prog_id_) + ", egress program id " +
           std::to_string(egress_prog_id_) + ")";
  }

 private:
  CgroupSkbCapture(Skel skel, Sink sink, std::string cgroup, DnsCapture method)
      : skel_(std::move(skel)),
        sink_(std::move(sink)),
        cgroup_(std::move(cgroup)),
        method_(method) {}
  static Result<std::string> cgroup_root(const DnsCaptureOptions& options);
  static Status attach_cgroup(dns_bpf& skel, const std::string& cgroup);
  static Status attach_tracing(dns_bpf& skel);
  static int on_event(void* ctx, void* data, size_t size);
  // What on_event returns once a poll's budget is spent: libbpf then stores the consumer
  // position past that event and returns this from ring_buffer__consume().
  static constexpr int kBudgetSpent = -ECANCELED;

  Skel skel_;
  Ring ring_;
  Sink sink_;
  std::string cgroup_;
  DnsCapture method_;
  uint32_t prog_id_ = 0;
  uint32_t egress_prog_id_ = 0;
  mutable std::mutex mu_;  // one poll at a time; guards counters_
  size_t consumed_ = 0;
  size_t read_ = 0;    // events taken off the ring in this poll, malformed ones included
  size_t budget_ = 0;  // at most this many per poll
  uint64_t malformed_ = 0;
  DnsCaptureCounters counters_;
};

int CgroupSkbCapture::on_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<CgroupSkbCapture*>(ctx);
  // No exception may cross libbpf's C frames.
  try {
    auto packet = decode_ring_event(data, size);
    if (!packet) {
      ++self->malformed_;
    } else {
      ++self->consumed_;
      self->sink_(*packet);
    }
  } catch (const std::exception& e) {
    spdlog::warn("DNS capture: dropping an event: {}", e.what());
  } catch (...) {
    spdlog::warn("DNS capture: dropping an event");
  }
  return ++self->read_ >= self->budget_ ? kBudgetSpent : 0;
}

Result<size_t> CgroupSkbCapture::poll(size_t max_packets) {
  std::lock_guard<std::mutex> lock(mu_);
  consumed_ = 0;
  read_ = 0;
  budget_ = max_packets;
  // libbpf 1.1 has no ring_buffer__consume_n(): the budget is on_event's to enforce.
  int n = max_packets > 0 ? ring_buffer__consume(ring_.get()) : 0;
  if (n < 0 && n != kBudgetSpent) return Error{explain("consuming the DNS ring", n), -n};
  auto v = PercpuMapReader::read_array(bpf_map__fd(skel_->maps.dns_counters), TC_DNS_COUNTER_MAX);
  if (!v) return v.error();
  counters_.lost = v.value()[TC_DNS_LOST];
  counters_.skipped_ipv6_ext = v.value()[TC_DNS_SKIP_IPV6_EXT];
  counters_.unreadable = v.value()[TC_DNS_SKIP_UNREADABLE] + malformed_;
  counters_.unsolicited = v.value()[TC_DNS_UNSOLICITED];
  counters_.captured += consumed_;
  return read_;
}

Result<std::string> CgroupSkbCapture::cgroup_root(const DnsCaptureOptions& options) {
  if (!options.cgroup_path.empty()) return options.cgroup_path;
  // The hierarchy's root, also from inside a container's own cgroup namespace (a bind
  // mount of the host's hierarchy): a program attached below it sees only its sub-tree.
  auto found = find_cgroup2_mount();
  if (!found) return found.error();
  if (found.value().root != "/")
    spdlog::warn(
        "DNS capture: {} is not the cgroup2 hierarchy's root: only the sockets of "
        "cgroups below it are seen (mount the host's /sys/fs/cgroup)",
        found.value().mount_point);
  return found.value().mount_point;
}

// The marks first, so that no query is sent unmarked once the packet programs run.
namespace {

// Attaches each program in order, its link kept in the skeleton (destroyed with it); the
// first refusal is explained, `where` following the program's section name.
template <size_t N, typename Attach>
Status attach_each(const std::pair<bpf_program*, bpf_link**> (&programs)[N], Attach attach,
                   const std::string& where) {
  for (const auto& [prog, link] : programs) {
    *link = attach(prog);
    if (!*link) {
      const int attach_err = errno;
      return Error{
          explain(std::string("attaching ") + bpf_program__section_name(prog) + where, attach_err),
          attach_err};
    }
  }
  return Ok{};
}

}  // namespace

Status CgroupSkbCapture::attach_cgroup(dns_bpf& skel, const std::string& cgroup) {
  const UniqueFd cg(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return Error{explain("opening " + cgroup, errno), errno};
  const std::pair<bpf_program*, bpf_link**> programs[] = {
      {skel.progs.tc_dns_connect4, &skel.links.tc_dns_connect4},
      {skel.progs.tc_dns_connect6, &skel.links.tc_dns_connect6},
      {skel.progs.tc_dns_sendmsg4, &skel.links.tc_dns_sendmsg4},
      {skel.progs.tc_dns_sendmsg6, &skel.links.tc_dns_sendmsg6},
      {skel.progs.tc_dns_egress, &skel.links.tc_dns_egress},
      {skel.progs.tc_dns_ingress, &skel.links.tc_dns_ingress},
  };
  return attach_each(
      programs, [&](bpf_program* prog) { return bpf_program__attach_cgroup(prog, cg.get()); },
      " to " + cgroup);
}

// The senders first (they mark the sockets the receivers capture for).
Status CgroupSkbCapture::attach_tracing(dns_bpf& skel) {
  const std::pair<bpf_program*, bpf_link**> programs[] = {
      {skel.progs.tc_dns_udp_sendmsg, &skel.links.tc_dns_udp_sendmsg},
      {skel.progs.tc_dns_udpv6_sendmsg, &skel.links.tc_dns_udpv6_sendmsg},
      {skel.progs.tc_dns_udp_recv, &skel.links.tc_dns_udp_recv},
  };
  return attach_each(programs, bpf_program__attach, "");
}

Result<std::unique_ptr<DnsCaptureSource>> CgroupSkbCapture::open(const DnsCaptureOptions& options,
                                                                 Sink sink, DnsCapture method) {
  const bool tracing = method == DnsCapture::kFentry;
  std::string cgroup;
  if (!tracing) {
    auto root = cgroup_root(options);
    if (!root) return root.error();
    cgroup = root.value();
  }

  // Open.
  Skel skel(dns_bpf::open());
  if (!skel) return Error{explain("opening the DNS BPF object", errno), errno};

  // Only one capture's programs are loaded: the other's may not load on this kernel
  // (fentry needs BTF and a trampoline; cgroup_skb a cgroup2 hierarchy).
  bpf_program* cgroup_programs[] = {skel->progs.tc_dns_connect4, skel->progs.tc_dns_connect6,
                                    skel->progs.tc_dns_sendmsg4, skel->progs.tc_dns_sendmsg6,
                                    skel->progs.tc_dns_egress,   skel->progs.tc_dns_ingress};
  bpf_program* tracing_programs[] = {skel->progs.tc_dns_udp_sendmsg,
                                     skel->progs.tc_dns_udpv6_sendmsg, skel->progs.tc_dns_udp_recv};
  for (bpf_program* p : cgroup_programs) bpf_program__set_autoload(p, !tracing);
  for (bpf_program* p : tracing_programs) bpf_program__set_autoload(p, tracing);

  // Set the read-only configuration and size the ring before load.
  auto* ro = skel->rodata;
  ro->nports = static_cast<__u32>(options.ports.size());
  for (size_t i = 0; i < options.ports.size() && i < TC_DNS_MAX_PORTS; ++i)
    ro->ports[i] = options.ports[i];
  ro->capture_bytes = options.capture_bytes;
  // Woken once a quarter of the ring is used: a flood cannot fill it between two polls,
  // and quiet traffic costs no wakeups at all.
  ro->wakeup_bytes = options.ring_bytes / 4;
  if (int err = bpf_map__set_max_entries(skel->maps.dns_events, options.ring_bytes))
    return Error{explain("sizing the DNS ring", err), -err};

  // Load: the verifier runs here.
  if (int err = dns_bpf::load(skel.get()))
    return Error{explain("loading the DNS program", err), -err};

  // Attach: to the cgroup2 root (every socket of every cgroup below it), or to the
  // kernel's socket calls.
  auto attached = tracing ? attach_tracing(*skel) : attach_cgroup(*skel, cgroup);
  if (!attached) return attached.error();

  std::unique_ptr<CgroupSkbCapture> c(
      new CgroupSkbCapture(std::move(skel), std::move(sink), cgroup, method));
  c->ring_.reset(ring_buffer__new(bpf_map__fd(c->skel_->maps.dns_events),
                                  &CgroupSkbCapture::on_event, c.get(), nullptr));
  if (!c->ring_) return Error{explain("opening the DNS ring", errno), errno};
  auto id_of = [](const bpf_program* prog) -> uint32_t {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0 ? info.id : 0;
  };
  c->prog_id_ = id_of(tracing ? c->skel_->progs.tc_dns_udp_recv : c->skel_->progs.tc_dns_ingress);
  c->egress_prog_id_ =
      id_of(tracing ? c->skel_->progs.tc_dns_udp_sendmsg : c->skel_->progs.tc_dns_egress);
  return std::unique_ptr<DnsCaptureSource>(std::move(c));
}

}  // namespace

Result<std::unique_ptr<DnsCaptureSource>> open_cgroup_skb_capture(const DnsCaptureOptions& options,
                                                                  DnsCaptureSource::Sink sink) {
  return CgroupSkbCapture::open(options, std::move(sink), DnsCapture::kCgroupSkb);
}

Result<std::unique_ptr<DnsCaptureSource>> open_fentry_capture(const DnsCaptureOptions& options,
                                                              DnsCaptureSource::Sink sink) {
  return CgroupSkbCapture::open(options, std::move(sink), DnsCapture::kFentry);
}

Result<std::unique_ptr<DnsCaptureSource>> open_dns_capture(const DnsCaptureOptions& options,
                                                           DnsCaptureSource::Sink sink) {
  if (options.ports.empty() || options.ports.size() > TC_DNS_MAX_PORTS)
    return Error{"dns.ports: between 1 and " + std::to_string(TC_DNS_MAX_PORTS) + " ports"};
  if (options.capture_bytes < TC_DNS_MIN_CAPTURE || options.capture_bytes > TC_DNS_MAX_CAPTURE)
    return Error{"dns.capture_bytes: out of range"};
  switch (options.method) {
    case DnsCapture::kCgroupSkb:
      return open_cgroup_skb_capture(options, std::move(sink));
    case DnsCapture::kPacketSocket:
      return open_packet_socket_capture(options, std::move(sink));
    case DnsCapture::kFentry:
      return open_fentry_capture(options, std::move(sink));
    case DnsCapture::kAuto:
      break;
  }
  // Not fentry: it sees no TCP DNS, and it cannot read an answer's page frags (names
  // would be lost on hosts whose NICs leave the payload there). Explicit only.
  auto cg = open_cgroup_skb_capture(options, sink);
  if (cg) return cg;
  spdlog::info("DNS capture: cgroup_skb unavailable ({}); trying packet_socket",
               cg.error().message);
  auto ps = open_packet_socket_capture(options, std::move(sink));
  if (ps) return ps;
  return Error{"cgroup_skb: " + cg.error().message + "; packet_socket: " + ps.error().message,
               ps.error().errnum};
}

}  // namespace tcpconnect
