#include "web/web_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "metrics/text_renderer.h"
#include "web/scrape_metrics.h"
#include "web/web_auth.h"
#include "web/web_tls.h"

namespace tcpconnect {

struct WebServer::Gate {
  std::string telemetry_path;
  std::unique_ptr<BasicAuth> auth;  // null: no authentication
  WebTlsConfig tls;
  std::string tls_error;       // why init_ssl failed, for the start-up error
  std::string civetweb_error;  // civetweb's last message while starting
  // The thread in mg_start: civetweb's messages on it are start-up errors.
  std::atomic<std::thread::id> starting_thread{};
  WebServer::BeforeThreads before_threads;
  std::optional<Error> before_threads_error;
  mg_context* context = nullptr;  // set by init_context; mg_stop'ed by ~WebServer

  // What the telemetry path serves, in order, after the scrape metrics.
  std::mutex sources_mutex;
  std::vector<Renderer> sources;
  ScrapeMetrics scrape_metrics;

  // The response buffers, reused from one scrape to the next (a scrape at 100k series is
  // ~25 MB of text). A scrape takes them and gives them back; concurrent scrapes get fresh
  // ones, and the largest pair is kept.
  struct Buffers {
    std::string text;
    std::string gzip;
  };
  std::mutex buffers_mutex;
  Buffers spare;
};

namespace {

using Gate = WebServer::Gate;

// The server's gate: civetweb hands every callback the context, whose user data it is.
Gate* gate_of(const mg_context* context) {
  return context != nullptr ? static_cast<Gate*>(mg_get_user_data(context)) : nullptr;
}

// Called by mg_start on the starting thread, after the ports are bound and the
// certificate is loaded, before civetweb starts any thread.
void on_init_context(const mg_context* context) {
  Gate* gate = gate_of(context);
  if (gate == nullptr) return;
  gate->context = const_cast<mg_context*>(context);
  if (gate->before_threads) {
    if (Status s = gate->before_threads(); !s) gate->before_threads_error = s.error();
  }
}

int on_init_ssl(void* ssl_ctx, void* user_data) {
  auto* gate = static_cast<Gate*>(user_data);
  if (gate == nullptr) return -1;
  Status status = configure_tls(ssl_ctx, gate->tls);
  if (!status) {
    gate->tls_error = status.error().message;
    return -1;
  }
  return 1;  // certificate and key are set up
}

// civetweb's own messages: while starting, kept for the start-up error; afterwards
// (client errors, mostly) only at debug level, so that hostile clients cannot flood the log.
int on_log_message(const mg_connection* conn, const char* message) {
  Gate* gate = conn != nullptr ? gate_of(mg_get_context(conn)) : nullptr;
  if (gate != nullptr && gate->starting_thread.load() == std::this_thread::get_id())
    gate->civetweb_error = message;
  spdlog::debug("civetweb: {}", message);
  return 1;
}

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// gzip (RFC 1952) of in into out at zlib's fastest level; false if zlib fails. out grows
// as the output does (metrics text compresses 20-30x), not to deflateBound's worst case.
bool gzip_compress(const std::string& in, std::string& out) {
  if (in.size() > std::numeric_limits<uInt>::max()) return false;
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  out.resize(std::max<size_t>(in.size() / 16, 64 * 1024));
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(
        std::min<size_t>(out.size() - zs.total_out, std::numeric_limits<uInt>::max()));
    rc = deflate(&zs, Z_FINISH);
  }
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

// Same test as prometheus-cpp's handler: the header mentions gzip.
bool accepts_gzip(mg_connection* conn) {
  const char* header = mg_get_header(conn, "Accept-Encoding");
  return header != nullptr && std::strstr(header, "gzip") != nullptr;
}

// GET of the telemetry path: every source into one buffer, then out in one response.
int serve_metrics(mg_connection* conn, Gate& gate) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<WebServer::Renderer> sources;
  {
    std::lock_guard lock(gate.sources_mutex);
    sources = gate.sources;
  }
  Gate::Buffers buffers;
  {
    std::lock_guard lock(gate.buffers_mutex);
    buffers = std::exchange(gate.spare, Gate::Buffers{});
  }
  buffers.text.clear();
  try {
    for (const auto& render : sources) render(buffers.text);
  } catch (const std::exception& e) {
    spdlog::warn("rendering metrics: {}", e.what());
    mg_response_header_start(conn, 500);
    mg_response_header_add(conn, "Content-Length", "0", -1);
    mg_response_header_send(conn);
    return 500;
  }
  const bool gzip = accepts_gzip(conn) && gzip_compress(buffers.text, buffers.gzip);
  const std::string& body = gzip ? buffers.gzip : buffers.text;
  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", kMetricsContentType, -1);
  if (gzip) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
  const std::string length = std::to_string(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_send(conn);
  mg_write(conn, body.data(), body.size());

  gate.scrape_metrics.observe(
      body.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::lock_guard lock(gate.buffers_mutex);
  if (buffers.text.capacity() > gate.spare.text.capacity()) gate.spare = std::move(buffers);
  return 200;
}

// A complete small response. For HEAD only the headers go out.
int respond(mg_connection* conn, int status, const std::string& body,
            std::initializer_list<std::pair<const char*, std::string>> headers, bool head) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  const std::string length = std::to_string(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  for (const auto& [name, value] : headers) {
    mg_response_header_add(conn, name, value.c_str(), static_cast<int>(value.size()));
  }
  mg_response_header_send(conn);
  if (!head) mg_write(conn, body.data(), body.size());
  return status;
}

// civetweb's begin_request: answers every request (no civetweb handler is registered)
// and returns the status of the response sent.
int on_begin_request(mg_connection* conn) {
  Gate* gate = gate_of(mg_get_context(conn));
  const mg_request_info* request = mg_get_request_info(conn);
  const std::string_view method = request->request_method ? request->request_method : "";
  const bool head = method == "HEAD";
  if (!gate) return respond(conn, 503, "starting\n", {}, head);  // fail closed

  if (method != "GET" && !head) {
    return respond(conn, 405, "method not allowed: only GET and HEAD\n", {{"Allow", "GET, HEAD"}},
                   false);
  }
  if (gate->auth) {
    const char* header = mg_get_header(conn, "Authorization");
    const auto credentials = header != nullptr ? parse_basic_authorization(header) : std::nullopt;
    const BasicAuth::Verdict verdict =
        credentials ? gate->auth->verify(credentials->first, credentials->second)
                    : BasicAuth::Verdict::kDenied;
    if (verdict == BasicAuth::Verdict::kBusy)
      return respond(conn, 503, "busy checking passwords\n", {{"Retry-After", "1"}}, head);
    if (verdict != BasicAuth::Verdict::kAllowed) {
      return respond(
          conn, 401, "unauthorized\n",
          {{"WWW-Authenticate", "Basic realm=\"tcpconnect_exporter\", charset=\"UTF-8\""}}, head);
    }
  }
  // Only the telemetry path exists, exactly ("/metricsx" and "/metrics/x" do not).
  if (request->local_uri == nullptr || gate->telemetry_path != request->local_uri) {
    return respond(conn, 404, "not found\n", {}, head);
  }
  // HEAD gets the headers a GET would (without the length, which only rendering would
  // tell).
  if (head) {
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", kMetricsContentType, -1);
    mg_response_header_send(conn);
    return 200;
  }
  return serve_metrics(conn, *gate);
}

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
  if (host.empty() ||
      inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
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

namespace {

// civetweb 1.15 (Debian 12) polls its listening sockets in 2-second quanta, and mg_stop()
// waits for that poll to come back: stopping took up to 2 s, every restart. A listening
// socket shut down for reading leaves LISTEN and polls as readable and hung up at once,
// so the poll returns and the server stops in milliseconds. civetweb does not hand out its
// sockets: they are this process's TCP sockets in LISTEN on the ports it reports (the
// daemon listens on nothing else).
void wake_listeners(const std::vector<int>& ports) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening)
      continue;
    sockaddr_storage addr{};
    len = sizeof(addr);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&addr), &len) != 0) continue;
    int port = -1;
    if (addr.ss_family == AF_INET)
      port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    else if (addr.ss_family == AF_INET6)
      port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    if (std::find(ports.begin(), ports.end(), port) != ports.end())
      shutdown(static_cast<int>(fd), SHUT_RD);
  }
  closedir(dir);
}

}  // namespace

