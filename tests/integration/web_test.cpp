// The HTTP endpoint under TLS, basic auth and hostile clients: the built daemon as a
// process, real curl, real sockets on loopback.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/http.h"
#include "common/net.h"
#include "common/scratch_dir.h"
#include "common/tls.h"
#include "integration/daemon_process.h"
#include "web/web_server.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;

struct CurlResult {
  int exit_code = -1;  // curl's: 0 when an HTTP response arrived, whatever its status
  int status = 0;
  std::string headers;
  std::string body;
  std::string error;  // what curl printed to stderr
};

// curl with `args` (URL included); the response's status, headers and body.
CurlResult curl(const ScratchDir& dir, const std::string& args) {
  const std::string headers = dir.path() + "/curl.headers";
  const std::string body = dir.path() + "/curl.body";
  std::remove(headers.c_str());
  std::remove(body.c_str());
  CurlResult r;
  std::string out;
  r.exit_code = run_command("curl -sS --max-time 25 -o " + body + " -D " + headers +
                                " -w '%{http_code}' " + args + " 2>" + dir.path() + "/curl.err",
                            &out);
  r.status = std::atoi(out.c_str());
  std::ifstream h(headers), b(body), e(dir.path() + "/curl.err");
  r.error.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  r.headers.assign(std::istreambuf_iterator<char>(h), std::istreambuf_iterator<char>());
  r.body.assign(std::istreambuf_iterator<char>(b), std::istreambuf_iterator<char>());
  return r;
}

// A TCP connection to 127.0.0.1:port that sends nothing (or what the test sends).
Fd connect_idle(uint16_t port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_storage ss = make_addr(AF_INET, "127.0.0.1", port, &len);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return Fd(-1);
  return fd;
}

// Whether the server has closed the connection (EOF or reset) within `wait`.
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char buf[512];
  const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n <= 0;
}

class WebDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto pki = make_test_pki(dir_.path(), &why);
    if (!pki) GTEST_SKIP() << why;
    pki_ = *pki;
    hash_ = bcrypt_hash(kPassword, 6);
    ASSERT_FALSE(hash_.empty());
  }

  // DNS capture off: these tests are about the endpoint, and start faster without it.
  std::string config(const std::string& web_extra) {
    return dir_.write("config.yaml", "web:\n" + web_extra + "dns:\n  enabled: false\n");
  }
  std::string tls_lines(const std::string& key, const std::string& min_version = "") {
    return "  tls:\n    cert_file: " + pki_.cert + "\n    key_file: " + key + "\n" +
           (min_version.empty() ? "" : "    min_version: " + min_version + "\n");
  }
  std::string users_lines() { return "  basic_auth_users:\n    prometheus: '" + hash_ + "'\n"; }

  void start(const std::string& config_path) {
    port_ = free_tcp_port();
    daemon_ = std::make_unique<DaemonProcess>(
        DaemonProcess::Options{{"--config.file", config_path, "--web.listen-address",
                                "127.0.0.1:" + std::to_string(port_)},
                               {},
                               false});
  }
  std::string https(const std::string& path = "/metrics") {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string http(const std::string& path = "/metrics") {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string trusted() { return "--cacert " + pki_.ca_cert + " "; }
  std::string login() { return std::string("-u 'prometheus:") + kPassword + "' "; }

  // Polls with curl until the endpoint answers 200 with `curl_args`.
  bool wait_ready(const std::string& curl_args, std::chrono::seconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    CurlResult last;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!daemon_->running()) return false;
      last = curl(dir_, "--max-time 2 " + curl_args);
      if (last.status == 200) return true;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "last try: status " << last.status << ", curl: " << last.error;
    return false;
  }

  static constexpr const char* kPassword = "s3cret:with colon";
  ScratchDir dir_{"tcpconnect_web_test"};
  TestPki pki_;
  std::string hash_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(WebDaemon, HttpsWithBasicAuth) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config(tls_lines(pki_.key) + users_lines()));
  ASSERT_TRUE(wait_ready(trusted() + login() + https())) << daemon_->stderr_text();

  // The right password: 200 and the metrics, over TLS 1.2 or later.
  CurlResult ok = curl(dir_, trusted() + login() + https());
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("# TYPE tcpconnect_"), std::string::npos) << ok.body.substr(0, 500);
  EXPECT_EQ(curl(dir_, trusted() + login() + "--tls-max 1.2 " + https()).status, 200);
  EXPECT_EQ(
      curl(dir_, trusted() + login() + "https://localhost:" + std::to_string(port_) + "/metrics")
          .status,
      200);

  // Wrong password, unknown user, no credentials, another scheme: 401 with a challenge,
  // and no metrics.
  for (const std::string& auth :
       {std::string("-u prometheus:wrong "), std::string("-u 'nobody:") + kPassword + "' ",
        std::string(""), std::string("-H 'Authorization: Bearer abc' ")}) {
    SCOPED_TRACE(auth);
    CurlResult denied = curl(dir_, trusted() + auth + https());
    EXPECT_EQ(denied.status, 401);
    EXPECT_NE(denied.headers.find("WWW-Authenticate: Basic realm=\"tcpconnect_exporter\""),
              std::string::npos)
        << denied.headers;
    EXPECT_EQ(denied.body.find("tcpconnect_"), std::string::npos);
  }
  // Every path needs the password: an unknown path is 401 without it, 404 with it.
  EXPECT_EQ(curl(dir_, trusted() + https("/")).status, 401);
  EXPECT_EQ(curl(dir_, trusted() + https("/nope")).status, 401);
  EXPECT_EQ(curl(dir_, trusted() + login() + https("/nope")).status, 404);
  // The method check comes first: no password is tried for a POST.
  EXPECT_EQ(curl(dir_, trusted() + "-X POST " + https()).status, 405);

  // Plain HTTP to the TLS port gets no metrics: curl fails or gets an error status.
  CurlResult plain = curl(dir_, login() + http());
  EXPECT_NE(plain.status, 200);
  EXPECT_EQ(plain.body.find("tcpconnect_"), std::string::npos) << plain.body.substr(0, 300);
  auto raw = http_get("127.0.0.1", port_, "/metrics", 3000);
  EXPECT_TRUE(!raw || raw->status != 200);
  // And a client that does not trust the CA refuses the server.
  EXPECT_NE(curl(dir_, login() + https()).exit_code, 0);

  EXPECT_EQ(curl(dir_, trusted() + login() + https()).status, 200) << "still serving";
}

