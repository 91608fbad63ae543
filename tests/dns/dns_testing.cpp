#include "dns/dns_testing.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/net.h"

namespace tcpconnect::testing {

std::string unique_loopback_v4(int n) {
  const unsigned p = static_cast<unsigned>(getpid());
  return "127.77." + std::to_string((p >> 8) & 0xff) + "." +
         std::to_string(((p & 0xff) + static_cast<unsigned>(n)) % 254 + 1);
}

uint16_t free_udp_tcp_port(int family, const std::string& ip) {
  // Bounded: the kernel hands out a free TCP port; the UDP one is free too nearly always.
  for (int attempt = 0; attempt < 50; ++attempt) {
    Fd t(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_storage ss = make_addr(family, ip, 0, &len);
    if (bind(t.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) continue;
    getsockname(t.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    uint16_t port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    Fd u(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (bind(u.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) return port;
  }
  throw std::runtime_error("no free UDP+TCP port on " + ip);
}

int run_shell(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  std::string out;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<uint8_t> read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_binary(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string dns_client_binary() {
  return std::string(TCPCONNECT_BINARY_DIR) + "/tests/dns/dns_client";
}

std::optional<std::vector<uint8_t>> dns_query(const std::string& server, uint16_t port,
                                              const std::string& name, int type, bool tcp,
                                              int timeout_ms) {
  uint8_t query[NS_PACKETSZ];
  int qlen = res_mkquery(ns_o_query, name.c_str(), ns_c_in, type, nullptr, 0, nullptr, query,
                         sizeof(query));
  if (qlen < 0) return std::nullopt;
  query[2] |= 0x01;  // RD, as stub resolvers send it
  int family = server.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  Fd fd(socket(family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  socklen_t len;
  sockaddr_storage ss = make_addr(family, server, port, &len);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return std::nullopt;
  std::vector<uint8_t> out;
  if (!tcp) {
    if (send(fd.get(), query, static_cast<size_t>(qlen), 0) != qlen) return std::nullopt;
    out.resize(65536);
    ssize_t n = recv(fd.get(), out.data(), out.size(), 0);
    if (n <= 0) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
  }
  std::vector<uint8_t> framed = {static_cast<uint8_t>(qlen >> 8), static_cast<uint8_t>(qlen)};
  framed.insert(framed.end(), query, query + qlen);
  if (send(fd.get(), framed.data(), framed.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(framed.size()))
    return std::nullopt;
  // Length prefix, then exactly that many bytes; bounded by the 64 KiB a prefix can say.
  uint8_t buf[4096];
  while (out.size() < 2 || out.size() < 2u + (out[0] << 8 | out[1])) {
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) return std::nullopt;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

std::unique_ptr<Dnsmasq> Dnsmasq::start(const Options& options, std::string* error) {
  std::unique_ptr<Dnsmasq> d(new Dnsmasq());
  char tmpl[] = "/tmp/tcx-dnsmasq-XXXXXX";
  if (!mkdtemp(tmpl)) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  d->dir_ = tmpl;
  d->port_ = options.port;
  d->address_ = options.listen.empty() ? "" : options.listen.front();

  std::vector<std::string> args = {"dnsmasq",
                                   "--no-daemon",
                                   "--conf-file=/dev/null",
                                   "--no-resolv",
                                   "--no-hosts",
                                   "--no-poll",
                                   "--bind-interfaces",
                                   "--log-facility=-",
                                   "--log-queries",
                                   "--local=/test/",
                                   "--port=" + std::to_string(options.port)};
  for (const auto& a : options.listen) args.push_back("--listen-address=" + a);
  for (const auto& r : options.records) args.push_back(r);
  if (!options.hosts.empty()) {
    std::string hosts = d->dir_ + "/hosts";
    std::ofstream(hosts) << options.hosts;
    args.push_back("--addn-hosts=" + hosts);
  }
  std::string log = d->dir_ + "/log";

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("dnsmasq", argv.data());
    _exit(127);
  }
  d->pid_ = pid;

  // Ready when it answers a query (bounded: 50 tries, ~5 s).
  const std::string probe = options.ready_name.empty() ? "ready.test" : options.ready_name;
  for (int i = 0; i < 50; ++i) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid_ = -1;
      *error = "dnsmasq exited: " + d->log();
      return nullptr;
    }
    if (!d->address_.empty() && dns_query(d->address_, d->port_, probe, ns_t_a, false, 100))
      return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = "dnsmasq did not answer: " + d->log();
  return nullptr;
}

std::string Dnsmasq::log() const {
  std::ifstream in(dir_ + "/log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Dnsmasq::~Dnsmasq() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status;
    // Bounded: 50 x 20 ms, then SIGKILL.
    for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (!dir_.empty()) run_shell("rm -rf '" + dir_ + "'");
}

}  // namespace tcpconnect::testing
