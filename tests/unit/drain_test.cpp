#include "drain/drain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common/series_by_labels.h"
#include "drain/drain_loop.h"
#include "fake_connect_source.h"
#include "metrics/text_renderer.h"

namespace tcpconnect {
namespace {

using testing::counts;
using testing::FakeConnectSource;
using testing::v4_key;

std::map<LabelValues, ConnectCounts> by_labels(const SeriesStore& store) {
  return testing::series_by_labels(store.connects());
}

class DrainTest : public ::testing::Test {
 protected:
  FakeConnectSource source;
  std::shared_ptr<SeriesStore> store = std::make_shared<SeriesStore>(100);
};

// Two processes whose names differ only in bytes that are not UTF-8 make one series:
// the values are made safe before they key the store, so no scrape holds two series
// with the same labels.
TEST_F(DrainTest, NamesThatReadTheSameMakeOneSeries) {
  LabelsConfig labels;
  labels.keep = {Label::kDport, Label::kComm};
  Drain drain(source, store, labels);
  tc_connect_key a = v4_key("127.0.0.1", "127.0.0.2", 80), b = a;
  a.fields = b.fields = TC_KEY_COMM;
  std::strcpy(a.comm, "tcx\xFF");
  std::strcpy(b.comm, "tcx\xFE");
  source.connects = {{a, counts(2)}, {b, counts(3)}};
  ASSERT_TRUE(drain.run_once().ok());
  auto m = by_labels(*store);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ((m[{"80", "tcx\xEF\xBF\xBD"}].attempts), 5u);
}

TEST_F(DrainTest, FoldsOnlyTheGrowthOfCumulativeCounts) {
  Drain drain(source, store, LabelsConfig{});
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(3, 3)}};
  ASSERT_TRUE(drain.run_once().ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(5, 4, 1)}};
  ASSERT_TRUE(drain.run_once().ok());
  ASSERT_TRUE(drain.run_once().ok());  // nothing new: nothing added
  auto m = by_labels(*store);
  LabelValues labels{"ipv4", "127.0.0.1", "127.0.0.2", "80", ""};
  ASSERT_EQ(m.count(labels), 1u);
  EXPECT_EQ(m[labels].attempts, 5u);
  EXPECT_EQ(m[labels].established, 4u);
  EXPECT_EQ(m[labels].failed[TC_FAIL_REFUSED], 1u);
}

// SYN retransmissions fold like the other counts, also when they are all that grew, and
// series over the cap bring theirs to the overflow series.
TEST_F(DrainTest, FoldsSynRetransmitsIntoTheConnectSeries) {
  store = std::make_shared<SeriesStore>(1);
  Drain drain(source, store, LabelsConfig{});
  tc_connect_counts first = counts(2, 2);
  first.syn_retransmits = 3;
  tc_connect_counts other = counts(1, 0, 1);
  other.syn_retransmits = 5;
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), first}};
  ASSERT_TRUE(drain.run_once().ok());
  first.syn_retransmits = 4;
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), first},
                     {v4_key("127.0.0.1", "127.0.0.3", 80), other}};
  ASSERT_TRUE(drain.run_once().ok());
  auto m = by_labels(*store);
  LabelValues labels{"ipv4", "127.0.0.1", "127.0.0.2", "80", ""};
  EXPECT_EQ(m[labels].attempts, 2u);
  EXPECT_EQ(m[labels].syn_retransmits, 4u);
  EXPECT_EQ((m[{"<overflow>"}].syn_retransmits), 5u);
}