TEST_F(WebDaemon, MinVersionTls13) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config(tls_lines(pki_.key, "TLS13")));
  ASSERT_TRUE(wait_ready(trusted() + https())) << daemon_->stderr_text();
  EXPECT_EQ(curl(dir_, trusted() + "--tlsv1.3 " + https()).status, 200);
  CurlResult old = curl(dir_, trusted() + "--tls-max 1.2 " + https());
  EXPECT_NE(old.exit_code, 0);
  EXPECT_NE(old.status, 200);
}

// Not root: the key is checked before anything is loaded into the kernel.
TEST_F(WebDaemon, MismatchedKeyIsAConfigError) {
  const std::string path = config(tls_lines(pki_.other_key));
  const std::string expected = path + ":4:15: web.tls.key_file: " + pki_.other_key +
                               " is not the private key of the certificate in " + pki_.cert;
  std::string out;
  EXPECT_EQ(run_command(daemon_binary() + " --check-config --config.file " + path + " 2>&1", &out),
            1);
  EXPECT_NE(out.find(expected), std::string::npos) << out;

  start(path);
  EXPECT_EQ(daemon_->wait_exit(20s), 1);
  EXPECT_NE(daemon_->stderr_text().find(expected), std::string::npos) << daemon_->stderr_text();

  const std::string good = config(tls_lines(pki_.key) + users_lines());
  EXPECT_EQ(run_command(daemon_binary() + " --check-config --config.file " + good + " 2>&1", &out),
            0)
      << out;
}

TEST_F(WebDaemon, NonBcryptHashIsAConfigError) {
  const std::string path = config("  basic_auth_users:\n    prometheus: '$6$abc$def'\n");
  std::string out;
  EXPECT_EQ(run_command(daemon_binary() + " --check-config --config.file " + path + " 2>&1", &out),
            1);
  EXPECT_NE(out.find(path + ":3:17: web.basic_auth_users.prometheus: the hash starts with "
                            "\"$6$\": only bcrypt"),
            std::string::npos)
      << out;
}

// --- hostile HTTP on the plain endpoint ----------------------------------------------

