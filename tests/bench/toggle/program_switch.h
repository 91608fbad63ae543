// The switch: programs attached through links this process owns, or not. Either program
// may be absent (an invalid fd): a peer switches one program alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probes/connect_probe.h"
#include "util/unique_fd.h"

namespace tcpconnect::bench {

class ProgramSwitch {
 public:
  ProgramSwitch(UniqueFd connect_prog, ProbeBackend backend, UniqueFd dns_prog, UniqueFd cgroup)
      : connect_prog_(std::move(connect_prog)),
        backend_(backend),
        dns_prog_(std::move(dns_prog)),
        cgroup_(std::move(cgroup)) {}

  // For the classic tracepoint: the perf event the link goes through, opened once.
  std::string prepare();
  // Attaches every program; "" or what failed (then nothing is attached).
  std::string on();
  void off();
  // Every link on() made, for the check that none is left.
  const std::vector<uint32_t>& link_ids() const { return link_ids_; }

 private:
  // A link for the connect program, the way backend_ attaches; its fd or -errno.
  int attach_connect() const;

  UniqueFd connect_prog_;
  ProbeBackend backend_;
  UniqueFd dns_prog_;
  UniqueFd cgroup_;
  UniqueFd perf_event_;
  std::vector<UniqueFd> links_;
  std::vector<uint32_t> link_ids_;
};

}  // namespace tcpconnect::bench
