// The connect probe in the running kernel, with real sockets: loopback, and for the
// failures that need a silent peer, a network namespace the test makes itself.
//
// The probe sees every connect on the machine, so each test asserts only on keys that
// carry its own listener's ephemeral port (or a port and addresses inside its own
// namespace). Connect outcomes are observed synchronously: the state change that
// counts them happens before connect() or close() returns to the test.
#include "probes/connect_probe.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "metrics/labels.h"
#include "probe_testing.h"

namespace tcpconnect {
namespace {

using testing::all_keys;
using testing::BlackholeNetns;
using testing::bucket_sum;
using testing::closed_port;
using testing::connect_and_accept;
using testing::connect_once;
using testing::key_addr;
using testing::KeyAddr;
using testing::KeyedCounts;
using testing::keys_with_dport;
using testing::latency_of;
using testing::listen_tcp;
using testing::Listener;
using testing::total_failed;

std::unique_ptr<ConnectProbe> attach_probe(ProbeBackend backend, uint32_t max_entries = 16384) {
  ConnectProbe::Options options;
  options.backend = backend;
  options.max_entries = max_entries;
  auto probe = ConnectProbe::attach(options);
  if (!probe) {
    ADD_FAILURE() << "attaching via " << to_string(backend) << ": " << probe.error().message;
    return nullptr;
  }
  return std::move(probe).value();
}

std::string describe(const tc_connect_key& k) {
  return "{family " + std::to_string(k.family) + ", " + format_address(k.family, k.saddr) + " -> " +
         format_address(k.family, k.daddr) + ":" + std::to_string(k.dport) + "}";
}

// The key the probe makes for a connect under the default configuration: addresses,
// family and port; uid, tgid, cgroup and comm are not collected and stay zero.
tc_connect_key expected_key(uint16_t family, const KeyAddr& saddr, const KeyAddr& daddr,
                            uint16_t dport) {
  tc_connect_key k{};
  k.family = family;
  std::memcpy(k.saddr, saddr.data(), sizeof(k.saddr));
  std::memcpy(k.daddr, daddr.data(), sizeof(k.daddr));
  k.dport = dport;
  return k;
}

// The only key with this port, which must be exactly `want`.
tc_connect_counts only_key(ConnectProbe& probe, const tc_connect_key& want) {
  KeyedCounts keys = keys_with_dport(probe, want.dport);
  tc_connect_counts none{};
  if (keys.size() != 1) {
    std::string seen;
    for (const auto& [k, c] : keys) seen += " " + describe(k);
    ADD_FAILURE() << "expected one key with dport " << want.dport << ", found " << keys.size()
                  << ":" << seen;
    return none;
  }
  EXPECT_EQ(std::memcmp(&keys[0].first, &want, sizeof(want)), 0)
      << "got " << describe(keys[0].first) << ", want " << describe(want);
  return keys[0].second;
}

std::string program_of(ProbeBackend backend) {
  switch (backend) {
    case ProbeBackend::kTpBtf:
      return "tc_tp_btf";
    case ProbeBackend::kRawTp:
      return "tc_raw_tp";
    case ProbeBackend::kTracepoint:
      return "tc_tracepoint";
    case ProbeBackend::kAuto:
      break;
  }
  return "";
}

// Program ids are never reused soon, so "no program has this id" means it was unloaded.
// The kernel releases a program after an RCU grace period once its link is closed, so
// this waits for it (generously: it only bounds a hang, it is not a timing assertion).
bool program_unloaded(uint32_t id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0 && errno == ENOENT) return true;
    if (fd >= 0) close(fd);
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A loopback address of 127.0.0.0/8 that nothing else on the machine is likely to use,
// for the latency histogram, which is keyed by destination address only.
std::string private_loopback() {
  int pid = getpid();
  return "127.77." + std::to_string((pid >> 8) & 0xff) + "." + std::to_string(pid % 254 + 1);
}

// The key of an IPv4 connect into a BlackholeNetns, to `port`.
tc_connect_key blackhole_key(uint16_t port) {
  return expected_key(TC_AF_INET, key_addr(AF_INET, BlackholeNetns::kLocal),
                      key_addr(AF_INET, BlackholeNetns::kBlackhole), port);
}

// n blocking connects into the black hole at once (so a test waits one SYN timeout, not
// n), each with TCP_SYNCNT=syncnt; their connect() results.
std::vector<int> time_out_in_parallel(const BlackholeNetns& ns, uint16_t port, int n,
                                      int syncnt) {
  std::vector<int> results(n, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] { results[i] = ns.connect_blocking(port, syncnt); });
  for (auto& t : threads) t.join();
  return results;
}

class ConnectProbeTest : public ::testing::TestWithParam<ProbeBackend> {};

TEST_P(ConnectProbeTest, AttachesAndReportsItsBackend) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->backend(), GetParam());
  EXPECT_EQ(probe->program_name(), program_of(GetParam()));
  ProgramStats stats = probe->program_stats();
  EXPECT_EQ(stats.name, program_of(GetParam()));
  EXPECT_NE(stats.id, 0u);
  auto errors = probe->read_errors();
  ASSERT_TRUE(errors) << errors.error().message;
}

