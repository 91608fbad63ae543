// The fallback capture: an AF_PACKET socket on every interface with a classic BPF
// filter, for hosts without a usable cgroup2 hierarchy. Classic BPF needs no bpf()
// permission and no verifier, so this works wherever a raw socket can be opened.
//
// A tap sees a loopback packet twice, leaving (PACKET_OUTGOING) and arriving
// (PACKET_HOST); the filter keeps queries leaving (to a DNS port) and responses
// arriving (from one), so each is parsed once. Every DNS packet of the namespace is
// read, not only those of sockets that asked: the daemon's matching of responses to
// queries is the only check here. It sees the daemon's network namespace only, and packets before
// reassembly (a first UDP fragment is kept: its answers are salvaged like a capture cut short).
// Classic BPF cannot walk IPv6 extension headers: the filter passes every IPv6 packet that has any
// (rare: hop-by-hop options, routing, fragments), and the poll walks them and checks the
// source port itself.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dns/dns_cache.h"
#include "dns/dns_capture.h"
#include "shared/dns.h"
#include "util/clock.h"
#include "util/unique_fd.h"

namespace tcpconnect {
namespace {

// Room for the network and transport headers in front of the captured payload, and for
// IPv6 extension headers besides where there are some.
constexpr uint32_t kHeaderRoom = 60 + 60;
constexpr uint32_t kExtHeaderRoom = 256;
constexpr unsigned kBatch = 32;

// A few lines of classic BPF with symbolic jump targets.
class FilterBuilder {
 public:
  void label(const std::string& name) { labels_[name] = code_.size(); }
  void stmt(uint16_t code, uint32_t k) { add(code, k, "", ""); }
  // Conditional jump: "" means the next instruction.
  void jump(uint16_t code, uint32_t k, const std::string& jt, const std::string& jf) {
    add(code, k, jt, jf);
  }
  void ja(const std::string& target) { add(BPF_JMP | BPF_JA, 0, target, ""); }

  std::vector<sock_filter> build() const {
    std::vector<sock_filter> out;
    for (size_t i = 0; i < code_.size(); ++i) {
      const Insn& in = code_[i];
      auto rel = [&](const std::string& l) -> uint32_t {
        return l.empty() ? 0 : static_cast<uint32_t>(labels_.at(l) - i - 1);
      };
      sock_filter f{in.code, 0, 0, in.k};
      if (in.code == (BPF_JMP | BPF_JA)) {
        f.k = rel(in.jt);
      } else if (BPF_CLASS(in.code) == BPF_JMP) {
        f.jt = static_cast<uint8_t>(rel(in.jt));
        f.jf = static_cast<uint8_t>(rel(in.jf));
      }
      out.push_back(f);
    }
    return out;
  }

 private:
  struct Insn {
    uint16_t code;
    uint32_t k;
    std::string jt, jf;
  };
  void add(uint16_t code, uint32_t k, const std::string& jt, const std::string& jf) {
    code_.push_back(Insn{code, k, jt, jf});
  }
  std::vector<Insn> code_;
  std::map<std::string, size_t> labels_;
};

// IPv4/IPv6 UDP/TCP, not a later fragment: incoming (PACKET_HOST) from one of the ports,
// or outgoing (PACKET_OUTGOING) to one; keeps the headers and capture_bytes of payload.
// IPv6 with extension headers is kept whatever its ports, with room for those headers.
// Offsets are from the network header (SOCK_DGRAM). M[0] holds where the port checked
// sits in the transport header: 0 (source) arriving, 2 (destination) leaving.
std::vector<sock_filter> dns_filter(const std::vector<uint16_t>& ports, uint32_t capture_bytes) {
  FilterBuilder b;
  b.stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, "arriving", "");
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, "", "reject");
  b.stmt(BPF_LD | BPF_IMM, 2);
  b.ja("direction");
  b.label("arriving");
  b.stmt(BPF_LD | BPF_IMM, 0);
  b.label("direction");
  b.stmt(BPF_ST, 0);
  b.stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, "v4", "");
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, "v6", "reject");
  b.label("v4");
  b.stmt(BPF_LD | BPF_B | BPF_ABS, 9);
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, "v4_frag", "");
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, "v4_frag", "reject");
  b.label("v4_frag");
  b.stmt(BPF_LD | BPF_H | BPF_ABS, 6);
  b.jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, "reject", "");
  b.stmt(BPF_LDX | BPF_B | BPF_MSH, 0);
  b.stmt(BPF_MISC | BPF_TXA, 0);
  b.stmt(BPF_LDX | BPF_MEM, 0);
  b.stmt(BPF_ALU | BPF_ADD | BPF_X, 0);
  b.stmt(BPF_MISC | BPF_TAX, 0);
  b.stmt(BPF_LD | BPF_H | BPF_IND, 0);
  b.ja("ports");
  b.label("v6");
  b.stmt(BPF_LD | BPF_B | BPF_ABS, 6);
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, "v6_ports", "");
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, "v6_ports", "");
  for (uint32_t ext : {TC_DNS_NEXTHDR_HOP, TC_DNS_NEXTHDR_ROUTING, TC_DNS_NEXTHDR_FRAGMENT,
                       TC_DNS_NEXTHDR_AUTH, TC_DNS_NEXTHDR_DEST})
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, ext, "accept_ext", "");
  b.ja("reject");
  b.label("v6_ports");
  b.stmt(BPF_LDX | BPF_MEM, 0);
  b.stmt(BPF_LD | BPF_H | BPF_IND, 40);
  b.label("ports");
  for (size_t i = 0; i < ports.size(); ++i)
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, ports[i], "accept", i + 1 == ports.size() ? "reject" : "");
  b.label("accept");
  b.stmt(BPF_RET | BPF_K, kHeaderRoom + capture_bytes);
  b.label("accept_ext");
  b.stmt(BPF_RET | BPF_K, kHeaderRoom + kExtHeaderRoom + capture_bytes);
  b.label("reject");
  b.stmt(BPF_RET | BPF_K, 0);
  return b.build();
}