// The in-flight gauge is what the latest drain found waiting, under the connect labels
// and caps: several keys of one label set add up, a label set beyond the cap is in the
// overflow series, and a series goes away once nothing is left waiting. A reload's
// re-fold drops the old labels' values.
TEST_F(DrainTest, InFlightIsTheLatestDrainsCountUnderTheConnectCaps) {
  store = std::make_shared<SeriesStore>(1);
  LabelsConfig labels;
  labels.keep = {Label::kDaddr};
  Drain drain(source, store, labels);
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  const tc_connect_key a1 = v4_key("127.0.0.1", "127.0.0.2", 80);
  const tc_connect_key a2 = v4_key("127.0.0.3", "127.0.0.2", 443);  // same daddr
  const tc_connect_key b = v4_key("127.0.0.1", "127.0.0.4", 80);    // beyond the cap
  source.connects = {{a1, counts(1)}, {a2, counts(1)}, {b, counts(1)}};
  source.in_flight = {a1, a2, b};
  ASSERT_TRUE(drain.run_once().ok());
  SeriesStore::InFlight f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].first, (LabelValues{"127.0.0.2"}));
  EXPECT_EQ(f.series[0].second, 2u);
  EXPECT_EQ(f.overflow, 1u);

  source.in_flight = {a2};
  ASSERT_TRUE(drain.run_once().ok());
  f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].second, 1u);
  EXPECT_EQ(f.overflow, 0u);

  source.in_flight.clear();
  ASSERT_TRUE(drain.run_once().ok());
  f = store->in_flight();
  EXPECT_TRUE(f.series.empty());
  EXPECT_EQ(f.overflow, 0u);

  source.in_flight = {a1};
  ASSERT_TRUE(drain.run_once().ok());
  labels.keep = {Label::kDport};
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  EXPECT_TRUE(store->in_flight().series.empty());
  ASSERT_TRUE(drain.run_once().ok());
  f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].first, (LabelValues{"80"}));
}

// Where the kernel reads outcomes' keys from the socket, a key's connects in flight are
// its attempts less its outcomes, under the same caps.
TEST_F(DrainTest, InFlightFromCountsIsAttemptsLessOutcomes) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr};
  Drain drain(source, store, labels);
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  source.counts_in_flight = true;
  source.in_flight = {v4_key("127.0.0.1", "127.0.0.9", 80)};  // not asked for
  tc_connect_counts a = counts(5, 2, 1);
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), a},
                     {v4_key("127.0.0.3", "127.0.0.2", 81), counts(2, 1)},
                     {v4_key("127.0.0.1", "127.0.0.4", 80), counts(3, 3)}};
  ASSERT_TRUE(drain.run_once().ok());
  SeriesStore::InFlight f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].first, (LabelValues{"127.0.0.2"}));
  EXPECT_EQ(f.series[0].second, 3u);
  // Outcomes whose attempt was never seen (the probe attached in between) take nothing
  // from another key, and hide no later connect in flight on their own.
  source.connects[1].second = counts(2, 4);
  ASSERT_TRUE(drain.run_once().ok());
  f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].second, 2u);
  source.connects[1].second = counts(3, 4);
  ASSERT_TRUE(drain.run_once().ok());
  f = store->in_flight();
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].second, 3u);
}

// Attempts a key still lacks outcomes for after kOutcomeMaxWait without growth had their
// outcome missed: they leave the gauge, are counted once, and the key may expire; an
// outcome that turns up late brings nothing back.
TEST_F(DrainTest, UnansweredAttemptsOfAQuietKeyAreWrittenOffOnce) {
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
  Drain drain(source, store, LabelsConfig{});
  drain.set_clock([&] { return now; });
  drain.set_idle_expiry(std::chrono::seconds(1));
  ASSERT_TRUE(drain.configure(LabelsConfig{}, AllowlistConfig{}).ok());
  source.counts_in_flight = true;
  const tc_connect_key k = v4_key("127.0.0.1", "127.0.0.2", 80);
  source.connects = {{k, counts(3, 1)}};
  ASSERT_TRUE(drain.run_once().ok());
  ASSERT_EQ(store->in_flight().series.size(), 1u);
  EXPECT_EQ(store->in_flight().series[0].second, 2u);
  // Idle for longer than the expiry, but connects are in flight: the key stays.
  now += std::chrono::minutes(5);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_TRUE(source.taken.empty());
  EXPECT_EQ(store->in_flight().series[0].second, 2u);
  EXPECT_EQ(drain.outcomes_written_off(), 0u);
  now += kOutcomeMaxWait;
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_TRUE(store->in_flight().series.empty());
  EXPECT_EQ(drain.outcomes_written_off(), 2u);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(drain.outcomes_written_off(), 2u);
  // Nothing in flight any more: the idle key goes.
  now += std::chrono::seconds(2);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(source.taken.size(), 1u);
}