TEST_F(WebDaemon, MethodsPathsAndOversizedHeaders) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config("  telemetry_path: /metrics\n"));
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();

  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"}) {
    SCOPED_TRACE(method);
    auto r = http_request("127.0.0.1", port_, method, "/metrics", 5000, "Content-Length: 0\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_NE(r->headers.find("Allow: GET, HEAD"), std::string::npos) << r->headers;
    EXPECT_EQ(r->body.find("tcpconnect_"), std::string::npos);
  }
  // TRACE and tokens that are no HTTP method: civetweb refuses them itself (400), before
  // the gate.
  for (const char* method : {"TRACE", "FOO"}) {
    auto refused = http_request("127.0.0.1", port_, method, "/metrics");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << method;
  }
  // A body sent with a refused method does not confuse the next request (curl reuses the
  // connection when the server keeps it).
  std::string statuses;
  run_command("curl -s -o /dev/null -w '%{http_code} ' -X POST -d a=b " + http() +
                  " --next -s -o /dev/null -w '%{http_code}' " + http(),
              &statuses);
  EXPECT_EQ(statuses, "405 200");

  auto head = http_request("127.0.0.1", port_, "HEAD", "/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_NE(head->headers.find("Content-Type: text/plain"), std::string::npos) << head->headers;
  EXPECT_TRUE(head->body.empty());
  for (const char* path : {"/", "/nope", "/metrics/x", "/metricsx"}) {
    SCOPED_TRACE(path);
    auto r = http_get("127.0.0.1", port_, path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  auto head_unknown = http_request("127.0.0.1", port_, "HEAD", "/nope");
  ASSERT_TRUE(head_unknown);
  EXPECT_EQ(head_unknown->status, 404);

  // A 64 KiB header is refused (an error status, or the connection closed without an
  // answer), and the next scrape is served.
  const std::string big = "X-Big: " + std::string(64 * 1024, 'a') + "\r\n";
  auto oversized = http_request("127.0.0.1", port_, "GET", "/metrics", 10000, big);
  if (oversized) {
    EXPECT_GE(oversized->status, 400);
    EXPECT_LT(oversized->status, 500);
  }
  // Just over the bound also fails; just under is served.
  auto over = http_request("127.0.0.1", port_, "GET", "/metrics", 10000,
                           "X-Big: " + std::string(kWebMaxRequestBytes, 'a') + "\r\n");
  EXPECT_TRUE(!over || (over->status >= 400 && over->status < 500));
  auto under = http_request("127.0.0.1", port_, "GET", "/metrics", 10000,
                            "X-Big: " + std::string(kWebMaxRequestBytes / 2, 'a') + "\r\n");
  ASSERT_TRUE(under);
  EXPECT_EQ(under->status, 200);
  auto after = http_get("127.0.0.1", port_, "/metrics");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// The telemetry path is rendered by our own handler (metrics/text_renderer + the
// registered collectables): gzip exactly when the request accepts it, the text format's
// content type, every family there, and the same text either way.
TEST_F(WebDaemon, GzipWhenAcceptedAndAllFamilies) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config("  telemetry_path: /metrics\n"));
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();

  CurlResult plain = curl(dir_, http());
  ASSERT_EQ(plain.status, 200) << plain.error;
  EXPECT_NE(plain.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            std::string::npos)
      << plain.headers;
  EXPECT_EQ(plain.headers.find("Content-Encoding"), std::string::npos) << plain.headers;
  EXPECT_NE(plain.headers.find("Content-Length: " + std::to_string(plain.body.size())),
            std::string::npos)
      << plain.headers;
  for (const char* family :
       {"# TYPE tcpconnect_scrapes_total counter\n", "# TYPE tcpconnect_connects_total counter\n",
        "# TYPE tcpconnect_connect_failures_total counter\n",
        "# TYPE tcpconnect_connect_duration_seconds histogram\n",
        "# TYPE tcpconnect_drain_duration_seconds"}) {
    EXPECT_NE(plain.body.find(family), std::string::npos) << family << "\n" << plain.body;
  }

  CurlResult raw = curl(dir_, "-H 'Accept-Encoding: gzip' " + http());
  ASSERT_EQ(raw.status, 200) << raw.error;
  EXPECT_NE(raw.headers.find("Content-Encoding: gzip"), std::string::npos) << raw.headers;
  ASSERT_GE(raw.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(raw.body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(raw.body[1]), 0x8b);

  // curl inflates it: the same families, and promtool-valid text (daemon_test checks that).
  CurlResult inflated = curl(dir_, "--compressed " + http());
  ASSERT_EQ(inflated.status, 200) << inflated.error;
  EXPECT_NE(inflated.headers.find("Content-Encoding: gzip"), std::string::npos);
  const std::string families_of_plain = plain.body.substr(0, plain.body.find("\n"));
  EXPECT_EQ(inflated.body.rfind(families_of_plain, 0), 0u) << inflated.body;
  EXPECT_NE(inflated.body.find("# TYPE tcpconnect_connects_total counter\n"), std::string::npos);
  // Scrapes are counted after each response: the plain and the raw gzip one are in by now.
  const auto scrapes = [](const std::string& body) {
    const std::string sample = "\ntcpconnect_scrapes_total ";
    const size_t at = body.find(sample);
    return at == std::string::npos ? -1.0 : std::atof(body.c_str() + at + sample.size());
  };
  EXPECT_GE(scrapes(plain.body), 0.0) << plain.body;
  EXPECT_GE(scrapes(inflated.body), scrapes(plain.body) + 1) << inflated.body;
}

// More idle and slow (one byte a second) connections than civetweb has worker threads:
// they hold their workers until civetweb's request timeout, never until they give up
// themselves (they stay open for the whole test), so a scrape is served meanwhile.
void expect_scrape_despite_idle_clients(uint16_t port, const std::function<bool()>& scrape) {
  const int idle_count = kWebWorkerThreads + 8;
  const int slow_count = 4;
  std::vector<Fd> idle;
  for (int i = 0; i < idle_count; ++i) {
    idle.push_back(connect_idle(port));
    ASSERT_GE(idle.back().get(), 0);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> slow;
  for (int i = 0; i < slow_count; ++i) {
    slow.emplace_back([port, &stop] {
      Fd fd = connect_idle(port);
      const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
      // One byte a second, for at most 60 s: longer than any scrape below may take.
      for (size_t i = 0; i < 60 && !stop; ++i) {
        if (send(fd.get(), &request[i % request.size()], 1, MSG_NOSIGNAL) != 1) break;
        for (int t = 0; t < 10 && !stop; ++t) std::this_thread::sleep_for(100ms);
      }
    });
  }
  std::this_thread::sleep_for(200ms);  // the hostile ones reach the server first
  const auto begin = std::chrono::steady_clock::now();
  const bool served = scrape();
  const auto took = std::chrono::steady_clock::now() - begin;
  // The server, not the clients, ended the idle connections.
  int closed = 0;
  for (const Fd& fd : idle) closed += closed_by_server(fd.get(), 100ms);
  stop = true;
  for (std::thread& t : slow) t.join();
  EXPECT_TRUE(served) << "scrape failed with " << idle_count << " idle and " << slow_count
                      << " slow connections open";
  std::printf(
      "  scrape with %d idle + %d slow connections took %.1f s; %d/%d idle closed by "
      "the server\n",
      idle_count, slow_count, std::chrono::duration<double>(took).count(), closed, idle_count);
  EXPECT_GT(closed, 0);
}

TEST_F(WebDaemon, IdleAndSlowClientsDoNotBlockScrapes) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config("  telemetry_path: /metrics\n"));
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  expect_scrape_despite_idle_clients(port_, [&] {
    // Generous (the machine is shared), but shorter than the idle clients stay.
    auto r = http_get("127.0.0.1", port_, "/metrics", 30000);
    return r && r->status == 200;
  });
  auto r = http_get("127.0.0.1", port_, "/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(WebDaemon, IdleClientsDoNotBlockHttpsScrapes) {
  TCPCONNECT_REQUIRE_ROOT();
  start(config(tls_lines(pki_.key) + users_lines()));
  ASSERT_TRUE(wait_ready(trusted() + login() + https())) << daemon_->stderr_text();
  // Connections that never start the TLS handshake.
  expect_scrape_despite_idle_clients(
      port_, [&] { return curl(dir_, trusted() + login() + https()).status == 200; });
}

// --- basic auth under a flood of bad logins ------------------------------------------------

std::string basic_header(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  encoded.resize(static_cast<size_t>(n));
  return "Authorization: Basic " + encoded + "\r\n";
}

struct FloodResult {
  int unauthorized = 0;  // 401: a bcrypt run said no
  int busy = 0;          // 503: turned away without one
  int other = 0;
  int good_scrapes = 0;
  int slow_or_failed_scrapes = 0;  // not 200, or over the bound
  double slowest_scrape_s = 0;
};

// `flooders` threads send wrong passwords for `user` and unknown users, as fast as they
// are answered, while this thread scrapes with the good credentials every 100 ms, for
// `duration` (bounded: at most 400 requests per flooder).
FloodResult flood_while_scraping(uint16_t port, const std::string& user,
                                 const std::string& password, int flooders,
                                 std::chrono::seconds duration) {
  FloodResult out;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < flooders; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400 && !stop; ++i) {
        const std::string header = (t + i) % 2 == 0
                                       ? basic_header(user, "wrong-" + std::to_string(i))
                                       : basic_header("intruder" + std::to_string(i), password);
        auto r = http_request("127.0.0.1", port, "GET", "/metrics", 10000, header);
        std::lock_guard lock(mu);
        if (r && r->status == 401)
          ++out.unauthorized;
        else if (r && r->status == 503)
          ++out.busy;
        else
          ++out.other;
      }
    });
  }
  const auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) {
    const auto begin = std::chrono::steady_clock::now();
    auto r =
        http_request("127.0.0.1", port, "GET", "/metrics", 10000, basic_header(user, password));
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    out.slowest_scrape_s = std::max(out.slowest_scrape_s, took);
    // A functional bound, generous for a shared machine: one bcrypt run is ~60 ms here.
    if (r && r->status == 200 && took < 2.0)
      ++out.good_scrapes;
    else
      ++out.slow_or_failed_scrapes;
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  std::printf("  flood: %d x 401, %d x 503, %d other; %d good scrapes, slowest %.3f s\n",
              out.unauthorized, out.busy, out.other, out.good_scrapes, out.slowest_scrape_s);
  return out;
}

