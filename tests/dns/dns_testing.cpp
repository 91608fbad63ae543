#include "dns/dns_testing.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
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

std::vector<uint8_t> a_answer(uint16_t id, const std::string& name, const std::string& ipv4) {
  std::vector<uint8_t> m = {
      static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(static_cast<uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  m.push_back(0);
  m.insert(m.end(), {0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4});
  uint8_t a[4] = {};
  inet_pton(AF_INET, ipv4.c_str(), a);
  m.insert(m.end(), a, a + 4);
  return m;
}

bool send_unsolicited(const std::vector<uint8_t>& message, const std::string& ip) {
  socklen_t len;
  Fd victim(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_storage to = make_addr(AF_INET, "127.0.0.1", 0, &len);
  if (!victim || bind(victim.get(), reinterpret_cast<sockaddr*>(&to), len) != 0 ||
      getsockname(victim.get(), reinterpret_cast<sockaddr*>(&to), &len) != 0)
    return false;
  timeval tv{2, 0};
  setsockopt(victim.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  Fd forger(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  setsockopt(forger.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage from = make_addr(AF_INET, ip, 53, &len);
  if (!forger || bind(forger.get(), reinterpret_cast<sockaddr*>(&from), len) != 0) return false;
  if (sendto(forger.get(), message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to),
             len) != static_cast<ssize_t>(message.size()))
    return false;
  uint8_t buf[2048];
  return recv(victim.get(), buf, sizeof(buf), 0) == static_cast<ssize_t>(message.size());
}

std::vector<uint8_t> query_for(const std::vector<uint8_t>& response) {
  if (response.size() < 12 || response[4] != 0 || response[5] != 1) return {};
  size_t off = 12;
  while (off < response.size() && response[off] != 0) {
    if (response[off] & 0xc0) return {};  // a question name is never compressed
    off += 1 + response[off];
  }
  off += 1 + 4;  // the root label, type and class
  if (off > response.size()) return {};
  std::vector<uint8_t> q(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(off));
  q[2] &= 0x7f;  // QR: a query
  q[3] = 0;      // RA, Z, RCODE: a client's
  for (size_t i = 6; i < 12; ++i) q[i] = 0;
  return q;
}

uint64_t own_netns_cookie() {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) cookie = 0;
  close(fd);
  return cookie;
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
    if (!options.netns.empty()) {
      int ns = open(("/run/netns/" + options.netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(126);
    }
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
    if (!d->address_.empty() && options.netns.empty() &&
        dns_query(d->address_, d->port_, probe, ns_t_a, false, 100))
      return d;
    if (!d->address_.empty() && !options.netns.empty()) {
      // Asked from inside its namespace, by a child that joins it.
      pid_t asker = fork();
      if (asker == 0) {
        int ns = open(("/run/netns/" + options.netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(2);
        _exit(dns_query(d->address_, d->port_, probe, ns_t_a, false, 100) ? 0 : 1);
      }
      int st = 0;
      if (asker > 0 && waitpid(asker, &st, 0) == asker && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return d;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = "dnsmasq did not answer: " + d->log();
  return nullptr;
}

bool Dnsmasq::set_hosts(const std::string& contents) {
  const std::string hosts = dir_ + "/hosts";
  if (pid_ <= 0 || access(hosts.c_str(), F_OK) != 0) return false;
  {
    std::ofstream out(hosts + ".new");
    out << contents;
    if (!out) return false;
  }
  return rename((hosts + ".new").c_str(), hosts.c_str()) == 0 && kill(pid_, SIGHUP) == 0;
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
