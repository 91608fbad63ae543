// Root only: the DNS capture (each method) on the running kernel, a real dnsmasq on
// loopback, real clients (glibc getaddrinfo and getent through dns_client, dig over UDP
// and TCP, IPv4 and IPv6), real connects counted by the real connect probe, and the
// dns_name label asserted on exact counts through a Drain and its SeriesStore. Also the
// attacks on names: a forged answer to a socket that asked nothing, and a tenant's own
// resolver in a network namespace of its own.
//
// The probe and the capture are global: assertions select by what only this test uses
// (its listeners' ephemeral ports, its names, 127.80.X.0/24 with X from the pid).
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "dns/capture_skip.h"
#include "dns/dns_layer.h"
#include "dns/dns_parser.h"
#include "dns/dns_testing.h"
#include "drain/drain.h"
#include "metrics/series_store.h"
#include "probes/connect_probe.h"
#include "util/clock.h"

namespace tcpconnect {
namespace {

using testing::connect_once;
using testing::Dnsmasq;
using testing::listen_tcp;
using testing::Listener;
using testing::run_shell;

// 127.80.X.n: addresses this process's names resolve to.
std::string answer_v4(int n) {
  return "127.80." + std::to_string(getpid() % 250 + 1) + "." + std::to_string(n);
}

std::vector<std::string> records() {
  return {"--host-record=one.tcx.test," + answer_v4(1),
          "--host-record=two.tcx.test," + answer_v4(2),
          "--host-record=edge.tcx.test," + answer_v4(3),
          "--cname=www.tcx.test,cdn.tcx.test",
          "--cname=cdn.tcx.test,edge.tcx.test",
          "--host-record=tcp.tcx.test," + answer_v4(4),
          "--host-record=getent.tcx.test," + answer_v4(5),
          "--host-record=v6udp.tcx.test," + answer_v4(6),
          "--host-record=v6tcp.tcx.test," + answer_v4(7),
          "--host-record=six.tcx.test,::1",
          "--host-record=ready.tcx.test,127.0.0.1"};
}

class DnsCaptureTest : public ::testing::TestWithParam<DnsCapture> {
 protected:
  static void SetUpTestSuite() {
    if (!testing::is_root() || run_shell("command -v dnsmasq") != 0) return;
    std::string error;
    Dnsmasq::Options v4;
    v4.listen = {testing::unique_loopback_v4()};
    v4.port = 53;  // glibc's resolver only speaks to port 53
    v4.records = records();
    v4.ready_name = "ready.tcx.test";
    dns4_ = Dnsmasq::start(v4, &error).release();
    if (!dns4_) setup_error_ = "dnsmasq on " + v4.listen[0] + ":53: " + error;
    Dnsmasq::Options v6 = v4;
    v6.listen = {"::1"};
    v6.port = testing::free_udp_tcp_port(AF_INET6, "::1");
    v6.ready_name = "";  // probed over IPv4 otherwise; ready once it answers below
    dns6_ = Dnsmasq::start(v6, &error).release();
    if (!dns6_) setup_error_ += " dnsmasq on [::1]: " + error;
    // A "server" that receives queries and never answers.
    silent_ip_ = testing::unique_loopback_v4(1);
    silent_port_ = testing::free_udp_tcp_port(AF_INET, silent_ip_);
    silent_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(silent_port_);
    inet_pton(AF_INET, silent_ip_.c_str(), &sa.sin_addr);
    if (silent_fd_ < 0 || bind(silent_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      setup_error_ += " silent UDP socket on " + silent_ip_;
  }
  static void TearDownTestSuite() {
    delete dns4_;
    delete dns6_;
    dns4_ = dns6_ = nullptr;
    if (silent_fd_ >= 0) close(silent_fd_);
    silent_fd_ = -1;
  }

  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    if (run_shell("command -v dnsmasq") != 0) GTEST_SKIP() << "dnsmasq is not installed";
    ASSERT_TRUE(dns4_ && dns6_ && setup_error_.empty()) << setup_error_;
    TCPCONNECT_SKIP_UNLESS_CAPTURE(GetParam());

    auto probe = ConnectProbe::attach(ConnectProbe::Options{});
    ASSERT_TRUE(probe) << probe.error().message;
    probe_ = std::move(probe).value();
    // Names are scoped to the network namespace of the lookup: connects keep theirs.
    ASSERT_TRUE(probe_->set_key_fields(TC_KEY_NETNS).ok());

    DnsLayer::Options o;
    o.capture.method = GetParam();
    o.capture.ports = {53, dns6_->port(), silent_port_};
    o.queries.timeout = kLookupTimeout;
    auto layer = DnsLayer::start(o);
    ASSERT_TRUE(layer) << layer.error().message;
    dns_ = std::move(layer).value();
    ASSERT_EQ(dns_->method(), GetParam());

    LabelsConfig labels;
    labels.keep = {Label::kDaddr, Label::kDport, Label::kDnsName};
    drain_ = std::make_unique<Drain>(
        *probe_, store_, labels,
        [this](uint64_t n, uint16_t f, const uint8_t(&a)[16]) { return dns_->name_of(n, f, a); });
    // As the daemon wires it: the ring is consumed before the counts are read, and the
    // connects are attributed once they are folded.
    drain_->set_before_read([this](DrainKind) { dns_->before_drain(); });
    drain_->set_after_fold([this](DrainKind) { dns_->attribute(); });
    drain_->set_track_destinations(true);
    dns_->set_destination_reader(
        [this](const DestinationVisitor& visit) { return drain_->destinations().take(visit); });
    drain_->set_stale_checker(
        [this](uint64_t n, uint16_t f, const uint8_t(&a)[16]) { return dns_->is_stale(n, f, a); });
    store_->set_stale_enabled(true);
    ASSERT_TRUE(drain_->run_once().ok());  // what happened before this test is folded
  }

  // Attempts per (daddr, dns_name) for one destination port, after a drain.
  std::map<std::pair<std::string, std::string>, uint64_t> named(uint16_t port) {
    EXPECT_TRUE(drain_->run_once().ok());
    std::map<std::pair<std::string, std::string>, uint64_t> out;
    store_->connects().for_each([&](const LabelValues* l, const ConnectCounts& c) {
      if (l && (*l)[1] == std::to_string(port)) out[{(*l)[0], (*l)[2]}] += c.attempts;
    });
    return out;
  }

  // Stale connect attempts per (daddr, dns_name) for one destination port, after a drain.
  std::map<std::pair<std::string, std::string>, uint64_t> stale(uint16_t port) {
    EXPECT_TRUE(drain_->run_once().ok());
    std::map<std::pair<std::string, std::string>, uint64_t> out;
    store_->stale().for_each([&](const LabelValues* l, const UnexpectedCounts& c) {
      if (l && (*l)[1] == std::to_string(port)) out[{(*l)[0], (*l)[2]}] += c.attempts;
    });
    return out;
  }

  std::string client(const std::string& args) {
    std::string out;
    int rc = run_shell(
        testing::dns_client_binary() + " --nameserver " + dns4_->address() + " " + args, &out);
    EXPECT_EQ(rc, 0) << args << ": " << out;
    return out;
  }

  static constexpr std::chrono::milliseconds kLookupTimeout{1000};
  static inline std::string silent_ip_;
  static inline uint16_t silent_port_ = 0;
  static inline int silent_fd_ = -1;
  static inline Dnsmasq* dns4_ = nullptr;
  static inline Dnsmasq* dns6_ = nullptr;
  static inline std::string setup_error_;
  std::unique_ptr<ConnectProbe> probe_;
  std::unique_ptr<DnsLayer> dns_;
  std::shared_ptr<SeriesStore> store_ = std::make_shared<SeriesStore>(100000);
  std::unique_ptr<Drain> drain_;
};

TEST_P(DnsCaptureTest, GetaddrinfoThenConnectIsNamed) {
  Listener l = listen_tcp(AF_INET, answer_v4(1));
  std::string out = client("--family inet --connect-port " + std::to_string(l.port) +
                           " resolve one.tcx.test one.tcx.test one.tcx.test");
  EXPECT_NE(out.find("one.tcx.test " + answer_v4(1) + " 0"), std::string::npos) << out;
  auto got = named(l.port);
  EXPECT_EQ(got, (std::map<std::pair<std::string, std::string>, uint64_t>{
                     {{answer_v4(1), "one.tcx.test"}, 3}}));
}

TEST_P(DnsCaptureTest, CnameChainNamesTheQuestion) {
  Listener l = listen_tcp(AF_INET, answer_v4(3));
  std::string out = client("--family inet --connect-port " + std::to_string(l.port) +
                           " resolve www.tcx.test www.tcx.test");
  EXPECT_NE(out.find(answer_v4(3)), std::string::npos) << out;
  auto got = named(l.port);
  EXPECT_EQ((got[{answer_v4(3), "www.tcx.test"}]), 2u);
  EXPECT_EQ(got.size(), 1u);
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET, answer_v4(3).c_str(), a.data());
  auto entry = dns_->cache().lookup(2, a, monotonic_ns(), testing::own_netns_cookie());
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->canonical, "edge.tcx.test");
}

TEST_P(DnsCaptureTest, AaaaOverGetaddrinfoNamesIpv6) {
  Listener l = listen_tcp(AF_INET6, "::1");
  std::string out =
      client("--family inet6 --connect-port " + std::to_string(l.port) + " resolve six.tcx.test");
  EXPECT_NE(out.find("six.tcx.test ::1 0"), std::string::npos) << out;
  auto got = named(l.port);
  EXPECT_EQ((got[{"::1", "six.tcx.test"}]), 1u);
  EXPECT_EQ(got.size(), 1u);
}

TEST_P(DnsCaptureTest, GetentThenConnect) {
  Listener l = listen_tcp(AF_INET, answer_v4(5));
  std::string out = client("exec -- getent ahostsv4 getent.tcx.test");
  EXPECT_NE(out.find(answer_v4(5)), std::string::npos) << out;
  ASSERT_EQ(connect_once(AF_INET, answer_v4(5), l.port), 0);
  ASSERT_EQ(connect_once(AF_INET, answer_v4(5), l.port), 0);
  auto got = named(l.port);
  EXPECT_EQ((got[{answer_v4(5), "getent.tcx.test"}]), 2u);
  EXPECT_EQ(got.size(), 1u);
}

TEST_P(DnsCaptureTest, DigOverTcpAndOverIpv6) {
  if (run_shell("command -v dig") != 0) GTEST_SKIP() << "dig is not installed (dnsutils)";
  struct Case {
    std::string server, port, name, flags;
    int answer;
  };
  const std::vector<Case> cases = {
      {dns4_->address(), "53", "tcp.tcx.test", "+tcp", 4},
      {"::1", std::to_string(dns6_->port()), "v6udp.tcx.test", "+notcp", 6},
      {"::1", std::to_string(dns6_->port()), "v6tcp.tcx.test", "+tcp", 7},
  };
  for (const Case& c : cases) {
    if (GetParam() == DnsCapture::kFentry && c.flags == "+tcp") continue;  // UDP only
    Listener l = listen_tcp(AF_INET, answer_v4(c.answer));
    std::string out;
    ASSERT_EQ(run_shell("dig +short +tries=1 +time=3 " + c.flags + " @" + c.server + " -p " +
                            c.port + " " + c.name + " A",
                        &out),
              0)
        << out;
    EXPECT_NE(out.find(answer_v4(c.answer)), std::string::npos) << c.name << ": " << out;
    ASSERT_EQ(connect_once(AF_INET, answer_v4(c.answer), l.port), 0);
    auto got = named(l.port);
    EXPECT_EQ((got[{answer_v4(c.answer), c.name}]), 1u) << c.name << " " << c.flags;
    EXPECT_EQ(got.size(), 1u) << c.name;
  }
}

TEST_P(DnsCaptureTest, CountsResponsesAndAttributions) {
  const DnsStats& s = dns_->stats();
  const size_t a = dns_qtype_slot(ns_t_a);
  const uint64_t noerror_before = s.responses[ns_r_noerror][a].load();
  const uint64_t nx_before = s.responses[ns_r_nxdomain][a].load();
  auto r1 = testing::dns_query(dns4_->address(), 53, "two.tcx.test", ns_t_a, false);
  auto r2 = testing::dns_query(dns4_->address(), 53, "missing.tcx.test", ns_t_a, false);
  // The fentry capture does not see TCP: a third lookup over UDP there.
  const bool tcp = GetParam() != DnsCapture::kFentry;
  auto r3 = testing::dns_query(dns4_->address(), 53, "two.tcx.test", ns_t_a, tcp);
  ASSERT_TRUE(r1 && r2 && r3);
  Listener l = listen_tcp(AF_INET, answer_v4(2));
  ASSERT_EQ(connect_once(AF_INET, answer_v4(2), l.port), 0);
  const DnsLayerState& st = dns_->state();
  // A scrape's drain consumes the capture but leaves attribution to the periodic one.
  const uint64_t hits_before = st.attribution->hits();
  const uint64_t misses_before = st.attribution->misses();
  dns_->before_drain();
  EXPECT_EQ(st.attribution->hits(), hits_before);
  EXPECT_EQ(st.attribution->misses(), misses_before);
  auto got = named(l.port);
  EXPECT_EQ((got[{answer_v4(2), "two.tcx.test"}]), 1u);
  // Others may query port 53 meanwhile: at least ours.
  EXPECT_GE(s.responses[ns_r_noerror][a].load() - noerror_before, 2u);
  EXPECT_GE(s.responses[ns_r_nxdomain][a].load() - nx_before, 1u);
  EXPECT_EQ(st.lost.load(), 0u);
  EXPECT_GE(st.attribution->hits(), hits_before + 1);
  EXPECT_GE(st.attribution->delay().count.load(), 1u);
  EXPECT_GE(st.captured.load(), 3u);
}

uint64_t lookups_of(const DnsLayerState& st, const std::string& name, uint16_t qtype,
                    uint8_t rcode) {
  for (const auto& l : st.lookups.snapshot().lookups)
    if (l.name == name && l.qtype_slot == dns_qtype_slot(qtype) && l.rcode == rcode) return l.count;
  return 0;
}

uint64_t unanswered_of(const DnsLayerState& st, const std::string& name, uint16_t qtype) {
  for (const auto& u : st.lookups.snapshot().unanswered)
    if (u.name == name && u.qtype_slot == dns_qtype_slot(qtype)) return u.count;
  return 0;
}

uint64_t duration_count(const DnsLayerState& st, const std::string& server) {
  std::array<uint8_t, 16> addr{};
  inet_pton(AF_INET, server.c_str(), addr.data());
  for (const auto& [s, h] : st.lookups.snapshot().durations)
    if (s.family == AF_INET && s.addr == addr) return h.count;
  return 0;
}

// Lookups answered by dnsmasq, counted by name and rcode (exactly: the names are this
// process's), timed per server; NOERROR and NXDOMAIN apart.
TEST_P(DnsCaptureTest, LookupsByNameAndRcode) {
  const DnsLayerState& st = dns_->state();
  const std::string missing = "missing" + std::to_string(getpid()) + ".tcx.test";
  const uint64_t timed_before = duration_count(st, dns4_->address());
  const uint64_t two_before = lookups_of(st, "two.tcx.test", ns_t_a, ns_r_noerror);
  ASSERT_TRUE(testing::dns_query(dns4_->address(), 53, missing, ns_t_a, false));
  // The fentry capture does not see TCP: the second lookup over UDP there.
  ASSERT_TRUE(
      testing::dns_query(dns4_->address(), 53, missing, ns_t_a, GetParam() != DnsCapture::kFentry));
  ASSERT_TRUE(testing::dns_query(dns4_->address(), 53, "two.tcx.test", ns_t_a, false));
  dns_->before_drain();
  EXPECT_EQ(lookups_of(st, missing, ns_t_a, ns_r_nxdomain), 2u);
  EXPECT_EQ(lookups_of(st, missing, ns_t_a, ns_r_noerror), 0u);
  // Others may look two.tcx.test up meanwhile (this suite's other tests do not run
  // concurrently, other processes might): at least ours.
  EXPECT_GE(lookups_of(st, "two.tcx.test", ns_t_a, ns_r_noerror) - two_before, 1u);
  EXPECT_GE(duration_count(st, dns4_->address()) - timed_before, 3u);
  EXPECT_EQ(unanswered_of(st, missing, ns_t_a), 0u);
}

// dnsmasq with a 2 s TTL (--local-ttl) gives a name one address, then (its hosts file
// rewritten, SIGHUP) another: once the answer that gave the first is older than its
// TTL, connects to the first address are stale, counted exactly by the drain under the
// name that gave it; connects to the address DNS gives now never are.
TEST_P(DnsCaptureTest, ConnectsToAnAddressDnsNoLongerGivesAreStale) {
  const std::string name = "moving" + std::to_string(getpid()) + ".tcx.test";
  const std::string a1 = answer_v4(21), a2 = answer_v4(22);
  Dnsmasq::Options o;
  o.listen = {testing::unique_loopback_v4(2)};
  o.port = 53;
  o.records = {"--local-ttl=2"};
  o.hosts = a1 + " " + name + "\n";
  o.ready_name = name;
  std::string error;
  auto moving = Dnsmasq::start(o, &error);
  ASSERT_TRUE(moving) << error;
  auto gives = [&](const std::string& ip) {
    auto r = testing::dns_query(moving->address(), 53, name, ns_t_a, false);
    if (!r) return false;
    DnsParseOutcome p = parse_dns_message(r->data(), r->size(), r->size());
    std::array<uint8_t, 16> want{};
    inet_pton(AF_INET, ip.c_str(), want.data());
    return p.ok && p.response.addresses.size() == 1 && p.response.addresses[0].addr == want &&
           p.response.ttl == 2;
  };
  ASSERT_TRUE(gives(a1));
  Listener l1 = listen_tcp(AF_INET, a1);
  Listener l2 = listen_tcp(AF_INET, a2);
  // Past its TTL, but still what DNS gives: not stale.
  usleep(2'200'000);
  ASSERT_EQ(connect_once(AF_INET, a1, l1.port), 0);
  EXPECT_TRUE(stale(l1.port).empty());

  ASSERT_TRUE(gives(a1));  // the last answer that gives a1: its TTL runs from here
  ASSERT_TRUE(moving->set_hosts(a2 + " " + name + "\n"));
  bool moved = false;
  for (int i = 0; i < 50 && !moved; ++i) {  // bounded: ~5 s for dnsmasq to re-read it
    moved = gives(a2);
    if (!moved) usleep(100'000);
  }
  ASSERT_TRUE(moved) << moving->log();
  // The last answer that gave a1 came moments ago: within its 2 s TTL.
  ASSERT_EQ(connect_once(AF_INET, a1, l1.port), 0);
  EXPECT_TRUE(stale(l1.port).empty());
  // Once it outlived its TTL, a1 is an address DNS no longer gives.
  usleep(2'200'000);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(connect_once(AF_INET, a1, l1.port), 0);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(connect_once(AF_INET, a2, l2.port), 0);
  auto got = stale(l1.port);
  EXPECT_EQ((got[{a1, name}]), 3u);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_TRUE(stale(l2.port).empty());
  EXPECT_EQ((named(l1.port)[{a1, name}]), 5u);
  EXPECT_EQ((named(l2.port)[{a2, name}]), 2u);
}

// A random-subdomain flood through the real resolver: names beyond the cap share the
// overflow series and are counted as dropped; memory does not grow with the names.
// (The capture sees every process on the host: other lookups may take slots too, so
// the bounds are "at most".)
TEST_P(DnsCaptureTest, RandomSubdomainFloodIsCapped) {
  const DnsLayerState& st = dns_->state();
  auto named = [&] {
    size_t n = 0;
    for (const auto& l : st.lookups.snapshot().lookups) n += !l.name.empty();
    return n;
  };
  const size_t cap = named() + 5;
  dns_->set_max_series(cap);
  const uint64_t dropped_before = st.lookups.snapshot().dropped_lookups;
  const std::string suffix = ".flood" + std::to_string(getpid()) + ".tcx.test";
  constexpr int kNames = 50;
  for (int i = 0; i < kNames; ++i)
    ASSERT_TRUE(
        testing::dns_query(dns4_->address(), 53, "r" + std::to_string(i) + suffix, ns_t_a, false));
  dns_->before_drain();
  size_t ours = 0;
  for (const auto& l : st.lookups.snapshot().lookups)
    ours += l.name.size() > suffix.size() &&
            l.name.compare(l.name.size() - suffix.size(), suffix.size(), suffix) == 0;
  EXPECT_LE(ours, 5u);
  EXPECT_LE(named(), cap);
  EXPECT_GE(st.lookups.snapshot().dropped_lookups - dropped_before, kNames - ours);
}

// A query to a socket that receives it and never answers (its port in dns.ports):
// unanswered once the lookup timeout passed, and only then, even with no DNS traffic
// after it (the drain expires questions).
TEST_P(DnsCaptureTest, UnansweredLookupAfterTheTimeout) {
  const DnsLayerState& st = dns_->state();
  const std::string name = "silent" + std::to_string(getpid()) + ".tcx.test";
  EXPECT_FALSE(testing::dns_query(silent_ip_, silent_port_, name, ns_t_aaaa, false, 100));
  dns_->before_drain();
  EXPECT_GE(st.queries.pending(), 1u);
  EXPECT_EQ(unanswered_of(st, name, ns_t_aaaa), 0u);
  // Bounded wait: the timeout, then at most 5 s more.
  for (int i = 0; i < 60 && unanswered_of(st, name, ns_t_aaaa) == 0; ++i) {
    usleep(100 * 1000);
    dns_->before_drain();
  }
  EXPECT_EQ(unanswered_of(st, name, ns_t_aaaa), 1u);
  EXPECT_EQ(lookups_of(st, name, ns_t_aaaa, ns_r_noerror), 0u);
  // Drained from the socket so that the next test's query is not behind it.
  char buf[512];
  while (recv(silent_fd_, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
}

// A real response replayed from a socket whose packets carry IPv6 extension headers
// (hop-by-hop and destination options) or IPv4 options: the capture must find the UDP
// header behind them (cgroup_skb: the BPF program; packet_socket: the daemon, since
// the classic BPF filter passes IPv6 packets with extension headers whatever their port).
TEST_P(DnsCaptureTest, Ipv6ExtensionHeadersAndIpv4OptionsAreWalked) {
  const std::vector<uint8_t> response = testing::read_binary(
      std::string(TCPCONNECT_SOURCE_DIR) + "/tests/dns/fixtures/a_udp.bin");  // 192.0.2.10
  const std::vector<uint8_t> response6 = testing::read_binary(
      std::string(TCPCONNECT_SOURCE_DIR) + "/tests/dns/fixtures/aaaa_udp.bin");  // 2001:db8::10
  const uint16_t sport6 = testing::free_udp_tcp_port(AF_INET6, "::1");
  const uint16_t sport4 = testing::free_udp_tcp_port(AF_INET, "127.0.0.1");
  DnsLayer::Options o;
  o.capture.method = GetParam();
  o.capture.ports = {sport6, sport4};
  o.poller_thread = false;
  auto layer = DnsLayer::start(o);
  ASSERT_TRUE(layer) << layer.error().message;

  auto send_from = [](int family, const std::string& ip, uint16_t sport,
                      const std::vector<uint8_t>& payload, auto set_options) {
    testing::Fd rx(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_storage to = testing::make_addr(family, ip, 0, &len);
    ASSERT_EQ(bind(rx.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
    getsockname(rx.get(), reinterpret_cast<sockaddr*>(&to), &len);
    testing::Fd tx(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_storage from = testing::make_addr(family, ip, sport, &len);
    ASSERT_EQ(bind(tx.get(), reinterpret_cast<sockaddr*>(&from), len), 0);
    set_options(tx.get());
    // The receiving socket asks the question first: only answers to questions are taken.
    const std::vector<uint8_t> question = testing::query_for(payload);
    ASSERT_EQ(sendto(rx.get(), question.data(), question.size(), 0,
                     reinterpret_cast<sockaddr*>(&from), len),
              static_cast<ssize_t>(question.size()));
    uint8_t asked[512];
    ASSERT_EQ(recv(tx.get(), asked, sizeof(asked), 0), static_cast<ssize_t>(question.size()));
    ASSERT_EQ(
        sendto(tx.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), len),
        static_cast<ssize_t>(payload.size()));
    uint8_t buf[1500];
    ASSERT_EQ(recv(rx.get(), buf, sizeof(buf), 0), static_cast<ssize_t>(payload.size()));
  };
  // PadN filling an 8-byte options header (next header and length are the kernel's).
  const uint8_t opts[8] = {0, 0, 1, 4, 0, 0, 0, 0};
  send_from(AF_INET6, "::1", sport6, response6, [&](int fd) {
    ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, opts, sizeof(opts)), 0);
    ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, opts, sizeof(opts)), 0);
  });
  const uint8_t ip_opts[4] = {1, 1, 1, 0};  // NOP NOP NOP EOL: a 24-byte header
  send_from(AF_INET, "127.0.0.1", sport4, response, [&](int fd) {
    ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_OPTIONS, ip_opts, sizeof(ip_opts)), 0);
  });
  // The same behind extension headers from a port not captured: not taken (the packet
  // socket's filter leaves this port check to the daemon).
  const uint16_t other6 = testing::free_udp_tcp_port(AF_INET6, "::1");
  send_from(AF_INET6, "::1", other6, response6, [&](int fd) {
    ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, opts, sizeof(opts)), 0);
  });

  layer.value()->poll_now();
  std::array<uint8_t, 16> v6{}, v4{};
  inet_pton(AF_INET6, "2001:db8::10", v6.data());
  inet_pton(AF_INET, "192.0.2.10", v4.data());
  const uint64_t here = testing::own_netns_cookie();
  EXPECT_EQ(layer.value()->cache().name_of(10, v6, monotonic_ns(), here), "web.example.test");
  EXPECT_EQ(layer.value()->cache().name_of(2, v4, monotonic_ns(), here), "web.example.test");
  EXPECT_EQ(layer.value()->state().captured.load(), 4u);  // two queries, two answers
  EXPECT_EQ(layer.value()->state().skipped_ipv6_ext.load(), 0u);
  EXPECT_EQ(layer.value()->state().unreadable.load(), 0u);
}

