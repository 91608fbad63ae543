// What differs between the running configuration and a new one, named by the keys of the
// file: what a reload can apply while the probes stay attached, and what only a restart
// can.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace tcpconnect {

struct ConfigDiff {
  bool filters = false;
  bool labels = false;
  bool allowlist = false;
  bool limits = false;
  bool drain_interval = false;
  // Keys whose change needs a restart: "web", "probes.backend", "probes.max_entries", "dns",
  // "kubernetes".
  std::vector<std::string> needs_restart;

  bool live_changes() const { return filters || labels || allowlist || limits || drain_interval; }
  // The keys of the live changes, in the order a reload applies them.
  std::vector<std::string> live_changed() const;
};

ConfigDiff diff_config(const Config& running, const Config& next);

}  // namespace tcpconnect