TEST_P(ConnectProbeTest, CountsIpv4ConnectsExactly) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 200;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", kConnects), kConnects);

  const KeyAddr lo = key_addr(AF_INET, "127.0.0.1");
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET, lo, lo, l.port));
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.established, kConnects);
  EXPECT_EQ(total_failed(c), 0u);

  // 127.0.0.1 is everybody's loopback: other processes may connect to it meanwhile, so
  // its histogram holds at least ours (LatencyHistogramIsPerDestination is exact).
  tc_latency_hist h = latency_of(*probe, TC_AF_INET, lo);
  EXPECT_GE(h.count, kConnects);
  EXPECT_GE(bucket_sum(h), kConnects);
}

TEST_P(ConnectProbeTest, LatencyHistogramIsPerDestination) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 200;
  const std::string ip = private_loopback();
  Listener l = listen_tcp(AF_INET, ip);
  ASSERT_EQ(connect_and_accept(l, AF_INET, ip, kConnects), kConnects);

  // The source address is the loopback route's preferred source, 127.0.0.1.
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET, key_addr(AF_INET, "127.0.0.1"),
                                                      key_addr(AF_INET, ip), l.port));
  EXPECT_EQ(c.established, kConnects);

  tc_latency_hist h = latency_of(*probe, TC_AF_INET, key_addr(AF_INET, ip));
  EXPECT_EQ(h.count, kConnects);
  EXPECT_EQ(bucket_sum(h), kConnects);
  EXPECT_GT(h.sum_ns, 0u);
}

// A connect's latency runs from the connect to the answer that established it, SYN
// retransmissions included. A full accept queue drops the first SYN; the client sends it
// again after the initial retransmission timeout (1 s), by when the queue has room, so
// the observed latency is at least 1 s, and at most what the connect took as seen here.
void expect_latency_includes_syn_retransmission(ConnectProbe& probe) {
  const std::string ip = private_loopback();
  Listener l = listen_tcp(AF_INET, ip, 0);  // one connection waiting to be accepted fills it
  ASSERT_EQ(connect_once(AF_INET, ip, l.port), 0);

  const auto start = std::chrono::steady_clock::now();
  int err = -1;
  testing::Fd fd = testing::start_connect(AF_INET, ip, l.port, &err);
  ASSERT_TRUE(fd);
  ASSERT_EQ(err, 0) << std::strerror(err);
  // On loopback the answer would be back within microseconds; still connecting after
  // 100 ms means the SYN was dropped (checked below by the retransmission count).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  testing::drain_accepts(l);
  uint32_t retrans = 0;
  std::chrono::steady_clock::time_point ended;
  err = testing::finish_connect(fd, &retrans, &ended);
  ASSERT_NE(err, -1) << "the retransmitted SYN was not answered";
  ASSERT_EQ(err, 0) << std::strerror(err);
  const uint64_t took_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(ended - start).count();
  ASSERT_GE(retrans, 1u) << "the first SYN was not dropped: nothing to measure";

  tc_latency_hist h = latency_of(probe, TC_AF_INET, key_addr(AF_INET, ip));
  EXPECT_EQ(h.count, 2u);
  // The buckets above the one bounded by 1 s. The first connect took microseconds.
  constexpr uint64_t kBounds[] = {TC_LAT_BOUNDS_NS};
  uint64_t over_1s = 0;
  for (int i = 0; i < TC_LAT_BUCKETS; ++i)
    if (i == TC_LAT_BUCKETS - 1 || kBounds[i] > 1000000000u) over_1s += h.buckets[i];
  EXPECT_EQ(over_1s, 1u);
  EXPECT_GE(h.sum_ns, 1000000000u);
  EXPECT_LE(h.sum_ns, took_ns + 100000000u);  // + the first connect's latency, generously
}

// Outcomes keyed from the socket: the retransmitted connect's start from its slot.
TEST_P(ConnectProbeTest, LatencyIncludesSynRetransmission) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  expect_latency_includes_syn_retransmission(*probe);
}

// Keys waiting in the stash (a key field of the task): the start stashed with the key.
TEST_P(ConnectProbeTest, LatencyIncludesSynRetransmissionWhenStashed) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  ASSERT_TRUE(probe->set_key_fields(TC_KEY_UID).ok());
  ASSERT_FALSE(probe->in_flight_from_counts());
  expect_latency_includes_syn_retransmission(*probe);
}