// A key the stash holds connects of is expired when idle, as before: the stash, not the
// counts, says what is in flight there.
TEST_F(DrainTest, KeysExpireWhileTheStashHoldsTheirConnects) {
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
  Drain drain(source, store, LabelsConfig{});
  drain.set_clock([&] { return now; });
  drain.set_idle_expiry(std::chrono::seconds(1));
  ASSERT_TRUE(drain.configure(LabelsConfig{}, AllowlistConfig{}).ok());
  const tc_connect_key k = v4_key("127.0.0.1", "127.0.0.2", 80);
  source.connects = {{k, counts(3, 1)}};
  ASSERT_TRUE(drain.run_once().ok());
  now += std::chrono::seconds(2);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(source.taken.size(), 1u);
}

// The DNS layer's per-destination activity: each destination's attempts since the last
// take summed over its keys, with the latest attempt's time; a key recreated after
// expiry adds what it counted anew; a take leaves nothing behind; only when asked for.
TEST_F(DrainTest, DestinationActivityFoldsEachDestinationsKeys) {
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
  Drain drain(source, store, LabelsConfig{});
  drain.set_clock([&] { return now; });
  ASSERT_TRUE(drain.configure(LabelsConfig{}, AllowlistConfig{}).ok());
  auto take = [&] {
    std::map<uint8_t, tc_dest_activity> out;
    EXPECT_TRUE(
        drain.destinations()
            .take([&](const tc_latency_key& k, const tc_dest_activity& a) { out[k.daddr[3]] = a; })
            .ok());
    return out;
  };
  tc_connect_counts a = counts(2), b = counts(3), c = counts(1);
  a.last_connect_ns = 100;
  b.last_connect_ns = 200;
  c.last_connect_ns = 150;
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), a},
                     {v4_key("127.0.0.1", "127.0.0.2", 443), b},
                     {v4_key("127.0.0.1", "127.0.0.3", 80), c}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_TRUE(take().empty());
  drain.set_track_destinations(true);
  source.connects[0].second.attempts = 4;
  source.connects[0].second.last_connect_ns = 300;
  source.connects[1].second.attempts = 4;
  source.connects[1].second.last_connect_ns = 250;
  ASSERT_TRUE(drain.run_once().ok());
  auto got = take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[2].connects, 3u);
  EXPECT_EQ(got[2].last_connect_ns, 300u);
  EXPECT_EQ(drain.destinations().size(), 0u);
  // An older time written late (an attempt settled after a newer one) is no growth of
  // its own and does not make the key look recreated.
  source.connects[0].second.last_connect_ns = 50;
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_TRUE(take().empty());
  EXPECT_EQ((by_labels(*store)[{"ipv4", "127.0.0.1", "127.0.0.2", "80", ""}].attempts), 4u);
  // A key expired and made anew: its new attempts, once.
  drain.set_idle_expiry(std::chrono::seconds(1));
  now += std::chrono::seconds(2);
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(source.connects.size(), 0u);
  tc_connect_counts again = counts(1);
  again.last_connect_ns = 400;
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), again}};
  ASSERT_TRUE(drain.run_once().ok());
  got = take();
  EXPECT_EQ(got[2].connects, 1u);
  EXPECT_EQ(got[2].last_connect_ns, 400u);
}

TEST_F(DrainTest, DroppedLabelsAggregate) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr};
  Drain drain(source, store, labels);
  source.connects = {{v4_key("127.0.0.1", "127.0.0.9", 80), counts(2)},
                     {v4_key("127.0.0.3", "127.0.0.9", 443), counts(5)}};
  ASSERT_TRUE(drain.run_once().ok());
  auto m = by_labels(*store);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ((m[{"127.0.0.9"}].attempts), 7u);
}

