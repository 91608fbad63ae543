#include "dns/dns_queries.h"

#include <algorithm>

namespace tcpconnect {

std::string_view to_string(DnsRejection r) {
  switch (r) {
    case DnsRejection::kUnsolicited:
      return "unsolicited";
    case DnsRejection::kMismatch:
      return "mismatch";
    case DnsRejection::kCount:
      break;
  }
  return "unknown";
}

size_t DnsQueries::ExchangeHash::operator()(const DnsExchange& e) const noexcept {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  mix(e.netns, 8);
  mix(e.family, 2);
  mix(e.protocol, 1);
  mix(e.local_port, 2);
  mix(e.server_port, 2);
  for (uint8_t b : e.local) mix(b, 1);
  for (uint8_t b : e.server) mix(b, 1);
  return static_cast<size_t>(h);
}

void DnsQueries::erase(
    std::unordered_map<DnsExchange, std::vector<Asked>, ExchangeHash>::iterator it, size_t i) {
  auto& v = it->second;
  v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
  if (v.empty()) by_exchange_.erase(it);
  --count_;
  pending_.store(count_, std::memory_order_relaxed);
}

bool DnsQueries::live(const Queued& q) const {
  auto it = by_exchange_.find(q.exchange);
  return it != by_exchange_.end() && std::any_of(it->second.begin(), it->second.end(),
                                                 [&](const Asked& x) { return x.seq == q.seq; });
}

// The oldest question still outstanding goes (answered ones are skipped on the way).
void DnsQueries::drop_oldest(bool timed_out) {
  while (!order_.empty()) {
    Queued q = order_.front();
    order_.pop_front();
    auto it = by_exchange_.find(q.exchange);
    if (it == by_exchange_.end()) continue;
    auto& v = it->second;
    auto a = std::find_if(v.begin(), v.end(), [&](const Asked& x) { return x.seq == q.seq; });
    if (a == v.end()) continue;
    if (timed_out && on_timeout_) on_timeout_(q.exchange, a->question);
    erase(it, static_cast<size_t>(a - v.begin()));
    (timed_out ? timed_out_ : pushed_out_).fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

void DnsQueries::expire(uint64_t now_ns) {
  const auto timeout = static_cast<uint64_t>(options_.timeout.count());
  while (!order_.empty()) {
    const Queued& q = order_.front();
    if (now_ns < q.ts_ns || now_ns - q.ts_ns <= timeout) {
      // Answered entries at the front are dropped without waiting for their time.
      if (live(q)) return;
      order_.pop_front();
      continue;
    }
    drop_oldest(true);
  }
}

void DnsQueries::asked(const DnsExchange& exchange, const DnsQuestion& question, uint64_t ts_ns) {
  if (options_.max_pending == 0) return;
  expire(ts_ns);
  auto& v = by_exchange_[exchange];
  // A retransmission of a question still outstanding is the same question.
  for (Asked& a : v)
    if (a.question.id == question.id && a.question.qtype == question.qtype &&
        a.question.qclass == question.qclass && a.question.qname == question.qname)
      return;
  const uint64_t seq = next_seq_++;
  v.push_back(Asked{question, ts_ns, seq});
  order_.push_back(Queued{exchange, seq, ts_ns});
  ++count_;
  pending_.store(count_, std::memory_order_relaxed);
  while (count_ > options_.max_pending) drop_oldest(false);
  // order_ keeps answered entries until they reach its front: bounded too, the oldest
  // outstanding question going first when answered ones pile up behind it.
  while (order_.size() > 2 * options_.max_pending + 16) {
    if (live(order_.front()))
      drop_oldest(false);
    else
      order_.pop_front();
  }
}

std::optional<DnsRejection> DnsQueries::answer(const DnsExchange& exchange,
                                               const DnsQuestion& question, uint64_t ts_ns,
                                               uint64_t* asked_ns) {
  expire(ts_ns);
  auto it = by_exchange_.find(exchange);
  if (it == by_exchange_.end()) return DnsRejection::kUnsolicited;
  auto& v = it->second;
  for (size_t i = 0; i < v.size(); ++i) {
    const DnsQuestion& q = v[i].question;
    if (q.id == question.id && q.qtype == question.qtype && q.qclass == question.qclass &&
        q.qname == question.qname) {
      if (asked_ns) *asked_ns = v[i].ts_ns;
      erase(it, i);
      return std::nullopt;
    }
  }
  return DnsRejection::kMismatch;
}

}  // namespace tcpconnect
