// Labels from the kernel's keys with real traffic: uid (setpriv), pid (a child), comm (a
// thread's name), unit (a cgroup the test makes), lport (assigned after SYN_SENT: counted
// at the next transition, exactly once), dropped fields aggregating in the kernel, CIDR
// bucketing and port collapsing through the drain, and idle keys deleted with their
// final counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>

#include "common/net.h"
#include "drain/drain.h"
#include "filter_testing.h"
#include "metrics/labels.h"
#include "probe_testing.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

using namespace testing;

class KeyLabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (loads BPF programs into the kernel)";
    auto attached = ConnectProbe::attach(ConnectProbe::Options{});
    ASSERT_TRUE(attached) << attached.error().message;
    probe = std::move(attached).value();
  }
  void keep(uint32_t fields) { ASSERT_TRUE(probe->set_key_fields(fields)); }
  void only_port(uint16_t port) {
    FiltersConfig f;
    f.ports = {PortRange{port, port}};
    ASSERT_TRUE(probe->filters().apply(f));
  }

  std::unique_ptr<ConnectProbe> probe;
};

TEST_F(KeyLabelsTest, UidPidAndCommAreTheCallers) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  keep(TC_KEY_UID | TC_KEY_TGID | TC_KEY_COMM);
  CommandResult r = run_command(
      "setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'for i in 1 2; do exec "
      "3<>/dev/tcp/127.0.0.1/" +
      std::to_string(l.port) + "; exec 3>&-; done'");
  ASSERT_EQ(r.status, 0) << r.output;
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
  const uint32_t child_pid = static_cast<uint32_t>(child.pid());
  EXPECT_EQ(child.release_and_wait(), 3);
  run_as_comm("tcx-label-comm", [&] { connect_and_accept(l, AF_INET, "127.0.0.1", 4); });
  drain_accepts(l);

  uint64_t by_nobody = 0, by_child = 0, by_thread = 0;
  for (const auto& [k, c] : keys_with_dport(*probe, l.port)) {
    EXPECT_EQ(k.fields, TC_KEY_UID | TC_KEY_TGID | TC_KEY_COMM);
    if (k.uid == 65534) {
      by_nobody += c.attempts;
      EXPECT_STREQ(k.comm, "bash");
    } else if (k.tgid == child_pid) {
      by_child += c.attempts;
      EXPECT_EQ(k.uid, 0u);
    } else if (std::string(k.comm) == "tcx-label-comm") {
      by_thread += c.attempts;
      EXPECT_EQ(k.tgid, static_cast<uint32_t>(getpid()));
    } else {
      ADD_FAILURE() << "unexpected key: uid " << k.uid << " pid " << k.tgid << " comm " << k.comm;
    }
  }
  EXPECT_EQ(by_nobody, 2u);
  EXPECT_EQ(by_child, 3u);
  EXPECT_EQ(by_thread, 4u);
}

TEST_F(KeyLabelsTest, UnitComesFromTheCgroupPath) {
  std::string error;
  const std::string scope = "tcx-unit-" + std::to_string(getpid()) + ".scope";
  auto cg = TestCgroup::create("tcx-unit-" + std::to_string(getpid()) + ".slice/" + scope, &error);
  ASSERT_TRUE(cg) << error;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  only_port(l.port);
  LabelsConfig labels;
  labels.keep = {Label::kDport, Label::kUnit};
  auto store = std::make_shared<SeriesStore>(1000);
  Drain drain(*probe, store, labels);
  CgroupUnits units(cgroup2_mount());
  drain.set_unit_namer([&](uint64_t id) { return units.unit_of(id); },
                       [&] { units.begin_round(); });
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}));
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
  ASSERT_TRUE(cg->add_process(child.pid()));
  EXPECT_EQ(child.release_and_wait(), 3);
  ASSERT_TRUE(drain.run_once());
  auto keys = keys_with_dport(*probe, l.port);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].first.cgroup_id, cg->id());
  std::map<LabelValues, uint64_t> got;
  store->connects().for_each([&](const LabelValues* v, const ConnectCounts& c) {
    if (v) got[*v] = c.attempts;
  });
  EXPECT_EQ((got[{std::to_string(l.port), scope}]), 3u);
  EXPECT_EQ(units.walks(), 1u);
}

// The local port is assigned after CLOSE -> SYN_SENT; the attempt is counted at the next
// transition with it, once, whether the connect establishes, is refused or is abandoned.
TEST_F(KeyLabelsTest, LocalPortOfEveryOutcomeCountedOnce) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  const uint16_t closed = closed_port(AF_INET, "127.0.0.1");
  keep(TC_KEY_LPORT);
  std::set<uint16_t> established, refused;
  for (int i = 0; i < 5; ++i) {
    int err = -1;
    established.insert(connect_reporting_lport(AF_INET, "127.0.0.1", l.port, &err));
    ASSERT_EQ(err, 0);
    drain_accepts(l);
  }
  for (int i = 0; i < 3; ++i) {
    int err = -1;
    refused.insert(connect_reporting_lport(AF_INET, "127.0.0.1", closed, &err));
    ASSERT_EQ(err, ECONNREFUSED);
  }
  // Bound by the application: the port is known at SYN_SENT already.
  const uint16_t bound_port = closed_port(AF_INET, "127.0.0.1");
  int err = -1;
  ASSERT_EQ(connect_reporting_lport(AF_INET, "127.0.0.1", l.port, &err, bound_port), bound_port);
  ASSERT_EQ(err, 0);
  drain_accepts(l);
  established.insert(bound_port);
  ASSERT_EQ(established.size(), 6u);
  ASSERT_EQ(refused.size(), 3u);

  std::set<uint16_t> seen_established, seen_refused;
  for (const auto& [k, c] : keys_with_dport(*probe, l.port)) {
    EXPECT_EQ(c.attempts, 1u);
    EXPECT_EQ(c.established, 1u);
    seen_established.insert(k.lport);
  }
  for (const auto& [k, c] : keys_with_dport(*probe, closed)) {
    EXPECT_EQ(c.attempts, 1u);
    EXPECT_EQ(c.failed[TC_FAIL_REFUSED], 1u);
    seen_refused.insert(k.lport);
  }
  EXPECT_EQ(seen_established, established);
  EXPECT_EQ(seen_refused, refused);
}

