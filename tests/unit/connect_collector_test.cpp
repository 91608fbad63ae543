#include "connect_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>

namespace tcpconnect {
namespace {

std::string render(const ConnectCollector& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

TEST(ConnectCollector, RendersCountersFailuresAndHistogram) {
  auto store = std::make_shared<SeriesStore>(10);
  ConnectCounts c;
  c.attempts = 250;
  c.established = 200;
  c.failed[TC_FAIL_REFUSED] = 50;
  store->add_connects({"ipv4", "127.0.0.1"}, c);
  LatencyCounts l;
  l.count = 3;
  l.sum_ns = 1500000;  // 1.5 ms
  l.buckets[0] = 1;    // <= 100 us
  l.buckets[4] = 2;    // <= 2.5 ms
  store->add_latency({"", "127.0.0.1"}, l);

  ConnectCollector collector(store, {"family", "daddr"});
  std::string text = render(collector);
  EXPECT_NE(text.find("tcpconnect_connects_total{family=\"ipv4\",daddr=\"127.0.0.1\"} 250"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tcpconnect_connect_failures_total{family=\"ipv4\",daddr=\"127.0.0.1\","
                      "reason=\"refused\"} 50"),
            std::string::npos)
      << text;
  // Reasons that never happened are not rendered as zero series.
  EXPECT_EQ(text.find("reason=\"timeout\""), std::string::npos);
  EXPECT_NE(text.find("tcpconnect_connect_duration_seconds_bucket{dns_name=\"\",daddr=\"127.0.0.1\","
                      "le=\"0.0001\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("le=\"0.0025\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("le=\"+Inf\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("tcpconnect_connect_duration_seconds_count{dns_name=\"\",daddr=\"127.0.0.1\"} 3"),
            std::string::npos)
      << text;
}

TEST(ConnectCollector, OverflowSeriesCarriesOverflowInEveryLabel) {
  auto store = std::make_shared<SeriesStore>(1);
  ConnectCounts c;
  c.attempts = 1;
  store->add_connects({"a", "b"}, c);
  store->add_connects({"c", "d"}, c);
  ConnectCollector collector(store, {"family", "daddr"});
  EXPECT_NE(render(collector).find("tcpconnect_connects_total{family=\"overflow\",daddr=\"overflow\"} 1"),
            std::string::npos);
}

TEST(ConnectCollector, EmptyStoreRendersNoSamples) {
  ConnectCollector collector(std::make_shared<SeriesStore>(1), {"daddr"});
  auto families = collector.Collect();
  for (const auto& f : families) EXPECT_TRUE(f.metric.empty()) << f.name;
}

}  // namespace
}  // namespace tcpconnect
