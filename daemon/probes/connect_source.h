// What the drain needs from the kernel side, behind an interface so that the drain and
// the metrics can be tested without root against a fake.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "shared/connect.h"
#include "util/result.h"

namespace tcpconnect {

using ErrorCounts = std::array<uint64_t, TC_ERR_MAX>;

class ConnectSource {
 public:
  virtual ~ConnectSource() = default;

  // Every key's cumulative counts and latency, summed over CPUs (the latest attempt's
  // time: the largest).
  virtual Status read_connects(
      const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) = 0;
  // Cumulative in-kernel error counters (map full and the like), indexed by tc_error.
  virtual Result<ErrorCounts> read_errors() = 0;

  // Removes one key and returns its counts at the moment of removal (nullopt when it was
  // not there), so that whatever grew since the last read is still folded: idle expiry
  // keeps the kernel maps bounded without losing counts. Not every source can.
  virtual Result<std::optional<tc_connect_counts>> take_connects(const tc_connect_key&) {
    return Error{"this source cannot delete keys"};
  }
  // Whether what is in flight is each key's attempts less its outcomes (the kernel reads
  // outcomes' keys from the socket) rather than what read_in_flight() visits.
  virtual bool in_flight_from_counts() { return false; }
  // The key of every connect in flight now (SYN sent, outcome not seen yet), once each.
  // A source that cannot tell visits none.
  virtual Status read_in_flight(const std::function<void(const tc_connect_key&)>& /*visit*/) {
    return Ok{};
  }
  // Which optional key fields (TC_KEY_*) the kernel fills from now on.
  virtual Status set_key_fields(uint32_t /*fields*/) { return Ok{}; }
};

}  // namespace tcpconnect
