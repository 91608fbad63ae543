// The drain over the real probe: kernel counts become label sets in the series store.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string>

#include "common/net.h"
#include "common/series_by_labels.h"
#include "drain/drain.h"
#include "metrics/labels.h"
#include "metrics/series_store.h"
#include "probe_testing.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

using testing::closed_port;
using testing::connect_and_accept;
using testing::connect_once;
using testing::listen_tcp;
using testing::Listener;

std::map<LabelValues, ConnectCounts> connects_by_labels(const SeriesStore& store) {
  return testing::series_by_labels(store.connects());
}

std::map<LabelValues, LatencyCounts> latency_by_labels(const SeriesStore& store) {
  return testing::series_by_labels(store.latency());
}

// Connects waiting for an answer are in tcpconnect_connects_in_flight under their
// connect series' labels until their outcome, then the series goes.
TEST(DrainEndToEndTest, InFlightConnectsUntilTheirOutcome) {
  TCPCONNECT_REQUIRE_ROOT();
  std::string error;
  auto ns = testing::BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  auto attached = ConnectProbe::attach({});
  ASSERT_TRUE(attached) << attached.error().message;
  std::unique_ptr<ConnectProbe> probe = std::move(attached).value();
  auto store = std::make_shared<SeriesStore>(100000);
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDport};
  Drain drain(*probe, store, labels);
  ASSERT_TRUE(drain.configure(labels, AllowlistConfig{}).ok());
  const uint16_t port = testing::unlikely_port();
  const LabelValues ours{testing::BlackholeNetns::kBlackhole, std::to_string(port)};
  auto waiting = [&] {
    Status s = drain.run_once();
    EXPECT_TRUE(s) << s.error().message;
    for (const auto& [l, n] : store->in_flight().series)
      if (l == ours) return n;
    return uint64_t{0};
  };
  std::vector<testing::Fd> held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ns->run([&] {
      int err = 0;
      held.push_back(
          testing::start_connect(AF_INET, testing::BlackholeNetns::kBlackhole, port, &err));
      return err;
    }),
              0);
  }
  EXPECT_EQ(waiting(), 3u);
  EXPECT_EQ(connects_by_labels(*store)[ours].attempts, 3u);
  held.clear();
  EXPECT_EQ(waiting(), 0u);
  EXPECT_EQ(connects_by_labels(*store)[ours].failed[TC_FAIL_ABORTED], 3u);
}

TEST(DrainEndToEndTest, FoldsRealConnectsIntoTheirLabelSets) {
  TCPCONNECT_REQUIRE_ROOT();
  ConnectProbe::Options options;
  auto attached = ConnectProbe::attach(options);
  ASSERT_TRUE(attached) << attached.error().message;
  std::unique_ptr<ConnectProbe> probe = std::move(attached).value();
  auto store = std::make_shared<SeriesStore>(100000);
  Drain drain(*probe, store, LabelsConfig{});

  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 200), 200);
  uint16_t refused_port = closed_port(AF_INET6, "::1");
  for (int i = 0; i < 50; ++i) ASSERT_EQ(connect_once(AF_INET6, "::1", refused_port), ECONNREFUSED);
  Status s = drain.run_once();
  ASSERT_TRUE(s) << s.error().message;

  // Default labels: family, saddr, daddr, dport, dns_name (unnamed without DNS).
  const LabelValues v4{"ipv4", "127.0.0.1", "127.0.0.1", std::to_string(l.port), ""};
  const LabelValues v6{"ipv6", "::1", "::1", std::to_string(refused_port), ""};
  auto connects = connects_by_labels(*store);
  ASSERT_EQ(connects.count(v4), 1u);
  EXPECT_EQ(connects[v4].attempts, 200u);
  EXPECT_EQ(connects[v4].established, 200u);
  EXPECT_EQ(connects[v4].failures(), 0u);
  ASSERT_EQ(connects.count(v6), 1u);
  EXPECT_EQ(connects[v6].attempts, 50u);
  EXPECT_EQ(connects[v6].established, 0u);
  EXPECT_EQ(connects[v6].failed[TC_FAIL_REFUSED], 50u);
  EXPECT_EQ(failure_reason_name(TC_FAIL_REFUSED), "refused");
  EXPECT_EQ(connects[v6].failures(), 50u);
  // Others may connect to 127.0.0.1 as well: at least ours are in its histogram.
  auto latency = latency_by_labels(*store);
  EXPECT_GE((latency[{"", "127.0.0.1"}].count), 200u);

  // A second drain folds only the growth since the first.
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 10), 10);
  s = drain.run_once();
  ASSERT_TRUE(s) << s.error().message;
  connects = connects_by_labels(*store);
  EXPECT_EQ(connects[v4].attempts, 210u);
  EXPECT_EQ(connects[v4].established, 210u);
  EXPECT_EQ(connects[v6].attempts, 50u);
}

}  // namespace
}  // namespace tcpconnect
