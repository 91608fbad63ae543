// Root only: a capture poll reads at most the packets it is asked for, oldest first, and
// leaves the rest for the next poll (each method on the running kernel; for the ring,
// libbpf 1.1's way of stopping ring_buffer__consume() early). This bounds the DNS work of
// a drain and of each batch of the poller under a flood.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/net.h"
#include "dns/capture_skip.h"
#include "dns/dns_capture.h"
#include "dns/dns_flood.h"
#include "dns/dns_testing.h"

namespace tcpconnect {
namespace {

using namespace std::chrono_literals;

class DnsCaptureBatchTest : public ::testing::TestWithParam<DnsCapture> {};

TEST_P(DnsCaptureBatchTest, PollReadsAtMostItsBudgetAndTheRestLater) {
  TCPCONNECT_REQUIRE_ROOT();
  TCPCONNECT_SKIP_UNLESS_CAPTURE(GetParam());
  constexpr uint64_t kResponses = 300;
  const uint16_t sport = testing::free_udp_tcp_port(AF_INET, "127.0.0.1");
  DnsCaptureOptions options;
  options.method = GetParam();
  options.ports = {sport};
  size_t handed = 0;
  auto capture = open_dns_capture(options, [&](const DnsPacket&) { ++handed; });
  ASSERT_TRUE(capture) << capture.error().message;

  testing::DnsResponseFlood flood(
      sport,
      testing::load_flood_responses(std::string(TCPCONNECT_SOURCE_DIR) + "/tests/dns/fixtures"));
  ASSERT_EQ(flood.send(kResponses, 0, 5.0), kResponses);
  ASSERT_EQ(flood.settle(), kResponses);  // delivered, so captured
  // The flood's reader asked one question first: captured too, before the answers.
  constexpr uint64_t kPackets = kResponses + 1;

  auto first = capture.value()->poll(100);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first.value(), 100u);
  EXPECT_EQ(handed, 100u);
  auto rest = capture.value()->poll(1000);
  ASSERT_TRUE(rest) << rest.error().message;
  EXPECT_EQ(rest.value(), kPackets - 100);
  EXPECT_EQ(handed, kPackets);
  auto none = capture.value()->poll(1000);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none.value(), 0u);
  EXPECT_EQ(capture.value()->counters().captured, kPackets);
  EXPECT_EQ(capture.value()->counters().lost, 0u);
}

INSTANTIATE_TEST_SUITE_P(Methods, DnsCaptureBatchTest,
                         ::testing::Values(DnsCapture::kFentry, DnsCapture::kCgroupSkb,
                                           DnsCapture::kPacketSocket),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace tcpconnect
