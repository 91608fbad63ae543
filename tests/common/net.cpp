#include "common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace tcpconnect::testing {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

sockaddr_storage make_addr(int family, const std::string& ip, uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1)
      throw std::invalid_argument("bad IPv4 address " + ip);
    *len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1)
      throw std::invalid_argument("bad IPv6 address " + ip);
    *len = sizeof(*a);
  }
  return ss;
}

Listener listen_tcp(int family, const std::string& ip, int backlog) {
  Listener l;
  l.fd = Fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l.fd) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len;
  sockaddr_storage ss = make_addr(family, ip, 0, &len);
  if (bind(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(l.fd.get(), backlog) != 0)
    throw std::runtime_error(std::string("bind/listen: ") + std::strerror(errno));
  getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  l.port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return l;
}

uint16_t closed_port(int family, const std::string& ip) {
  Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_storage ss = make_addr(family, ip, 0, &len);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

int connect_once(int family, const std::string& ip, uint16_t port) {
  Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  socklen_t len;
  sockaddr_storage ss = make_addr(family, ip, port, &len);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno;
  return 0;
}

void drain_accepts(const Listener& l) {
  int flags = fcntl(l.fd.get(), F_GETFL);
  fcntl(l.fd.get(), F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    int c = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) break;
    close(c);
  }
  fcntl(l.fd.get(), F_SETFL, flags);
}

int finish_connect(const Fd& fd, uint32_t* total_retrans,
                   std::chrono::steady_clock::time_point* ended) {
  pollfd p{fd.get(), POLLOUT, 0};
  if (poll(&p, 1, 10000) != 1) return -1;
  if (ended) *ended = std::chrono::steady_clock::now();
  int err = -1;
  socklen_t len = sizeof(err);
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  tcp_info info{};
  len = sizeof(info);
  if (getsockopt(fd.get(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return errno;
  *total_retrans = info.tcpi_total_retrans;
  return err;
}

int connect_and_accept(const Listener& l, int family, const std::string& ip, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    if (connect_once(family, ip, l.port) == 0) ++ok;
    drain_accepts(l);
  }
  return ok;
}

bool is_root() { return geteuid() == 0; }

int connect_from_cgroup(const std::string& cgroup, uint16_t port, int n, const std::string& comm) {
  const std::string procs = cgroup + "/cgroup.procs";
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Only system calls from here: the parent may have threads.
    const int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(200);
    close(fd);
    if (!comm.empty() && prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0) != 0) _exit(201);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int connected = 0;
    for (int i = 0; i < n; ++i) {
      const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) _exit(202);
      connected += connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(s);
    }
    _exit(connected);
  }
  int status = 0;
  for (int i = 0; i < 500; ++i) {  // bounded: 10 s
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) && WEXITSTATUS(status) < 200 ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace tcpconnect::testing
