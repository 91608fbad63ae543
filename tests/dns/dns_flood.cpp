#include "dns/dns_flood.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "dns/dns_testing.h"

namespace tcpconnect::testing {

using Clock = std::chrono::steady_clock;

std::vector<std::vector<uint8_t>> load_flood_responses(const std::string& fixtures_dir) {
  std::vector<std::vector<uint8_t>> out;
  for (const char* f :
       {"a_udp.bin", "aaaa_udp.bin", "cname_chain_udp.bin", "cname_chain_aaaa_udp.bin",
        "multi_a_udp.bin", "nxdomain_udp.bin", "nodata_aaaa_udp.bin"})
    out.push_back(read_binary(fixtures_dir + "/" + f));
  return out;
}

DnsResponseFlood::DnsResponseFlood(uint16_t source_port,
                                   std::vector<std::vector<uint8_t>> responses,
                                   const std::string& source_ip)
    : responses_(std::move(responses)) {
  if (responses_.empty()) throw std::runtime_error("DnsResponseFlood: no responses to send");
  rx_ = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_storage to = make_addr(AF_INET, "127.0.0.1", 0, &len);
  if (!rx_ || bind(rx_.get(), reinterpret_cast<sockaddr*>(&to), len) != 0 ||
      getsockname(rx_.get(), reinterpret_cast<sockaddr*>(&to), &len) != 0)
    throw std::runtime_error(std::string("flood reader socket: ") + std::strerror(errno));
  int big = 8 << 20;
  setsockopt(rx_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  timeval tv{0, 100000};
  setsockopt(rx_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  tx_ = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_storage from = make_addr(AF_INET, source_ip, source_port, &len);
  if (!tx_ || bind(tx_.get(), reinterpret_cast<sockaddr*>(&from), len) != 0 ||
      connect(tx_.get(), reinterpret_cast<sockaddr*>(&to), len) != 0)
    throw std::runtime_error("flood sender on " + source_ip + ":" + std::to_string(source_port) +
                             ": " + std::strerror(errno));
  // The reader asks the "server" a question first, as a resolver's socket does: a capture
  // takes packets only to sockets that sent to a DNS port (the rest of the flood answers
  // nothing it asked, and is counted as such).
  const std::vector<uint8_t> question = query_for(responses_.front());
  if (connect(rx_.get(), reinterpret_cast<sockaddr*>(&from), len) != 0 ||
      ::send(rx_.get(), question.data(), question.size(), 0) !=
          static_cast<ssize_t>(question.size()))
    throw std::runtime_error(std::string("flood reader's query: ") + std::strerror(errno));
  std::vector<uint8_t> drop(2048);
  recv(tx_.get(), drop.data(), drop.size(), MSG_DONTWAIT);

  // Reads in batches (recvmmsg, waiting for the first only): one wakeup and one syscall
  // per batch, not per response, so that the reader does not take the CPU that the
  // sender and the capture's consumer are measured on.
  reader_ = std::thread([this] {
    constexpr unsigned kBatch = 64;
    std::vector<uint8_t> bufs(kBatch * 2048);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    while (!stop_.load(std::memory_order_relaxed)) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iov[i] = {bufs.data() + i * 2048, 2048};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(rx_.get(), msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
      if (n > 0) received_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      // A short batch means the reader caught up: let responses gather (the 8 MiB buffer
      // holds thousands) instead of waking once per datagram.
      if (n < static_cast<int>(kBatch)) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  pthread_setname_np(reader_.native_handle(), "flood-reader");
}

DnsResponseFlood::~DnsResponseFlood() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
}

uint64_t DnsResponseFlood::send(uint64_t count, uint64_t rate, double max_seconds) {
  // Batches of 32 with their own copies, each with its own DNS ID.
  constexpr unsigned kBatch = 32;
  std::vector<std::vector<uint8_t>> bufs(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  uint64_t done = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(max_seconds);
  while (done < count && Clock::now() < deadline) {
    if (rate > 0) {
      // Pace: never ahead of rate * elapsed.
      const double due = std::chrono::duration<double>(Clock::now() - start).count() * rate;
      if (static_cast<double>(done) >= due) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
    }
    const unsigned n = static_cast<unsigned>(std::min<uint64_t>(kBatch, count - done));
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t k = sent_ + done + i;
      bufs[i] = responses_[k % responses_.size()];
      bufs[i][0] = static_cast<uint8_t>(k >> 8);
      bufs[i][1] = static_cast<uint8_t>(k);
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(tx_.get(), msgs.data(), n, 0);
    if (sent > 0) done += static_cast<uint64_t>(sent);
  }
  sent_ += done;
  return done;
}

uint64_t DnsResponseFlood::settle() {
  uint64_t last = received();
  int quiet = 0;
  for (int i = 0; i < 100 && quiet < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t now = received();
    quiet = now == last ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

}  // namespace tcpconnect::testing
