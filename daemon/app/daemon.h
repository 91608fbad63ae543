// The daemon's lifetime: attach, serve, drain, reload on SIGHUP, detach on SIGTERM.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"

namespace tcpconnect {

struct DaemonOptions {
  Config config;
  std::string config_path;  // reread on SIGHUP; empty = no file
  std::string listen_override;  // --web.listen-address, kept across reloads
  // --runas.user: who a daemon started as root continues as (app/privileges.h); nullopt
  // for the default choice.
  std::optional<std::string> runas_user;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code; start-up failures are
// logged as one line.
int run_daemon(const DaemonOptions& options);

// "0.1.0 (git abc1234)".
std::string version_string();

}  // namespace tcpconnect