// The web server in this process, so that its bcrypt runs can be counted: never more than
// one at a time, and the scrapes with remembered credentials go on meanwhile.
TEST(BasicAuthFlood, OneBcryptAtATimeAndScrapesGoOn) {
  const std::string password = "good password";
  WebConfig web;
  const uint16_t port = free_tcp_port();
  web.listen_address = "127.0.0.1:" + std::to_string(port);
  web.basic_auth_users = {{"prometheus", bcrypt_hash(password, 10)}};
  auto server = WebServer::start(web);
  ASSERT_TRUE(server) << server.error().message;
  server.value()->add([](std::string& out) { out += "up 1\n"; });
  auto first = http_request("127.0.0.1", port, "GET", "/metrics", 10000,
                            basic_header("prometheus", password));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);

  const FloodResult r = flood_while_scraping(port, "prometheus", password, 6, 4s);
  const BasicAuth::Stats stats = server.value()->auth_stats().value();
  EXPECT_EQ(stats.most_concurrent, 1);
  // Every 401 came from a bcrypt run (the first scrape's was one more), unknown users too.
  EXPECT_EQ(stats.runs, static_cast<uint64_t>(r.unauthorized) + 1);
  EXPECT_EQ(stats.busy, static_cast<uint64_t>(r.busy));
  EXPECT_GT(r.unauthorized, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_GT(r.good_scrapes, 10);
  EXPECT_EQ(r.slow_or_failed_scrapes, 0) << "slowest " << r.slowest_scrape_s << " s";
}

