#include "probe_testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tcpconnect::testing {

KeyAddr key_addr(int family, const std::string& ip) {
  KeyAddr out{};
  int rc = family == AF_INET ? inet_pton(AF_INET, ip.c_str(), out.data())
                             : inet_pton(AF_INET6, ip.c_str(), out.data());
  if (rc != 1) throw std::invalid_argument("bad address " + ip);
  return out;
}

KeyAddr key_addr(const uint8_t (&raw)[16]) {
  KeyAddr out{};
  std::memcpy(out.data(), raw, sizeof(raw));
  return out;
}

KeyedCounts all_keys(ConnectProbe& probe) {
  KeyedCounts out;
  Status s = probe.read_connects(
      [&](const tc_connect_key& k, const tc_connect_counts& c) { out.emplace_back(k, c); });
  if (!s) throw std::runtime_error("read_connects: " + s.error().message);
  return out;
}

KeyedCounts keys_with_dport(ConnectProbe& probe, uint16_t dport) {
  KeyedCounts out;
  for (auto& kc : all_keys(probe))
    if (kc.first.dport == dport) out.push_back(kc);
  return out;
}

tc_latency_hist latency_of(ConnectProbe& probe, uint16_t family, const KeyAddr& daddr) {
  tc_latency_hist out{};
  for (const auto& [k, c] : all_keys(probe)) {
    if (k.family != family || key_addr(k.daddr) != daddr) continue;
    out.count += c.latency.count;
    out.sum_ns += c.latency.sum_ns;
    for (size_t i = 0; i < TC_LAT_BUCKETS; ++i) out.buckets[i] += c.latency.buckets[i];
  }
  return out;
}

uint64_t total_failed(const tc_connect_counts& c) {
  uint64_t n = 0;
  for (uint64_t f : c.failed) n += f;
  return n;
}

uint64_t bucket_sum(const tc_latency_hist& h) {
  uint64_t n = 0;
  for (uint64_t b : h.buckets) n += b;
  return n;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::unique_ptr<BlackholeNetns> BlackholeNetns::create(std::string* error) {
  static std::atomic<int> serial{0};
  std::string name = "tcx-test-" + std::to_string(getpid()) + "-" + std::to_string(serial++);
  CommandResult add = run_command("ip netns add " + name);
  if (add.status != 0) {
    *error = "ip netns add " + name + ": " + add.output;
    return nullptr;
  }
  // From here on the destructor deletes the namespace, whatever fails next.
  std::unique_ptr<BlackholeNetns> ns(new BlackholeNetns(name));
  const std::string ip = "ip -n " + name + " ";
  for (const std::string& step : {
           ip + "link add tcx0 type veth peer name tcx1",
           ip + "addr add " + kLocal + "/24 dev tcx0",
           ip + "link set tcx0 up",
           ip + "link set tcx1 up",
           ip + "neigh replace " + kBlackhole + " lladdr 02:00:00:00:00:99 dev tcx0 nud permanent",
       }) {
    CommandResult r = run_command(step);
    if (r.status != 0) {
      *error = step + ": " + r.output;
      return nullptr;
    }
  }
  return ns;
}

BlackholeNetns::~BlackholeNetns() { run_command("ip netns del " + name_); }

int BlackholeNetns::run(const std::function<int()>& fn) const {
  int result = -EINVAL;
  // setns(CLONE_NEWNET) moves only the calling thread, so a short-lived thread keeps the
  // test's own thread in the host namespace.
  std::thread t([&] {
    Fd ns(open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns || setns(ns.get(), CLONE_NEWNET) != 0) {
      result = -errno;
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

CommandResult BlackholeNetns::exec(const std::string& command) const {
  return run_command("ip netns exec " + name_ + " " + command);
}

int BlackholeNetns::connect_blocking(uint16_t port, int syncnt) const {
  int r = run([port, syncnt] {
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno;
    if (setsockopt(fd.get(), IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof(syncnt)) != 0) return errno;
    socklen_t len;
    sockaddr_storage ss = make_addr(AF_INET, kBlackhole, port, &len);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno;
    return 0;
  });
  return r < 0 ? -r : r;
}

int64_t BlackholeNetns::retransmitted_segments() const {
  // Two "Tcp:" lines: the field names, then the values.
  CommandResult r = exec("cat /proc/net/snmp");
  if (r.status != 0) return -1;
  std::istringstream in(r.output);
  std::vector<std::vector<std::string>> tcp;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Tcp:", 0) != 0) continue;
    std::istringstream fields(line);
    tcp.emplace_back(std::istream_iterator<std::string>(fields),
                     std::istream_iterator<std::string>());
  }
  if (tcp.size() != 2 || tcp[0].size() != tcp[1].size()) return -1;
  for (size_t i = 0; i < tcp[0].size(); ++i)
    if (tcp[0][i] == "RetransSegs") return std::stoll(tcp[1][i]);
  return -1;
}

int BlackholeNetns::connect_and_abandon(uint16_t port) const {
  int r = run([port] {
    int err;
    Fd fd = start_connect(AF_INET, kBlackhole, port, &err);
    return err;
  });
  return r < 0 ? -r : r;
}

Fd start_connect(int family, const std::string& ip, uint16_t port, int* err) {
  Fd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err = errno;
    return fd;
  }
  socklen_t len;
  sockaddr_storage ss = make_addr(family, ip, port, &len);
  *err = connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS
             ? 0
             : errno;
  return fd;
}

uint16_t unlikely_port() {
  static std::atomic<int> serial{0};
  return static_cast<uint16_t>(20000 + (getpid() * 7 + serial++) % 30000);
}

}  // namespace tcpconnect::testing