TEST_F(DrainTest, RecreatedKernelEntryCountsFromZero) {
  Drain drain(source, store, LabelsConfig{});
  auto key = v4_key("127.0.0.1", "127.0.0.2", 80);
  source.connects = {{key, counts(10)}};
  ASSERT_TRUE(drain.run_once().ok());
  source.connects = {{key, counts(2)}};  // deleted and counted anew in the kernel
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(by_labels(*store).begin()->second.attempts, 12u);
}

TEST_F(DrainTest, KeyReturnedTwiceInOneWalkIsNotCountedTwice) {
  Drain drain(source, store, LabelsConfig{});
  auto key = v4_key("127.0.0.1", "127.0.0.2", 80);
  source.connects = {{key, counts(4)}, {key, counts(6)}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(by_labels(*store).begin()->second.attempts, 6u);
}

TEST_F(DrainTest, PartialWalkFoldsWhatItSawOnce) {
  Drain drain(source, store, LabelsConfig{});
  auto a = v4_key("127.0.0.1", "127.0.0.2", 80), b = v4_key("127.0.0.1", "127.0.0.3", 80);
  source.connects = {{a, counts(1)}, {b, counts(1)}};
  source.fail_connects_after_one = true;
  EXPECT_FALSE(drain.run_once().ok());
  source.fail_connects_after_one = false;
  ASSERT_TRUE(drain.run_once().ok());
  uint64_t total = 0;
  for (auto& [l, c] : by_labels(*store)) total += c.attempts;
  EXPECT_EQ(total, 2u);
}

TEST_F(DrainTest, KernelMapFullGoesToOverflowSoTotalsStayExact) {
  Drain drain(source, store, LabelsConfig{});
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(3)}};
  source.errors[TC_ERR_CONNECTS_FULL] = 4;
  ASSERT_TRUE(drain.run_once().ok());
  source.errors[TC_ERR_CONNECTS_FULL] = 6;
  ASSERT_TRUE(drain.run_once().ok());
  auto m = by_labels(*store);
  EXPECT_EQ((m[{"<overflow>"}].attempts), 6u);
  EXPECT_EQ(drain.kernel_errors()[TC_ERR_CONNECTS_FULL], 6u);
}

std::map<LabelValues, uint64_t> unexpected_by_labels(const SeriesStore& store) {
  return testing::series_by_labels(store.unexpected(), &UnexpectedCounts::attempts);
}

// Everything on loopback is allowed: only what cannot be checked is unexpected.
AllowlistConfig allow_loopback() {
  AllowlistConfig allow;
  allow.enabled = true;
  AllowRule rule;
  rule.cidr = parse_cidr("127.0.0.0/8").value();
  allow.rules = {rule};
  return allow;
}

TEST_F(DrainTest, KernelMapFullCountsAsUnexpectedInTheOverflowSeries) {
  Drain drain(source, store, LabelsConfig{});
  ASSERT_TRUE(drain.configure(LabelsConfig{}, allow_loopback()).ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(3)}};
  source.errors[TC_ERR_CONNECTS_FULL] = 4;
  ASSERT_TRUE(drain.run_once().ok());
  source.errors[TC_ERR_CONNECTS_FULL] = 6;
  ASSERT_TRUE(drain.run_once().ok());
  auto u = unexpected_by_labels(*store);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ((u[{"<overflow>"}]), 6u);
  // A re-fold under other labels counts them again from the kernel's totals.
  LabelsConfig daddr_only;
  daddr_only.keep = {Label::kDaddr};
  ASSERT_TRUE(drain.configure(daddr_only, allow_loopback()).ok());
  EXPECT_EQ((unexpected_by_labels(*store)[{"<overflow>"}]), 6u);
  source.errors[TC_ERR_CONNECTS_FULL] = 7;
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((unexpected_by_labels(*store)[{"<overflow>"}]), 7u);
  // Rendered with every label "overflow", like the connects' overflow series.
  std::string text;
  render_connect_series(*store, store->label_names(), text);
  EXPECT_NE(text.find("tcpconnect_unexpected_connects_total{daddr=\"overflow\"} 7\n"),
            std::string::npos)
      << text;
}

