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

// The id in a DnsLayer::describe() text ("... program id N ..."); 0 when there is none.
uint32_t prog_id_in(const std::string& describe);

}  // namespace tcpconnect::bench