// A retransmitted connect's start waits in a slot that its socket's hash picks, which
// other connects may take meanwhile; with two slots, a flood of them surely does. Its
// outcome then observes no latency rather than a wrong one, and says so.
TEST(ConnectProbeStartsTest, AStartOtherConnectsOverwroteIsCountedNotGuessed) {
  TCPCONNECT_REQUIRE_ROOT();
  ConnectProbe::Options options;
  options.max_entries = 2;
  auto attached = ConnectProbe::attach(options);
  ASSERT_TRUE(attached) << attached.error().message;
  ConnectProbe& probe = *attached.value();
  const std::string ip = private_loopback();
  Listener full = listen_tcp(AF_INET, ip, 0);  // one connection waiting fills it
  ASSERT_EQ(connect_once(AF_INET, ip, full.port), 0);
  Listener other = listen_tcp(AF_INET, ip);
  auto before = probe.read_errors();
  ASSERT_TRUE(before) << before.error().message;

  int err = -1;
  testing::Fd fd = testing::start_connect(AF_INET, ip, full.port, &err);
  ASSERT_TRUE(fd);
  ASSERT_EQ(err, 0) << std::strerror(err);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Held open together: 32 sockets at 32 addresses (one closed at a time would be reused
  // for the next, at the same address, always taking the same slot).
  std::vector<testing::Fd> flood;
  for (int i = 0; i < 32; ++i) {
    int e = -1;
    flood.push_back(testing::start_connect(AF_INET, ip, other.port, &e));
    ASSERT_TRUE(flood.back());
    ASSERT_EQ(e, 0) << std::strerror(e);
  }
  testing::drain_accepts(other);
  testing::drain_accepts(full);
  uint32_t retrans = 0;
  err = testing::finish_connect(fd, &retrans);
  ASSERT_NE(err, -1) << "the retransmitted SYN was not answered";
  ASSERT_EQ(err, 0) << std::strerror(err);
  ASSERT_GE(retrans, 1u) << "the first SYN was not dropped: nothing to measure";

  auto after = probe.read_errors();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_GE(after.value()[TC_ERR_START_LOST] - before.value()[TC_ERR_START_LOST], 1u);
  flood.clear();
  auto keyed = testing::keys_with_dport(probe, full.port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.established, 2u);
  EXPECT_EQ(keyed[0].second.latency.count, 1u);  // the first connect's only
  EXPECT_LT(keyed[0].second.latency.sum_ns, 1000000000u);
}

// An established connect's SYN retransmissions are what the socket itself reports
// (tcpi_total_retrans): a full accept queue drops the first SYN, as above; the connect
// that found room retransmitted nothing.
TEST_P(ConnectProbeTest, CountsSynRetransmitsOfEstablishedConnects) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  const std::string ip = private_loopback();
  Listener l = listen_tcp(AF_INET, ip, 0);
  ASSERT_EQ(connect_once(AF_INET, ip, l.port), 0);
  const tc_connect_key key =
      expected_key(TC_AF_INET, key_addr(AF_INET, "127.0.0.1"), key_addr(AF_INET, ip), l.port);
  EXPECT_EQ(only_key(*probe, key).syn_retransmits, 0u);

  int err = -1;
  testing::Fd fd = testing::start_connect(AF_INET, ip, l.port, &err);
  ASSERT_TRUE(fd);
  ASSERT_EQ(err, 0) << std::strerror(err);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  testing::drain_accepts(l);
  uint32_t retrans = 0;
  err = testing::finish_connect(fd, &retrans);
  ASSERT_NE(err, -1) << "the retransmitted SYN was not answered";
  ASSERT_EQ(err, 0) << std::strerror(err);
  ASSERT_GE(retrans, 1u) << "the first SYN was not dropped: nothing to count";

  tc_connect_counts c = only_key(*probe, key);
  EXPECT_EQ(c.established, 2u);
  EXPECT_EQ(c.syn_retransmits, retrans);
}

TEST_P(ConnectProbeTest, CountsIpv6ConnectsExactly) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 100;
  Listener l = listen_tcp(AF_INET6, "::1");
  ASSERT_EQ(connect_and_accept(l, AF_INET6, "::1", kConnects), kConnects);

  const KeyAddr lo = key_addr(AF_INET6, "::1");
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET6, lo, lo, l.port));
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.established, kConnects);
  EXPECT_EQ(total_failed(c), 0u);
  EXPECT_EQ(c.syn_retransmits, 0u);
  EXPECT_GE(latency_of(*probe, TC_AF_INET6, lo).count, kConnects);
}

// A socket that connects to its own address and port opens simultaneously: its SYN
// reaches itself in SYN_SENT, it goes SYN_SENT -> SYN_RECV -> ESTABLISHED, and that last
// transition is its outcome (unlike a listener's child in SYN_RECV, which the probe
// dismisses without searching the stash).
TEST_P(ConnectProbeTest, SimultaneousOpenIsAnOutcome) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  const std::string ip = private_loopback();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, ip.c_str(), &a.sin_addr), 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  close(fd);

  const KeyAddr addr = key_addr(AF_INET, ip);
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET, addr, addr, ntohs(a.sin_port)));
  EXPECT_EQ(c.attempts, 1u);
  EXPECT_EQ(c.established, 1u);
  EXPECT_EQ(total_failed(c), 0u);
  EXPECT_EQ(latency_of(*probe, TC_AF_INET, addr).count, 1u);
}

TEST_P(ConnectProbeTest, ReportsV4MappedConnectsAsIpv4) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 50;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  // An AF_INET6 socket (not IPV6_V6ONLY) talking to an IPv4 listener.
  ASSERT_EQ(connect_and_accept(l, AF_INET6, "::ffff:127.0.0.1", kConnects), kConnects);

  // Four address bytes, the other twelve zero: the same key an AF_INET socket makes.
  const KeyAddr lo = key_addr(AF_INET, "127.0.0.1");
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET, lo, lo, l.port));
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.established, kConnects);
  EXPECT_EQ(total_failed(c), 0u);
}

