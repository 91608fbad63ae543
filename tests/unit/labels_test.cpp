#include "metrics/labels.h"

#include <gtest/gtest.h>
#include <linux/types.h>

#include "shared/connect.h"

namespace tcpconnect {
namespace {

TEST(Labels, FormatsIpv4FromFirstFourBytes) {
  uint8_t a[16] = {10, 42, 7, 13, 0xff, 0xff};
  EXPECT_EQ(format_address(TC_AF_INET, a), "10.42.7.13");
}

TEST(Labels, FormatsIpv6Compressed) {
  uint8_t a[16] = {};
  a[15] = 1;
  EXPECT_EQ(format_address(TC_AF_INET6, a), "::1");
  uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
  b[15] = 0x42;
  EXPECT_EQ(format_address(TC_AF_INET6, b), "2001:db8::42");
}

TEST(Labels, UnknownFamilyIsEmpty) {
  uint8_t a[16] = {1, 2, 3, 4};
  EXPECT_EQ(format_address(99, a), "");
  EXPECT_EQ(family_name(99), "unknown");
}

TEST(Labels, FamilyNames) {
  EXPECT_EQ(family_name(TC_AF_INET), "ipv4");
  EXPECT_EQ(family_name(TC_AF_INET6), "ipv6");
}

TEST(Labels, EveryReasonHasADistinctName) {
  std::set<std::string_view> names;
  for (uint32_t r = 0; r < TC_FAIL_MAX; ++r) names.insert(failure_reason_name(r));
  EXPECT_EQ(names.size(), static_cast<size_t>(TC_FAIL_MAX));
  EXPECT_EQ(failure_reason_name(TC_FAIL_REFUSED), "refused");
  EXPECT_EQ(failure_reason_name(TC_FAIL_TIMEOUT), "timeout");
  EXPECT_EQ(failure_reason_name(TC_FAIL_MAX + 7), "other");
}

}  // namespace
}  // namespace tcpconnect