// The responses tcpconnect_dns_responses_rejected_total counts for `why`, as a scrape
// would read them.
uint64_t rejected(DnsLayer& dns, DnsRejection why) {
  for (const auto& family : dns.collector()->Collect()) {
    if (family.name != "tcpconnect_dns_responses_rejected_total") continue;
    for (const auto& m : family.metric)
      if (m.label.size() == 1 && m.label[0].value == to_string(why))
        return static_cast<uint64_t>(m.counter.value);
  }
  ADD_FAILURE() << "no tcpconnect_dns_responses_rejected_total{reason=" << to_string(why);
  return 0;
}

// A forged "response" from port 53 to an ordinary UDP socket (a syslog listener that
// never asked DNS anything) names nothing, and does not overwrite a name a real lookup
// gave.
TEST_P(DnsCaptureTest, ForgedResponseToAnOrdinarySocketNamesNothing) {
  // The victim: a socket that receives datagrams and never asked DNS anything; the
  // forger: anyone who can send a datagram from port 53 (spoofable off the host).
  auto forge = [&](const std::string& ip, uint16_t id) {
    ASSERT_TRUE(testing::send_unsolicited(testing::a_answer(id, "evil.tcx.test", ip),
                                          testing::unique_loopback_v4(3)));
  };

  const uint64_t unsolicited_before = rejected(*dns_, DnsRejection::kUnsolicited);
  forge(answer_v4(21), 0x1111);  // would name an address nobody resolved
  forge(answer_v4(1), 0x2222);   // would rename the address the real lookup gives
  dns_->poll_now();
  EXPECT_GE(rejected(*dns_, DnsRejection::kUnsolicited) - unsolicited_before, 2u);

  Listener good = listen_tcp(AF_INET, answer_v4(1));
  Listener other = listen_tcp(AF_INET, answer_v4(21), 16);
  std::string out = client("--family inet --connect-port " + std::to_string(good.port) +
                           " resolve one.tcx.test");
  EXPECT_NE(out.find("one.tcx.test " + answer_v4(1) + " 0"), std::string::npos) << out;
  ASSERT_EQ(connect_once(AF_INET, answer_v4(21), other.port), 0);
  // After the real answer, the forgery again: it must not overwrite it.
  forge(answer_v4(1), 0x3333);
  ASSERT_EQ(connect_once(AF_INET, answer_v4(1), good.port), 0);

  EXPECT_EQ(named(good.port), (std::map<std::pair<std::string, std::string>, uint64_t>{
                                  {{answer_v4(1), "one.tcx.test"}, 2}}));
  EXPECT_EQ(named(other.port), (std::map<std::pair<std::string, std::string>, uint64_t>{
                                   {{answer_v4(21), "localhost"}, 1}}));
  EXPECT_GE(rejected(*dns_, DnsRejection::kUnsolicited) - unsolicited_before, 3u);
}

