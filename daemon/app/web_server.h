// The HTTP endpoint: prometheus-cpp's Exposer (civetweb) bound to the configured
// address, serving the registered collectables at the telemetry path.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "util/result.h"

namespace tcpconnect {

// "host:port", "[v6]:port" or ":port" (every address) in civetweb's listening_ports
// syntax.
Result<std::string> civetweb_listen_spec(const std::string& listen_address);

class WebServer {
 public:
  // Binds now: a taken port is an error here, before READY.
  static Result<std::unique_ptr<WebServer>> start(const WebConfig& web);

  void add(const std::shared_ptr<prometheus::Collectable>& collectable);
  // The port actually bound (useful with port 0).
  int port() const;

 private:
  WebServer(std::unique_ptr<prometheus::Exposer> exposer, std::string path)
      : exposer_(std::move(exposer)), path_(std::move(path)) {}
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string path_;
};

}  // namespace tcpconnect
