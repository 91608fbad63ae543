// The allowlist under an unprivileged process that fills the kernel's connect map: once
// the map is full, connects are counted without a key, so no destination can be checked;
// they must count as unexpected (in the overflow series), never as allowed.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/net.h"
#include "drain/drain.h"
#include "metrics/series_store.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

using testing::closed_port;
using testing::connect_once;

constexpr uint32_t kMaxEntries = 64;
// Four times the map's room, each to a key of its own: bounded, and full whatever
// else connects meanwhile.
constexpr int kFillConnects = 4 * kMaxEntries;
constexpr uint16_t kAllowedPortMin = 20000, kAllowedPortMax = 29999;
constexpr uid_t kNobody = 65534;

// In a forked child that becomes nobody: connects to 127.1.x.y on allowed ports, each
// refused at once (nothing listens there). Only system calls after fork(). Returns the
// child's exit status: 0 when it ran as nobody and every connect was refused.
int fill_map_as_nobody() {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(30);  // bounded whatever happens
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(2);
    if (getuid() != kNobody) _exit(3);
    for (int i = 0; i < kFillConnects; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) _exit(4);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(static_cast<uint16_t>(kAllowedPortMin + i));
      to.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | static_cast<uint32_t>(i + 1));
      int r = connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
      int err = r == 0 ? 0 : errno;
      close(fd);
      if (err != ECONNREFUSED) _exit(5);
    }
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

uint64_t unexpected_overflow(const SeriesStore& store) {
  uint64_t n = 0;
  store.unexpected().for_each([&](const LabelValues* labels, const UnexpectedCounts& c) {
    if (!labels) n = c.attempts;
  });
  return n;
}

TEST(AllowlistFailClosedTest, ConnectOutsideTheAllowlistAfterAnUnprivilegedMapFillIsUnexpected) {
  TCPCONNECT_REQUIRE_ROOT();
  ConnectProbe::Options options;
  options.max_entries = kMaxEntries;
  auto attached = ConnectProbe::attach(options);
  ASSERT_TRUE(attached) << attached.error().message;
  std::unique_ptr<ConnectProbe> probe = std::move(attached).value();
  auto store = std::make_shared<SeriesStore>(100000);
  Drain drain(*probe, store, LabelsConfig{});
  AllowlistConfig allow;
  allow.enabled = true;
  AllowRule loopback;
  loopback.cidr = parse_cidr("127.0.0.0/8").value();
  loopback.ports = {PortRange{kAllowedPortMin, kAllowedPortMax}};
  allow.rules = {loopback};
  ASSERT_TRUE(drain.configure(LabelsConfig{}, allow));

  ASSERT_EQ(fill_map_as_nobody(), 0);
  ASSERT_TRUE(drain.run_once());
  const uint64_t full_before = drain.kernel_errors()[TC_ERR_CONNECTS_FULL];
  ASSERT_GT(full_before, 0u) << "the map did not fill";
  const uint64_t unexpected_before = unexpected_overflow(*store);

  // Outside the allowlist: a port no rule allows.
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  ASSERT_TRUE(port < kAllowedPortMin || port > kAllowedPortMax) << port;
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", port), ECONNREFUSED);
  ASSERT_TRUE(drain.run_once());

  EXPECT_GT(drain.kernel_errors()[TC_ERR_CONNECTS_FULL], full_before)
      << "the connect found room in the map";
  EXPECT_GE(unexpected_overflow(*store), unexpected_before + 1)
      << "a connect the allowlist could not check was not counted as unexpected";
  // Every connect the kernel could not key is unexpected, the allowed ones included.
  EXPECT_EQ(unexpected_overflow(*store), drain.kernel_errors()[TC_ERR_CONNECTS_FULL]);
}

}  // namespace
}  // namespace tcpconnect
