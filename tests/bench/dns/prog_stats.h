// The bpf_stats of the DNS capture program, for the DNS benchmarks (run time only
// advances while kernel.bpf_stats_enabled is on, or an enable-stats fd is held).
#pragma once

#include <cstdint>
#include <string>

namespace tcpconnect::bench {

struct ProgRun {
  uint64_t ns = 0, runs = 0;
};

// run_time_ns and run_cnt of the program with this id (zeros when it is gone or id 0).
ProgRun prog_run(uint32_t prog_id);

// The id in a DnsLayer::describe() text ("... ingress program id N, egress program id
// M"): of the first program, or of the one `which` names ("egress "); 0 when there is none.
uint32_t prog_id_in(const std::string& describe, const std::string& which = "");

}  // namespace tcpconnect::bench
