// The HTTP endpoint: civetweb bound to the configured address, serving the telemetry
// path, with TLS and basic auth when configured (web.tls, web.basic_auth_users).
//
// Every request is answered by one gate (civetweb's begin_request callback; no civetweb
// handler is registered): methods other than GET and HEAD get 405, with users configured
// every path needs valid credentials (401 otherwise; 503 while too many password checks
// wait, web/web_auth.h), so unknown paths say nothing either; then only the telemetry
// path exists. Its body is rendered into one reused buffer by the sources added, in
// order, after the endpoint's own scrape metrics (web/scrape_metrics.h): direct
// renderers (the connect series: metrics/text_renderer, 100k series in a fraction of what
// prometheus-cpp's ClientMetrics + TextSerializer cost) and prometheus-cpp collectables
// (small; metrics/text_renderer's render_families, label values made safe first). gzip
// (zlib) when the request accepts it.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "util/result.h"
#include "web/web_auth.h"

namespace tcpconnect {

// civetweb runs one worker thread per connection, so an idle or slow client occupies a
// worker until civetweb gives up on it: at most kWebRequestTimeoutMs for a request to
// arrive whole (headers, and a body if any), kWebKeepAliveTimeoutMs between requests on a
// kept-alive connection. A scrape therefore waits for a worker only when kWebWorkerThreads
// connections are stuck at once, and then at most about kWebRequestTimeoutMs for each
// kWebWorkerThreads of them queued ahead of it: with 24 stuck connections, under 10 s, the
// default Prometheus scrape timeout. Prometheus itself needs one connection per scraping
// server; the rest is headroom for people, health checks and the hostile.
constexpr int kWebWorkerThreads = 16;
constexpr int kWebRequestTimeoutMs = 5000;
constexpr int kWebKeepAliveTimeoutMs = 1000;
// Request line plus headers. A scrape with basic auth is under 1 KiB; larger is refused
// (civetweb answers 413 or closes) before any handler runs.
constexpr int kWebMaxRequestBytes = 8192;

// "host:port", "[v6]:port" or ":port" (every address) in civetweb's listening_ports
// syntax.
Result<std::string> civetweb_listen_spec(const std::string& listen_address);

class WebServer {
 public:
  struct Gate;  // what civetweb's callbacks see (their user data); in web_server.cpp

  // Binds now: a taken port, an unreadable certificate or a key that does not match is an
  // error here, before READY. `before_threads`, when given, runs once the port is bound
  // and the certificate and key are loaded, on the calling thread, before civetweb starts
  // any thread (so, for instance, a uid or capability change there reaches every worker);
  // its error stops the server and is returned.
  using BeforeThreads = std::function<Status()>;
  static Result<std::unique_ptr<WebServer>> start(const WebConfig& web,
                                                  BeforeThreads before_threads = {});
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Appends the body's next part to out. Called on civetweb's worker threads, possibly
  // several at once.
  using Renderer = std::function<void(std::string& out)>;

  // Served in the order added. Collectables are held weakly: the caller owns them.
  void add(const std::shared_ptr<prometheus::Collectable>& collectable);
  void add(Renderer renderer);
  // The port actually bound (useful with port 0).
  int port() const;
  // The bcrypt runs of basic auth so far (web/web_auth.h); nullopt without users.
  std::optional<BasicAuth::Stats> auth_stats() const;

 private:
  explicit WebServer(std::unique_ptr<Gate> gate);
  std::unique_ptr<Gate> gate_;  // owns the running civetweb context
};

}  // namespace tcpconnect
