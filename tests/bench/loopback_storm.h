// What the connect-throughput benchmarks share: a listener on 127.0.0.1 or ::1 whose own
// threads accept and close, and one connect()+close() to it. Each connect runs the probe
// on CLOSE->SYN_SENT and on the other state changes of both ends: what the exporter adds
// to a connect.
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"

namespace tcpconnect::bench {

enum class CloseMode { kFin, kRst };  // orderly close, or abort (SO_LINGER 0)

class StormListener {
 public:
  // Listens on 127.0.0.1 (family 4) or ::1 (family 6), on an ephemeral port, and starts
  // accept_threads threads that accept and close until stop(). nullptr and *error on
  // failure.
  static std::unique_ptr<StormListener> start(int family, int accept_threads, std::string* error);
  StormListener(const StormListener&) = delete;
  StormListener& operator=(const StormListener&) = delete;
  ~StormListener() { stop(); }
  void stop();

  int domain() const { return domain_; }
  const std::string& ip() const { return ip_; }
  uint16_t port() const { return listener_.port; }
  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t addr_len() const { return addr_len_; }
  // CPU clocks of the accept threads (pthread_getcpuclockid), while they run.
  std::vector<clockid_t> cpu_clocks() const;

 private:
  StormListener() = default;

  int domain_ = 0;
  std::string ip_;
  tcpconnect::testing::Listener listener_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> acceptors_;
};

// One connect() to the listener, then close(): 0, or the errno of the step that failed.
// A connect whose SYN was dropped (full backlog) gives up after 2 s (SO_SNDTIMEO) rather
// than waiting out the retransmits.
int connect_and_close(const StormListener& target, CloseMode close);

// TcpExt ListenOverflows: SYNs dropped because an accept queue was full (-1: unreadable).
// Growing during a run means the accept side, not the connect path, limited it.
int64_t listen_overflows();

// A clock's reading in ns (0 if it cannot be read, e.g. the thread is gone).
int64_t clock_ns(clockid_t clock);

}  // namespace tcpconnect::bench
