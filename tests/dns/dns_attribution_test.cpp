// Attribution against a fake activity source (what the drain folded since the previous
// run): hits and misses by connect count, the delay histogram, and the drain's ordering
// (DNS consumed before the counts are named).
#include "dns/dns_attribution.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "drain/drain.h"
#include "unit/fake_connect_source.h"

namespace tcpconnect {
namespace {

constexpr uint64_t kMs = 1'000'000ull;

std::array<uint8_t, 16> v4(const char* ip) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET, ip, a.data());
  return a;
}

tc_latency_key dest(const char* ip) {
  tc_latency_key k{};
  k.family = TC_AF_INET;
  inet_pton(AF_INET, ip, k.daddr);
  return k;
}

class DnsAttributionTest : public ::testing::Test {
 protected:
  DnsCache cache{DnsCache::Options{}};
  std::vector<std::pair<tc_latency_key, tc_dest_activity>> kernel;
  DnsAttribution attribution{cache, [this](const DestinationVisitor& visit) -> Status {
                               for (const auto& [k, v] : kernel) visit(k, v);
                               return Ok{};
                             }};

  uint64_t bucket_of(double seconds) const {
    size_t i = 0;
    while (i < kDnsDelayBounds.size() && seconds > kDnsDelayBounds[i]) ++i;
    return attribution.delay().buckets[i].load();
  }
};

TEST_F(DnsAttributionTest, HitsAndMissesByConnectCount) {
  cache.insert(2, v4("192.0.2.10"), "web.test", "web.test", 100 * kMs);
  kernel = {{dest("192.0.2.10"), {100 * kMs + 2 * kMs, 3}},
            {dest("192.0.2.99"), {150 * kMs, 2}},
            {dest("127.0.0.1"), {150 * kMs, 4}}};
  ASSERT_TRUE(attribution.run(200 * kMs).ok());
  EXPECT_EQ(attribution.hits(), 3u + 4u);  // loopback is named too (localhost)
  EXPECT_EQ(attribution.misses(), 2u);
  // One observation for the named destination: 2 ms after its answer.
  EXPECT_EQ(attribution.delay().count.load(), 1u);
  EXPECT_EQ(attribution.delay().sum_ns.load(), 2 * kMs);
  EXPECT_EQ(bucket_of(0.002), 1u);

  // Nothing new: nothing counted.
  kernel.clear();
  ASSERT_TRUE(attribution.run(300 * kMs).ok());
  EXPECT_EQ(attribution.hits(), 7u);
  EXPECT_EQ(attribution.delay().count.load(), 1u);

  // Two more connects, the latest 5 s after the answer.
  kernel = {{dest("192.0.2.10"), {100 * kMs + 5000 * kMs, 2}}};
  ASSERT_TRUE(attribution.run(6000 * kMs).ok());
  EXPECT_EQ(attribution.hits(), 9u);
  EXPECT_EQ(attribution.delay().count.load(), 2u);
  EXPECT_EQ(bucket_of(5.0), 1u);
}

TEST_F(DnsAttributionTest, AnswerAfterTheConnectObservesNoDelay) {
  cache.insert(2, v4("192.0.2.10"), "web.test", "web.test", 500 * kMs);
  kernel = {{dest("192.0.2.10"), {400 * kMs, 1}}};
  ASSERT_TRUE(attribution.run(600 * kMs).ok());
  EXPECT_EQ(attribution.hits(), 1u);
  EXPECT_EQ(attribution.delay().count.load(), 0u);
}

// Each run counts what it is handed, once.
TEST_F(DnsAttributionTest, EachRunCountsWhatItIsHanded) {
  kernel = {{dest("192.0.2.50"), {10, 10}}};
  ASSERT_TRUE(attribution.run(100).ok());
  kernel = {{dest("192.0.2.50"), {20, 2}}};
  ASSERT_TRUE(attribution.run(100).ok());
  EXPECT_EQ(attribution.misses(), 12u);
}


TEST(DrainOrderTest, DnsIsConsumedBeforeTheCountsAreNamed) {
  testing::FakeConnectSource source;
  auto store = std::make_shared<SeriesStore>(100);
  DnsCache cache{DnsCache::Options{}};
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDnsName};
  Drain drain(source, store, labels,
              [&](uint64_t netns, uint16_t family, const uint8_t(&addr)[16]) {
                std::array<uint8_t, 16> a;
                std::memcpy(a.data(), addr, 16);
                return cache.name_of(family, a, 1, netns);
              });
  std::vector<std::string> order;
  // The "ring" holds the answer; it reaches the cache only when the hook runs.
  drain.set_before_read([&](DrainKind) {
    order.push_back("dns");
    cache.insert(2, v4("192.0.2.10"), "web.test", "web.test", 0);
  });
  source.connects = {{testing::v4_key("10.0.0.1", "192.0.2.10", 443), testing::counts(1)}};
  ASSERT_TRUE(drain.run_once().ok());
  std::map<LabelValues, uint64_t> got;
  store->connects().for_each([&](const LabelValues* l, const ConnectCounts& c) {
    if (l) got[*l] = c.attempts;
  });
  EXPECT_EQ(order, std::vector<std::string>{"dns"});
  EXPECT_EQ((got[{"192.0.2.10", "web.test"}]), 1u);
}

}  // namespace
}  // namespace tcpconnect
