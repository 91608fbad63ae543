// What the drain needs from the kernel side, behind an interface so that the drain and
// the metrics can be tested without root against a fake.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <functional>

#include "shared/connect.h"
#include "util/result.h"

namespace tcpconnect {

using ErrorCounts = std::array<uint64_t, TC_ERR_MAX>;

class ConnectSource {
 public:
  virtual ~ConnectSource() = default;

  // Every key's cumulative counts, summed over CPUs.
  virtual Status read_connects(
      const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) = 0;
  // Every destination's cumulative latency histogram, summed over CPUs.
  virtual Status read_latency(
      const std::function<void(const tc_latency_key&, const tc_latency_hist&)>& visit) = 0;
  // Cumulative in-kernel error counters (map full and the like), indexed by tc_error.
  virtual Result<ErrorCounts> read_errors() = 0;
};

}  // namespace tcpconnect
