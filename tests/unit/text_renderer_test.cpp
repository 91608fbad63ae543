// The direct renderer (metrics/text_renderer) must write exactly what the prometheus-cpp
// path (ConnectCollector + TextSerializer) writes for the same store.
#include "metrics/text_renderer.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <limits>

#include "metrics/connect_collector.h"

namespace tcpconnect {
namespace {

std::string old_path(const std::shared_ptr<SeriesStore>& store,
                     const std::vector<std::string>& names) {
  ConnectCollector collector(store, names);
  return prometheus::TextSerializer().Serialize(collector.Collect());
}

std::string new_path(const std::shared_ptr<SeriesStore>& store,
                     const std::vector<std::string>& names) {
  std::string out = "prefix\n";  // appends: what is already there stays
  render_connect_series(*store, names, out);
  EXPECT_EQ(out.rfind("prefix\n", 0), 0u);
  return out.substr(7);
}

const std::vector<std::string> kNames = {"family", "saddr", "daddr", "dport", "dns_name"};

// A store with every kind of series: connects with and without failures (several reasons),
// latency histograms, unexpected connects, overflow series in each family, values needing
// escapes, and counts whose formatting matters (large, non-integral sums).
std::shared_ptr<SeriesStore> full_store() {
  auto store = std::make_shared<SeriesStore>(6);
  const std::vector<LabelValues> keys = {
      {"ipv4", "127.0.0.1", "127.0.0.2", "80", "example.com"},
      {"ipv6", "::1", "::1", "443", "quote\"d.example"},
      {"ipv4", "127.0.0.1", "127.0.0.3", "8080", "back\\slash\nnew\"line\\"},
      {"ipv4", "127.0.0.1", "127.0.0.4", "22", ""},
      {"ipv4", "127.0.0.1", "127.0.0.5", "22", "\\\\\"\"\n\n"},
      {"ipv6", "::1", "::2", "1", "x"},
  };
  const uint64_t attempts[] = {1, 1000000, 123456789012345678ull, 9007199254740993ull, 0, 42};
  for (size_t i = 0; i < keys.size(); ++i) {
    ConnectCounts c;
    c.attempts = attempts[i];
    c.established = attempts[i] / 2;
    for (uint32_t r = 0; r < TC_FAIL_MAX; ++r)
      if ((i + r) % 3 == 0) c.failed[r] = (i + 1) * (r + 1) * 1000003;
    store->add_connects(keys[i], c);
    LatencyCounts l;
    l.count = 7 * (i + 1);
    l.sum_ns = 1234567891ull * (i + 1) + i;  // 1.234567891 s and more digits
    for (size_t b = 0; b < TC_LAT_BUCKETS; ++b) l.buckets[b] = (b * 7 + i) % 5;
    store->add_latency({keys[i][4], keys[i][2]}, l);
    store->add_unexpected(keys[i], UnexpectedCounts{attempts[i] + 1});
  }
  // Beyond max_series: these land in the overflow series.
  ConnectCounts over;
  over.attempts = 5;
  over.failed[TC_FAIL_TIMEOUT] = 3;
  store->add_connects({"ipv4", "127.0.0.1", "127.0.0.9", "9", "over"}, over);
  store->add_connects_overflow(over);
  LatencyCounts lover;
  lover.count = 1;
  lover.sum_ns = 100;
  lover.buckets[TC_LAT_BUCKETS - 1] = 1;
  store->add_latency({"over", "127.0.0.9"}, lover);
  store->add_unexpected({"ipv4", "127.0.0.1", "127.0.0.9", "9", "over"}, UnexpectedCounts{2});
  return store;
}

TEST(TextRenderer, SameTextAsPrometheusCppWithAllowlist) {
  auto store = full_store();
  store->set_unexpected_enabled(true);
  const std::string expected = old_path(store, kNames);
  EXPECT_NE(expected.find("dns_name=\"back\\\\slash\\nnew\\\"line\\\\\""), std::string::npos)
      << expected;
  EXPECT_NE(expected.find("daddr=\"overflow\""), std::string::npos) << expected;
  EXPECT_NE(expected.find("tcpconnect_unexpected_connects_total{"), std::string::npos);
  EXPECT_EQ(new_path(store, kNames), expected);
}

TEST(TextRenderer, SameTextAsPrometheusCppWithoutAllowlist) {
  auto store = full_store();
  const std::string expected = old_path(store, kNames);
  EXPECT_EQ(expected.find("tcpconnect_unexpected_connects_total"), std::string::npos);
  EXPECT_EQ(new_path(store, kNames), expected);
}

TEST(TextRenderer, SameTextForEmptyStoreAndNoLabels) {
  auto store = std::make_shared<SeriesStore>(10);
  EXPECT_EQ(new_path(store, {"daddr"}), old_path(store, {"daddr"}));
  // No kept labels at all: sample lines without braces, failures with only the reason.
  ConnectCounts c;
  c.attempts = 3;
  c.failed[TC_FAIL_RESET] = 1;
  store->add_connects({}, c);
  store->set_unexpected_enabled(true);
  store->add_unexpected({}, UnexpectedCounts{1});
  const std::string expected = old_path(store, {});
  EXPECT_NE(expected.find("\ntcpconnect_connects_total 3\n"), std::string::npos) << expected;
  EXPECT_EQ(new_path(store, {}), expected);
}

TEST(TextRenderer, StoreLabelNamesWin) {
  auto store = std::make_shared<SeriesStore>(10);
  SeriesStore::Contents contents;
  contents.label_names = {"daddr", "dport"};
  ConnectCounts c;
  c.attempts = 2;
  contents.connects.push_back({{"127.0.0.1", "80"}, c});
  store->replace(std::move(contents), false);
  const std::string expected = old_path(store, {"family", "saddr"});
  EXPECT_NE(expected.find("{daddr=\"127.0.0.1\",dport=\"80\"} 2"), std::string::npos) << expected;
  EXPECT_EQ(new_path(store, {"family", "saddr"}), expected);
}

// Each series keeps its label text from one scrape to the next (SeriesStore): later
// scrapes, after counts grew and series came and went, still write what prometheus-cpp
// writes.
TEST(TextRenderer, SameTextScrapeAfterScrape) {
  auto store = full_store();
  store->set_unexpected_enabled(true);
  EXPECT_EQ(new_path(store, kNames), old_path(store, kNames));
  ConnectCounts more;
  more.attempts = 7;
  more.failed[TC_FAIL_REFUSED] = 7;
  store->add_connects({"ipv4", "127.0.0.1", "127.0.0.2", "80", "example.com"}, more);
  store->add_connects_overflow(more);
  EXPECT_EQ(new_path(store, kNames), old_path(store, kNames));
  store->expire_idle(std::chrono::steady_clock::now() + std::chrono::hours(1));
  store->add_connects({"ipv4", "127.0.0.1", "127.0.0.7", "81", "new.example"}, more);
  const std::string expected = old_path(store, kNames);
  EXPECT_NE(expected.find("new.example"), std::string::npos);
  EXPECT_EQ(new_path(store, kNames), expected);
}

// A re-fold under other label names (a reload that changed labels.keep) must not reuse
// the label text kept with a series, even one whose values survive, nor the overflow
// series' text.
TEST(TextRenderer, KeptLabelTextFollowsNewLabelNames) {
  auto store = std::make_shared<SeriesStore>(1);
  auto contents = [](std::vector<std::string> names) {
    SeriesStore::Contents c;
    c.label_names = std::move(names);
    ConnectCounts n;
    n.attempts = 2;
    n.failed[TC_FAIL_REFUSED] = 1;
    c.connects.push_back({{"127.0.0.1", "80"}, n});
    c.connects_overflow = n;
    LatencyCounts l;
    l.count = 1;
    l.buckets[0] = 1;
    c.latency.push_back({{"name.example", ""}, l});
    return c;
  };
  store->replace(contents({"daddr", "dport"}), false);
  std::string first = new_path(store, {});
  EXPECT_NE(first.find("{daddr=\"127.0.0.1\",dport=\"80\"} 2"), std::string::npos) << first;
  EXPECT_NE(first.find("{daddr=\"overflow\",dport=\"overflow\"} 2"), std::string::npos) << first;
  store->replace(contents({"saddr", "lport"}), true);
  const std::string expected = old_path(store, {});
  EXPECT_NE(expected.find("{saddr=\"127.0.0.1\",lport=\"80\"} 2"), std::string::npos) << expected;
  EXPECT_NE(expected.find("{saddr=\"overflow\",lport=\"overflow\"} 2"), std::string::npos)
      << expected;
  EXPECT_EQ(new_path(store, {}), expected);
}

TEST(TextRenderer, DoublesAsPrometheusCppWritesThem) {
  const double values[] = {0,      1,        0.1,   1e-4,    2.5e-3,   1e6,     1e16,
                           1e17,   0.3,      1.0 / 3, 123456789.123456789, 9007199254740993.0,
                           -2.5,   5e-324,   1.7976931348623157e308,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  for (double v : values) {
    prometheus::MetricFamily f{"x", "", prometheus::MetricType::Untyped, {}};
    f.metric.emplace_back().untyped.value = v;
    const std::string serialized = prometheus::TextSerializer().Serialize({f});
    std::string mine;
    append_double(mine, v);
    const std::string line = "\nx " + mine + "\n";
    ASSERT_GE(serialized.size(), line.size());
    EXPECT_EQ(serialized.substr(serialized.size() - line.size()), line) << serialized;
  }
}

}  // namespace
}  // namespace tcpconnect
