#include "loads.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "common/net.h"
#include "loopback_storm.h"

namespace tcpconnect::bench {
namespace {

using Clock = std::chrono::steady_clock;
using tcpconnect::testing::Fd;

Clock::time_point after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

LoadResult failed(const std::string& why) {
  LoadResult r;
  r.error = why;
  return r;
}

double process_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Reads from fd until `stop` and nothing arrives for 100 ms, or EOF; bytes (stream) or
// datagrams read.
int64_t read_until_stopped(int fd, const std::atomic<bool>& stop, bool count_bytes) {
  std::vector<char> buf(65536);
  int64_t n = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) {
      if (stop.load()) return n;
      continue;
    }
    const ssize_t got = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (got == 0 && count_bytes) return n;
    if (got > 0) n += count_bytes ? got : 1;
  }
}

LoadResult connects(double seconds, int threads, CloseMode close, int64_t max_connects) {
  std::string error;
  auto listener = StormListener::start(4, 1, &error);
  if (!listener) return failed("listener: " + error);
  std::atomic<int64_t> done{0};
  std::atomic<int> first_errno{0};
  const int64_t per_thread = max_connects / threads;
  const double cpu0 = process_cpu();
  const auto t0 = Clock::now();
  const auto deadline = after(seconds);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&] {
      int64_t n = 0;
      // Bounded by the deadline and by the count.
      while (n < per_thread && Clock::now() < deadline) {
        const int err = connect_and_close(*listener, close);
        int none = 0;
        if (err == 0)
          ++n;
        else
          first_errno.compare_exchange_strong(none, err);
      }
      done += n;
    });
  for (auto& t : workers) t.join();
  LoadResult r{done.load(), done.load(), since(t0), process_cpu() - cpu0, ""};
  if (first_errno.load() != 0) r.error = std::string("connect: ") + std::strerror(first_errno);
  listener->stop();
  return r;
}

}  // namespace

LoadResult connect_load(double seconds, int threads) {
  return connects(seconds, threads, CloseMode::kFin, INT64_MAX);
}

LoadResult connect_storm_load(double seconds, int threads, int64_t max_connects) {
  return connects(seconds, threads, CloseMode::kRst, max_connects);
}

int64_t time_wait_sockets() {
  // /proc/net/sockstat: "TCP: inuse N orphan N tw N alloc N mem N".
  std::ifstream in("/proc/net/sockstat");
  std::string word;
  while (in >> word)
    if (word == "tw") {
      int64_t n = -1;
      in >> n;
      return n;
    }
  return -1;
}

LoadResult udp_load(double seconds, int size) {
  socklen_t len = 0;
  sockaddr_storage addr = tcpconnect::testing::make_addr(AF_INET, "127.0.0.1", 0, &len);
  Fd rx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)),
      tx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int rcvbuf = 4 << 20;
  setsockopt(rx.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (bind(rx.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return failed(std::string("UDP bind: ") + std::strerror(errno));
  std::atomic<bool> stop{false};
  int64_t received = 0;
  std::thread receiver([&] { received = read_until_stopped(rx.get(), stop, false); });
  const std::vector<char> payload(size, 'x');
  int64_t sent = 0;
  const double cpu0 = process_cpu();
  const auto t0 = Clock::now();
  const auto deadline = after(seconds);
  // Bounded by the deadline.
  while (Clock::now() < deadline)
    if (sendto(tx.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr),
               len) == size)
      ++sent;
  const double elapsed = since(t0);
  stop = true;
  receiver.join();
  return {received, sent, elapsed, process_cpu() - cpu0, ""};
}

LoadResult tcp_stream_load(double seconds) {
  tcpconnect::testing::Listener l = tcpconnect::testing::listen_tcp(AF_INET, "127.0.0.1");
  socklen_t len = 0;
  sockaddr_storage addr = tcpconnect::testing::make_addr(AF_INET, "127.0.0.1", l.port, &len);
  Fd tx(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(tx.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return failed(std::string("stream connect: ") + std::strerror(errno));
  Fd rx(accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!rx) return failed(std::string("stream accept: ") + std::strerror(errno));
  std::atomic<bool> stop{false};
  int64_t received = 0;
  std::thread receiver([&] { received = read_until_stopped(rx.get(), stop, true); });
  const std::vector<char> chunk(65536, 'x');
  const double cpu0 = process_cpu();
  const auto t0 = Clock::now();
  const auto deadline = after(seconds);
  // Bounded by the deadline.
  while (Clock::now() < deadline)
    if (send(tx.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
  const double elapsed = since(t0);
  shutdown(tx.get(), SHUT_WR);
  stop = true;
  receiver.join();
  return {received, received, elapsed, process_cpu() - cpu0, ""};
}

}  // namespace tcpconnect::bench
