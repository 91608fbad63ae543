// The clocks the daemon reads, in nanoseconds; header-only, on the C library alone.
#pragma once

#include <time.h>

#include <cstdint>

namespace tcpconnect {

inline uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CLOCK_MONOTONIC now, the clock of the kernel's timestamps (bpf_ktime_get_ns()).
inline uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

// CLOCK_REALTIME now: Unix time, the clock of socket timestamps.
inline uint64_t realtime_ns() { return clock_ns(CLOCK_REALTIME); }

}  // namespace tcpconnect
