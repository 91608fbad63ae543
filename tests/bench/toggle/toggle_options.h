// The options every toggle scenario shares (the storm, the windows, the peer, the
// figures), and their command-line flags.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace tcpconnect::bench {

struct ToggleOptions {
  std::string daemon = "build/tcpconnect_exporter";
  std::string config = "config/tcpconnect_exporter.yaml";
  double seconds = 60;
  int window_ms = 250;
  int threads = 2;
  int accept_threads = 1;
  int64_t max_connects = 50000000;
  int family = 4;
  std::string close_mode = "fin";
  bool netns = false;  // the storm in a network namespace of its own (LoadNetns)
  double scrape_interval = 1;
  bool bpf_stats = false;
  bool alone = false;  // set by the scenario, not by a flag
  bool peer = false;
  std::string peer_kind = "bpftrace";
  bool print_windows = false;
  int bootstrap = 2000;
  std::string order = "random";
  uint64_t seed = 1;
};

// The flags of every scenario (--config, the storm, the windows, --peer, --bpf-stats...).
void add_toggle_options(CLI::App& app, ToggleOptions& o,
                        const std::vector<std::string>& peer_kind_names);

// SIGINT and SIGTERM end the run after the current window (interrupted() turns true).
void stop_on_signals();
bool interrupted();

}  // namespace tcpconnect::bench