Result<std::string> civetweb_listen_spec(const std::string& listen_address) {
  auto colon = listen_address.rfind(':');
  if (colon == std::string::npos) return Error{"listen address needs a port: " + listen_address};
  std::string host = listen_address.substr(0, colon);
  std::string port = listen_address.substr(colon + 1);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) return port;  // every IPv4 address
  return host + ":" + port;       // civetweb takes "1.2.3.4:p" and "[::1]:p" alike
}

namespace {

std::vector<int> listening_ports(const mg_context* context) {
  std::array<mg_server_port, 8> ports{};
  const int n = mg_get_server_ports(context, static_cast<int>(ports.size()), ports.data());
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(ports[i].port);
  return out;
}

// Stops a started context: its threads end, no callback runs after this.
void stop(mg_context* context) {
  wake_listeners(listening_ports(context));
  mg_stop(context);
}

// civetweb's options: the ports, and the bounds web_server.h explains.
std::vector<std::string> civetweb_options(const std::string& ports) {
  return {
      "listening_ports",       ports,
      "num_threads",           std::to_string(kWebWorkerThreads),
      "request_timeout_ms",    std::to_string(kWebRequestTimeoutMs),
      "enable_keep_alive",     "yes",
      "keep_alive_timeout_ms", std::to_string(kWebKeepAliveTimeoutMs),
      "max_request_size",      std::to_string(kWebMaxRequestBytes),
  };
}

// Why mg_start returned no context, in one line.
Error start_error(const Gate& gate, const std::string& listen_address) {
  if (!gate.tls_error.empty()) return Error{"cannot serve HTTPS: " + gate.tls_error};
  const std::string reason = bind_failure_reason(listen_address);
  if (reason == "unknown error" && !gate.civetweb_error.empty())
    return Error{"cannot serve on " + listen_address + ": civetweb: " + gate.civetweb_error};
  return Error{"cannot listen on " + listen_address + ": " + reason};
}

}  // namespace

