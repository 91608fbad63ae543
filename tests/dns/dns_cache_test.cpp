#include "dns/dns_cache.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace tcpconnect {
namespace {

constexpr uint16_t kV4 = 2, kV6 = 10;
constexpr uint64_t kSec = 1'000'000'000ull;

std::array<uint8_t, 16> addr(const std::string& ip) {
  std::array<uint8_t, 16> a{};
  if (ip.find(':') != std::string::npos)
    inet_pton(AF_INET6, ip.c_str(), a.data());
  else
    inet_pton(AF_INET, ip.c_str(), a.data());
  return a;
}

std::array<uint8_t, 16> nth_v4(uint32_t n) {
  std::array<uint8_t, 16> a{};
  a[0] = 10, a[1] = static_cast<uint8_t>(n >> 16), a[2] = static_cast<uint8_t>(n >> 8),
  a[3] = static_cast<uint8_t>(n);
  return a;
}

DnsCache::Options options(size_t entries, std::chrono::nanoseconds age = std::chrono::hours(24)) {
  DnsCache::Options o;
  o.max_entries = entries;
  o.max_age = age;
  return o;
}

TEST(DnsCacheTest, NamesWhatAnAnswerNamed) {
  DnsCache c(options(100));
  c.insert(kV4, addr("192.0.2.10"), "alias.example.test", "web.example.test", 5 * kSec);
  auto e = c.lookup(kV4, addr("192.0.2.10"), 6 * kSec);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "alias.example.test");
  EXPECT_EQ(e->canonical, "web.example.test");
  EXPECT_EQ(e->response_ns, 5 * kSec);
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.10"), 6 * kSec), "alias.example.test");
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.11"), 6 * kSec), "");
  EXPECT_EQ(c.name_of(kV6, addr("192.0.2.10"), 6 * kSec), "");  // another family
  EXPECT_EQ(c.size(), 1u);
}

TEST(DnsCacheTest, MostRecentAnswerWins) {
  DnsCache c(options(100));
  c.insert(kV4, addr("192.0.2.1"), "first.test", "first.test", 10 * kSec);
  c.insert(kV4, addr("192.0.2.1"), "second.test", "cdn.test", 11 * kSec);
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.1"), 12 * kSec), "second.test");
  // An older answer reaching the cache late (another CPU's ring) changes nothing.
  c.insert(kV4, addr("192.0.2.1"), "stale.test", "stale.test", 10 * kSec + 5);
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.1"), 12 * kSec), "second.test");
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.evicted_capacity() + c.evicted_age(), 0u);
}

TEST(DnsCacheTest, AnswersOlderThanMaxAgeNameNothing) {
  DnsCache c(options(100, std::chrono::seconds(60)));
  c.insert(kV4, addr("192.0.2.1"), "a.test", "a.test", 100 * kSec);
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.1"), 160 * kSec), "a.test");  // exactly max_age
  EXPECT_EQ(c.name_of(kV4, addr("192.0.2.1"), 160 * kSec + 1), "");
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.evicted_age(), 1u);
}

TEST(DnsCacheTest, ExpireSweepsAnswersNobodyLooksUp) {
  DnsCache c(options(1000, std::chrono::seconds(10)));
  for (uint32_t i = 0; i < 100; ++i) c.insert(kV4, nth_v4(i), "old.test", "old.test", 1 * kSec);
  for (uint32_t i = 100; i < 150; ++i) c.insert(kV4, nth_v4(i), "new.test", "new.test", 20 * kSec);
  c.expire(25 * kSec);
  EXPECT_EQ(c.size(), 50u);
  EXPECT_EQ(c.evicted_age(), 100u);
  EXPECT_EQ(c.name_of(kV4, nth_v4(120), 25 * kSec), "new.test");
}

