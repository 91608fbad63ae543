#include "loopback_storm.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tcpconnect::bench {
namespace {

constexpr int kConnectTimeoutMs = 2000;

void accept_loop(int listen_fd, const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    pollfd p{listen_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    // Bounded per wake-up so that `stop` is seen even under a steady stream.
    for (int i = 0; i < 4096; ++i) {
      int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) break;
      close(c);
    }
  }
}

}  // namespace

std::unique_ptr<StormListener> StormListener::start(int family, int accept_threads,
                                                    std::string* error) {
  std::unique_ptr<StormListener> s(new StormListener);
  s->domain_ = family == 6 ? AF_INET6 : AF_INET;
  s->ip_ = family == 6 ? "::1" : "127.0.0.1";
  try {
    s->listener_ = tcpconnect::testing::listen_tcp(s->domain_, s->ip_);
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
  const int fd = s->listener_.fd.get();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  s->addr_ = tcpconnect::testing::make_addr(s->domain_, s->ip_, s->listener_.port, &s->addr_len_);
  for (int i = 0; i < accept_threads; ++i)
    s->acceptors_.emplace_back(accept_loop, fd, std::cref(s->stop_));
  return s;
}

void StormListener::stop() {
  stop_ = true;
  for (auto& t : acceptors_) t.join();
  acceptors_.clear();
}

std::vector<clockid_t> StormListener::cpu_clocks() const {
  std::vector<clockid_t> out;
  for (const auto& t : acceptors_) {
    clockid_t c;
    if (pthread_getcpuclockid(const_cast<std::thread&>(t).native_handle(), &c) == 0)
      out.push_back(c);
  }
  return out;
}

int connect_and_close(const StormListener& target, CloseMode close_mode) {
  static const timeval timeout{kConnectTimeoutMs / 1000, (kConnectTimeoutMs % 1000) * 1000};
  static const linger rst{1, 0};
  tcpconnect::testing::Fd fd(socket(target.domain(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (close_mode == CloseMode::kRst) setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
  if (connect(fd.get(), target.addr(), target.addr_len()) != 0) return errno;
  return 0;
}

int64_t listen_overflows() {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == "ListenOverflows") return std::stoll(value);
  }
  return -1;
}

LoadNetns::~LoadNetns() {
  if (fd_ >= 0) close(fd_);
}

std::string LoadNetns::create() {
  const int previous = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (previous < 0) return std::string("open own netns: ") + std::strerror(errno);
  std::string err;
  if (unshare(CLONE_NEWNET) != 0) {
    err = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  } else {
    fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    tcpconnect::testing::Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (fd_ < 0 || !s || ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0))
      err = std::string("bring lo up in the new netns: ") + std::strerror(errno);
    if (setns(previous, CLONE_NEWNET) != 0) std::abort();  // cannot go on in the wrong one
  }
  close(previous);
  return err;
}

LoadNetns::Entered::Entered(const LoadNetns& ns) {
  previous_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (previous_ >= 0 && setns(ns.fd_, CLONE_NEWNET) != 0) {
    close(previous_);
    previous_ = -1;
  }
}

LoadNetns::Entered::~Entered() {
  if (previous_ < 0) return;
  if (setns(previous_, CLONE_NEWNET) != 0) std::abort();
  close(previous_);
}

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return 0;
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace tcpconnect::bench