TEST_P(ConnectProbeTest, CountsRefusedConnects) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 50;
  uint16_t port = closed_port(AF_INET6, "::1");
  for (int i = 0; i < kConnects; ++i) ASSERT_EQ(connect_once(AF_INET6, "::1", port), ECONNREFUSED);

  const KeyAddr lo = key_addr(AF_INET6, "::1");
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET6, lo, lo, port));
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.failed[TC_FAIL_REFUSED], kConnects);
  EXPECT_EQ(total_failed(c), kConnects);
  EXPECT_EQ(c.established, 0u);
}

// The key's counts once `outcomes` outcomes (less the runs the kernel skipped since
// `misses_before`) are counted, or after 2 s. connect() returns ETIMEDOUT when the
// socket reports its error, just before the timer's softirq closes it (the transition
// the outcome is counted at): on a busy machine that can run after the caller woke.
tc_connect_counts once_outcomes(ConnectProbe& probe, const tc_connect_key& key,
                                uint64_t outcomes, uint64_t misses_before) {
  tc_connect_counts c{};
  for (int i = 0; i < 200; ++i) {
    c = only_key(probe, key);
    const uint64_t missed = probe.program_stats().recursion_misses - misses_before;
    if (total_failed(c) + c.established + missed >= outcomes) {
      if (i > 0) std::printf("note: the outcomes were counted %d ms after connect() returned\n", 10 * i);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return c;
}

TEST_P(ConnectProbeTest, CountsTimeoutsToASilentPeer) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 3;
  const uint16_t port = testing::unlikely_port();
  const uint64_t misses_before = probe->program_stats().recursion_misses;
  // One SYN timeout (~3 s with TCP_SYNCNT=1) for all of them.
  for (int r : time_out_in_parallel(*ns, port, kConnects, 1))
    EXPECT_EQ(r, ETIMEDOUT) << std::strerror(r);

  tc_connect_counts c = once_outcomes(*probe, blackhole_key(port), kConnects, misses_before);
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.established, 0u);
  EXPECT_EQ(total_failed(c), c.failed[TC_FAIL_TIMEOUT]);
  // The timeout is the retransmit timer's softirq, which can interrupt a BPF program
  // running on that CPU: then the kernel skips this run and counts it in the program's
  // recursion_misses (with the tracepoint backend, any kprobe or tracepoint program of
  // any process on the host will do; CI once lost one this way). Every outcome is
  // counted unless the kernel says it skipped a run, and no more outcomes than it skipped
  // go missing.
  const uint64_t missed = probe->program_stats().recursion_misses - misses_before;
  EXPECT_LE(c.failed[TC_FAIL_TIMEOUT], static_cast<uint64_t>(kConnects));
  EXPECT_GE(c.failed[TC_FAIL_TIMEOUT] + missed, static_cast<uint64_t>(kConnects))
      << "outcomes lost without a run the kernel reports as skipped; program runs "
      << probe->program_stats().run_count << ", errors "
      << [&] {
           auto e = probe->read_errors();
           std::string out;
           if (e)
             for (uint64_t v : e.value()) out += std::to_string(v) + " ";
           return out;
         }();
  if (missed != 0) {
    RecordProperty("skipped_runs", std::to_string(missed));
    std::printf("note: the kernel skipped %llu program run(s) during the test\n",
                static_cast<unsigned long long>(missed));
  }
}

// TCP_SYNCNT=2 against a silent peer: each connect retransmits its SYN until it times out
// at ~7 s, twice on kernels with exponential backoff from the start (6.1), five times on
// those that first retransmit every second (net.ipv4.tcp_syn_linear_timeouts, 6.18).
// What is counted is exactly what the namespace, where nothing else connects, counts as
// retransmitted (a failed socket's own count is cleared when connect() returns).
TEST_P(ConnectProbeTest, CountsSynRetransmitsOfTimeouts) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 3;
  const uint16_t port = testing::unlikely_port();
  const uint64_t misses_before = probe->program_stats().recursion_misses;
  const int64_t retrans_before = ns->retransmitted_segments();
  ASSERT_GE(retrans_before, 0);
  for (int r : time_out_in_parallel(*ns, port, kConnects, 2))
    EXPECT_EQ(r, ETIMEDOUT) << std::strerror(r);
  const int64_t retrans_after = ns->retransmitted_segments();
  ASSERT_GE(retrans_after, retrans_before);
  const uint64_t total = static_cast<uint64_t>(retrans_after - retrans_before);
  EXPECT_GE(total, 2u * kConnects);

  tc_connect_counts c = once_outcomes(*probe, blackhole_key(port), kConnects, misses_before);
  EXPECT_EQ(c.attempts, kConnects);
  // An outcome the kernel skipped (see CountsTimeoutsToASilentPeer) takes its
  // retransmissions with it.
  if (probe->program_stats().recursion_misses == misses_before) {
    EXPECT_EQ(c.failed[TC_FAIL_TIMEOUT], static_cast<uint64_t>(kConnects));
    EXPECT_EQ(c.syn_retransmits, total);
  } else {
    EXPECT_LE(c.syn_retransmits, total);
  }
}

