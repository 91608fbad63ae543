// Without a kernel: idle expiry (store and kernel keys), re-folds on label changes, the
// allowlist's unexpected connects, attempts settled by the stash sweep.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "common/series_by_labels.h"
#include "connect_collector.h"
#include "drain/drain.h"
#include "fake_connect_source.h"

namespace tcpconnect {
namespace {

using namespace std::chrono_literals;
using testing::counts;
using testing::FakeConnectSource;
using testing::v4_key;

template <typename V>
std::map<LabelValues, V> all(const CappedSeries<V>& s) {
  return testing::series_by_labels(s);
}

ConnectCounts attempts(uint64_t n) {
  ConnectCounts c;
  c.attempts = n;
  return c;
}

// --- the store ------------------------------------------------------------------------

TEST(SeriesExpiryTest, RemovesOnlySeriesThatDidNotGrowSinceTheCutoff) {
  SeriesStore store(2);
  const SteadyTime t0 = std::chrono::steady_clock::now();
  store.add_connects({"a"}, attempts(1), t0);
  store.add_connects({"b"}, attempts(1), t0);
  store.add_connects({"c"}, attempts(5), t0);  // over the cap of 2
  store.add_connects({"b"}, attempts(1), t0 + 10s);
  store.expire_idle(t0 + 5s);
  auto m = all(store.connects());
  EXPECT_EQ(m.size(), 2u);  // b and the overflow, which never expires
  EXPECT_EQ((m[{"b"}].attempts), 2u);
  EXPECT_EQ((m[{"<overflow>"}].attempts), 5u);
  EXPECT_EQ(store.expired().connects, 1u);
  // The expired series freed its slot under the cap: a new one fits again.
  store.add_connects({"d"}, attempts(1), t0 + 11s);
  EXPECT_EQ(all(store.connects()).count({"d"}), 1u);
  EXPECT_EQ(store.connects().size(), 2u);
}

TEST(SeriesExpiryTest, ReplaceKeepsSurvivingLabelSetsAndCapsTheRest) {
  SeriesStore store(3);
  store.add_connects({"a"}, attempts(10));
  store.add_connects({"b"}, attempts(4));
  SeriesStore::Contents next;
  next.label_names = {"daddr"};
  // a survives with its own value (a re-fold may compute another; the counter must not
  // jump or go back), c and d are new, e does not fit under the cap.
  next.connects = {
      {{"a"}, attempts(7)}, {{"c"}, attempts(3)}, {{"d"}, attempts(2)}, {{"e"}, attempts(1)}};
  store.replace(next, /*survive=*/true);
  auto m = all(store.connects());
  EXPECT_EQ((m[{"a"}].attempts), 10u);
  EXPECT_EQ((m[{"c"}].attempts), 3u);
  EXPECT_EQ(m.count({"b"}), 0u);
  EXPECT_EQ((m[{"<overflow>"}].attempts), 1u);
  EXPECT_EQ(store.label_names(), std::vector<std::string>{"daddr"});
  // Other label names: every set is new, values are the re-folded ones.
  store.replace(next, /*survive=*/false);
  EXPECT_EQ((all(store.connects())[{"a"}].attempts), 7u);
  // A re-fold is not traffic: the dropped counter stays.
  EXPECT_EQ(store.dropped().connects, 0u);
}

// --- the drain ------------------------------------------------------------------------

class CardinalityDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    drain.set_clock([this] { return now; });
  }
  void advance(std::chrono::milliseconds d) { now += d; }

  FakeConnectSource source;
  std::shared_ptr<SeriesStore> store = std::make_shared<SeriesStore>(100);
  Drain drain{source, store, LabelsConfig{}};
  SteadyTime now = std::chrono::steady_clock::now();
};

