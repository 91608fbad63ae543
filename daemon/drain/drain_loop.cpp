#include "drain/drain_loop.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

namespace tcpconnect {

DrainLoop::DrainLoop(Drain& drain, SelfMetrics& self, std::chrono::milliseconds interval,
                     std::function<void()> after_drain)
    : drain_(drain),
      self_(self),
      after_drain_(std::move(after_drain)),
      interval_(interval),
      last_periodic_(std::chrono::steady_clock::now()),
      last_drain_(last_periodic_) {
  thread_ = std::thread([this] { run(); });
  // What `top -H` and /proc/PID/task/*/comm show (and the watchdog test finds it by).
  pthread_setname_np(thread_.native_handle(), "drain");
}

DrainLoop::~DrainLoop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DrainLoop::set_interval(std::chrono::milliseconds interval) {
  std::lock_guard<std::mutex> lock(mu_);
  interval_ = interval;
}

void DrainLoop::drain_now(std::chrono::milliseconds max_wait) {
  std::unique_lock<std::mutex> lock(mu_);
  // A drain that started before this request may have missed the newest counts.
  uint64_t want = generation_ + (running_ ? 2 : 1);
  requested_ = true;
  cv_.notify_all();
  done_cv_.wait_for(lock, max_wait, [&] { return generation_ >= want || stop_; });
}

std::chrono::steady_clock::time_point DrainLoop::last_drain() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_drain_;
}

void DrainLoop::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval_, [&] { return stop_ || requested_; });
    if (stop_) break;
    requested_ = false;
    running_ = true;
    auto start = std::chrono::steady_clock::now();
    const bool periodic = start >= last_periodic_ + interval_;
    if (periodic) last_periodic_ = start;
    lock.unlock();

    Status s = drain_.run_once(periodic ? DrainKind::kPeriodic : DrainKind::kScrape);
    auto end = std::chrono::steady_clock::now();
    if (!s) spdlog::warn("drain failed: {}", s.error().message);
    self_.observe_drain(std::chrono::duration<double>(end - start).count(), s.ok());
    if (after_drain_) after_drain_();

    lock.lock();
    ++generation_;
    running_ = false;
    last_drain_ = end;
    done_cv_.notify_all();
  }
}

}  // namespace tcpconnect