TEST_P(ConnectProbeTest, CountsConnectsClosedBeforeAnyAnswerAsAborted) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kConnects = 5;
  const uint16_t port = testing::unlikely_port();
  for (int i = 0; i < kConnects; ++i) ASSERT_EQ(ns->connect_and_abandon(port), 0);

  tc_connect_counts c = only_key(*probe, blackhole_key(port));
  EXPECT_EQ(c.attempts, kConnects);
  EXPECT_EQ(c.failed[TC_FAIL_ABORTED], kConnects);
  EXPECT_EQ(total_failed(c), kConnects);
  EXPECT_EQ(c.established, 0u);
}

// tcp_v[46]_connect() enters SYN_SENT before it picks the local port, and goes back to
// CLOSE when there is none (connect() returns EADDRNOTAVAIL): the kernel reports that as
// an attempt, like bcc's tracepoint tools, but no SYN was sent and the application did
// not abandon anything, so its failure is "other", not "aborted".
TEST_P(ConnectProbeTest, CountsConnectsWithoutALocalPortAsOtherNotAborted) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  // Two local ports in the namespace: two connects in flight to one destination take
  // both, and every further connect to it finds none.
  auto sysctl = ns->exec("sysctl -qw net.ipv4.ip_local_port_range='61000 61001'");
  ASSERT_EQ(sysctl.status, 0) << sysctl.output;
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  constexpr int kInFlight = 2, kNoPort = 5;
  const uint16_t port = testing::unlikely_port();
  std::vector<int> errors;
  int rc = ns->run([&] {
    std::vector<testing::Fd> in_flight;
    for (int i = 0; i < kInFlight + kNoPort; ++i) {
      int err;
      in_flight.push_back(testing::start_connect(AF_INET, BlackholeNetns::kBlackhole, port, &err));
      errors.push_back(err);
    }
    return 0;  // closing the two in flight abandons them
  });
  ASSERT_EQ(rc, 0) << std::strerror(-rc);
  ASSERT_EQ(errors.size(), static_cast<size_t>(kInFlight + kNoPort));
  for (int i = 0; i < kInFlight; ++i) EXPECT_EQ(errors[i], 0) << std::strerror(errors[i]);
  for (int i = kInFlight; i < kInFlight + kNoPort; ++i)
    EXPECT_EQ(errors[i], EADDRNOTAVAIL) << std::strerror(errors[i]);

  tc_connect_counts c = only_key(*probe, blackhole_key(port));
  EXPECT_EQ(c.attempts, kInFlight + kNoPort);
  EXPECT_EQ(c.failed[TC_FAIL_ABORTED], kInFlight);
  EXPECT_EQ(c.failed[TC_FAIL_OTHER], kNoPort);
  EXPECT_EQ(total_failed(c), kInFlight + kNoPort);
}

TEST_P(ConnectProbeTest, DetachesCompletelyAndANewProbeStartsFromZero) {
  TCPCONNECT_REQUIRE_ROOT();
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  auto probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 10), 10);
  ASSERT_EQ(keys_with_dport(*probe, l.port).size(), 1u);
  const uint32_t id = probe->program_stats().id;
  ASSERT_NE(id, 0u);

  probe.reset();
  EXPECT_TRUE(program_unloaded(id)) << "program id " << id << " still loaded";
  if (access("/usr/sbin/bpftool", X_OK) == 0) {
    auto shown = testing::run_command("/usr/sbin/bpftool prog show id " + std::to_string(id));
    EXPECT_NE(shown.status, 0) << "bpftool still lists program " << id << ":\n" << shown.output;
  }

  // Made while nothing is attached: no later probe may count them.
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 20), 20);
  probe = attach_probe(GetParam());
  ASSERT_TRUE(probe);
  EXPECT_TRUE(keys_with_dport(*probe, l.port).empty());
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 7), 7);
  const KeyAddr lo = key_addr(AF_INET, "127.0.0.1");
  tc_connect_counts c = only_key(*probe, expected_key(TC_AF_INET, lo, lo, l.port));
  EXPECT_EQ(c.attempts, 7u);
  EXPECT_EQ(c.established, 7u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConnectProbeTest,
                         ::testing::Values(ProbeBackend::kTpBtf, ProbeBackend::kRawTp,
                                           ProbeBackend::kTracepoint),
                         [](const ::testing::TestParamInfo<ProbeBackend>& info) {
                           return std::string(to_string(info.param));
                         });

TEST(ConnectProbeAutoTest, PicksTpBtfOnThisKernel) {
  TCPCONNECT_REQUIRE_ROOT();
  auto probe = attach_probe(ProbeBackend::kAuto);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->backend(), ProbeBackend::kTpBtf);
  EXPECT_EQ(probe->program_name(), "tc_tp_btf");
}

