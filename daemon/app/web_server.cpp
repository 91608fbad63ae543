#include "app/web_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tcpconnect {
namespace {

// civetweb reports a failed bind without its errno; binding once ourselves recovers it
// so that the one-line error says "Address already in use" rather than "null context".
std::string bind_failure_reason(const std::string& address) {
  auto colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  int port = std::atoi(address.c_str() + colon + 1);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (host.empty() || inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = family = AF_INET;
    sin->sin_port = htons(port);
    len = sizeof(*sin);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return "not an IP address";
    sin6->sin6_family = family = AF_INET6;
    sin6->sin6_port = htons(port);
    len = sizeof(*sin6);
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  std::string reason = "unknown error";
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) reason = std::strerror(errno);
  close(fd);
  return reason;
}

}  // namespace

Result<std::string> civetweb_listen_spec(const std::string& listen_address) {
  auto colon = listen_address.rfind(':');
  if (colon == std::string::npos) return Error{"listen address needs a port: " + listen_address};
  std::string host = listen_address.substr(0, colon);
  std::string port = listen_address.substr(colon + 1);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) return port;  // every IPv4 address
  return host + ":" + port;         // civetweb takes "1.2.3.4:p" and "[::1]:p" alike
}

Result<std::unique_ptr<WebServer>> WebServer::start(const WebConfig& web) {
  auto spec = civetweb_listen_spec(web.listen_address);
  if (!spec) return spec.error();
  std::vector<std::string> options = {
      "listening_ports", spec.value(),
      "num_threads", "4",
      // A slow or idle client must not hold a worker for long.
      "request_timeout_ms", "10000",
      "enable_keep_alive", "yes",
  };
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(options);
    return std::unique_ptr<WebServer>(new WebServer(std::move(exposer), web.telemetry_path));
  } catch (const std::exception& e) {
    spdlog::debug("civetweb: {}", e.what());
    return Error{"cannot listen on " + web.listen_address + ": " +
                 bind_failure_reason(web.listen_address)};
  }
}

void WebServer::add(const std::shared_ptr<prometheus::Collectable>& collectable) {
  exposer_->RegisterCollectable(collectable, path_);
}

int WebServer::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace tcpconnect
