// The thread that drains the kernel maps every interval, and on request before a
// scrape so that /metrics is at most one drain behind the kernel. A drain is the
// periodic one (DrainKind: it also does the work a scrape does not wait for) when an
// interval has passed since the start of the previous periodic one: the loop's own
// drains (an interval after the last drain of any kind), and the requested drain that
// finds one due, so that frequent scrapes neither postpone it nor add drains.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "drain/drain.h"
#include "metrics/self_metrics.h"

namespace tcpconnect {

class DrainLoop {
 public:
  DrainLoop(Drain& drain, SelfMetrics& self, std::chrono::milliseconds interval,
            std::function<void()> after_drain = {});
  ~DrainLoop();  // stops and joins

  void set_interval(std::chrono::milliseconds interval);
  // Asks for a drain now and waits for it at most `max_wait`; never blocks longer, so a
  // scrape cannot hang on a slow drain.
  void drain_now(std::chrono::milliseconds max_wait);
  // Monotonic time of the last drain that completed (ok or not): the watchdog's signal
  // that the loop is alive.
  std::chrono::steady_clock::time_point last_drain() const;

 private:
  void run();

  Drain& drain_;
  SelfMetrics& self_;
  std::function<void()> after_drain_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::chrono::milliseconds interval_;
  bool stop_ = false;
  bool requested_ = false;
  bool running_ = false;
  uint64_t generation_ = 0;
  // Start of the last periodic drain (at first, of the loop); the next is due an
  // interval later.
  std::chrono::steady_clock::time_point last_periodic_;
  std::chrono::steady_clock::time_point last_drain_;
  std::thread thread_;
};

}  // namespace tcpconnect
