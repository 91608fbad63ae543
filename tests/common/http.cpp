#include "common/http.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

#include "common/net.h"

namespace tcpconnect::testing {

std::optional<HttpResponse> http_request(const std::string& ip, uint16_t port,
                                         const std::string& method, const std::string& path,
                                         int timeout_ms, const std::string& extra_headers) {
  int family = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_storage ss = make_addr(family, ip, port, &len);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return std::nullopt;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n" +
                    extra_headers + "\r\n";
  if (send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return std::nullopt;
  std::string raw;
  char buf[65536];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, n);
  }
  auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || end == std::string::npos) return std::nullopt;
  HttpResponse r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  // civetweb may answer chunked; join the chunks.
  if (r.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    std::string joined;
    size_t pos = 0;
    while (pos < r.body.size()) {
      size_t eol = r.body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t n = std::strtoul(r.body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (n == 0) break;
      joined += r.body.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    r.body = joined;
  }
  return r;
}

std::optional<double> metric_value(const std::string& body, const std::string& name,
                                   std::initializer_list<std::string> label_fragments) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    auto space = line.rfind(' ');
    std::string labels = line.substr(name.size(), space - name.size());
    bool all = true;
    for (const auto& f : label_fragments) all &= labels.find(f) != std::string::npos;
    if (all) return std::strtod(line.c_str() + space + 1, nullptr);
  }
  return std::nullopt;
}

}  // namespace tcpconnect::testing
