#include "metrics/series_store.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "common/series_by_labels.h"

namespace tcpconnect {
namespace {

std::map<LabelValues, uint64_t> attempts_by_labels(const SeriesStore& store) {
  return testing::series_by_labels(store.connects(), &ConnectCounts::attempts);
}

ConnectCounts attempts(uint64_t n) {
  ConnectCounts c;
  c.attempts = n;
  return c;
}

TEST(SeriesStore, AddsToExistingSeries) {
  SeriesStore store(10);
  store.add_connects({"a"}, attempts(2));
  store.add_connects({"a"}, attempts(3));
  store.add_connects({"b"}, attempts(1));
  auto m = attempts_by_labels(store);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m[{"a"}], 5u);
  EXPECT_EQ(m[{"b"}], 1u);
  EXPECT_EQ(store.connects().size(), 2u);
}

TEST(SeriesStore, CapFoldsNewSeriesIntoOverflowExactly) {
  SeriesStore store(3);
  for (int i = 0; i < 10; ++i) store.add_connects({std::to_string(i)}, attempts(i + 1));
  // The first three keep their series; existing series still grow after the cap.
  store.add_connects({"0"}, attempts(100));
  auto m = attempts_by_labels(store);
  EXPECT_EQ(store.connects().size(), 3u);
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m[{"0"}], 101u);
  uint64_t overflowed = 4 + 5 + 6 + 7 + 8 + 9 + 10;
  EXPECT_EQ((m[{"<overflow>"}]), overflowed);
  EXPECT_EQ(store.dropped().connects.load(), overflowed);
}

TEST(SeriesStore, FailuresFoldedIntoOverflowAreCountedAsDropped) {
  SeriesStore store(1);
  store.add_connects({"a"}, attempts(1));
  ConnectCounts c;
  c.attempts = 2;
  c.failed[TC_FAIL_REFUSED] = 2;
  store.add_connects({"b"}, c);
  EXPECT_EQ(store.dropped().failures.load(), 2u);
  EXPECT_EQ(store.dropped().connects.load(), 2u);
}

TEST(SeriesStore, KernelOverflowIsNotACapDrop) {
  SeriesStore store(10);
  store.add_connects_overflow(attempts(7));
  auto m = attempts_by_labels(store);
  EXPECT_EQ((m[{"<overflow>"}]), 7u);
  EXPECT_EQ(store.dropped().connects.load(), 0u);
}

TEST(SeriesStore, LatencyIsCappedToo) {
  SeriesStore store(1);
  LatencyCounts l;
  l.count = 1;
  l.buckets[0] = 1;
  store.add_latency({"x", ""}, l);
  store.add_latency({"", "10.0.0.1"}, l);
  EXPECT_EQ(store.latency().size(), 1u);
  EXPECT_EQ(store.dropped().duration.load(), 1u);
}

TEST(SeriesStore, RaisingTheCapAdmitsNewSeries) {
  SeriesStore store(1);
  store.add_connects({"a"}, attempts(1));
  store.add_connects({"b"}, attempts(1));
  store.set_max_series(2);
  store.add_connects({"c"}, attempts(1));
  EXPECT_EQ(store.connects().size(), 2u);
}

TEST(SeriesStore, ConcurrentAddsAreExact) {
  SeriesStore store(100);
  constexpr int kThreads = 4, kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) store.add_connects({std::to_string((i + t) % 200)}, attempts(1));
    });
  uint64_t rendered = 0;
  for (int i = 0; i < 50; ++i)
    store.connects().for_each([&](const LabelValues*, const ConnectCounts& c) { rendered += c.attempts; });
  for (auto& th : threads) th.join();
  uint64_t total = 0;
  store.connects().for_each([&](const LabelValues*, const ConnectCounts& c) { total += c.attempts; });
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(store.connects().size(), 100u);
  (void)rendered;
}

}  // namespace
}  // namespace tcpconnect
