// A minimal HTTP/1.1 client for tests: one GET over loopback, Connection: close.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tcpconnect::testing {

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// Returns nullopt when nothing answers (connection refused, timeout). extra_headers:
// more request header lines, each ending in "\r\n" (e.g. "Accept-Encoding: gzip\r\n").
std::optional<HttpResponse> http_request(const std::string& ip, uint16_t port,
                                         const std::string& method, const std::string& path,
                                         int timeout_ms = 5000,
                                         const std::string& extra_headers = "");
inline std::optional<HttpResponse> http_get(const std::string& ip, uint16_t port,
                                            const std::string& path, int timeout_ms = 5000) {
  return http_request(ip, port, "GET", path, timeout_ms);
}

// The value of one sample in Prometheus text output, e.g.
// metric_value(body, "tcpconnect_connects_total", {"dport=\"80\"", "family=\"ipv4\""}):
// the first sample of that metric whose label text contains every fragment. nullopt if
// none matches.
std::optional<double> metric_value(const std::string& body, const std::string& name,
                                   std::initializer_list<std::string> label_fragments = {});

}  // namespace tcpconnect::testing
