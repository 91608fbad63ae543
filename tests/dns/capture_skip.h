// Skipping a capture method's tests where the running kernel cannot load it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "dns/dns_capture.h"

namespace tcpconnect::testing {

// Why `method` cannot capture on this kernel ("" when it can): the fentry capture needs
// a kernel that allows fentry (the host's 6.18 answers EPERM), so its tests skip
// where it does not load. Only fentry is probed; the others must load where tests run.
inline std::string capture_unavailable(DnsCapture method) {
  if (method != DnsCapture::kFentry) return "";
  auto c = open_fentry_capture(DnsCaptureOptions{}, [](const DnsPacket&) {});
  return c ? "" : c.error().message;
}
#define TCPCONNECT_SKIP_UNLESS_CAPTURE(method)                                       \
  do {                                                                               \
    if (auto why = ::tcpconnect::testing::capture_unavailable(method); !why.empty()) \
      GTEST_SKIP() << "the fentry capture does not load on this kernel: " << why;    \
  } while (0)

}  // namespace tcpconnect::testing