TEST_F(CardinalityDrainTest, IdleKeysAreDeletedWithTheirFinalCountsFolded) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr};
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  drain.set_idle_expiry(15s);
  auto busy = v4_key("127.0.0.1", "127.0.0.2", 80), idle = v4_key("127.0.0.1", "127.0.0.3", 80);
  source.connects = {{busy, counts(1)}, {idle, counts(4)}};
  ASSERT_TRUE(drain.run_once().ok());
  for (int i = 2; i <= 3; ++i) {
    advance(6s);
    source.connects[0].second = counts(i);
    ASSERT_TRUE(drain.run_once().ok());
  }
  // 18 s without growth: the idle key goes, and what it gained between the last read and
  // the delete (2) is folded.
  EXPECT_EQ(source.taken.size(), 0u);
  advance(6s);
  source.connects[0].second = counts(4);
  source.grow_on_take = counts(2);
  ASSERT_TRUE(drain.run_once().ok());
  ASSERT_EQ(source.taken.size(), 1u);
  EXPECT_EQ(std::memcmp(&source.taken[0], &idle, sizeof(idle)), 0);
  EXPECT_EQ(drain.expiry_stats().connect_keys_deleted, 1u);
  auto m = all(store->connects());
  EXPECT_EQ((m[{"127.0.0.2"}].attempts), 4u);
  // Grown at the delete: current again, so it stays one more idle period.
  EXPECT_EQ((m[{"127.0.0.3"}].attempts), 6u);
  source.grow_on_take = {};
  // Its series expires an idle period later; then it comes back: a new kernel entry
  // counts from zero, into a fresh series.
  advance(16s);
  source.connects = {{busy, counts(5)}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(all(store->connects()).count({"127.0.0.3"}), 0u);
  source.connects.push_back({idle, counts(1)});
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((all(store->connects())[{"127.0.0.3"}].attempts), 1u);
  EXPECT_EQ(store->expired().connects, 1u);
}

TEST_F(CardinalityDrainTest, NoExpiryByDefault) {
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(1)}};
  ASSERT_TRUE(drain.run_once().ok());
  advance(std::chrono::hours(24 * 365));
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_TRUE(source.taken.empty());
  EXPECT_EQ(store->connects().size(), 1u);
}

TEST_F(CardinalityDrainTest, LabelChangeRefoldsTheCumulativeCountsExactly) {
  ASSERT_TRUE(drain.configure(LabelsConfig{}, AllowlistConfig{}).ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(3, 3)},
                     {v4_key("127.0.0.1", "127.0.0.2", 443), counts(4, 0, 4)},
                     {v4_key("127.0.0.1", "127.0.0.9", 80), counts(5)}};
  ASSERT_TRUE(drain.run_once().ok());
  source.connects[0].second = counts(6, 6);  // grows before the reload's own drain
  LabelsConfig by_daddr;
  by_daddr.keep = {Label::kDaddr};
  ASSERT_TRUE(drain.configure(by_daddr, AllowlistConfig{}).ok());
  auto m = all(store->connects());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ((m[{"127.0.0.2"}].attempts), 10u);
  EXPECT_EQ((m[{"127.0.0.2"}].failed[TC_FAIL_REFUSED]), 4u);
  EXPECT_EQ((m[{"127.0.0.9"}].attempts), 5u);
  EXPECT_EQ(store->label_names(), std::vector<std::string>{"daddr"});
  // The kernel was told to drop saddr and dport (aggregation in the kernel from now on).
  EXPECT_EQ(source.key_fields_written.back(), TC_KEY_NO_SADDR | TC_KEY_NO_DPORT);
  // Growth after the reload goes on adding.
  source.connects[2].second = counts(7);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((all(store->connects())[{"127.0.0.9"}].attempts), 7u);
  // The collector renders the store's own label names.
  ConnectCollector collector(store, {"family", "saddr", "daddr", "dport", "dns_name"});
  auto families = collector.Collect();
  ASSERT_FALSE(families[0].metric.empty());
  ASSERT_EQ(families[0].metric[0].label.size(), 1u);
  EXPECT_EQ(families[0].metric[0].label[0].name, "daddr");
}

