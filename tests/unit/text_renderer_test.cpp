// The direct renderer (metrics/text_renderer) must write exactly what the prometheus-cpp
// path (ConnectCollector + TextSerializer, through render_families) writes for the same
// store; both write every label value as safe text, whatever the store holds.
#include "metrics/text_renderer.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <random>

#include "common/utf8_check.h"
#include "connect_collector.h"
#include "fake_connect_source.h"
#include "metrics/label_renderer.h"

namespace tcpconnect {
namespace {

std::string old_path(const std::shared_ptr<SeriesStore>& store,
                     const std::vector<std::string>& names) {
  ConnectCollector collector(store, names);
  std::string out;
  render_families(collector.Collect(), out);
  return out;
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
    c.syn_retransmits = i % 2 == 0 ? 0 : attempts[i] * 3;  // none: no sample
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
  over.syn_retransmits = 6;
  store->add_connects({"ipv4", "127.0.0.1", "127.0.0.9", "9", "over"}, over);
  store->add_connects_overflow(over);
  LatencyCounts lover;
  lover.count = 1;
  lover.sum_ns = 100;
  lover.buckets[TC_LAT_BUCKETS - 1] = 1;
  store->add_latency({"over", "127.0.0.9"}, lover);
  store->add_unexpected({"ipv4", "127.0.0.1", "127.0.0.9", "9", "over"}, UnexpectedCounts{2});
  SeriesStore::InFlight in_flight;
  in_flight.series = {{keys[1], 2}, {keys[2], 1}};
  in_flight.overflow = 4;
  store->set_in_flight(in_flight);
  return store;
}

TEST(TextRenderer, SameTextAsPrometheusCppWithAllowlist) {
  auto store = full_store();
  store->set_unexpected_enabled(true);
  const std::string expected = old_path(store, kNames);
  // The newline is a control character: U+FFFD (util/safe_text.h), not the format's \\n.
  EXPECT_NE(expected.find("dns_name=\"back\\\\slash\xEF\xBF\xBDnew\\\"line\\\\\""),
            std::string::npos)
      << expected;
  EXPECT_NE(expected.find("daddr=\"overflow\""), std::string::npos) << expected;
  EXPECT_NE(expected.find("tcpconnect_unexpected_connects_total{"), std::string::npos);
  // Series that retransmitted have a sample (the overflow series twice over: 12), the
  // others none.
  EXPECT_NE(expected.find("tcpconnect_syn_retransmits_total{family=\"ipv6\",saddr=\"::1\","
                          "daddr=\"::1\",dport=\"443\",dns_name=\"quote\\\"d.example\"} 3000000\n"),
            std::string::npos)
      << expected;
  EXPECT_NE(expected.find("tcpconnect_syn_retransmits_total{family=\"overflow\",saddr=\"overflow\","
                          "daddr=\"overflow\",dport=\"overflow\",dns_name=\"overflow\"} 12\n"),
            std::string::npos)
      << expected;
  EXPECT_EQ(expected.find("tcpconnect_syn_retransmits_total{family=\"ipv4\",saddr=\"127.0.0.1\","
                          "daddr=\"127.0.0.2\""),
            std::string::npos)
      << expected;
  EXPECT_NE(expected.find("# TYPE tcpconnect_connects_in_flight gauge\n"
                          "tcpconnect_connects_in_flight{family=\"ipv6\",saddr=\"::1\","
                          "daddr=\"::1\",dport=\"443\",dns_name=\"quote\\\"d.example\"} 2\n"),
            std::string::npos)
      << expected;
  EXPECT_NE(expected.find("tcpconnect_connects_in_flight{family=\"overflow\",saddr=\"overflow\","
                          "daddr=\"overflow\",dport=\"overflow\",dns_name=\"overflow\"} 4\n"),
            std::string::npos)
      << expected;
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
  c.syn_retransmits = 4;
  store->add_connects({}, c);
  store->set_unexpected_enabled(true);
  store->add_unexpected({}, UnexpectedCounts{1});
  const std::string expected = old_path(store, {});
  EXPECT_NE(expected.find("\ntcpconnect_connects_total 3\n"), std::string::npos) << expected;
  EXPECT_NE(expected.find("\ntcpconnect_syn_retransmits_total 4\n"), std::string::npos) << expected;
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

// Every label value a body carries: the text between `="` and the closing quote, with
// the format's escapes undone.
std::vector<std::string> label_values(const std::string& body) {
  std::vector<std::string> out;
  for (size_t at = body.find("=\""); at != std::string::npos; at = body.find("=\"", at)) {
    std::string v;
    size_t i = at + 2;
    for (; i < body.size() && body[i] != '"'; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) {
        ++i;
        v += body[i] == 'n' ? '\n' : body[i];
      } else {
        v += body[i];
      }
    }
    out.push_back(std::move(v));
    at = i;
  }
  return out;
}

// A store holding hostile values as they are (nothing made them safe on the way in), and
// one filled through the LabelRenderer from hostile keys and names: each body, rendered
// by both renderers, is well-formed UTF-8 and every label value is safe.
std::shared_ptr<SeriesStore> hostile_store(std::mt19937& rng, bool through_label_renderer) {
  auto store = std::make_shared<SeriesStore>(100000);
  store->set_unexpected_enabled(true);
  LabelsConfig labels;
  labels.keep = {Label::kDport, Label::kComm, Label::kUnit, Label::kDnsName};
  std::string name, unit;
  LabelRenderer renderer(
      labels, [&](auto&&...) { return name; }, [&](uint64_t) { return unit; });
  ConnectCounts c;
  c.attempts = 2;
  c.failed[TC_FAIL_REFUSED] = 1;
  LatencyCounts l;
  l.count = 1;
  l.buckets[0] = 1;
  for (int i = 0; i < 400; ++i) {
    LabelValues values;
    if (through_label_renderer) {
      tc_connect_key k = testing::v4_key("127.0.0.1", "127.0.0.2", static_cast<uint16_t>(i));
      k.fields = TC_KEY_COMM | TC_KEY_CGROUP;
      const std::string comm = testing::random_hostile_bytes(rng, 15);
      std::memcpy(k.comm, comm.data(), comm.size());
      name = testing::random_hostile_bytes(rng, 64);
      unit = testing::random_hostile_bytes(rng, 64);
      values = renderer.connect_labels(k);
      store->add_latency(renderer.latency_labels(k.family, k.daddr, name), l);
    } else {
      for (int j = 0; j < 4; ++j) values.push_back(testing::random_hostile_bytes(rng, 64));
      store->add_latency({values[3], values[2]}, l);
    }
    store->add_connects(values, c);
    store->add_unexpected(values, UnexpectedCounts{1});
  }
  return store;
}

TEST(TextRenderer, RandomHostileValuesRenderAsSafeText) {
  std::mt19937 rng(6122026);
  const std::vector<std::string> names = {"dport", "comm", "unit", "dns_name"};
  for (bool through_label_renderer : {false, true}) {
    for (int round = 0; round < 10; ++round) {
      auto store = hostile_store(rng, through_label_renderer);
      const std::string body = new_path(store, names);
      ASSERT_TRUE(testing::is_well_formed_utf8(body));
      const std::vector<std::string> values = label_values(body);
      EXPECT_GT(values.size(), 400u * 4);
      for (const std::string& v : values)
        ASSERT_TRUE(testing::is_safe_by_table(v)) << ::testing::PrintToString(v);
      // The prometheus-cpp path writes the same bytes.
      ASSERT_EQ(body, old_path(store, names));
    }
  }
}

// What `promtool check metrics` (Prometheus's own parser and linter) says of a body whose
// values were hostile.
TEST(TextRenderer, PromtoolAcceptsABodyOfHostileValues) {
  std::mt19937 rng(4242);
  auto store = hostile_store(rng, true);
  const std::string body = new_path(store, {"dport", "comm", "unit", "dns_name"});
  // And the named worst cases, on top of the random ones.
  static constexpr char kWorst[] = "nul\0\xFF\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80\xE2\x82";
  LabelRenderer renderer(LabelsConfig{},
                         [](auto&&...) { return std::string(kWorst, sizeof(kWorst) - 1); });
  auto named = std::make_shared<SeriesStore>(10);
  ConnectCounts c;
  c.attempts = 1;
  named->add_connects(renderer.connect_labels(testing::v4_key("127.0.0.1", "127.0.0.3", 80)), c);
  const std::string named_body = new_path(named, renderer.label_names());
  EXPECT_NE(named_body.find("dns_name=\"nul\xEF\xBF\xBD"), std::string::npos) << named_body;
  char path[] = "/tmp/tcpconnect_promtool_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  for (const std::string* text : {&body, &named_body}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << *text;
    const std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
    FILE* p = popen(command.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0) << out;
  }
  unlink(path);
}

// The self metrics and the DNS metrics go through prometheus-cpp: their label values are
// made safe before they are serialized too.
TEST(TextRenderer, CollectedFamiliesRenderAsSafeText) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("x_total").Help("x").Register(registry);
  family.Add({{"program", "tc_\xFF\xFE\n"}}).Increment();
  family.Add({{"program", "plain"}}).Increment();
  std::string out;
  render_families(registry.Collect(), out);
  EXPECT_TRUE(testing::is_well_formed_utf8(out));
  EXPECT_NE(out.find("x_total{program=\"tc_\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"} 1"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("x_total{program=\"plain\"} 1"), std::string::npos) << out;
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