TEST(ConnectProbeMapFullTest, CountsConnectsTheFullMapCouldNotKey) {
  TCPCONNECT_REQUIRE_ROOT();
  constexpr uint32_t kMaxEntries = 4;
  constexpr int kPorts = 10;
  std::vector<Listener> listeners;
  std::set<uint16_t> ports;
  for (int i = 0; i < kPorts; ++i) {
    listeners.push_back(listen_tcp(AF_INET, "127.0.0.1"));
    ports.insert(listeners.back().port);
  }
  auto probe = attach_probe(ProbeBackend::kAuto, kMaxEntries);
  ASSERT_TRUE(probe);
  auto before = probe->read_errors();
  ASSERT_TRUE(before) << before.error().message;
  for (const Listener& l : listeners) ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 1), 1);
  auto after = probe->read_errors();
  ASSERT_TRUE(after) << after.error().message;

  // Keys are never deleted, so the map holds the first kMaxEntries keys since load and
  // every later new key is counted as connects_full instead. Other traffic on the
  // machine can take slots and add to connects_full too, and nothing tells its share
  // apart, so: every one of our connects is counted exactly once, either under its key
  // or as full (which may hold foreign ones as well), and the map is exactly full.
  KeyedCounts keys = all_keys(*probe);
  EXPECT_EQ(keys.size(), kMaxEntries);
  uint64_t ours = 0;
  for (const auto& [k, c] : keys) {
    if (!ports.count(k.dport)) continue;
    ++ours;
    EXPECT_EQ(c.attempts, 1u) << describe(k);
  }
  const uint64_t full = after.value()[TC_ERR_CONNECTS_FULL] - before.value()[TC_ERR_CONNECTS_FULL];
  EXPECT_LE(ours, kMaxEntries);
  EXPECT_GT(full, 0u);
  EXPECT_GE(ours + full, static_cast<uint64_t>(kPorts));
  // The outcome of a connect without a key cannot be counted either.
  const uint64_t outcome_full =
      after.value()[TC_ERR_OUTCOME_FULL] - before.value()[TC_ERR_OUTCOME_FULL];
  EXPECT_GE(ours + outcome_full, static_cast<uint64_t>(kPorts));
}

// Each key's value holds the time of its latest attempt (CLOCK_MONOTONIC, what the
// DNS layer's answer-to-connect delay is measured against), the latest over CPUs.
TEST(ConnectProbeValueTest, LatestAttemptTimeIsInTheKeysValue) {
  TCPCONNECT_REQUIRE_ROOT();
  const std::string ip = "127.79." + std::to_string(getpid() % 250 + 1) + ".1";
  Listener listener = listen_tcp(AF_INET, ip);
  auto attached = ConnectProbe::attach(ConnectProbe::Options{});
  ASSERT_TRUE(attached) << attached.error().message;
  ConnectProbe& probe = *attached.value();
  auto monotonic_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
  };
  uint64_t previous = 0;
  for (int round = 0; round < 3; ++round) {
    const uint64_t before = monotonic_ns();
    ASSERT_EQ(connect_and_accept(listener, AF_INET, ip, 1), 1);
    const uint64_t after = monotonic_ns();
    uint64_t latest = 0, attempts = 0;
    for (const auto& [k, c] : keys_with_dport(probe, listener.port)) {
      latest = std::max<uint64_t>(latest, c.last_connect_ns);
      attempts += c.attempts;
    }
    EXPECT_EQ(attempts, static_cast<uint64_t>(round + 1));
    EXPECT_GE(latest, before);
    EXPECT_LE(latest, after);
    EXPECT_GT(latest, previous);
    previous = latest;
  }
}

}  // namespace
}  // namespace tcpconnect

namespace tcpconnect {
namespace {

// Starts `n` connects to the blackhole, each held in SYN_SENT on a thread inside the
// namespace; returns their sockets.
std::vector<testing::Fd> hold_in_flight(testing::BlackholeNetns& ns, uint16_t port, int n) {
  std::vector<testing::Fd> held;
  std::mutex mu;
  for (int i = 0; i < n; ++i) {
    int rc = ns.run([&] {
      int err = 0;
      testing::Fd fd = testing::start_connect(AF_INET, BlackholeNetns::kBlackhole,
                                              port, &err);
      std::lock_guard<std::mutex> lock(mu);
      held.push_back(std::move(fd));
      return err;
    });
    EXPECT_EQ(rc, 0);
  }
  return held;
}

// How many connects to `port` the probe reads as in flight.
uint64_t in_flight_to(ConnectProbe& probe, uint16_t port) {
  uint64_t n = 0;
  Status s = probe.read_in_flight([&](const tc_connect_key& k) { n += k.dport == port; });
  EXPECT_TRUE(s) << s.error().message;
  return n;
}

class ConnectProbeInFlightTest : public ::testing::TestWithParam<ProbeBackend> {};

// A key field of the task (here the uid) makes connects wait for their outcome in the
// stash.
ConnectProbe::Options stashing(ProbeBackend backend = ProbeBackend::kAuto) {
  ConnectProbe::Options options;
  options.backend = backend;
  options.before_attach = [](ConnectProbe& p) { return p.set_key_fields(TC_KEY_UID); };
  return options;
}

// Connects waiting for an answer are read from the stash, whichever program type stashed
// them, and are no longer once their outcome (here: the application gave up) is seen.
TEST_P(ConnectProbeInFlightTest, ConnectsWaitingForAnAnswerAreInFlight) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = testing::BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto probe = ConnectProbe::attach(stashing(GetParam()));
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_FALSE(probe.value()->in_flight_from_counts());
  const uint16_t port = testing::unlikely_port();
  EXPECT_EQ(in_flight_to(*probe.value(), port), 0u);
  std::vector<testing::Fd> held = hold_in_flight(*ns, port, 3);
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(in_flight_to(*probe.value(), port), 3u);
  held.pop_back();
  EXPECT_EQ(in_flight_to(*probe.value(), port), 2u);
  held.clear();
  EXPECT_EQ(in_flight_to(*probe.value(), port), 0u);
  auto keyed = testing::keys_with_dport(*probe.value(), port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.failed[TC_FAIL_ABORTED], 3u);
}

// Without a key field or filter of the task, outcomes read their key from the socket
// and nothing is stashed: each key's attempts less its outcomes are in flight, whichever
// program type counted them.
TEST_P(ConnectProbeInFlightTest, OutcomesKeyedFromTheSocketLeaveTheStashEmpty) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = testing::BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  ConnectProbe::Options options;
  options.backend = GetParam();
  auto probe = ConnectProbe::attach(options);
  ASSERT_TRUE(probe) << probe.error().message;
  ConnectProbe& p = *probe.value();
  ASSERT_TRUE(p.set_key_fields(TC_KEY_NETNS | TC_KEY_NO_SADDR).ok());
  EXPECT_TRUE(p.in_flight_from_counts());
  const uint16_t port = testing::unlikely_port();
  std::vector<testing::Fd> held = hold_in_flight(*ns, port, 3);
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(in_flight_to(p, port), 0u);
  auto keyed = testing::keys_with_dport(p, port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 3u);
  EXPECT_EQ(testing::total_failed(keyed[0].second), 0u);
  held.clear();
  keyed = testing::keys_with_dport(p, port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 3u);
  EXPECT_EQ(keyed[0].second.failed[TC_FAIL_ABORTED], 3u);
  EXPECT_EQ(p.sweep_pending(std::chrono::nanoseconds(0)).value(), 0u);
  // A filter of the task makes it stash again.
  FiltersConfig f;
  f.pids = {static_cast<uint32_t>(getpid())};
  ASSERT_TRUE(p.filters().apply(f).ok());
  EXPECT_FALSE(p.in_flight_from_counts());
}