TEST_F(KeyLabelsTest, DeferredAttemptAppearsAtItsOutcomeOrWhenTheSweepSettlesIt) {
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  keep(TC_KEY_LPORT);
  const uint16_t port = unlikely_port();
  only_port(port);
  // In flight (nothing answers): not counted yet; abandoned: counted, with its port.
  int rc = ns->run([&] {
    int e = 0;
    Fd fd = start_connect(AF_INET, BlackholeNetns::kBlackhole, port, &e);
    if (e) return e;
    if (!keys_with_dport(*probe, port).empty()) return -1000;
    return 0;
  });
  ASSERT_EQ(rc, 0);
  auto keys = keys_with_dport(*probe, port);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].second.attempts, 1u);
  EXPECT_EQ(keys[0].second.failed[TC_FAIL_ABORTED], 1u);
  EXPECT_NE(keys[0].first.lport, 0u);

  // The outcome never seen: the sweep claims the attempt and hands it back, and the
  // late outcome finds nothing to count.
  std::vector<tc_connect_key> deferred;
  rc = ns->run([&] {
    int e = 0;
    Fd fd = start_connect(AF_INET, BlackholeNetns::kBlackhole, port, &e);
    if (e) return e;
    auto swept = probe->sweep_pending(std::chrono::nanoseconds(0), &deferred);
    return swept ? 0 : -1;
  });
  ASSERT_EQ(rc, 0);
  size_t ours = 0;
  for (const tc_connect_key& k : deferred) ours += k.dport == port;
  EXPECT_EQ(ours, 1u);
  keys = keys_with_dport(*probe, port);
  ASSERT_EQ(keys.size(), 1u);  // only the first connect's key
  EXPECT_EQ(keys[0].second.attempts, 1u);
}

TEST_F(KeyLabelsTest, DroppedFieldsAggregateInTheKernel) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  only_port(port);
  keep(TC_KEY_NO_SADDR);
  for (const char* ip : {"127.0.0.1", "127.0.0.1", "127.0.0.3"})
    ASSERT_EQ(connect_once(AF_INET, ip, port), ECONNREFUSED);
  auto keys = keys_with_dport(*probe, port);
  ASSERT_EQ(keys.size(), 2u);  // per destination; no source address
  for (const auto& [k, c] : keys) {
    EXPECT_EQ(key_addr(k.saddr), KeyAddr{});
    EXPECT_EQ(c.attempts, format_address(k.family, k.daddr) == "127.0.0.1" ? 2u : 1u);
  }
  keep(TC_KEY_NO_SADDR | TC_KEY_NO_DPORT);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.3", port), ECONNREFUSED);
  uint64_t to_3 = 0;
  for (const auto& [k, c] : all_keys(*probe))
    if (k.dport == 0 && k.fields == (TC_KEY_NO_SADDR | TC_KEY_NO_DPORT) &&
        format_address(k.family, k.daddr) == "127.0.0.3")
      to_3 += c.attempts;
  EXPECT_EQ(to_3, 3u);
}

TEST_F(KeyLabelsTest, BucketedDestinationsAndCollapsedPortsThroughTheDrain) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  FiltersConfig f;
  f.include_cidrs = {parse_cidr("127.0.0.0/8").value()};
  f.ports = {PortRange{port, port}};
  ASSERT_TRUE(probe->filters().apply(f));
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDport};
  labels.daddr_prefix_v4 = 24;
  labels.collapse_ephemeral_dports = true;
  labels.ephemeral_port_min = 1;
  auto store = std::make_shared<SeriesStore>(1000);
  Drain drain(*probe, store, labels);
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}));
  for (const char* ip : {"127.0.7.1", "127.0.7.2", "127.0.7.3", "127.0.8.1"})
    ASSERT_EQ(connect_once(AF_INET, ip, port), ECONNREFUSED);
  ASSERT_TRUE(drain.run_once());
  std::map<LabelValues, uint64_t> got;
  store->connects().for_each([&](const LabelValues* v, const ConnectCounts& c) {
    if (v) got[*v] = c.attempts;
  });
  EXPECT_EQ(got, (std::map<LabelValues, uint64_t>{{{"127.0.7.0/24", "ephemeral"}, 3},
                                                  {{"127.0.8.0/24", "ephemeral"}, 1}}));
}

TEST_F(KeyLabelsTest, IdleKeyIsDeletedWithItsFinalCount) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  only_port(port);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.9", port), ECONNREFUSED);
  auto keys = keys_with_dport(*probe, port);
  ASSERT_EQ(keys.size(), 1u);
  auto taken = probe->take_connects(keys[0].first);
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_TRUE(taken.value());
  EXPECT_EQ(taken.value()->attempts, 3u);
  EXPECT_EQ(taken.value()->failed[TC_FAIL_REFUSED], 3u);
  EXPECT_TRUE(keys_with_dport(*probe, port).empty());
  // Gone twice is not an error; a new entry counts from zero.
  ASSERT_FALSE(probe->take_connects(keys[0].first).value());
  for (int i = 0; i < 2; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.9", port), ECONNREFUSED);
  EXPECT_EQ(keys_with_dport(*probe, port).at(0).second.attempts, 2u);
}

}  // namespace
}  // namespace tcpconnect