TEST(DnsCacheTest, BoundedByEntriesWithEvictionsCounted) {
  for (size_t max : {1u, 3u, 16u, 17u, 100u}) {
    DnsCache c(options(max));
    for (uint32_t i = 0; i < 1000; ++i) {
      c.insert(kV4, nth_v4(i), "n.test", "n.test", kSec + i);
      ASSERT_LE(c.size(), max) << "max " << max;
    }
    EXPECT_EQ(c.evicted_capacity(), 1000u - c.size()) << "max " << max;
    EXPECT_GE(c.size(), std::min<size_t>(max, 1000) / 2) << "max " << max;
    // The newest answer is always held.
    EXPECT_EQ(c.name_of(kV4, nth_v4(999), 2 * kSec), "n.test");
  }
}

TEST(DnsCacheTest, LeastRecentlyUsedGoesFirst) {
  DnsCache c(options(1));  // one shard of one entry: the order is observable
  c.insert(kV4, nth_v4(1), "one.test", "one.test", kSec);
  c.insert(kV4, nth_v4(2), "two.test", "two.test", kSec);
  EXPECT_EQ(c.name_of(kV4, nth_v4(1), kSec), "");
  EXPECT_EQ(c.name_of(kV4, nth_v4(2), kSec), "two.test");
  EXPECT_EQ(c.evicted_capacity(), 1u);
}

TEST(DnsCacheTest, LoopbackIsLocalhostUnlessAnAnswerNamesIt) {
  DnsCache c(options(10));
  EXPECT_EQ(c.name_of(kV4, addr("127.0.0.1"), kSec), "localhost");
  EXPECT_EQ(c.name_of(kV4, addr("127.255.255.254"), kSec), "localhost");
  EXPECT_EQ(c.name_of(kV6, addr("::1"), kSec), "localhost");
  EXPECT_EQ(c.name_of(kV4, addr("128.0.0.1"), kSec), "");
  EXPECT_EQ(c.name_of(kV6, addr("::2"), kSec), "");
  EXPECT_EQ(c.name_of(kV6, addr("::ffff:127.0.0.1"), kSec), "");  // reported as IPv4
  c.insert(kV4, addr("127.80.0.5"), "svc.tcx.test", "svc.tcx.test", kSec);
  EXPECT_EQ(c.name_of(kV4, addr("127.80.0.5"), kSec), "svc.tcx.test");
  EXPECT_EQ(c.name_of(kV4, addr("127.80.0.6"), kSec), "localhost");
  EXPECT_EQ(c.size(), 1u);  // localhost is not stored
}

TEST(DnsCacheTest, OneWriterAndOneReaderConcurrently) {
  // Safety under a concurrent writer is what this checks (it runs under ASan in CI); how
  // many lookups overlap the writer depends on scheduling, so no hit count is asserted
  // during the race. The reader starts only after the writer's first insert, so the two
  // really do overlap, and the end state is checked deterministically after the join.
  DnsCache c(options(256));
  std::atomic<bool> started{false}, done{false};
  std::thread writer([&] {
    for (uint32_t i = 0; i < 20000; ++i) {
      c.insert(kV4, nth_v4(i % 512), "w.test", "w.test", i);
      if (i == 0) started = true;
    }
    done = true;
  });
  while (!started) std::this_thread::yield();
  uint64_t reads = 0;
  for (uint32_t i = 0; i == 0 || !done; ++i) {
    const std::string name = c.name_of(kV4, nth_v4(i % 512), i);
    EXPECT_TRUE(name.empty() || name == "w.test") << name;
    ++reads;
    if (i > 10'000'000) break;  // bounded whatever the scheduling
  }
  writer.join();
  EXPECT_GT(reads, 0u);
  EXPECT_LE(c.size(), 256u);
  EXPECT_EQ(c.name_of(kV4, nth_v4(19999 % 512), 20000), "w.test");  // the newest survives
}

