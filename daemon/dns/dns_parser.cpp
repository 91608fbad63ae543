#include "dns/dns_parser.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

namespace tcpconnect {
namespace {

constexpr size_t kHeaderBytes = NS_HFIXEDSZ;

// DNS names compare case-insensitively; labels are kept in one case so that the same
// name never makes two series.
std::string lower(const char* s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// `raw` (as libresolv gives it) equals `lowered` (already lower case), ignoring ASCII case.
bool same_name(const char* raw, const std::string& lowered) {
  size_t i = 0;
  for (; raw[i] != '\0'; ++i) {
    char c = raw[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (i >= lowered.size() || c != lowered[i]) return false;
  }
  return i == lowered.size();
}

DnsParseOutcome failure(DnsParseError e) {
  DnsParseOutcome o;
  o.error = e;
  return o;
}

// A message the capture cut: the header, the question and every answer record that
// fits, re-counted so that ns_initparse accepts it. Empty when not even the question fits.
std::vector<uint8_t> complete_prefix(const uint8_t* msg, size_t captured, bool* lost_answers) {
  const uint8_t* eom = msg + captured;
  const uint8_t* p = msg + kHeaderBytes;
  int n = ns_skiprr(p, eom, ns_s_qd, 1);
  if (n < 0) return {};
  p += n;
  const unsigned answers = ns_get16(msg + 6);
  unsigned kept = 0;
  for (; kept < answers; ++kept) {
    n = ns_skiprr(p, eom, ns_s_an, 1);
    if (n < 0) break;
    p += n;
  }
  *lost_answers = kept < answers;
  std::vector<uint8_t> out(msg, p);
  ns_put16(static_cast<uint16_t>(kept), out.data() + 6);
  ns_put16(0, out.data() + 8);  // authority and additional records are not needed
  ns_put16(0, out.data() + 10);
  return out;
}

// The answer section, gathered: CNAMEs by owner, and addresses with their owner. Few
// allocations: this runs for every response of a flood. An address owned by the question
// name itself (the common answer) keeps no copy of its owner, and CNAMEs (a handful at
// most) are looked up linearly.
struct Answers {
  struct Owned {
    DnsAddress addr;
    uint32_t ttl;
    bool by_qname;      // owned by the question name
    std::string owner;  // otherwise, its owner (lower case)
  };
  std::vector<std::pair<std::string, std::string>> cname;  // owner -> target, first wins
  std::vector<Owned> addresses;
};

// The header and the question into `r`; the error when it is no answer to one query.
std::optional<DnsParseError> parse_question(ns_msg& handle, bool capture_truncated,
                                            DnsResponse& r) {
  if (!ns_msg_getflag(handle, ns_f_qr) || ns_msg_getflag(handle, ns_f_opcode) != ns_o_query ||
      ns_msg_count(handle, ns_s_qd) != 1)
    return DnsParseError::kNotResponse;
  r.id = ns_msg_id(handle);
  r.rcode = static_cast<uint8_t>(ns_msg_getflag(handle, ns_f_rcode));
  r.truncated = ns_msg_getflag(handle, ns_f_tc) != 0;
  r.capture_truncated = capture_truncated;
  ns_rr rr;
  if (ns_parserr(&handle, ns_s_qd, 0, &rr) != 0) return DnsParseError::kMalformed;
  r.qname = lower(ns_rr_name(rr));
  r.qtype = ns_rr_type(rr);
  r.qclass = ns_rr_class(rr);
  return std::nullopt;
}

// One answer record of class IN into `out`: false when it is malformed.
bool gather_answer(const ns_msg& handle, const ns_rr& rr, const std::string& qname, Answers& out) {
  const uint16_t type = ns_rr_type(rr);
  if (type == ns_t_cname) {
    char target[NS_MAXDNAME];
    if (ns_name_uncompress(ns_msg_base(handle), ns_msg_end(handle), ns_rr_rdata(rr), target,
                           sizeof(target)) < 0)
      return false;
    std::string owner = lower(ns_rr_name(rr));
    bool known = false;
    for (const auto& c : out.cname) known |= c.first == owner;
    if (!known) out.cname.emplace_back(std::move(owner), lower(target));
  } else if (type == ns_t_a || type == ns_t_aaaa) {
    Answers::Owned a{};
    const size_t size = type == ns_t_a ? NS_INADDRSZ : NS_IN6ADDRSZ;
    if (ns_rr_rdlen(rr) != size) return false;
    a.addr.family = type == ns_t_a ? 2 : 10;
    a.ttl = ns_rr_ttl(rr);
    std::memcpy(a.addr.addr.data(), ns_rr_rdata(rr), size);
    a.by_qname = same_name(ns_rr_name(rr), qname);
    if (!a.by_qname) a.owner = lower(ns_rr_name(rr));
    out.addresses.push_back(std::move(a));
  }
  return true;
}

// The names from the question through its CNAMEs, loops and overlong chains cut.
std::vector<const std::string*> cname_chain(const std::string& qname, const Answers& answers) {
  std::vector<const std::string*> chain{&qname};
  for (int hop = 0; hop < kMaxCnameHops && !answers.cname.empty(); ++hop) {
    const std::string* next = nullptr;
    for (const auto& c : answers.cname)
      if (c.first == *chain.back()) {
        next = &c.second;
        break;
      }
    if (!next) break;
    bool loop = false;
    for (const std::string* seen : chain) loop |= *seen == *next;
    if (loop) break;
    chain.push_back(next);
  }
  return chain;
}

// Only addresses owned by a name on the chain answer the question (anything else in the
// section is not what the application was told).
void keep_answering_addresses(const Answers& answers, const std::vector<const std::string*>& chain,
                              DnsResponse& r) {
  r.canonical = *chain.back();
  r.addresses.reserve(answers.addresses.size());
  for (const Answers::Owned& a : answers.addresses) {
    bool on_chain = a.by_qname;
    for (size_t i = 1; i < chain.size() && !on_chain; ++i) on_chain = *chain[i] == a.owner;
    if (!on_chain) continue;
    r.ttl = r.addresses.empty() ? a.ttl : std::min(r.ttl, a.ttl);
    r.addresses.push_back(a.addr);
  }
}

DnsParseOutcome parse_complete(const uint8_t* msg, size_t len, bool capture_truncated) {
  ns_msg handle;
  if (len > INT32_MAX || ns_initparse(msg, static_cast<int>(len), &handle) != 0)
    return failure(DnsParseError::kMalformed);
  DnsParseOutcome out;
  DnsResponse& r = out.response;
  if (auto error = parse_question(handle, capture_truncated, r)) return failure(*error);

  Answers answers;
  const int count = ns_msg_count(handle, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&handle, ns_s_an, i, &rr) != 0) return failure(DnsParseError::kBadRecord);
    if (ns_rr_class(rr) != ns_c_in) continue;
    if (!gather_answer(handle, rr, r.qname, answers)) return failure(DnsParseError::kBadRecord);
  }
  keep_answering_addresses(answers, cname_chain(r.qname, answers), r);
  out.ok = true;
  return out;
}

}  // namespace

std::string_view to_string(DnsParseError error) {
  switch (error) {
    case DnsParseError::kMalformed:
      return "malformed";
    case DnsParseError::kNotResponse:
      return "not_response";
    case DnsParseError::kBadRecord:
      return "bad_record";
    case DnsParseError::kCaptureTruncated:
      return "capture_truncated";
    case DnsParseError::kTcpSplit:
      return "tcp_split";
    case DnsParseError::kTcpOutOfSync:
      return "tcp_out_of_sync";
    case DnsParseError::kCount:
      break;
  }
  return "unknown";
}

DnsParseOutcome parse_dns_message(const uint8_t* msg, size_t captured, size_t full_len) {
  if (captured > full_len) captured = full_len;
  if (captured < kHeaderBytes)
    return failure(full_len > captured ? DnsParseError::kCaptureTruncated
                                       : DnsParseError::kMalformed);
  if (captured == full_len) return parse_complete(msg, captured, false);

  // Cut by the capture: the header is checked first so that a cut query is not counted
  // as a cut response.
  if (!(msg[2] & 0x80) || ((msg[2] >> 3) & 0x0f) != ns_o_query || ns_get16(msg + 4) != 1)
    return failure(DnsParseError::kNotResponse);
  bool lost = false;
  std::vector<uint8_t> prefix = complete_prefix(msg, captured, &lost);
  if (prefix.empty()) return failure(DnsParseError::kCaptureTruncated);
  return parse_complete(prefix.data(), prefix.size(), lost);
}

std::optional<DnsQuestion> parse_dns_query(const uint8_t* msg, size_t captured) {
  if (captured < kHeaderBytes || (msg[2] & 0x80) || ((msg[2] >> 3) & 0x0f) != ns_o_query ||
      ns_get16(msg + 4) != 1)
    return std::nullopt;
  // Only the header and the question matter: a query cut after them is still one.
  const uint8_t* eom = msg + captured;
  int n = ns_skiprr(msg + kHeaderBytes, eom, ns_s_qd, 1);
  if (n < 0) return std::nullopt;
  std::vector<uint8_t> head(msg, msg + kHeaderBytes + n);
  ns_put16(0, head.data() + 6);
  ns_put16(0, head.data() + 8);
  ns_put16(0, head.data() + 10);
  ns_msg handle;
  ns_rr rr;
  if (ns_initparse(head.data(), static_cast<int>(head.size()), &handle) != 0 ||
      ns_parserr(&handle, ns_s_qd, 0, &rr) != 0)
    return std::nullopt;
  DnsQuestion q;
  q.id = ns_msg_id(handle);
  q.qname = lower(ns_rr_name(rr));
  q.qtype = ns_rr_type(rr);
  q.qclass = ns_rr_class(rr);
  return q;
}

}  // namespace tcpconnect
