// The trace subcommand's kernel side: trace.bpf.c loaded and attached to
// sock:inet_sock_set_state through the first program type the kernel accepts, its
// records read from a ring buffer, its -c counts from a per-CPU map. A separate object
// from the daemon's ConnectProbe, loaded only by `trace`.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "bpf/libbpf_owners.h"
#include "config/config.h"
#include "probes/connect_filters.h"
#include "shared/trace.h"
#include "util/result.h"

struct trace_bpf;

namespace tcpconnect {

// What could not be recorded, cumulative since attach.
struct TraceLosses {
  uint64_t ring_full = 0;     // events dropped: the reader fell behind
  uint64_t pending_full = 0;  // attempts dropped: too many awaiting their next state
  uint64_t counts_full = 0;   // -c: attempts or outcomes the count map had no room for
  uint64_t skipped_runs = 0;  // program runs the kernel skipped (recursion on a CPU)

  uint64_t total() const { return ring_full + pending_full + counts_full + skipped_runs; }
};

class TraceProbe {
 public:
  struct Options {
    ProbeBackend backend = ProbeBackend::kAuto;
    bool count_mode = false;         // count in the kernel, emit nothing
    bool wait_outcome = false;       // emit at the next state: local port and outcome known
    uint32_t ring_bytes = 1u << 20;  // a power of two, at least the page size
    uint32_t max_entries = 16384;    // attempts in flight; -c keys
    FiltersConfig filters;           // in the maps before the program is attached
  };
  // Called from consume() for each record, in order.
  using Sink = std::function<void(const tc_trace_event&)>;

  static Result<std::unique_ptr<TraceProbe>> attach(const Options& options, Sink sink);
  ~TraceProbe();  // detaches and unloads, logs only
  TraceProbe(const TraceProbe&) = delete;
  TraceProbe& operator=(const TraceProbe&) = delete;

  ProbeBackend backend() const { return backend_; }
  // Readable when records are waiting.
  int wait_fd() const;
  // Hands every record in the ring to the sink; returns how many.
  Result<size_t> consume();
  // With wait_outcome: removes the attempts still waiting for their next state and
  // returns them, oldest first (outcome TC_TRACE_PENDING; lport 0 unless the application
  // bound the socket). An attempt whose outcome the program records meanwhile is not
  // among them: it goes to the ring instead, so each attempt is handed out once.
  Result<std::vector<tc_trace_event>> take_pending();
  // -c: every (family, saddr, daddr, dport) with its counts summed over CPUs.
  Status read_counts(
      const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit);
  Result<TraceLosses> losses() const;

 private:
  using Skel = SkeletonPtr<trace_bpf>;

  struct Attached {
    Skel skel;
    std::optional<ConnectFilters> filters;
  };
  TraceProbe(Attached attached, ProbeBackend backend, Sink sink);
  static Result<Attached> try_backend(ProbeBackend backend, const Options& options);
  static int on_record(void* ctx, void* data, size_t size);

  Skel skel_;
  std::optional<ConnectFilters> filters_;
  ProbeBackend backend_;
  Sink sink_;
  RingBufferPtr ring_;
  uint64_t malformed_ = 0;
};

}  // namespace tcpconnect