TEST_F(DrainTest, KernelMapFullWithoutAllowlistIsNotUnexpected) {
  Drain drain(source, store, LabelsConfig{});
  ASSERT_TRUE(drain.configure(LabelsConfig{}, AllowlistConfig{}).ok());
  source.errors[TC_ERR_CONNECTS_FULL] = 4;
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_FALSE(store->unexpected_enabled());
  EXPECT_TRUE(unexpected_by_labels(*store).empty());
}

TEST_F(DrainTest, UnexpectedBeyondTheSeriesCapStaysUnexpected) {
  store = std::make_shared<SeriesStore>(1);
  AllowlistConfig allow = allow_loopback();
  allow.rules[0].cidr = parse_cidr("127.0.0.0/24").value();
  Drain drain(source, store, LabelsConfig{});
  ASSERT_TRUE(drain.configure(LabelsConfig{}, allow).ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.1.2", 80), counts(2)},
                     {v4_key("127.0.0.1", "127.0.1.3", 80), counts(5)},
                     {v4_key("127.0.0.1", "127.0.0.4", 80), counts(9)}};
  ASSERT_TRUE(drain.run_once().ok());
  uint64_t total = 0;
  for (const auto& [labels, n] : unexpected_by_labels(*store)) total += n;
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(unexpected_by_labels(*store).count({"<overflow>"}), 1u);
}

TEST_F(DrainTest, NameRuleWithoutAKnownNameIsUnexpected) {
  AllowlistConfig allow;
  allow.enabled = true;
  AllowRule named;
  named.name = "*.example.com";
  allow.rules = {named};
  // The answer that named 127.0.1.7 is gone (evicted, or lost with a full ring).
  Drain drain(source, store, LabelsConfig{},
              [](uint64_t, uint16_t, const uint8_t(&)[16]) -> std::string { return ""; });
  ASSERT_TRUE(drain.configure(LabelsConfig{}, allow).ok());
  source.connects = {{v4_key("127.0.0.1", "127.0.1.7", 443), counts(3)}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ((unexpected_by_labels(*store)[{"ipv4", "127.0.0.1", "127.0.1.7", "443", ""}]), 3u);
}

TEST_F(DrainTest, NamerFillsDnsNameAndLatencyUsesNameOverAddress) {
  Drain drain(source, store, LabelsConfig{},
              [](uint64_t, uint16_t, const uint8_t(&a)[16]) -> std::string {
                return a[3] == 2 ? "db.example" : "";
              });
  tc_connect_counts c = counts(2, 2);
  c.latency.count = 2;
  c.latency.sum_ns = 3000;
  c.latency.buckets[0] = 2;
  source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), c},
                     {v4_key("127.0.0.1", "127.0.0.3", 80), c}};
  ASSERT_TRUE(drain.run_once().ok());
  EXPECT_EQ(by_labels(*store).begin()->first[4], "db.example");
  std::map<LabelValues, uint64_t> lat;
  store->latency().for_each(
      [&](const LabelValues* l, const LatencyCounts& c) { lat[*l] = c.count; });
  EXPECT_EQ((lat[{"db.example", ""}]), 2u);
  EXPECT_EQ((lat[{"", "127.0.0.3"}]), 2u);
}