std::string errno_text(const std::string& step, int err) {
  std::string msg = step + ": " + std::strerror(err);
  if ((err == EPERM || err == EACCES) && geteuid() != 0) msg += " (needs CAP_NET_RAW)";
  return msg;
}

class PacketSocketCapture final : public DnsCaptureSource {
 public:
  static Result<std::unique_ptr<DnsCaptureSource>> open(const DnsCaptureOptions& options,
                                                        Sink sink);

  DnsCapture method() const override { return DnsCapture::kPacketSocket; }
  Result<size_t> poll(size_t max_packets) override;
  int wait_fd() const override { return fd_.get(); }
  DnsCaptureCounters counters() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
  }
  std::string describe() const override {
    return "AF_PACKET socket on all interfaces of this network namespace (classic BPF filter)";
  }

 private:
  PacketSocketCapture(UniqueFd fd, Sink sink, const DnsCaptureOptions& options)
      : fd_(std::move(fd)),
        sink_(std::move(sink)),
        ports_(options.ports),
        capture_bytes_(options.capture_bytes),
        snaplen_(kHeaderRoom + kExtHeaderRoom + options.capture_bytes) {}

  struct Batch;
  // One packet recvmmsg() returned: decoded, checked and handed to the sink.
  void take(mmsghdr& msg, const sockaddr_ll& from, int64_t realtime_minus_mono);
  // Drops since the last read (the kernel resets the statistics on read).
  void count_drops();

  UniqueFd fd_;
  Sink sink_;
  std::vector<uint16_t> ports_;
  uint64_t netns_ = 0;  // the cookie of the one namespace this socket sees
  uint32_t capture_bytes_;
  uint32_t snaplen_;
  mutable std::mutex mu_;
  DnsCaptureCounters counters_;
};

Result<std::unique_ptr<DnsCaptureSource>> PacketSocketCapture::open(
    const DnsCaptureOptions& options, Sink sink) {
  // Protocol 0: nothing is queued until bind(), so no packet slips in before the filter.
  int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{errno_text("opening an AF_PACKET socket", errno), errno};
  std::unique_ptr<PacketSocketCapture> c(
      new PacketSocketCapture(UniqueFd(fd), std::move(sink), options));

  std::vector<sock_filter> code = dns_filter(options.ports, options.capture_bytes);
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
    return Error{errno_text("attaching the socket filter", errno), errno};
  // A socket buffer is charged each packet's kernel overhead (about 2 KiB per loopback
  // packet), not its payload as the ring is: 4x the ring's size holds as many responses
  // (measured: tests/bench/dns/dns_flood_bench, docs/benchmarks.md).
  int rcvbuf = static_cast<int>(std::min<uint64_t>(4ull * options.ring_bytes, 1u << 30));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) != 0)
    return Error{errno_text("PACKET_AUXDATA", errno), errno};

  // Every packet is of the socket's own network namespace (kernel 5.14+ says which; an
  // older one leaves 0, which names nothing unless dns.scope is host).
  socklen_t cookie_len = sizeof(c->netns_);
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c->netns_, &cookie_len) != 0) {
    spdlog::warn(
        "DNS capture: SO_NETNS_COOKIE: {}; names scoped to the network namespace "
        "will not match",
        std::strerror(errno));
    c->netns_ = 0;
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = 0;  // every interface
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0)
    return Error{errno_text("binding the AF_PACKET socket", errno), errno};
  return std::unique_ptr<DnsCaptureSource>(std::move(c));
}

