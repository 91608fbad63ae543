// Real sockets for tests: listeners and connects on loopback only (127.0.0.0/8, ::1).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace tcpconnect::testing {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Address helpers: family is AF_INET or AF_INET6, ip is text ("127.0.0.1", "::1").
sockaddr_storage make_addr(int family, const std::string& ip, uint16_t port, socklen_t* len);

// A listening TCP socket on ip with an ephemeral port.
struct Listener {
  Fd fd;
  uint16_t port = 0;
};
Listener listen_tcp(int family, const std::string& ip, int backlog = 4096);

// A port on ip that nothing listens on (bound then closed; the kernel will not hand it
// out again for a while).
uint16_t closed_port(int family, const std::string& ip);

// Blocking connect; returns 0 or the errno. Closes the socket afterwards.
int connect_once(int family, const std::string& ip, uint16_t port);

// `n` connects to a listener, accepting each so the backlog never fills. Returns how
// many connected.
int connect_and_accept(const Listener& l, int family, const std::string& ip, int n);

// A child process that moves itself into the cgroup2 directory `cgroup`, names itself
// `comm` when that is not empty (prctl(PR_SET_NAME)), and makes `n` connects to
// 127.0.0.1:port. Returns how many connected, or -1 when the child could not set itself
// up or did not finish within 10 s (it is killed then).
int connect_from_cgroup(const std::string& cgroup, uint16_t port, int n,
                        const std::string& comm = "");

// Accepts and closes whatever is pending on a listener (non-blocking).
void drain_accepts(const Listener& l);

// Waits up to 10 s for the non-blocking connect on `fd` to end. Returns -1 when it did
// not, else its result (0, or the errno). When it ended: *total_retrans, the segments the
// socket retransmitted (tcpi_total_retrans), and *ended (if given) the time it was seen
// to end.
int finish_connect(const Fd& fd, uint32_t* total_retrans,
                   std::chrono::steady_clock::time_point* ended = nullptr);

bool is_root();

}  // namespace tcpconnect::testing

// Skips the current test, with the reason, unless it runs as root.
#define TCPCONNECT_REQUIRE_ROOT()                                                       \
  do {                                                                                  \
    if (!::tcpconnect::testing::is_root())                                              \
      GTEST_SKIP() << "needs root (loads BPF programs into the kernel); run as root to " \
                      "exercise it";                                                    \
  } while (0)