INSTANTIATE_TEST_SUITE_P(Backends, ConnectProbeInFlightTest,
                         ::testing::Values(ProbeBackend::kTpBtf, ProbeBackend::kRawTp,
                                           ProbeBackend::kTracepoint),
                         [](const ::testing::TestParamInfo<ProbeBackend>& info) {
                           return std::string(to_string(info.param));
                         });

// A connect still in flight is in the stash; a sweep with age 0 removes it, after which
// its outcome is not counted (the sweep is for outcomes the kernel skipped).
TEST(ConnectProbeSweepTest, SweepRemovesStaleInFlightConnects) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = testing::BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto probe = ConnectProbe::attach(stashing());
  ASSERT_TRUE(probe) << probe.error().message;
  const uint16_t port = testing::unlikely_port();
  std::vector<testing::Fd> held = hold_in_flight(*ns, port, 2);
  ASSERT_EQ(held.size(), 2u);
  auto swept = probe.value()->sweep_pending(std::chrono::nanoseconds(0));
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_GE(swept.value(), 2u);
  held.clear();  // closing them now would count "aborted", had they not been swept
  auto keyed = testing::keys_with_dport(*probe.value(), port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 2u);
  EXPECT_EQ(testing::total_failed(keyed[0].second), 0u);
  // A generous age keeps connects that are legitimately in flight.
  EXPECT_EQ(probe.value()->sweep_pending(std::chrono::minutes(10)).value(), 0u);
}

}  // namespace
}  // namespace tcpconnect

namespace tcpconnect {
namespace {

// A probe whose stash array has two slots, and a namespace with a peer that never
// answers: four connects held in flight together cannot all have a slot, so at least two
// go to the overflow hash.
class ConnectProbeStashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    std::string error;
    ns_ = testing::BlackholeNetns::create(&error);
    ASSERT_TRUE(ns_) << error;
    ConnectProbe::Options options = stashing();
    options.stash_slots = 2;
    auto attached = ConnectProbe::attach(options);
    ASSERT_TRUE(attached) << attached.error().message;
    probe_ = std::move(attached).value();
  }

  std::unique_ptr<testing::BlackholeNetns> ns_;
  std::unique_ptr<ConnectProbe> probe_;
  const uint16_t port_ = testing::unlikely_port();
};

// Every outcome is still found, from a slot or from the overflow.
TEST_F(ConnectProbeStashTest, ConnectsBeyondTheSlotsGoToTheOverflowHash) {
  for (int round = 0; round < 3; ++round) {
    std::vector<testing::Fd> held = hold_in_flight(*ns_, port_, 4);
    ASSERT_EQ(held.size(), 4u);
    held.clear();  // abandoned in SYN_SENT: each an outcome "aborted"
  }
  auto keyed = testing::keys_with_dport(*probe_, port_);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 12u);
  EXPECT_EQ(keyed[0].second.failed[TC_FAIL_ABORTED], 12u);
  // Nothing left behind in either part of the stash.
  EXPECT_EQ(probe_->sweep_pending(std::chrono::nanoseconds(0)).value(), 0u);
}