Result<std::unique_ptr<WebServer>> WebServer::start(const WebConfig& web,
                                                    BeforeThreads before_threads) {
  auto spec = civetweb_listen_spec(web.listen_address);
  if (!spec) return spec.error();
  auto gate = std::make_unique<Gate>();
  gate->before_threads = std::move(before_threads);
  gate->telemetry_path = web.telemetry_path;
  gate->tls = web.tls;
  if (!web.basic_auth_users.empty()) gate->auth = std::make_unique<BasicAuth>(web.basic_auth_users);

  std::string ports = spec.value();
  if (web.tls.enabled()) {
    if (Status available = civetweb_tls_available(); !available) return available.error();
    // The config was checked when loaded; checked again here for configs built in code.
    Config config;
    config.web = web;
    if (auto problem = check_web_files(config))
      return Error{problem->key + ": " + problem->message};
    ports += "s";  // civetweb's suffix for an HTTPS port
  }
  const std::vector<std::string> options = civetweb_options(ports);
  std::vector<const char*> option_ptrs;
  for (const std::string& o : options) option_ptrs.push_back(o.c_str());
  option_ptrs.push_back(nullptr);
  mg_callbacks callbacks{};
  callbacks.begin_request = on_begin_request;
  callbacks.init_context = on_init_context;
  callbacks.init_ssl = on_init_ssl;
  callbacks.log_message = on_log_message;

  gate->starting_thread = std::this_thread::get_id();
  mg_context* context = mg_start(&callbacks, gate.get(), option_ptrs.data());
  gate->starting_thread = std::thread::id{};
  if (context == nullptr) return start_error(*gate, web.listen_address);
  if (gate->before_threads && !gate->before_threads_error && gate->context == nullptr)
    gate->before_threads_error = Error{"civetweb started without calling init_context"};
  gate->context = context;
  if (gate->before_threads_error) {
    stop(context);
    return *gate->before_threads_error;
  }
  return std::unique_ptr<WebServer>(new WebServer(std::move(gate)));
}

WebServer::WebServer(std::unique_ptr<Gate> gate) : gate_(std::move(gate)) {
  add(gate_->scrape_metrics.registry());  // first: where scrapers have always found them
}

WebServer::~WebServer() { stop(gate_->context); }

void WebServer::add(const std::shared_ptr<prometheus::Collectable>& collectable) {
  std::weak_ptr<prometheus::Collectable> weak = collectable;
  add([weak](std::string& out) {
    const auto strong = weak.lock();
    if (!strong) return;
    render_families(strong->Collect(), out);
  });
}

void WebServer::add(Renderer renderer) {
  std::lock_guard lock(gate_->sources_mutex);
  gate_->sources.push_back(std::move(renderer));
}

std::optional<BasicAuth::Stats> WebServer::auth_stats() const {
  if (!gate_->auth) return std::nullopt;
  return gate_->auth->stats();
}

int WebServer::port() const {
  const std::vector<int> ports = listening_ports(gate_->context);
  return ports.empty() ? 0 : ports.front();
}

}  // namespace tcpconnect
