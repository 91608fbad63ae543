// The questions local sockets have asked DNS and not yet had answered, so that a
// response names addresses only when it answers one of them: from the address and port
// the query went to, to the address and port it came from, in the same network
// namespace, over the same transport, with the same id and the same question (name
// compared case-insensitively, type and class), as resolvers check per RFC 5452. A
// response answers its query once.
//
// Bounded: at most `max_pending` questions; a new one beyond that pushes out the oldest
// (counted), and a question unanswered for `timeout` (dns.lookup_timeout) is dropped
// (counted, and shown to the timeout observer: an unanswered lookup). A flood of
// queries can therefore only push out other questions, whose answers then name nothing
// (they fail closed), never make a forged answer acceptable.
//
// Single consumer, like DnsIngest; the counters are atomics for the scrape path.
// Depends on the C++ library only (the fuzz target compiles it).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/dns_parser.h"

namespace tcpconnect {

// The socket pair of a query, as the query travelled: local socket -> server.
struct DnsExchange {
  uint64_t netns = 0;
  uint16_t family = 0;
  uint8_t protocol = 0;
  uint16_t local_port = 0;
  uint16_t server_port = 0;
  std::array<uint8_t, 16> local{};
  std::array<uint8_t, 16> server{};
  bool operator==(const DnsExchange& o) const = default;
};

// Why a response was not used (the reason label of metric::kDnsResponsesRejected).
enum class DnsRejection : uint8_t {
  kUnsolicited = 0,  // no question outstanding on that socket pair (or none from the socket)
  kMismatch,         // questions outstanding on that pair, but none with this id and question
  kCount,
};
std::string_view to_string(DnsRejection r);  // "unsolicited", "mismatch"

class DnsQueries {
 public:
  struct Options {
    size_t max_pending = 4096;
    std::chrono::nanoseconds timeout = std::chrono::seconds(5);
  };
  explicit DnsQueries(const Options& options) : options_(options) {}
  DnsQueries() : DnsQueries(Options{}) {}

  // A query sent at ts_ns.
  void asked(const DnsExchange& exchange, const DnsQuestion& question, uint64_t ts_ns);
  // Whether a response (whose exchange is given as its query's: local socket -> server)
  // answers an outstanding question; if it does, that question is answered and gone.
  // nullopt: it does (and *asked_ns, when given, is when it was asked); else why not.
  std::optional<DnsRejection> answer(const DnsExchange& exchange, const DnsQuestion& question,
                                     uint64_t ts_ns, uint64_t* asked_ns = nullptr);
  // Called with each question dropped for its timeout (not those pushed out), from the
  // consumer's thread.
  using TimeoutObserver = std::function<void(const DnsExchange&, const DnsQuestion&)>;
  void set_timeout_observer(TimeoutObserver observer) { on_timeout_ = std::move(observer); }
  // Drops questions older than the timeout at now_ns.
  void expire(uint64_t now_ns);

  size_t pending() const { return pending_.load(std::memory_order_relaxed); }
  uint64_t timed_out() const { return timed_out_.load(std::memory_order_relaxed); }
  uint64_t pushed_out() const { return pushed_out_.load(std::memory_order_relaxed); }
  size_t max_pending() const { return options_.max_pending; }

 private:
  struct ExchangeHash {
    size_t operator()(const DnsExchange& e) const noexcept;
  };
  struct Asked {
    DnsQuestion question;
    uint64_t ts_ns;
    uint64_t seq;  // order of asking, to find it again in order_
  };
  struct Queued {
    DnsExchange exchange;
    uint64_t seq;
    uint64_t ts_ns;
  };

  bool live(const Queued& q) const;
  void drop_oldest(bool timed_out);
  void erase(std::unordered_map<DnsExchange, std::vector<Asked>, ExchangeHash>::iterator it,
             size_t i);

  Options options_;
  TimeoutObserver on_timeout_;
  // Per socket pair, its outstanding questions (a handful: A and AAAA, retries).
  std::unordered_map<DnsExchange, std::vector<Asked>, ExchangeHash> by_exchange_;
  // Every question in order of asking; entries already answered are skipped lazily.
  std::deque<Queued> order_;
  uint64_t next_seq_ = 0;
  size_t count_ = 0;
  std::atomic<size_t> pending_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> pushed_out_{0};
};

}  // namespace tcpconnect