// The same against the built daemon.
TEST_F(WebDaemon, BadLoginFloodDoesNotDelayScrapes) {
  TCPCONNECT_REQUIRE_ROOT();
  const std::string password = "good password";
  start(dir_.write("config.yaml", "web:\n  basic_auth_users:\n    prometheus: '" +
                                      bcrypt_hash(password, 10) + "'\ndns:\n  enabled: false\n"));
  ASSERT_TRUE(wait_ready("-u 'prometheus:" + password + "' " + http())) << daemon_->stderr_text();
  // Loopback only: no clear-text warning.
  EXPECT_EQ(daemon_->stderr_text().find("without web.tls"), std::string::npos);
  const FloodResult r = flood_while_scraping(port_, "prometheus", password, 6, 4s);
  EXPECT_GT(r.unauthorized, 0);
  EXPECT_EQ(r.other, 0);
  EXPECT_GT(r.good_scrapes, 10);
  EXPECT_EQ(r.slow_or_failed_scrapes, 0) << "slowest " << r.slowest_scrape_s << " s";
  EXPECT_TRUE(daemon_->running());
}

// Basic auth on every address without TLS: the daemon says so at start.
TEST_F(WebDaemon, BasicAuthWithoutTlsOffLoopbackWarns) {
  TCPCONNECT_REQUIRE_ROOT();
  const std::string path =
      dir_.write("config.yaml", "web:\n  basic_auth_users:\n    prometheus: '" + hash_ +
                                    "'\ndns:\n  enabled: false\n");
  port_ = free_tcp_port();
  daemon_ = std::make_unique<DaemonProcess>(DaemonProcess::Options{
      {"--config.file", path, "--web.listen-address", ":" + std::to_string(port_)}, {}, false});
  ASSERT_TRUE(wait_ready(login() + http())) << daemon_->stderr_text();
  EXPECT_NE(daemon_->stderr_text().find("warning: config: web.basic_auth_users without web.tls"),
            std::string::npos)
      << daemon_->stderr_text();
}

}  // namespace
}  // namespace tcpconnect::testing