// A tenant in its own network namespace, resolving a name through its own resolver to
// an address the host also connects to, names only its own connects.
TEST_P(DnsCaptureTest, TenantLookupsNameOnlyTheTenantsConnects) {
  const std::string netns = "tcx-tenant-" + std::to_string(getpid());
  struct Removed {
    std::string name;
    ~Removed() { run_shell("ip netns del " + name + " 2>/dev/null"); }
  } removed{netns};
  ASSERT_EQ(run_shell("ip netns add " + netns + " && ip -n " + netns + " link set lo up"), 0);
  // The tenant's own resolver, in its namespace, naming an address the host uses too.
  std::string error;
  Dnsmasq::Options tenant;
  tenant.netns = netns;
  tenant.listen = {"127.0.0.1"};
  tenant.records = {"--host-record=tenant.tcx.test," + answer_v4(23)};
  tenant.ready_name = "tenant.tcx.test";
  auto dnsmasq = Dnsmasq::start(tenant, &error);
  ASSERT_TRUE(dnsmasq) << error;

  Listener host = listen_tcp(AF_INET, answer_v4(23));
  // In the tenant's namespace: resolve, then connect at once (refused there: nothing
  // listens on its loopback; the attempt counts all the same).
  std::string out;
  run_shell("ip netns exec " + netns + " " + testing::dns_client_binary() +
                " --nameserver 127.0.0.1 --family inet --connect-port " +
                std::to_string(host.port) + " resolve tenant.tcx.test",
            &out);
  EXPECT_NE(out.find("tenant.tcx.test " + answer_v4(23)), std::string::npos) << out;
  // The host connects to the same address: the tenant's answer must not name it.
  ASSERT_EQ(connect_once(AF_INET, answer_v4(23), host.port), 0);

  const auto got = named(host.port);
  if (GetParam() != DnsCapture::kPacketSocket) {
    EXPECT_EQ(got,
              (std::map<std::pair<std::string, std::string>, uint64_t>{
                  {{answer_v4(23), "tenant.tcx.test"}, 1}, {{answer_v4(23), "localhost"}, 1}}));
  } else {
    // The packet socket sees the daemon's own namespace only: the tenant's lookup is
    // never seen, and names nothing anywhere.
    EXPECT_EQ(got, (std::map<std::pair<std::string, std::string>, uint64_t>{
                       {{answer_v4(23), "localhost"}, 2}}));
  }
}

std::string method_name(const ::testing::TestParamInfo<DnsCapture>& info) {
  return std::string(to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(Methods, DnsCaptureTest,
                         ::testing::Values(DnsCapture::kFentry, DnsCapture::kCgroupSkb,
                                           DnsCapture::kPacketSocket),
                         method_name);

}  // namespace
}  // namespace tcpconnect
