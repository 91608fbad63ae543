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

// A network namespace of the benchmark's own, its lo up, for loopback loads. On the
// host's loopback a storm shares the conntrack table (loaded as soon as any NAT rule
// exists, e.g. podman's): FIN-closed connections stay in it 120 s, the table fills at
// nf_conntrack_max and new SYNs are dropped (a 1 s retransmit each: the storm stalls), as
// it does with the TIME_WAIT sockets and ephemeral ports of whatever else runs there. A
// fresh namespace has no conntrack hook and no one else's sockets; the exporter's
// programs (a tracepoint, cgroup programs on the root) run for its traffic all the same.
class LoadNetns {
 public:
  LoadNetns() = default;
  LoadNetns(const LoadNetns&) = delete;
  LoadNetns& operator=(const LoadNetns&) = delete;
  ~LoadNetns();
  // "" or what failed.
  std::string create();

  // The calling thread (and threads it starts) in the namespace while this lives.
  class Entered {
   public:
    explicit Entered(const LoadNetns& ns);
    Entered(const Entered&) = delete;
    Entered& operator=(const Entered&) = delete;
    ~Entered();

   private:
    int previous_ = -1;
  };

 private:
  int fd_ = -1;
};

// A clock's reading in ns (0 if it cannot be read, e.g. the thread is gone).
int64_t clock_ns(clockid_t clock);

}  // namespace tcpconnect::bench
