// `tcpconnect_exporter trace`: bcc's tcpconnect(8) on this exporter's probes, with its
// options, header and columns, for machines where the original cannot run (no kprobes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "probes/kube_pods.h"
#include "trace/trace_output.h"
#include "util/result.h"

namespace CLI {
class App;
}

namespace tcpconnect {

struct TraceOptions {
  TraceColumns columns;
  bool count = false;     // -c
  FiltersConfig filters;  // -p -P -4/-6 -u --cgroupmap --mntnsmap
  ProbeBackend backend = ProbeBackend::kAuto;
  uint32_t ring_bytes = 1u << 20;
  // --pod: where kubelet keeps its logs, which name pods and containers.
  std::string pod_logs_dir = std::string(kDefaultPodLogsDir);
  std::string container_logs_dir = std::string(kDefaultContainerLogsDir);
};

// The subcommand as the command line sees it.
class TraceCommand {
 public:
  // Adds `trace` and its options to the program's command line.
  static std::unique_ptr<TraceCommand> add_to(CLI::App& app);

  // Whether the command line named the subcommand.
  bool selected() const;
  // The parsed options, checked as the configuration file's filters are.
  Result<TraceOptions> options() const;

 private:
  TraceCommand() = default;

  CLI::App* app_ = nullptr;
  TraceOptions parsed_;
  std::string pids_;
  std::string ports_;
  std::string uids_;
  bool ipv4_ = false;
  bool ipv6_ = false;
  std::string backend_ = "auto";
};

// Traces until SIGINT or SIGTERM; returns the exit status. Output on stdout, errors and
// lost events on stderr.
int run_trace(const TraceOptions& options);

}  // namespace tcpconnect
