#include "gated_storm.h"

#include <pthread.h>

namespace tcpconnect::bench {

using Clock = std::chrono::steady_clock;

GatedStorm::GatedStorm(const StormListener& target, CloseMode close, int threads)
    : target_(target), close_(close), workers_(threads) {
  for (auto& w : workers_) w.thread = std::thread([this, &w] { run(w); });
}

GatedStorm::~GatedStorm() {
  done_ = true;
  epoch_.fetch_add(2);
  epoch_.notify_all();
  for (auto& w : workers_) w.thread.join();
}

bool GatedStorm::wait_parked(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (parked_.load(std::memory_order_acquire) < static_cast<int>(workers_.size())) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return true;
}

void GatedStorm::open() {
  parked_.store(0, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_release);  // odd: open
  epoch_.notify_all();
}

bool GatedStorm::close(std::chrono::milliseconds timeout) {
  epoch_.fetch_add(1, std::memory_order_release);  // even: closed
  return wait_parked(timeout);
}

int64_t GatedStorm::connects() const {
  int64_t n = 0;
  for (const auto& w : workers_) n += w.connects.load(std::memory_order_relaxed);
  return n;
}

std::map<int, int64_t> GatedStorm::errors() const {
  std::map<int, int64_t> out;
  for (const auto& w : workers_)
    for (auto [e, n] : w.errors) out[e] += n;
  return out;
}

std::vector<clockid_t> GatedStorm::cpu_clocks() {
  std::vector<clockid_t> out;
  for (auto& w : workers_) {
    clockid_t c;
    if (pthread_getcpuclockid(w.thread.native_handle(), &c) == 0) out.push_back(c);
  }
  return out;
}

void GatedStorm::run(Worker& w) {
  uint64_t seen = ~uint64_t{0};
  for (;;) {
    const uint64_t e = epoch_.load(std::memory_order_acquire);
    if (done_.load(std::memory_order_relaxed)) return;
    if (e % 2 == 0) {
      if (seen != e) {
        seen = e;
        parked_.fetch_add(1, std::memory_order_acq_rel);
      }
      epoch_.wait(e, std::memory_order_acquire);
      continue;
    }
    if (int err = connect_and_close(target_, close_))
      ++w.errors[err];
    else
      w.connects.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace tcpconnect::bench
