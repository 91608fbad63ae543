// The fd store protocol without a service manager: what the daemon takes from
// $LISTEN_FDS/$LISTEN_FDNAMES, and what it sends to $NOTIFY_SOCKET.
#include "app/fd_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "app/privileges.h"
#include "common/datagram.h"

namespace tcpconnect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Places memfds at 3.. as a service manager would, with these names. The fds that were
// at 3.. are moved away first and restored by the destructor.
class PassedFds {
 public:
  explicit PassedFds(const std::vector<std::string>& names) {
    std::string joined;
    for (size_t i = 0; i < names.size(); ++i) {
      int target = 3 + static_cast<int>(i);
      saved_.push_back(fcntl(target, F_DUPFD_CLOEXEC, 100));
      int fd = memfd_create(names[i].c_str(), MFD_CLOEXEC);
      if (fd != target) {
        dup2(fd, target);
        close(fd);
      }
      joined += (i ? ":" : "") + names[i];
    }
    setenv("LISTEN_FDS", std::to_string(names.size()).c_str(), 1);
    setenv("LISTEN_FDNAMES", joined.c_str(), 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  }
  ~PassedFds() {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i] >= 0) {
        dup2(saved_[i], 3 + static_cast<int>(i));
        close(saved_[i]);
      }
    }
  }

 private:
  std::vector<int> saved_;
};

TEST(FdStore, TakesFdsByPrefixAndLeavesTheRest) {
  PassedFds passed({"connect.link", "connect.map.connects", "dns.link"});
  FdStore store = FdStore::from_environment();
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr) << "not inherited by children";
  NamedFds connect = store.take("connect.");
  ASSERT_EQ(connect.size(), 2u);
  EXPECT_GE(connect.at("connect.link").get(), 3);
  EXPECT_THAT(store.untaken(), ElementsAre("dns.link"));
  EXPECT_TRUE(store.take("connect.").empty());
}

TEST(FdStore, TwoFdsOfOneNameAreNotTakenButForgotten) {
  PassedFds passed({"connect.link", "connect.link"});
  FdStore store = FdStore::from_environment();
  EXPECT_TRUE(store.take("connect.").empty());
  EXPECT_THAT(store.untaken(), ElementsAre("connect.link"));
  store.forget_untaken();
  EXPECT_TRUE(store.untaken().empty());
}

TEST(FdStore, WithoutNotifySocketNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  FdStore store = FdStore::from_environment();
  EXPECT_FALSE(store.available());
  EXPECT_TRUE(store.keep("connect.link", 0));
  EXPECT_TRUE(store.forget("connect.link"));
}

TEST(FdStore, KeepSendsTheFdUnpolledUnderItsName) {
  std::string path = "/tmp/tcpconnect_fd_store_test_" + std::to_string(getpid());
  unlink(path.c_str());
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  FdStore store = FdStore::from_environment();
  ASSERT_TRUE(store.available());
  int memfd = memfd_create("kept", MFD_CLOEXEC);
  ASSERT_TRUE(store.keep("connect.map.errors", memfd));
  ASSERT_TRUE(store.forget("connect.link"));
  unsetenv("NOTIFY_SOCKET");

  std::optional<testing::Datagram> d = testing::receive_datagram(sock, MSG_DONTWAIT);
  ASSERT_TRUE(d) << std::strerror(errno);
  EXPECT_THAT(d->text, HasSubstr("FDSTORE=1"));
  EXPECT_THAT(d->text, HasSubstr("FDPOLL=0"));
  EXPECT_THAT(d->text, HasSubstr("FDNAME=connect.map.errors"));
  ASSERT_EQ(d->fds.size(), 1u);
  for (int fd : d->fds) close(fd);
  char buf[256];
  ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "FDSTOREREMOVE=1\nFDNAME=connect.link");
  close(memfd);
  close(sock);
  unlink(path.c_str());
}

TEST(Privileges, PortsBelow1024NeedTheBindCapability) {
  EXPECT_TRUE(needs_privileged_port(":80"));
  EXPECT_TRUE(needs_privileged_port("[::1]:443"));
  EXPECT_FALSE(needs_privileged_port(":9476"));
  EXPECT_FALSE(needs_privileged_port("127.0.0.1:1024"));
  EXPECT_FALSE(needs_privileged_port("garbage"));
}

}  // namespace
}  // namespace tcpconnect
