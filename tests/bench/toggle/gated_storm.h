// The storm: threads that connect and close without pause, except when parked between
// two windows.
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include "loopback_storm.h"

namespace tcpconnect::bench {

class GatedStorm {
 public:
  // Starts `threads` threads, parked.
  GatedStorm(const StormListener& target, CloseMode close, int threads);
  GatedStorm(const GatedStorm&) = delete;
  GatedStorm& operator=(const GatedStorm&) = delete;
  ~GatedStorm();

  // Waits (at most timeout) until every thread is parked: false if one is not.
  bool wait_parked(std::chrono::milliseconds timeout);
  void open();
  // Parks every thread after the connect it is in: false if one did not within timeout.
  bool close(std::chrono::milliseconds timeout);

  // Only while parked.
  int64_t connects() const;
  std::map<int, int64_t> errors() const;
  std::vector<clockid_t> cpu_clocks();

 private:
  struct alignas(64) Worker {
    std::thread thread;
    std::atomic<int64_t> connects{0};
    std::map<int, int64_t> errors;  // errno -> count; read by others only while parked
  };

  void run(Worker& w);

  const StormListener& target_;
  const CloseMode close_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> parked_{0};
  std::atomic<bool> done_{false};
  std::vector<Worker> workers_;
};

}  // namespace tcpconnect::bench