// A connect is stale when the answer that gave its address outlived its TTL (+ grace)
// and a later answer for the same name, scope and family no longer gives it.
TEST(DnsCacheTest, StaleOnceTheTtlPassedAndTheLatestAnswerDropsTheAddress) {
  DnsCache c(options(100));
  const uint64_t ns = 7;
  const auto a1 = addr("192.0.2.1"), a2 = addr("192.0.2.2");
  c.answered(ns, "api.example.test", kV4, {a1}, 0);
  c.insert(kV4, a1, "api.example.test", "api.example.test", 0, ns, 10);
  // Past its TTL, but still what the latest answer gives: not stale.
  EXPECT_FALSE(c.stale(kV4, a1, 20 * kSec, ns, 0));
  // The name moves to a2 at 5 s.
  c.answered(ns, "api.example.test", kV4, {a2}, 5 * kSec);
  c.insert(kV4, a2, "api.example.test", "api.example.test", 5 * kSec, ns, 10);
  EXPECT_FALSE(c.stale(kV4, a1, 9 * kSec, ns, 0));  // within the TTL of the answer for a1
  EXPECT_FALSE(c.stale(kV4, a1, 10 * kSec, ns, 0));
  EXPECT_TRUE(c.stale(kV4, a1, 11 * kSec, ns, 0));
  EXPECT_FALSE(c.stale(kV4, a1, 14 * kSec, ns, 5 * kSec));  // the grace
  EXPECT_TRUE(c.stale(kV4, a1, 16 * kSec, ns, 5 * kSec));
  EXPECT_FALSE(c.stale(kV4, a2, 100 * kSec, ns, 0));  // what the latest answer gives
  // Another scope's connects to a1: that scope never learnt a1 (names are scoped).
  EXPECT_FALSE(c.stale(kV4, a1, 16 * kSec, 8, 0));
  // An AAAA answer is no answer for the IPv4 addresses.
  c.answered(ns, "api.example.test", kV6, {addr("2001:db8::1")}, 6 * kSec);
  EXPECT_TRUE(c.stale(kV4, a1, 16 * kSec, ns, 0));
  // A late, older answer does not replace the latest one.
  c.answered(ns, "api.example.test", kV4, {a1}, 4 * kSec);
  EXPECT_TRUE(c.stale(kV4, a1, 16 * kSec, ns, 0));
  // a1 given again: no longer stale.
  c.answered(ns, "api.example.test", kV4, {a2, a1}, 20 * kSec);
  c.insert(kV4, a1, "api.example.test", "api.example.test", 20 * kSec, ns, 10);
  EXPECT_FALSE(c.stale(kV4, a1, 40 * kSec, ns, 0));
}

TEST(DnsCacheTest, NxdomainMakesEveryEarlierAddressStaleAfterItsTtl) {
  DnsCache c(options(100));
  const auto a1 = addr("192.0.2.1");
  c.answered(0, "gone.example.test", kV4, {a1}, 0);
  c.insert(kV4, a1, "gone.example.test", "gone.example.test", 0, 0, 1);
  c.answered(0, "gone.example.test", kV4, {}, kSec / 2);
  EXPECT_FALSE(c.stale(kV4, a1, kSec, 0, 0));
  EXPECT_TRUE(c.stale(kV4, a1, 2 * kSec, 0, 0));
  // An address no answer named is never stale.
  EXPECT_FALSE(c.stale(kV4, addr("192.0.2.9"), 2 * kSec, 0, 0));
}

// A random-subdomain flood of answers: the latest-answer table keeps max_entries names.
TEST(DnsCacheTest, LatestAnswersAreBounded) {
  DnsCache c(options(16));
  for (uint32_t i = 0; i < 1000; ++i)
    c.answered(0, "r" + std::to_string(i) + ".victim.test", kV4, {nth_v4(i)}, i);
  EXPECT_EQ(c.answers(), 16u);
  EXPECT_EQ(c.evicted_answers(), 1000u - 16u);
}

}  // namespace
}  // namespace tcpconnect