// Connects in flight are read from the slots and from the overflow hash alike.
TEST_F(ConnectProbeStashTest, InFlightReadsSlotsAndOverflowAlike) {
  std::vector<testing::Fd> held = hold_in_flight(*ns_, port_, 4);
  ASSERT_EQ(held.size(), 4u);
  EXPECT_EQ(in_flight_to(*probe_, port_), 4u);
  held.clear();
  EXPECT_EQ(in_flight_to(*probe_, port_), 0u);
}

// The sweep claims stale entries from the slots and from the overflow hash alike.
TEST_F(ConnectProbeStashTest, SweepClaimsSlotsAndOverflowAlike) {
  std::vector<testing::Fd> held = hold_in_flight(*ns_, port_, 4);
  ASSERT_EQ(held.size(), 4u);
  auto swept = probe_->sweep_pending(std::chrono::nanoseconds(0));
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_EQ(swept.value(), 4u);
  held.clear();  // their outcomes find nothing left to count
  auto keyed = testing::keys_with_dport(*probe_, port_);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 4u);
  EXPECT_EQ(testing::total_failed(keyed[0].second), 0u);
}

}  // namespace
}  // namespace tcpconnect

namespace tcpconnect {
namespace {

// A Fast Open connect from inside `ns` to kLocal:port carrying "x"; its fd, or an empty
// one with *err set.
testing::Fd fast_open_connect(const testing::BlackholeNetns& ns, uint16_t port, int* err) {
  testing::Fd fd;
  *err = -ns.run([&] {
    fd = testing::Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return -errno;
    socklen_t len;
    sockaddr_storage ss = testing::make_addr(AF_INET, testing::BlackholeNetns::kLocal, port, &len);
    if (sendto(fd.get(), "x", 1, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&ss), len) != 1)
      return -errno;
    return 0;
  });
  return fd;
}

// A server's Fast Open child is accept()ed while still in SYN_RECV (its data came with
// the SYN), so it has its socket when the client's ACK ends the handshake: that is an
// inbound connection, no connect of this host, and counts nothing. A tenant running a
// Fast Open server cannot make the connections it accepts count as connects (to any
// address it likes) where outcomes are keyed from the socket. The client's ACK is held
// back by a rule in the test's own namespace until the child was accepted.
TEST(ConnectProbeFastOpenTest, AServersFastOpenChildIsNoConnect) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = testing::BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  ASSERT_EQ(ns->exec("ip link set lo up").status, 0);  // kLocal to itself goes by lo
  ASSERT_EQ(ns->exec("sysctl -qw net.ipv4.tcp_fastopen=3").status, 0);
  auto probe = ConnectProbe::attach(ConnectProbe::Options{});
  ASSERT_TRUE(probe) << probe.error().message;
  ASSERT_TRUE(probe.value()->in_flight_from_counts());
  const uint16_t port = testing::unlikely_port();
  testing::Fd server;
  ASSERT_EQ(ns->run([&] {
    server = testing::Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int qlen = 16;
    socklen_t len;
    sockaddr_storage ss = testing::make_addr(AF_INET, testing::BlackholeNetns::kLocal, port, &len);
    if (!server || setsockopt(server.get(), IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)) ||
        bind(server.get(), reinterpret_cast<sockaddr*>(&ss), len) || listen(server.get(), 16))
      return -errno;
    return 0;
  }),
            0);
  // The first connect fetches the cookie; the second sends its data with the SYN.
  int err = 0;
  testing::Fd first = fast_open_connect(*ns, port, &err);
  ASSERT_TRUE(first) << std::strerror(err);
  testing::Fd first_child(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(first_child);
  const std::string rule =
      "INPUT -p tcp --dport " + std::to_string(port) + " --tcp-flags SYN,ACK,FIN,RST ACK -j DROP";
  ASSERT_EQ(ns->exec("iptables -A " + rule).status, 0);
  testing::Fd second = fast_open_connect(*ns, port, &err);
  ASSERT_TRUE(second) << std::strerror(err);
  pollfd p{server.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1) << "no Fast Open child to accept";
  testing::Fd child(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(child);
  tcp_info info{};
  socklen_t len = sizeof(info);
  ASSERT_EQ(getsockopt(child.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  ASSERT_EQ(info.tcpi_state, TCP_SYN_RECV) << "the child was not accepted in SYN_RECV";
  sockaddr_in client{};
  socklen_t clen = sizeof(client);
  ASSERT_EQ(getsockname(second.get(), reinterpret_cast<sockaddr*>(&client), &clen), 0);
  // The server sends its SYN-ACK again (after a second); the client's ACK now passes.
  ASSERT_EQ(ns->exec("iptables -D " + rule).status, 0);
  for (int i = 0; i < 50 && info.tcpi_state != TCP_ESTABLISHED; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    len = sizeof(info);
    ASSERT_EQ(getsockopt(child.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  }
  ASSERT_EQ(info.tcpi_state, TCP_ESTABLISHED) << "the handshake did not end";

  // The two connects, established; nothing under the child's view of it (a "connect"
  // to the client's port).
  auto keyed = testing::keys_with_dport(*probe.value(), port);
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_EQ(keyed[0].second.attempts, 2u);
  EXPECT_EQ(keyed[0].second.established, 2u);
  EXPECT_TRUE(testing::keys_with_dport(*probe.value(), ntohs(client.sin_port)).empty());
}

}  // namespace
}  // namespace tcpconnect