TEST_F(CardinalityDrainTest, SurvivingLabelSetsNeverJumpWhenOnlyValuesChange) {
  LabelsConfig ports;
  ports.keep = {Label::kDport};
  ports.collapse_ephemeral_dports = true;
  ports.ephemeral_port_min = 40000;
  ASSERT_TRUE(drain.configure(ports, AllowlistConfig{}).ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 35000), counts(5)},
                     {v4_key("127.0.0.1", "127.0.0.2", 45000), counts(2)}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((all(store->connects())[{"ephemeral"}].attempts), 2u);
  // 35000 becomes ephemeral too: the "ephemeral" series would jump to 7 if re-folded;
  // it keeps its 2 and grows from there, "35000" is gone.
  ports.ephemeral_port_min = 30000;
  ASSERT_TRUE(drain.configure(ports, AllowlistConfig{}).ok());
  auto m = all(store->connects());
  EXPECT_EQ((m[{"ephemeral"}].attempts), 2u);
  EXPECT_EQ(m.size(), 1u);
  source.connects[0].second = counts(6);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((all(store->connects())[{"ephemeral"}].attempts), 3u);
}

TEST_F(CardinalityDrainTest, UnexpectedConnectsMatchNoRule) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDport, Label::kDnsName};
  AllowlistConfig allow;
  allow.enabled = true;
  AllowRule web;
  web.cidr = parse_cidr("127.0.0.0/24").value();
  web.ports = {PortRange{80, 80}};
  AllowRule named;
  named.name = "*.example.com";
  allow.rules = {web, named};
  Drain named_drain(source, store, labels,
                    [](uint64_t, uint16_t, const uint8_t(&a)[16]) -> std::string {
                      return a[3] == 7 ? "api.example.com" : "";
                    });
  ASSERT_TRUE(named_drain.configure(labels, allow).ok());
  EXPECT_TRUE(store->unexpected_enabled());
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(3)},        // cidr + port
                     {v4_key("127.0.0.1", "127.0.0.2", 81), counts(2, 0, 2)},  // wrong port
                     {v4_key("127.0.0.1", "127.0.1.2", 80), counts(4)},        // outside the cidr
                     {v4_key("127.0.0.1", "127.0.1.7", 9), counts(5)}};        // by name
  ASSERT_TRUE(named_drain.run_once().ok());
  auto u = all(store->unexpected());
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ((u[{"127.0.0.2", "81", ""}].attempts), 2u);
  EXPECT_EQ((u[{"127.0.1.2", "80", ""}].attempts), 4u);
  // Same labels as connects_total, rendered only while an allowlist is configured.
  ConnectCollector collector(store, {});
  auto families = collector.Collect();
  ASSERT_EQ(families.size(), 6u);
  EXPECT_EQ(families[5].name, "tcpconnect_unexpected_connects_total");
  EXPECT_EQ(families[5].metric.size(), 2u);
  // A rule change applies from now on; the series counted so far stay.
  allow.rules.push_back(AllowRule{parse_cidr("127.0.1.0/24").value(), "", {}});
  ASSERT_TRUE(named_drain.configure(labels, allow).ok());
  source.connects[2].second = counts(9);
  ASSERT_TRUE(named_drain.run_once().ok());
  EXPECT_EQ((all(store->unexpected())[{"127.0.1.2", "80", ""}].attempts), 4u);
  // No allowlist: no such family at all.
  ASSERT_TRUE(named_drain.configure(labels, AllowlistConfig{}).ok());
  EXPECT_FALSE(store->unexpected_enabled());
  EXPECT_EQ(collector.Collect().size(), 5u);
}

TEST_F(CardinalityDrainTest, SettledAttemptsCountOnceAndSurviveRefolds) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kLport};
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  tc_connect_key k = v4_key("127.0.0.1", "127.0.0.2", 80);
  k.fields = TC_KEY_LPORT;
  drain.add_settled_attempts({k, k});
  EXPECT_EQ((all(store->connects())[{"127.0.0.2", "0"}].attempts), 2u);
  labels.keep = {Label::kDaddr};
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  EXPECT_EQ((all(store->connects())[{"127.0.0.2"}].attempts), 2u);
}

}  // namespace
}  // namespace tcpconnect
