// The connect probe: connect.bpf.c loaded and attached to sock:inet_sock_set_state
// through the first program type the kernel accepts (or the one configured).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "probes/connect_source.h"

struct connect_bpf;

namespace tcpconnect {

struct ProgramStats {
  std::string name;
  uint32_t id = 0;
  uint64_t run_time_ns = 0;  // only advances while kernel.bpf_stats_enabled=1
  uint64_t run_count = 0;
};

class ConnectProbe final : public ConnectSource {
 public:
  struct Options {
    ProbeBackend backend = ProbeBackend::kAuto;
    uint32_t max_entries = 16384;
  };

  // Loads and attaches. On failure the error says, per backend tried, why.
  static Result<std::unique_ptr<ConnectProbe>> attach(const Options& options);

  ~ConnectProbe() override;  // detaches and unloads everything, logs only
  ConnectProbe(const ConnectProbe&) = delete;
  ConnectProbe& operator=(const ConnectProbe&) = delete;

  ProbeBackend backend() const { return backend_; }
  std::string program_name() const;
  ProgramStats program_stats() const;

  Status read_connects(
      const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) override;
  Status read_latency(
      const std::function<void(const tc_latency_key&, const tc_latency_hist&)>& visit) override;
  Result<ErrorCounts> read_errors() override;

 private:
  struct SkelDeleter {
    void operator()(connect_bpf* skel) const;
  };
  using Skel = std::unique_ptr<connect_bpf, SkelDeleter>;

  ConnectProbe(Skel skel, ProbeBackend backend);
  static Result<Skel> try_backend(ProbeBackend backend, const Options& options);

  Skel skel_;
  ProbeBackend backend_;
};

// The backends `auto` tries, in order.
std::vector<ProbeBackend> backends_to_try(ProbeBackend requested);

}  // namespace tcpconnect