// The stale verdict is asked per key with attempts that grew in the drain, at that
// drain: the attempts that grew while the checker says stale count, the others not.
TEST_F(DrainTest, StaleCheckerCountsTheAttemptsThatGrewWhileStale) {
  Drain drain(source, store, LabelsConfig{},
              [](uint64_t, uint16_t, const uint8_t(&)[16]) -> std::string { return "api.test"; });
  bool stale = false;
  int asked = 0;
  drain.set_stale_checker([&](uint64_t, uint16_t, const uint8_t(&a)[16]) {
    ++asked;
    return stale && a[3] == 2;
  });
  const auto to2 = v4_key("127.0.0.1", "127.0.0.2", 80), to3 = v4_key("127.0.0.1", "127.0.0.3", 80);
  source.connects = {{to2, counts(2)}, {to3, counts(1)}};
  ASSERT_TRUE(drain.run_once().ok());
  stale = true;
  source.connects = {{to2, counts(5)}, {to3, counts(4)}};
  ASSERT_TRUE(drain.run_once().ok());
  asked = 0;
  ASSERT_TRUE(drain.run_once().ok());  // nothing grew: not asked, nothing added
  EXPECT_EQ(asked, 0);
  auto m = testing::series_by_labels(store->stale(), &UnexpectedCounts::attempts);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ((m[{"ipv4", "127.0.0.1", "127.0.0.2", "80", "api.test"}]), 3u);
}

TEST_F(DrainTest, Ipv6KeysRender) {
  Drain drain(source, store, LabelsConfig{});
  tc_connect_key k{};
  k.family = TC_AF_INET6;
  k.saddr[15] = 1;
  k.daddr[15] = 1;
  k.dport = 8080;
  EXPECT_THAT(drain.connect_labels(k), ::testing::ElementsAre("ipv6", "::1", "::1", "8080", ""));
}

// The kinds of drain the loop ran, as the before-read hook saw them.
struct KindLog {
  std::mutex mu;
  std::vector<DrainKind> kinds;
  void add(DrainKind k) {
    std::lock_guard<std::mutex> lock(mu);
    kinds.push_back(k);
  }
  std::vector<DrainKind> get() {
    std::lock_guard<std::mutex> lock(mu);
    return kinds;
  }
};

// A scrape's drain folds the counts but is not the periodic one (which alone walks the
// destinations' activity for DNS attribution): with an interval longer than the test, every
// drain is a scrape's, and each is exact.
TEST_F(DrainTest, LoopDrainsForScrapesAreNotPeriodic) {
  Drain drain(source, store, LabelsConfig{});
  KindLog log;
  drain.set_before_read([&](DrainKind k) { log.add(k); });
  SelfMetrics self;
  {
    DrainLoop loop(drain, self, std::chrono::hours(1));
    for (uint64_t i = 1; i <= 5; ++i) {
      source.connects = {{v4_key("127.0.0.1", "127.0.0.2", 80), counts(i)}};
      loop.drain_now(std::chrono::minutes(1));
      EXPECT_EQ(by_labels(*store).begin()->second.attempts, i);
    }
  }
  EXPECT_EQ(log.get(), std::vector<DrainKind>(5, DrainKind::kScrape));
}

// Periodic drains keep coming, alone and while scrapes ask for drains more often than
// the interval (a scrape's drain that finds the periodic one due is it).
TEST_F(DrainTest, LoopKeepsPeriodicDrainsAmongScrapes) {
  Drain drain(source, store, LabelsConfig{});
  KindLog log;
  drain.set_before_read([&](DrainKind k) { log.add(k); });
  SelfMetrics self;
  auto periodic = [&] {
    auto k = log.get();
    return static_cast<size_t>(std::count(k.begin(), k.end(), DrainKind::kPeriodic));
  };
  DrainLoop loop(drain, self, std::chrono::milliseconds(20));
  for (int i = 0; i < 2000 && periodic() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GE(periodic(), 1u);  // alone
  const size_t before = periodic();
  const size_t drains_before = log.get().size();
  // Scrapes 1 ms apart: the loop's own timer never runs out between two of them.
  for (int i = 0; i < 20000 && periodic() < before + 2; ++i) {
    loop.drain_now(std::chrono::minutes(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(periodic(), before + 2);
  // Not every one of those drains did the periodic work.
  const auto kinds = log.get();
  EXPECT_GT(
      std::count(kinds.begin() + static_cast<long>(drains_before), kinds.end(), DrainKind::kScrape),
      0);
}

}  // namespace
}  // namespace tcpconnect