// Buffers for one recvmmsg() of up to kBatch packets.
struct PacketSocketCapture::Batch {
  static constexpr size_t kControl =
      CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(tpacket_auxdata));

  explicit Batch(uint32_t snaplen)
      : snaplen(snaplen), bufs(static_cast<size_t>(kBatch) * snaplen) {}

  // recvmmsg() overwrites the lengths: they are set again before each call.
  void reset() {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {bufs.data() + static_cast<size_t>(i) * snaplen, snaplen};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i].data();
      msgs[i].msg_hdr.msg_controllen = control[i].size();
    }
  }

  uint32_t snaplen;
  std::vector<uint8_t> bufs;
  std::array<std::array<uint8_t, kControl>, kBatch> control{};
  std::array<sockaddr_ll, kBatch> from{};
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
};

Result<size_t> PacketSocketCapture::poll(size_t max_packets) {
  std::lock_guard<std::mutex> lock(mu_);
  // Socket timestamps are CLOCK_REALTIME; the cache and the kernel's connects use
  // CLOCK_MONOTONIC.
  const int64_t realtime_minus_mono =
      static_cast<int64_t>(realtime_ns()) - static_cast<int64_t>(monotonic_ns());
  Batch batch(snaplen_);
  size_t read = 0;
  int err = 0;
  // A flood cannot keep one poll running: the rest waits in the socket buffer.
  while (read < max_packets) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(kBatch, max_packets - read));
    batch.reset();
    int n = recvmmsg(fd_.get(), batch.msgs.data(), want, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) err = errno;
      break;
    }
    read += static_cast<size_t>(n);
    for (int i = 0; i < n; ++i) take(batch.msgs[i], batch.from[i], realtime_minus_mono);
    if (static_cast<unsigned>(n) < want) break;
  }
  count_drops();
  if (err) return Error{errno_text("reading the AF_PACKET socket", err), err};
  return read;
}

void PacketSocketCapture::take(mmsghdr& msg, const sockaddr_ll& from, int64_t realtime_minus_mono) {
  // The filter already says so.
  const bool leaving = from.sll_pkttype == PACKET_OUTGOING;
  if (!leaving && from.sll_pkttype != PACKET_HOST) return;
  const uint8_t* data = static_cast<const uint8_t*>(msg.msg_hdr.msg_iov[0].iov_base);
  size_t len = msg.msg_len;
  size_t wire_len = len;
  uint64_t ts = 0;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg.msg_hdr); cm; cm = CMSG_NXTHDR(&msg.msg_hdr, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
      timespec t;
      std::memcpy(&t, CMSG_DATA(cm), sizeof(t));
      ts = static_cast<uint64_t>(static_cast<int64_t>(t.tv_sec) * 1000000000ll + t.tv_nsec -
                                 realtime_minus_mono);
    } else if (cm->cmsg_level == SOL_PACKET && cm->cmsg_type == PACKET_AUXDATA) {
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
      wire_len = std::max<size_t>(len, aux.tp_len);
    }
  }
  IpDecodeFailure why{};
  auto packet = decode_ip_packet(data, len, wire_len, capture_bytes_, &why);
  if (!packet) {
    if (why == IpDecodeFailure::kIpv6ExtHeaders)
      ++counters_.skipped_ipv6_ext;
    else if (why == IpDecodeFailure::kUnreadable)
      ++counters_.unreadable;
    return;
  }
  // The filter checked the port of every packet but those with IPv6 extension headers.
  const uint16_t port = leaving ? packet->dport : packet->sport;
  if (std::find(ports_.begin(), ports_.end(), port) == ports_.end()) return;
  packet->query = leaving;
  packet->netns = netns_;
  packet->ts_ns = ts ? ts : monotonic_ns();
  ++counters_.captured;
  try {
    sink_(*packet);
  } catch (const std::exception& e) {
    spdlog::warn("DNS capture: dropping a packet: {}", e.what());
  }
}

void PacketSocketCapture::count_drops() {
  tpacket_stats st{};
  socklen_t sl = sizeof(st);
  if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
    counters_.lost += st.tp_drops;
}

}  // namespace

Result<std::unique_ptr<DnsCaptureSource>> open_packet_socket_capture(
    const DnsCaptureOptions& options, DnsCaptureSource::Sink sink) {
  return PacketSocketCapture::open(options, std::move(sink));
}

}  // namespace tcpconnect
