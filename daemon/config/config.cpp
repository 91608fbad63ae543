#include "config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "config/duration.h"

namespace tcpconnect {

namespace {

constexpr std::array<std::string_view, 4> kBackendNames = {"auto", "tp_btf", "raw_tp",
                                                           "tracepoint"};
constexpr std::array<std::string_view, 13> kLabelNames = {
    "family", "saddr", "daddr", "dport",     "dns_name", "uid",      "comm",
    "unit",   "lport", "pid",   "namespace", "pod",      "container"};
constexpr std::array<std::string_view, 2> kFamilyNames = {"ipv4", "ipv6"};
constexpr std::array<std::string_view, 3> kCaptureNames = {"auto", "cgroup_skb", "packet_socket"};
constexpr std::array<std::string_view, 2> kDnsScopeNames = {"netns", "host"};
constexpr std::array<std::string_view, 2> kTlsVersionNames = {"TLS12", "TLS13"};
constexpr std::array<std::string_view, 8> kSectionNames = {
    "web", "probes", "labels", "limits", "filters", "dns", "allowlist", "kubernetes"};

// The parser's work budget (Parser::charge): a key, a list item or a scalar byte costs 1.
// Without aliases a file cannot cost more than about one unit per byte it holds.
constexpr size_t kBudgetPerByte = 4;
constexpr size_t kBudgetSlack = 4096;

// Values quoted back to the operator are capped: a 1 MiB key must not become a 1 MiB log line.
constexpr size_t kMaxQuoted = 64;

// Escapes everything that is not printable ASCII, so that one error stays one log line
// whatever bytes the file holds.
std::string escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Escaped and shortened, without quotes, for values shown as they are (numbers).
std::string shorten(std::string_view text) {
  if (text.size() > kMaxQuoted) return escape(text.substr(0, kMaxQuoted)) + "...";
  return escape(text);
}

std::string quote(std::string_view text) {
  if (text.size() > kMaxQuoted) return '"' + escape(text.substr(0, kMaxQuoted)) + "\"...";
  return '"' + escape(text) + '"';
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("wbe").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
          to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// "; did you mean "x"?" for the closest candidate, or "" when nothing is close enough to be a
// typo rather than a different word.
std::string suggest(std::string_view given, const std::vector<std::string_view>& candidates) {
  // Long inputs cannot be typos of our short names; skip the quadratic distance.
  if (given.size() > 64) return "";
  std::string_view best;
  size_t best_distance = 0;
  for (const std::string_view candidate : candidates) {
    const size_t distance = edit_distance(given, candidate);
    if (best.empty() || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const size_t allowed = std::clamp<size_t>(std::min(given.size(), best.size()) / 3, 1, 3);
  if (best.empty() || best_distance > allowed) return "";
  return "; did you mean \"" + std::string(best) + "\"?";
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quote(node.Scalar());
  return "nothing";
}

std::string position(const std::string& name, const YAML::Mark& mark) {
  if (mark.is_null()) return name;
  return name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Error error_at(const std::string& name, const YAML::Mark& mark, std::string_view problem) {
  return Error{position(name, mark) + ": " + std::string(problem)};
}

// yaml-cpp does not report a line for some errors (DeepRecursion); the byte offset is exact.
YAML::Mark mark_at_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start =
      before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  YAML::Mark mark;
  mark.pos = static_cast<int>(offset);
  mark.line = static_cast<int>(line);
  mark.column = static_cast<int>(offset - line_start);
  return mark;
}

// Where the first node of a document is, from yaml-cpp's event parser.
class FirstNode final : public YAML::EventHandler {
 public:
  const std::optional<YAML::Mark>& start() const { return start_; }
  const std::optional<YAML::Mark>& node() const { return node_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { seen(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { seen(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    seen(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnMapEnd() override {}

 private:
  void seen(const YAML::Mark& mark) {
    if (!node_) node_ = mark;
  }
  std::optional<YAML::Mark> start_;
  std::optional<YAML::Mark> node_;
};

struct SecondDocument {
  YAML::Mark mark;  // its first node
  bool stuck = false;  // yaml-cpp read nothing: it starts where the first one did
};

// Whether text holds a second YAML document. Not YAML::LoadAll: yaml-cpp 0.7 (Debian 12)
// never returns from it on a "," outside brackets, reading an empty document there again
// and again without consuming it and keeping every one until memory runs out
// (jbeder/yaml-cpp#1040, fixed upstream after 0.7 by #1319). Here at most two documents
// are read, and a second one that starts where the first did is that loop.
std::optional<SecondDocument> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  FirstNode first;
  FirstNode second;
  if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) {
    return std::nullopt;
  }
  SecondDocument out;
  out.mark = second.node().value_or(second.start().value_or(YAML::Mark::null_mark()));
  out.stuck = first.start() && second.start() && first.start()->pos == second.start()->pos;
  if (out.stuck) out.mark = *second.start();
  return out;
}

std::string range_problem(std::string_view value, std::string_view min, std::string_view max) {
  return std::string(value) + " is out of range " + std::string(min) + ".." + std::string(max);
}

std::optional<std::string> check_port(std::string_view address, std::string_view port) {
  const std::string prefix = "invalid listen address " + quote(address) + ": ";
  if (port.empty()) return prefix + "missing port after \":\"";
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return prefix + "port " + quote(port) + " is not a number";
  }
  // Five digits at most, so stoul cannot overflow.
  if (port.size() > 5 || std::stoul(std::string(port)) - 1 >= 65535) {
    return prefix + "port " + range_problem(shorten(port), "1", "65535");
  }
  return std::nullopt;
}

// Accepts what the HTTP listener can bind without a DNS lookup surprise: ":port",
// "host:port" and "[ipv6]:port". Service names ("http") are refused on purpose: a port
// that depends on /etc/services is not what an operator expects to read in a config.
std::optional<std::string> check_listen_address(std::string_view address) {
  const std::string prefix = "invalid listen address " + quote(address) + ": ";
  constexpr std::string_view kExpected = " (expected host:port, [ipv6]:port or :port)";
  if (address.empty()) return "listen address is empty" + std::string(kExpected);

  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return prefix + "missing \"]\" after the IPv6 address";
    const std::string_view rest = address.substr(close + 1);
    if (rest.empty()) return prefix + "missing port" + std::string(kExpected);
    if (rest.front() != ':') return prefix + "expected \":\" and a port after \"]\"";
    // The zone ("%eth0") names an interface; inet_pton does not understand it.
    const std::string_view host = address.substr(1, close - 1);
    const std::string ip(host.substr(0, host.find('%')));
    in6_addr parsed{};
    // inet_pton reads up to a NUL: every byte must be one an address can hold.
    const bool ip_chars = std::all_of(ip.begin(), ip.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    if (ip.empty() || !ip_chars || inet_pton(AF_INET6, ip.c_str(), &parsed) != 1) {
      return prefix + quote(host) + " is not an IPv6 address";
    }
    // The address goes to civetweb as it is, where "," separates listeners: the zone must
    // be an interface name (IFNAMSIZ - 1 bytes), nothing else.
    if (const size_t percent = host.find('%'); percent != std::string_view::npos) {
      const std::string_view zone = host.substr(percent + 1);
      const bool zone_ok = !zone.empty() && zone.size() <= 15 &&
                           std::all_of(zone.begin(), zone.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
                           });
      if (!zone_ok) return prefix + "zone " + quote(zone) + " is not an interface name";
    }
    return check_port(address, rest.substr(1));
  }

  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return prefix + "missing port" + std::string(kExpected);
  const std::string_view host = address.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    return prefix + "an IPv6 address needs brackets, e.g. [::1]:9476";
  }
  const bool host_ok = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
  if (!host_ok) return prefix + "host " + quote(host) + " is not a host name or IP address";
  return check_port(address, address.substr(colon + 1));
}

std::optional<std::string> check_telemetry_path(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return "must start with \"/\", got " + quote(path);
  }
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') {
      return "invalid character in " + quote(path) +
             " (a path: printable ASCII without spaces, \"?\" or \"#\")";
    }
  }
  return std::nullopt;
}

bool is_decimal(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// --- networks -----------------------------------------------------------------------------

size_t family_bits(Family family) { return family == Family::kIpv4 ? 32 : 128; }

std::string format_network(Family family, const std::array<uint8_t, 16>& addr, unsigned prefix) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == Family::kIpv4 ? AF_INET : AF_INET6, addr.data(), text, sizeof(text));
  return std::string(text) + "/" + std::to_string(prefix);
}

// addr with every bit after the first `prefix` cleared.
std::array<uint8_t, 16> network_of(const std::array<uint8_t, 16>& addr, unsigned prefix) {
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    const unsigned bits = prefix > i * 8 ? std::min(prefix - static_cast<unsigned>(i * 8), 8u) : 0;
    out[i] = static_cast<uint8_t>(addr[i] & static_cast<uint8_t>(0xff00u >> bits));
  }
  return out;
}

// What the file can say about a network: an address and, optionally, a prefix length that
// fits in a byte. Range and host bits are check_cidr's, which also sees Cidrs built in code.
Result<Cidr> read_cidr(std::string_view text) {
  const std::string prefix = "invalid network " + quote(text) + ": ";
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  Cidr cidr;
  cidr.family = address.find(':') == std::string::npos ? Family::kIpv4 : Family::kIpv6;
  const int af = cidr.family == Family::kIpv4 ? AF_INET : AF_INET6;
  if (address.empty() || address.find('\0') != std::string::npos ||
      ::inet_pton(af, address.c_str(), cidr.addr.data()) != 1) {
    return Error{prefix + quote(address) + " is not an " +
                 (cidr.family == Family::kIpv4 ? "IPv4" : "IPv6") +
                 " address (expected e.g. 10.0.0.0/8 or 2001:db8::/32)"};
  }
  const std::string bits = std::to_string(family_bits(cidr.family));
  unsigned prefix_len = static_cast<unsigned>(family_bits(cidr.family));
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (!is_decimal(digits)) {
      return Error{prefix + "prefix length " + quote(digits) + " is not a number"};
    }
    if (digits.size() > 3 || std::stoul(std::string(digits)) > 255) {
      return Error{prefix + "prefix length " + range_problem(shorten(digits), "0", bits)};
    }
    prefix_len = static_cast<unsigned>(std::stoul(std::string(digits)));
  }
  cidr.prefix_len = static_cast<uint8_t>(prefix_len);
  cidr.text = format_network(cidr.family, cidr.addr, prefix_len);
  return cidr;
}

std::optional<std::string> check_cidr(const Cidr& cidr) {
  const size_t bits = family_bits(cidr.family);
  if (cidr.prefix_len > bits) {
    return "prefix length of " + format_network(cidr.family, cidr.addr, cidr.prefix_len) +
           " is out of range 0.." + std::to_string(bits);
  }
  if (cidr.family == Family::kIpv4 &&
      std::any_of(cidr.addr.begin() + 4, cidr.addr.end(), [](uint8_t b) { return b != 0; })) {
    return "an IPv4 network must leave bytes 4..15 of the address zero";
  }
  const std::array<uint8_t, 16> network = network_of(cidr.addr, cidr.prefix_len);
  if (network != cidr.addr) {
    return format_network(cidr.family, cidr.addr, cidr.prefix_len) +
           " has host bits set; did you mean " +
           format_network(cidr.family, network, cidr.prefix_len) + "?";
  }
  const std::string canonical = format_network(cidr.family, cidr.addr, cidr.prefix_len);
  if (cidr.text != canonical) {
    return "text " + quote(cidr.text) + " does not match the network " + canonical;
  }
  return std::nullopt;
}

// --- ports --------------------------------------------------------------------------------

std::string format_port_range(const PortRange& range) {
  if (range.first == range.last) return std::to_string(range.first);
  return std::to_string(range.first) + "-" + std::to_string(range.last);
}

// "443" or "8000-8999", each number fitting in 16 bits; check_port_range does the rest.
Result<PortRange> read_port_range(std::string_view text) {
  const std::string expected = "expected a port or a port range like 8000-8999, got " + quote(text);
  const size_t dash = text.find('-');
  const std::string_view first = text.substr(0, dash);
  const std::string_view last = dash == std::string_view::npos ? first : text.substr(dash + 1);
  if (!is_decimal(first) || !is_decimal(last)) return Error{expected};
  for (const std::string_view number : {first, last}) {
    if (number.size() > 5 || std::stoul(std::string(number)) > 65535) {
      return Error{"port " + range_problem(shorten(number), "1", "65535")};
    }
  }
  return PortRange{static_cast<uint16_t>(std::stoul(std::string(first))),
                   static_cast<uint16_t>(std::stoul(std::string(last)))};
}

std::optional<std::string> check_port_range(const PortRange& range) {
  for (const uint16_t port : {range.first, range.last}) {
    if (port == 0) return "port 0 is out of range 1..65535";
  }
  if (range.first > range.last) {
    return "port range " + format_port_range(range) + " is reversed; did you mean " +
           format_port_range(PortRange{range.last, range.first}) + "?";
  }
  return std::nullopt;
}

// --- names and paths ----------------------------------------------------------------------

std::optional<std::string> check_name_pattern(std::string_view name) {
  if (name.size() > kMaxNameBytes) {
    return "name pattern is " + std::to_string(name.size()) + " bytes, the limit is " +
           std::to_string(kMaxNameBytes);
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                    c == '_' || c == '*';
    if (!ok) {
      return "invalid character " + quote(std::string_view(&c, 1)) + " in name pattern " +
             quote(name) + " (allowed: a-z, 0-9, \".\", \"-\", \"_\", and \"*\" as the wildcard)";
    }
  }
  if (name.empty() || name.front() == '.' || name.find("..") != std::string_view::npos) {
    return "name pattern " + quote(name) + " has an empty label";
  }
  if (name.back() == '.') {
    return "name pattern " + quote(name) + " ends with \".\" (names are matched without it)";
  }
  return std::nullopt;
}

// "*" matches any run of characters. The pattern is lower-case (check_name_pattern); the
// name may not be. Backtracks only to the last star, so it is O(pattern * name) at worst.
bool glob_match(std::string_view pattern, std::string_view name) {
  size_t p = 0;
  size_t n = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == to_lower(name[n])) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A Kubernetes namespace or pod name glob: what names may hold, and "*".
std::optional<std::string> check_pod_pattern(std::string_view pattern) {
  if (pattern.empty()) return "empty pattern";
  if (pattern.size() > kMaxNameBytes) {
    return "pattern is " + std::to_string(pattern.size()) + " bytes, the limit is " +
           std::to_string(kMaxNameBytes);
  }
  for (const char c : pattern) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '*';
    if (!ok) {
      return "invalid character " + quote(std::string_view(&c, 1)) + " in pattern " +
             quote(pattern) + " (allowed: a-z, 0-9, \".\", \"-\", and \"*\" as the wildcard)";
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_cgroup_path(std::string_view path) {
  if (path.empty()) return "empty cgroup path";
  if (path.size() > kMaxPathBytes) {
    return "cgroup path is " + std::to_string(path.size()) + " bytes, the limit is " +
           std::to_string(kMaxPathBytes);
  }
  if (has_control(path)) return "invalid character in cgroup path " + quote(path);
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") {
      return "cgroup path " + quote(path) + " has a \"..\" component";
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> check_map_path(std::string_view path) {
  if (path.size() > kMaxPathBytes) {
    return "path is " + std::to_string(path.size()) + " bytes, the limit is " +
           std::to_string(kMaxPathBytes);
  }
  if (has_control(path)) return "invalid character in path " + quote(path);
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path (a map pinned under /sys/fs/bpf), got " + quote(path);
  }
  return std::nullopt;
}

std::optional<std::string> check_comm(std::string_view comm) {
  if (comm.empty()) return "empty comm";
  if (comm.size() > kMaxCommBytes) {
    return "comm " + quote(comm) + " is " + std::to_string(comm.size()) +
           " bytes; the kernel keeps at most " + std::to_string(kMaxCommBytes);
  }
  if (comm.find('\0') != std::string_view::npos) return "comm " + quote(comm) + " contains a NUL";
  return std::nullopt;
}

// A file named by web.tls. Absolute, because the daemon's working directory is "/" under
// systemd and a relative path would silently mean something else there.
std::optional<std::string> check_file_path(std::string_view path) {
  if (path.size() > kMaxPathBytes) {
    return "path is " + std::to_string(path.size()) + " bytes, the limit is " +
           std::to_string(kMaxPathBytes);
  }
  if (has_control(path)) return "invalid character in path " + quote(path);
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path, got " + quote(path);
  }
  return std::nullopt;
}

// RFC 7617: the user-id cannot contain a colon; control characters cannot be typed into a
// header.
std::optional<std::string> check_user_name(std::string_view user) {
  if (user.empty()) return std::string("empty user name");
  if (user.size() > kMaxUserNameBytes) {
    return "user name is " + std::to_string(user.size()) + " bytes, the limit is " +
           std::to_string(kMaxUserNameBytes);
  }
  if (user.find(':') != std::string_view::npos) {
    return "user name " + quote(user) + " contains \":\" (basic auth cannot carry it)";
  }
  if (has_control(user)) return "invalid character in user name " + quote(user);
  return std::nullopt;
}

std::string count_problem(size_t count, size_t limit, std::string_view what) {
  return std::to_string(count) + " " + std::string(what) + ", the limit is " +
         std::to_string(limit);
}

bool is_power_of_two(uint32_t value) { return value != 0 && (value & (value - 1)) == 0; }

struct Problem {
  std::string key;  // dotted path, e.g. "web.listen_address"
  std::string message;
};

std::string indexed(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

// Index of the first item equal to an earlier one. Lists here are short (families, DNS ports).
template <typename T>
std::optional<size_t> first_repeat(const std::vector<T>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (std::find(items.begin(), items.begin() + static_cast<ptrdiff_t>(i), items[i]) !=
        items.begin() + static_cast<ptrdiff_t>(i)) {
      return i;
    }
  }
  return std::nullopt;
}

// Checks every element of a list with `check` (returning a message or nullopt) after its size.
template <typename T, typename Check>
std::optional<Problem> check_list(std::string_view path, const std::vector<T>& items, Check check) {
  if (items.size() > kMaxListEntries) {
    return Problem{std::string(path), count_problem(items.size(), kMaxListEntries, "entries")};
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (std::optional<std::string> problem = check(items[i])) {
      return Problem{indexed(path, i), *problem};
    }
  }
  return std::nullopt;
}

std::optional<Problem> find_labels_problem(const LabelsConfig& labels) {
  const std::vector<Label>& keep = labels.keep;
  // Consumers rely on the order to emit labels canonically.
  if (std::adjacent_find(keep.begin(), keep.end(), std::greater_equal<Label>()) != keep.end()) {
    return Problem{"labels.keep",
                   "labels must be in the order " +
                       join(std::vector<std::string_view>(kLabelNames.begin(), kLabelNames.end())) +
                       ", without duplicates"};
  }
  if (labels.daddr_prefix_v4 > 32) {
    return Problem{"labels.daddr_prefix_v4",
                   range_problem(std::to_string(labels.daddr_prefix_v4), "0", "32")};
  }
  if (labels.daddr_prefix_v6 > 128) {
    return Problem{"labels.daddr_prefix_v6",
                   range_problem(std::to_string(labels.daddr_prefix_v6), "0", "128")};
  }
  if (labels.ephemeral_port_min == 0) {
    return Problem{"labels.ephemeral_port_min", range_problem("0", "1", "65535")};
  }
  return std::nullopt;
}

std::optional<Problem> find_filters_problem(const FiltersConfig& filters) {
  if (auto problem =
          check_list("filters.pids", filters.pids, [](uint32_t pid) -> std::optional<std::string> {
            if (pid >= 1 && pid <= kMaxPid) return std::nullopt;
            return range_problem(std::to_string(pid), "1", std::to_string(kMaxPid));
          })) {
    return problem;
  }
  if (auto problem =
          check_list("filters.uids", filters.uids, [](uint32_t uid) -> std::optional<std::string> {
            if (uid <= kMaxUid) return std::nullopt;
            return range_problem(std::to_string(uid), "0", std::to_string(kMaxUid));
          })) {
    return problem;
  }
  if (auto problem = check_list("filters.ports", filters.ports, check_port_range)) return problem;
  if (const std::optional<size_t> i = first_repeat(filters.families)) {
    return Problem{indexed("filters.families", *i),
                   "duplicate family " + quote(to_string(filters.families[*i]))};
  }
  if (auto problem = check_list("filters.cgroups", filters.cgroups, check_cgroup_path)) {
    return problem;
  }
  if (!filters.cgroupmap.empty()) {
    if (auto problem = check_map_path(filters.cgroupmap)) {
      return Problem{"filters.cgroupmap", *problem};
    }
  }
  if (!filters.mntnsmap.empty()) {
    if (auto problem = check_map_path(filters.mntnsmap)) {
      return Problem{"filters.mntnsmap", *problem};
    }
  }
  if (auto problem = check_list("filters.comms", filters.comms, check_comm)) {
    return problem;
  }
  if (auto problem = check_list("filters.include_cidrs", filters.include_cidrs, check_cidr)) {
    return problem;
  }
  if (auto problem = check_list("filters.exclude_cidrs", filters.exclude_cidrs, check_cidr)) {
    return problem;
  }
  if (auto problem = check_list("filters.namespaces", filters.namespaces, check_pod_pattern)) {
    return problem;
  }
  if (auto problem =
          check_list("filters.exclude_namespaces", filters.exclude_namespaces, check_pod_pattern)) {
    return problem;
  }
  if (auto problem = check_list("filters.pods", filters.pods, check_pod_pattern)) return problem;
  return check_list("filters.exclude_pods", filters.exclude_pods, check_pod_pattern);
}

std::optional<Problem> find_kubernetes_problem(const KubernetesConfig& kubernetes) {
  if (auto problem = check_file_path(kubernetes.pod_logs_dir))
    return Problem{"kubernetes.pod_logs_dir", *problem};
  if (auto problem = check_file_path(kubernetes.container_logs_dir))
    return Problem{"kubernetes.container_logs_dir", *problem};
  return std::nullopt;
}

std::optional<Problem> find_dns_problem(const DnsConfig& dns) {
  if (dns.ports.empty()) {
    return Problem{"dns.ports",
                   "at least one port is needed (to turn DNS capture off, set dns.enabled: "
                   "false)"};
  }
  if (dns.ports.size() > kMaxDnsPorts) {
    return Problem{"dns.ports", count_problem(dns.ports.size(), kMaxDnsPorts, "ports")};
  }
  if (auto problem = check_list("dns.ports", dns.ports, [](uint16_t port) {
        return port == 0 ? std::optional<std::string>(range_problem("0", "1", "65535"))
                         : std::nullopt;
      })) {
    return problem;
  }
  if (const std::optional<size_t> i = first_repeat(dns.ports)) {
    return Problem{indexed("dns.ports", *i), "duplicate port " + std::to_string(dns.ports[*i])};
  }
  if (dns.capture_bytes < kMinCaptureBytes || dns.capture_bytes > kMaxCaptureBytes) {
    return Problem{"dns.capture_bytes", range_problem(std::to_string(dns.capture_bytes),
                                                      std::to_string(kMinCaptureBytes),
                                                      std::to_string(kMaxCaptureBytes))};
  }
  if (dns.cache_entries < kMinCacheEntries || dns.cache_entries > kMaxCacheEntries) {
    return Problem{"dns.cache_entries", range_problem(std::to_string(dns.cache_entries),
                                                      std::to_string(kMinCacheEntries),
                                                      std::to_string(kMaxCacheEntries))};
  }
  if (dns.max_age < kMinDnsMaxAge || dns.max_age > kMaxDnsMaxAge) {
    return Problem{"dns.max_age",
                   range_problem(format_duration(dns.max_age), format_duration(kMinDnsMaxAge),
                                 format_duration(kMaxDnsMaxAge))};
  }
  if (dns.lookup_timeout < kMinDnsLookupTimeout || dns.lookup_timeout > kMaxDnsLookupTimeout) {
    return Problem{"dns.lookup_timeout", range_problem(format_duration(dns.lookup_timeout),
                                                       format_duration(kMinDnsLookupTimeout),
                                                       format_duration(kMaxDnsLookupTimeout))};
  }
  if (dns.stale_grace < std::chrono::milliseconds(0) || dns.stale_grace > kMaxDnsStaleGrace) {
    return Problem{"dns.stale_grace", range_problem(format_duration(dns.stale_grace), "0s",
                                                    format_duration(kMaxDnsStaleGrace))};
  }
  if (dns.ring_bytes < kMinRingBytes || dns.ring_bytes > kMaxRingBytes) {
    return Problem{"dns.ring_bytes",
                   range_problem(std::to_string(dns.ring_bytes), std::to_string(kMinRingBytes),
                                 std::to_string(kMaxRingBytes))};
  }
  if (!is_power_of_two(dns.ring_bytes)) {
    uint32_t below = kMinRingBytes;
    while (below * 2 < dns.ring_bytes) below *= 2;
    return Problem{"dns.ring_bytes", std::to_string(dns.ring_bytes) +
                                         " is not a power of two (the kernel requires one); "
                                         "the nearest are " +
                                         std::to_string(below) + " and " +
                                         std::to_string(below * 2)};
  }
  return std::nullopt;
}

std::optional<Problem> find_allowlist_problem(const AllowlistConfig& allowlist) {
  if (!allowlist.enabled && !allowlist.rules.empty()) {
    return Problem{"allowlist", "has rules but is not enabled"};
  }
  if (allowlist.rules.size() > kMaxListEntries) {
    return Problem{"allowlist", count_problem(allowlist.rules.size(), kMaxListEntries, "rules")};
  }
  for (size_t i = 0; i < allowlist.rules.size(); ++i) {
    const AllowRule& rule = allowlist.rules[i];
    const std::string path = indexed("allowlist", i);
    if (!rule.cidr && rule.name.empty() && rule.ports.empty()) {
      return Problem{path, "a rule needs at least one of cidr, name, ports"};
    }
    if (rule.cidr) {
      if (auto problem = check_cidr(*rule.cidr)) return Problem{path + ".cidr", *problem};
    }
    if (!rule.name.empty()) {
      if (auto problem = check_name_pattern(rule.name)) return Problem{path + ".name", *problem};
    }
    if (auto problem = check_list(path + ".ports", rule.ports, check_port_range)) return problem;
  }
  return std::nullopt;
}

std::optional<Problem> find_web_problem(const WebConfig& web) {
  if (auto problem = check_listen_address(web.listen_address)) {
    return Problem{"web.listen_address", *problem};
  }
  if (auto problem = check_telemetry_path(web.telemetry_path)) {
    return Problem{"web.telemetry_path", *problem};
  }
  const WebTlsConfig& tls = web.tls;
  if (tls.enabled() && tls.key_file.empty()) {
    return Problem{"web.tls.cert_file",
                   "web.tls.key_file is missing (TLS needs both cert_file and key_file)"};
  }
  if (tls.enabled() && tls.cert_file.empty()) {
    return Problem{"web.tls.key_file",
                   "web.tls.cert_file is missing (TLS needs both cert_file and key_file)"};
  }
  if (!tls.enabled() && tls.min_version != WebTlsConfig{}.min_version) {
    return Problem{"web.tls.min_version",
                   "has no effect without web.tls.cert_file and web.tls.key_file"};
  }
  if (tls.enabled()) {
    if (auto problem = check_file_path(tls.cert_file))
      return Problem{"web.tls.cert_file", *problem};
    if (auto problem = check_file_path(tls.key_file)) return Problem{"web.tls.key_file", *problem};
  }
  if (web.basic_auth_users.size() > kMaxListEntries) {
    return Problem{"web.basic_auth_users",
                   count_problem(web.basic_auth_users.size(), kMaxListEntries, "users")};
  }
  for (const auto& [user, hash] : web.basic_auth_users) {
    const std::string key = "web.basic_auth_users." + user;
    if (auto problem = check_user_name(user)) return Problem{key, *problem};
    if (auto problem = check_bcrypt_hash(hash)) return Problem{key, *problem};
  }
  return std::nullopt;
}

// The one place that states what a valid Config is, including constraints across fields.
// The parser has already rejected what it cannot represent (wrong types, unknown names).
// Keys of list elements carry their index ("filters.ports[2]") so the parser can point at them.
std::optional<Problem> find_problem(const Config& config) {
  if (auto problem = find_web_problem(config.web)) return problem;
  const ProbesConfig& probes = config.probes;
  if (probes.max_entries < kMinMaxEntries || probes.max_entries > kMaxMaxEntries) {
    return Problem{"probes.max_entries",
                   range_problem(std::to_string(probes.max_entries), std::to_string(kMinMaxEntries),
                                 std::to_string(kMaxMaxEntries))};
  }
  if (probes.drain_interval < kMinDrainInterval || probes.drain_interval > kMaxDrainInterval) {
    return Problem{"probes.drain_interval", range_problem(format_duration(probes.drain_interval),
                                                          format_duration(kMinDrainInterval),
                                                          format_duration(kMaxDrainInterval))};
  }
  if (auto problem = find_labels_problem(config.labels)) return problem;
  const LimitsConfig& limits = config.limits;
  if (limits.max_series < kMinMaxSeries || limits.max_series > kMaxMaxSeries) {
    return Problem{"limits.max_series",
                   range_problem(std::to_string(limits.max_series), std::to_string(kMinMaxSeries),
                                 std::to_string(kMaxMaxSeries))};
  }
  if (limits.idle_expiry != std::chrono::milliseconds(0) &&
      (limits.idle_expiry < kMinIdleExpiry || limits.idle_expiry > kMaxIdleExpiry)) {
    return Problem{"limits.idle_expiry",
                   range_problem(format_duration(limits.idle_expiry),
                                 format_duration(kMinIdleExpiry), format_duration(kMaxIdleExpiry)) +
                       " (or 0 to keep idle series)"};
  }
  if (auto problem = find_filters_problem(config.filters)) return problem;
  if (auto problem = find_dns_problem(config.dns)) return problem;
  if (auto problem = find_kubernetes_problem(config.kubernetes)) return problem;
  return find_allowlist_problem(config.allowlist);
}

bool looks_boolean(std::string_view text) {
  std::string lower;
  for (const char c : text) lower += to_lower(c);
  return lower == "true" || lower == "false" || lower == "yes" || lower == "no" || lower == "on" ||
         lower == "off" || lower == "y" || lower == "n";
}

bool looks_number(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

// One key of a map, or one item of a list: the nodes, for positions, and its dotted path
// ("filters.ports[2]"), for messages.
struct Entry {
  std::string path;
  YAML::Node key;  // the item itself for list items
  YAML::Node value;
  bool item = false;
};

class Parser {
 public:
  // budget: see charge().
  Parser(const std::string& name, size_t budget) : name_(name), budget_(budget) {}

  Status parse_document(const YAML::Node& root, Config* config) {
    const std::vector<std::string_view> sections(kSectionNames.begin(), kSectionNames.end());
    if (!root.IsNull() && !root.IsMap()) {
      return error_at(name_, root.Mark(),
                      "expected a map of sections (" + join(sections) + ") at the top level, got " +
                          describe(root));
    }
    return for_each_entry(root, "", sections, [&](const Entry& entry) -> Status {
      const std::string_view key = entry.path;
      if (key == "web") return parse_web(entry, &config->web);
      if (key == "probes") return parse_probes(entry, &config->probes);
      if (key == "labels") return parse_labels(entry, &config->labels);
      if (key == "limits") return parse_limits(entry, &config->limits);
      if (key == "filters") return parse_filters(entry, &config->filters);
      if (key == "dns") return parse_dns(entry, &config->dns);
      if (key == "kubernetes") return parse_kubernetes(entry, &config->kubernetes);
      return parse_allowlist(entry, &config->allowlist);
    });
  }

  // Where a value was written, so that validation can point at it: any key's value, or an
  // item of a list that is one ("filters.ports[2]", "allowlist[0].cidr").
  YAML::Mark mark_of(const std::string& path) const {
    if (const auto it = nodes_.find(path); it != nodes_.end()) return it->second.Mark();
    const size_t open = path.rfind('[');
    if (path.empty() || path.back() != ']' || open == std::string::npos) {
      return YAML::Mark::null_mark();
    }
    const auto list = nodes_.find(path.substr(0, open));
    const std::string_view digits = std::string_view(path).substr(open + 1, path.size() - open - 2);
    if (list == nodes_.end() || !list->second.IsSequence() || !is_decimal(digits) ||
        digits.size() > 9) {
      return YAML::Mark::null_mark();
    }
    const size_t index = std::stoul(std::string(digits));
    if (index >= list->second.size()) return YAML::Mark::null_mark();
    return list->second[index].Mark();
  }

 private:
  Error error(const YAML::Mark& mark, std::string_view problem) const {
    return error_at(name_, mark, problem);
  }
  Error error(const Entry& entry, std::string_view problem) const {
    // A missing value has no useful position of its own (yaml-cpp puts it at the next token).
    const YAML::Mark mark = entry.value.IsNull() ? entry.key.Mark() : entry.value.Mark();
    return error(mark, entry.path + ": " + std::string(problem));
  }

  // Calls handle(entry) for each key of a section after checking the section is a map (or
  // empty: "web:" alone means all defaults), that every key is known and none is repeated.
  // yaml-cpp keeps repeated keys and lookups see only the first, so they must be found here.
  template <typename Handler>
  Status for_each_entry(const YAML::Node& map, const std::string& section,
                        const std::vector<std::string_view>& known, Handler handle) {
    if (map.IsNull()) return Ok{};
    const std::string where = section.empty() ? "at the top level" : "in " + section;
    if (!map.IsMap()) {
      return error(map.Mark(), section + ": expected a map with keys " + join(known) + ", got " +
                                   describe(map));
    }
    std::map<std::string, YAML::Mark> seen;
    for (const auto& pair : map) {
      const YAML::Node& key = pair.first;
      if (!key.IsScalar()) {
        return error(key.Mark(), "keys must be plain names, got " + describe(key) + " " + where);
      }
      const std::string& name = key.Scalar();
      const auto [previous, inserted] = seen.emplace(name, key.Mark());
      if (!inserted) {
        return error(key.Mark(), "duplicate key " + quote(name) + " " + where + " (first at " +
                                     std::to_string(previous->second.line + 1) + ":" +
                                     std::to_string(previous->second.column + 1) + ")");
      }
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        return error(key.Mark(), "unknown key " + quote(name) + " " + where +
                                     " (known: " + join(known) + ")" + suggest(name, known));
      }
      if (Status status = charge(key, 1); !status) return status;
      Entry entry{section.empty() ? name : section + "." + name, key, pair.second};
      if (!entry.value.IsNull()) nodes_[entry.path] = entry.value;
      if (Status status = handle(entry); !status) return status;
    }
    return Ok{};
  }

  // Calls parse_item(item_entry, &element) for each item of a list value. The checks on the
  // elements and on the list's length are find_problem's.
  template <typename T, typename ParseItem>
  Status parse_list(const Entry& entry, std::string_view what, std::vector<T>* out,
                    ParseItem parse_item) const {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key for the default, or [] for none)");
    }
    if (!entry.value.IsSequence()) {
      return error(entry, "expected " + std::string(what) + ", got " + describe(entry.value));
    }
    std::vector<T> items;
    size_t index = 0;
    for (const YAML::Node& node : entry.value) {
      if (Status status = charge(node, 1); !status) return status;
      const Entry item{indexed(entry.path, index++), node, node, true};
      T value{};
      if (Status status = parse_item(item, &value); !status) return status;
      items.push_back(std::move(value));
    }
    *out = std::move(items);
    return Ok{};
  }

  Result<std::string> scalar(const Entry& entry, std::string_view what) const {
    if (entry.value.IsNull()) {
      return error(entry, entry.item ? "empty list item"
                                     : "missing value (omit the key to use the default)");
    }
    if (!entry.value.IsScalar()) {
      return error(entry, "expected " + std::string(what) + ", got " + describe(entry.value));
    }
    if (Status status = charge(entry.value, entry.value.Scalar().size()); !status) {
      return status.error();
    }
    return entry.value.Scalar();
  }

  // An alias names its anchor's node again without its bytes ("billion laughs": a list of
  // aliases to a list of aliases to a long string), and yaml-cpp shares the node rather than
  // copying it, so only walking the document multiplies. Every key, list item and scalar
  // byte the parser takes is charged to a budget proportional to the file's size, which
  // no file without aliases can exhaust: parsing costs time and memory in proportion to
  // the bytes read, whatever the aliases.
  Status charge(const YAML::Node& node, size_t cost) const {
    if (cost > budget_) {
      return error(node.Mark(), "aliases expand the config beyond " +
                                    std::to_string(kBudgetPerByte) +
                                    " times its own size; write the values out instead");
    }
    budget_ -= cost;
    return Ok{};
  }

  Status parse_string(const Entry& entry, std::string* out) const {
    Result<std::string> text = scalar(entry, "a string");
    if (!text) return text.error();
    *out = std::move(text).value();
    return Ok{};
  }

  // Only plain decimal digits: yaml-cpp's own conversion reads "010" as octal and "0x10" as
  // hex, and when it fails it cannot say why (negative? fraction? boolean?). Values that do
  // not fit in T are refused here; the documented bounds are find_problem's, which also
  // sees configs built in code.
  template <typename T>
  Status parse_unsigned(const Entry& entry, uint64_t min, uint64_t max, T* out) const {
    const std::string range = "(" + std::to_string(min) + ".." + std::to_string(max) + ")";
    Result<std::string> text_or = scalar(entry, "an integer " + range);
    if (!text_or) return text_or.error();
    const std::string& text = text_or.value();
    if (entry.value.Tag() == "!") {
      return error(entry, "expected an integer " + range + ", got the quoted string " +
                              quote(text) + " (remove the quotes)");
    }
    const bool negative = !text.empty() && text.front() == '-';
    const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
    if (!is_decimal(digits)) {
      if (looks_boolean(text)) {
        return error(entry, "expected an integer " + range + ", got the boolean " + quote(text));
      }
      if (looks_number(text)) {
        return error(entry, "expected an integer " + range + ", got the number " + quote(text));
      }
      return error(entry, "expected an integer " + range + ", got " + quote(text));
    }
    if (digits.size() > 1 && digits.front() == '0') {
      return error(entry, "expected a decimal integer, got " + quote(text) +
                              " (a leading zero would mean octal to other YAML readers)");
    }
    const std::string out_of_range =
        range_problem(shorten(text), std::to_string(min), std::to_string(max));
    if (negative || digits.size() > 10) return error(entry, out_of_range);
    const uint64_t value = std::stoull(std::string(digits));
    if (value > std::numeric_limits<T>::max()) return error(entry, out_of_range);
    *out = static_cast<T>(value);
    return Ok{};
  }

  // YAML 1.2's spellings only: "yes", "on" and friends mean true to some readers and are
  // strings to others.
  Status parse_bool(const Entry& entry, bool* out) const {
    Result<std::string> text_or = scalar(entry, "true or false");
    if (!text_or) return text_or.error();
    const std::string& text = text_or.value();
    if (entry.value.Tag() == "!") {
      return error(entry, "expected true or false, got the quoted string " + quote(text) +
                              " (remove the quotes)");
    }
    if (text == "true" || text == "True" || text == "TRUE") {
      *out = true;
      return Ok{};
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      *out = false;
      return Ok{};
    }
    if (looks_boolean(text)) {
      return error(entry, "expected true or false, got " + quote(text) +
                              " (other spellings mean different things to different YAML "
                              "readers)");
    }
    return error(entry, "expected true or false, got " + quote(text));
  }

  Status parse_duration_value(const Entry& entry, std::chrono::milliseconds* out) const {
    Result<std::string> text = scalar(entry, "a duration like 1s or 500ms");
    if (!text) return text.error();
    Result<std::chrono::milliseconds> duration = parse_duration(text.value());
    if (!duration) {
      return error(entry,
                   "invalid duration " + quote(text.value()) + ": " + duration.error().message);
    }
    *out = duration.value();
    return Ok{};
  }

  // One of `names`, stored as the enum value of its index.
  template <typename E, size_t N>
  Status parse_enum(const Entry& entry, std::string_view what,
                    const std::array<std::string_view, N>& names, E* out) const {
    Result<std::string> text = scalar(entry, "a " + std::string(what) + " name");
    if (!text) return text.error();
    for (size_t i = 0; i < names.size(); ++i) {
      if (text.value() == names[i]) {
        *out = static_cast<E>(i);
        return Ok{};
      }
    }
    const std::vector<std::string_view> valid(names.begin(), names.end());
    return error(entry, "unknown " + std::string(what) + " " + quote(text.value()) +
                            " (valid: " + join(valid) + ")" + suggest(text.value(), valid));
  }

  Status parse_cidr_value(const Entry& entry, Cidr* out) const {
    Result<std::string> text = scalar(entry, "a network like 10.0.0.0/8");
    if (!text) return text.error();
    Result<Cidr> cidr = read_cidr(text.value());
    if (!cidr) return error(entry, cidr.error().message);
    *out = std::move(cidr).value();
    return Ok{};
  }

  // 443, or a range "8000-8999" (quoted or not: YAML reads 8000-8999 as a string).
  Status parse_port_range_value(const Entry& entry, PortRange* out) const {
    Result<std::string> text = scalar(entry, "a port or a port range like 8000-8999");
    if (!text) return text.error();
    Result<PortRange> range = read_port_range(text.value());
    if (!range) return error(entry, range.error().message);
    *out = range.value();
    return Ok{};
  }

  Status parse_port_ranges(const Entry& entry, std::vector<PortRange>* out) const {
    return parse_list(
        entry, "a list of ports like [443, \"8000-8999\"]", out,
        [&](const Entry& item, PortRange* range) { return parse_port_range_value(item, range); });
  }

  Status parse_cidrs(const Entry& entry, std::vector<Cidr>* out) const {
    return parse_list(entry, "a list of networks like [10.0.0.0/8]", out,
                      [&](const Entry& item, Cidr* cidr) { return parse_cidr_value(item, cidr); });
  }

  Status parse_strings(const Entry& entry, std::string_view what,
                       std::vector<std::string>* out) const {
    return parse_list(entry, what, out, [&](const Entry& item, std::string* text) {
      return parse_string(item, text);
    });
  }

  Status parse_web(const Entry& section, WebConfig* web) {
    return for_each_entry(section.value, section.path,
                          {"listen_address", "telemetry_path", "tls", "basic_auth_users"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "listen_address")
                              return parse_string(entry, &web->listen_address);
                            if (key == "telemetry_path")
                              return parse_string(entry, &web->telemetry_path);
                            if (key == "tls") return parse_web_tls(entry, &web->tls);
                            return parse_users(entry, &web->basic_auth_users);
                          });
  }

  Status parse_web_tls(const Entry& section, WebTlsConfig* tls) {
    return for_each_entry(section.value, section.path, {"cert_file", "key_file", "min_version"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "cert_file") return parse_string(entry, &tls->cert_file);
                            if (key == "key_file") return parse_string(entry, &tls->key_file);
                            return parse_enum(entry, "TLS version", kTlsVersionNames,
                                              &tls->min_version);
                          });
  }

  // {user: bcrypt hash}. The names are the operator's, so for_each_entry's list of known
  // keys does not apply; repeats are still errors.
  Status parse_users(const Entry& entry, std::map<std::string, std::string>* users) {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key for no authentication)");
    }
    if (!entry.value.IsMap()) {
      return error(entry, "expected a map of user: bcrypt hash, got " + describe(entry.value));
    }
    std::map<std::string, std::string> out;
    std::map<std::string, YAML::Mark> seen;
    for (const auto& pair : entry.value) {
      const YAML::Node& key = pair.first;
      if (!key.IsScalar()) {
        return error(key.Mark(),
                     entry.path + ": user names must be plain strings, got " + describe(key));
      }
      const std::string& user = key.Scalar();
      const auto [previous, inserted] = seen.emplace(user, key.Mark());
      if (!inserted) {
        return error(key.Mark(), entry.path + ": duplicate user " + quote(user) + " (first at " +
                                     std::to_string(previous->second.line + 1) + ":" +
                                     std::to_string(previous->second.column + 1) + ")");
      }
      const Entry user_entry{entry.path + "." + user, key, pair.second};
      if (!user_entry.value.IsNull()) nodes_[user_entry.path] = user_entry.value;
      std::string hash;
      if (Status status = parse_string(user_entry, &hash); !status) return status;
      out.emplace(user, std::move(hash));
    }
    *users = std::move(out);
    return Ok{};
  }

  Status parse_probes(const Entry& section, ProbesConfig* probes) {
    return for_each_entry(section.value, section.path, {"backend", "max_entries", "drain_interval"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "backend") {
                              return parse_enum(entry, "backend", kBackendNames, &probes->backend);
                            }
                            if (key == "max_entries") {
                              return parse_unsigned(entry, kMinMaxEntries, kMaxMaxEntries,
                                                    &probes->max_entries);
                            }
                            return parse_duration_value(entry, &probes->drain_interval);
                          });
  }

  Status parse_labels(const Entry& section, LabelsConfig* labels) {
    return for_each_entry(section.value, section.path,
                          {"keep", "daddr_prefix_v4", "daddr_prefix_v6",
                           "collapse_ephemeral_dports", "ephemeral_port_min"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "keep") return parse_label_list(entry, &labels->keep);
                            if (key == "daddr_prefix_v4")
                              return parse_unsigned(entry, 0, 32, &labels->daddr_prefix_v4);
                            if (key == "daddr_prefix_v6") {
                              return parse_unsigned(entry, 0, 128, &labels->daddr_prefix_v6);
                            }
                            if (key == "collapse_ephemeral_dports") {
                              return parse_bool(entry, &labels->collapse_ephemeral_dports);
                            }
                            return parse_unsigned(entry, 1, 65535, &labels->ephemeral_port_min);
                          });
  }

  Status parse_label_list(const Entry& entry, std::vector<Label>* out) const {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key for the default, or [] for no labels)");
    }
    if (!entry.value.IsSequence()) {
      return error(entry,
                   "expected a list of labels like [family, daddr], got " + describe(entry.value));
    }
    const std::vector<std::string_view> names(kLabelNames.begin(), kLabelNames.end());
    std::vector<Label> labels;
    std::array<std::optional<YAML::Mark>, kLabelNames.size()> first_seen;
    for (const YAML::Node& item : entry.value) {
      if (Status status = charge(item, 1 + (item.IsScalar() ? item.Scalar().size() : 0));
          !status) {
        return status;
      }
      if (!item.IsScalar()) {
        return error(item.Mark(), entry.path + ": expected a label name, got " + describe(item));
      }
      const std::string& name = item.Scalar();
      const auto found = std::find(names.begin(), names.end(), name);
      if (found == names.end()) {
        return error(item.Mark(), entry.path + ": unknown label " + quote(name) +
                                      " (valid: " + join(names) + ")" + suggest(name, names));
      }
      const auto index = static_cast<size_t>(found - names.begin());
      if (first_seen[index]) {
        return error(item.Mark(), entry.path + ": duplicate label " + quote(name) + " (first at " +
                                      std::to_string(first_seen[index]->line + 1) + ":" +
                                      std::to_string(first_seen[index]->column + 1) + ")");
      }
      first_seen[index] = item.Mark();
      labels.push_back(static_cast<Label>(index));
    }
    std::sort(labels.begin(), labels.end());
    *out = std::move(labels);
    return Ok{};
  }

  Status parse_limits(const Entry& section, LimitsConfig* limits) {
    return for_each_entry(section.value, section.path, {"max_series", "idle_expiry"},
                          [&](const Entry& entry) -> Status {
                            if (entry.key.Scalar() == "max_series") {
                              return parse_unsigned(entry, kMinMaxSeries, kMaxMaxSeries,
                                                    &limits->max_series);
                            }
                            return parse_duration_value(entry, &limits->idle_expiry);
                          });
  }

  Status parse_filters(const Entry& section, FiltersConfig* filters) {
    return for_each_entry(
        section.value, section.path,
        {"pids", "uids", "ports", "families", "cgroups", "cgroupmap", "mntnsmap", "comms",
         "include_cidrs", "exclude_cidrs", "namespaces", "exclude_namespaces", "pods",
         "exclude_pods"},
        [&](const Entry& entry) -> Status {
          const std::string& key = entry.key.Scalar();
          if (key == "pids") {
            return parse_list(entry, "a list of process ids like [1234]", &filters->pids,
                              [&](const Entry& item, uint32_t* pid) {
                                return parse_unsigned(item, 1, kMaxPid, pid);
                              });
          }
          if (key == "uids") {
            return parse_list(entry, "a list of user ids like [0, 1000]", &filters->uids,
                              [&](const Entry& item, uint32_t* uid) {
                                return parse_unsigned(item, 0, kMaxUid, uid);
                              });
          }
          if (key == "ports") return parse_port_ranges(entry, &filters->ports);
          if (key == "families") {
            return parse_list(entry, "a list of families like [ipv4]", &filters->families,
                              [&](const Entry& item, Family* family) {
                                return parse_enum(item, "family", kFamilyNames, family);
                              });
          }
          if (key == "cgroups") {
            return parse_strings(entry, "a list of cgroup paths like [system.slice/nginx.service]",
                                 &filters->cgroups);
          }
          if (key == "cgroupmap") return parse_string(entry, &filters->cgroupmap);
          if (key == "mntnsmap") return parse_string(entry, &filters->mntnsmap);
          if (key == "comms") {
            return parse_strings(entry, "a list of process names like [curl]", &filters->comms);
          }
          if (key == "include_cidrs") return parse_cidrs(entry, &filters->include_cidrs);
          if (key == "exclude_cidrs") return parse_cidrs(entry, &filters->exclude_cidrs);
          constexpr std::string_view kGlobs = "a list of name globs like [kube-*]";
          if (key == "namespaces") return parse_strings(entry, kGlobs, &filters->namespaces);
          if (key == "exclude_namespaces") {
            return parse_strings(entry, kGlobs, &filters->exclude_namespaces);
          }
          if (key == "pods") return parse_strings(entry, kGlobs, &filters->pods);
          return parse_strings(entry, kGlobs, &filters->exclude_pods);
        });
  }

  Status parse_kubernetes(const Entry& section, KubernetesConfig* kubernetes) {
    return for_each_entry(section.value, section.path, {"pod_logs_dir", "container_logs_dir"},
                          [&](const Entry& entry) -> Status {
                            if (entry.key.Scalar() == "pod_logs_dir")
                              return parse_string(entry, &kubernetes->pod_logs_dir);
                            return parse_string(entry, &kubernetes->container_logs_dir);
                          });
  }

  Status parse_dns(const Entry& section, DnsConfig* dns) {
    return for_each_entry(
        section.value, section.path,
        {"enabled", "ports", "capture_bytes", "cache_entries", "max_age", "lookup_timeout",
         "stale_grace", "capture", "ring_bytes", "scope"},
        [&](const Entry& entry) -> Status {
          const std::string& key = entry.key.Scalar();
          if (key == "enabled") return parse_bool(entry, &dns->enabled);
          if (key == "ports") {
            return parse_list(entry, "a list of ports like [53]", &dns->ports,
                              [&](const Entry& item, uint16_t* port) {
                                return parse_unsigned(item, 1, 65535, port);
                              });
          }
          if (key == "capture_bytes") {
            return parse_unsigned(entry, kMinCaptureBytes, kMaxCaptureBytes, &dns->capture_bytes);
          }
          if (key == "cache_entries") {
            return parse_unsigned(entry, kMinCacheEntries, kMaxCacheEntries, &dns->cache_entries);
          }
          if (key == "max_age") return parse_duration_value(entry, &dns->max_age);
          if (key == "lookup_timeout") return parse_duration_value(entry, &dns->lookup_timeout);
          if (key == "stale_grace") return parse_duration_value(entry, &dns->stale_grace);
          if (key == "capture")
            return parse_enum(entry, "capture method", kCaptureNames, &dns->capture);
          if (key == "scope") return parse_enum(entry, "name scope", kDnsScopeNames, &dns->scope);
          return parse_unsigned(entry, kMinRingBytes, kMaxRingBytes, &dns->ring_bytes);
        });
  }

  // Present means enabled, so an empty value is more likely a mistake than a wish to flag
  // every connect: it must be written as [].
  Status parse_allowlist(const Entry& entry, AllowlistConfig* allowlist) {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key for no allowlist, or [] to allow nothing)");
    }
    allowlist->enabled = true;
    return parse_list(entry, "a list of rules (maps with cidr, name, ports)", &allowlist->rules,
                      [&](const Entry& item, AllowRule* rule) { return parse_rule(item, rule); });
  }

  Status parse_rule(const Entry& item, AllowRule* rule) {
    return for_each_entry(
        item.value, item.path, {"cidr", "name", "ports"}, [&](const Entry& entry) -> Status {
          const std::string& key = entry.key.Scalar();
          if (key == "cidr") {
            Cidr cidr;
            if (Status status = parse_cidr_value(entry, &cidr); !status) return status;
            rule->cidr = std::move(cidr);
            return Ok{};
          }
          // An empty name or port list would read as "any", which is what leaving the key
          // out says; written out it is more likely a mistake.
          if (key == "name") {
            if (Status status = parse_string(entry, &rule->name); !status) return status;
            if (rule->name.empty()) return error(entry, "empty name (omit the key to match any)");
            std::transform(rule->name.begin(), rule->name.end(), rule->name.begin(), to_lower);
            return Ok{};
          }
          if (Status status = parse_port_ranges(entry, &rule->ports); !status) return status;
          if (rule->ports.empty())
            return error(entry, "empty list (omit the key to match any port)");
          return Ok{};
        });
  }

  const std::string name_;
  mutable size_t budget_;
  std::map<std::string, YAML::Node> nodes_;
};

// A closed-on-scope-exit descriptor; nothing else in this file needs ownership semantics.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string_view to_string(ProbeBackend backend) {
  const auto index = static_cast<size_t>(backend);
  return index < kBackendNames.size() ? kBackendNames[index] : "unknown";
}

std::string_view to_string(Label label) {
  const auto index = static_cast<size_t>(label);
  return index < kLabelNames.size() ? kLabelNames[index] : "unknown";
}

std::string_view to_string(Family family) {
  const auto index = static_cast<size_t>(family);
  return index < kFamilyNames.size() ? kFamilyNames[index] : "unknown";
}

std::string_view to_string(TlsVersion version) {
  const auto index = static_cast<size_t>(version);
  return index < kTlsVersionNames.size() ? kTlsVersionNames[index] : "unknown";
}

std::optional<std::string> check_bcrypt_hash(std::string_view hash) {
  constexpr std::string_view kHow =
      " (make one with: htpasswd -nbBC 10 USER PASSWORD, the part after \":\")";
  for (const std::string_view other : {"$1$", "$5$", "$6$", "$y$", "$7$", "$gy$", "$md5"}) {
    if (hash.substr(0, other.size()) == other) {
      return "the hash starts with " + quote(other) + ": only bcrypt ($2a$, $2b$, $2y$) is " +
             "accepted" + std::string(kHow);
    }
  }
  const bool prefix_ok = hash.size() >= 4 && hash.substr(0, 2) == "$2" &&
                         (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$';
  if (!prefix_ok) {
    return std::string("not a bcrypt hash (expected $2a$, $2b$ or $2y$, the cost and 53 ") +
           "characters; a plain-text password does not belong here)" + std::string(kHow);
  }
  // "$2b$" cost(2 digits) "$" salt(22) + hash(31), all in bcrypt's base64 alphabet.
  constexpr size_t kLength = 60;
  if (hash.size() != kLength || hash[6] != '$' || !is_decimal(hash.substr(4, 2))) {
    return "malformed bcrypt hash " + quote(hash.substr(0, kMaxQuoted)) + ": expected " +
           std::to_string(kLength) + " characters, $2b$NN$ and 53 more" + std::string(kHow);
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) {
    return "bcrypt cost " + std::to_string(cost) + " is out of range (4..31)";
  }
  const bool alphabet_ok = std::all_of(hash.begin() + 7, hash.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  });
  if (!alphabet_ok) return "malformed bcrypt hash: invalid character after the cost";
  return std::nullopt;
}

std::string_view to_string(DnsCapture capture) {
  const auto index = static_cast<size_t>(capture);
  return index < kCaptureNames.size() ? kCaptureNames[index] : "unknown";
}

std::string_view to_string(DnsScope scope) {
  const auto index = static_cast<size_t>(scope);
  return index < kDnsScopeNames.size() ? kDnsScopeNames[index] : "unknown";
}

bool PortRange::operator==(const PortRange& other) const {
  return first == other.first && last == other.last;
}

bool Cidr::contains(Family f, const uint8_t* addr16) const {
  if (f != family) return false;
  const size_t bits = std::min<size_t>(prefix_len, family_bits(family));
  const size_t whole = bits / 8;
  if (std::memcmp(addr.data(), addr16, whole) != 0) return false;
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff00u >> (bits % 8));
  return (addr[whole] & mask) == (addr16[whole] & mask);
}

bool Cidr::operator==(const Cidr& other) const {
  return family == other.family && addr == other.addr && prefix_len == other.prefix_len &&
         text == other.text;
}

Result<Cidr> parse_cidr(std::string_view text) {
  Result<Cidr> cidr = read_cidr(text);
  if (!cidr) return cidr;
  if (auto problem = check_cidr(cidr.value())) return Error{*problem};
  return cidr;
}

Result<PortRange> parse_port_range(std::string_view text) {
  Result<PortRange> range = read_port_range(text);
  if (!range) return range;
  if (auto problem = check_port_range(range.value())) return Error{*problem};
  return range;
}

bool WebTlsConfig::operator==(const WebTlsConfig& other) const {
  return cert_file == other.cert_file && key_file == other.key_file &&
         min_version == other.min_version;
}

bool WebConfig::operator==(const WebConfig& other) const {
  return listen_address == other.listen_address && telemetry_path == other.telemetry_path &&
         tls == other.tls && basic_auth_users == other.basic_auth_users;
}

bool ProbesConfig::operator==(const ProbesConfig& other) const {
  return backend == other.backend && max_entries == other.max_entries &&
         drain_interval == other.drain_interval;
}

bool LabelsConfig::has(Label label) const {
  return std::find(keep.begin(), keep.end(), label) != keep.end();
}

bool LabelsConfig::operator==(const LabelsConfig& other) const {
  return keep == other.keep && daddr_prefix_v4 == other.daddr_prefix_v4 &&
         daddr_prefix_v6 == other.daddr_prefix_v6 &&
         collapse_ephemeral_dports == other.collapse_ephemeral_dports &&
         ephemeral_port_min == other.ephemeral_port_min;
}

bool LimitsConfig::operator==(const LimitsConfig& other) const {
  return max_series == other.max_series && idle_expiry == other.idle_expiry;
}

bool FiltersConfig::empty() const {
  return pids.empty() && uids.empty() && ports.empty() && families.empty() && cgroups.empty() &&
         cgroupmap.empty() && mntnsmap.empty() && comms.empty() && include_cidrs.empty() &&
         exclude_cidrs.empty() && !filters_pods();
}

bool FiltersConfig::filters_pods() const {
  return !namespaces.empty() || !exclude_namespaces.empty() || !pods.empty() ||
         !exclude_pods.empty();
}

bool FiltersConfig::counts_pod(std::string_view namespace_name, std::string_view pod) const {
  auto any = [](const std::vector<std::string>& globs, std::string_view name) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& glob) { return glob_match(glob, name); });
  };
  if (!namespaces.empty() && !any(namespaces, namespace_name)) return false;
  if (any(exclude_namespaces, namespace_name)) return false;
  if (!pods.empty() && !any(pods, pod)) return false;
  return !any(exclude_pods, pod);
}

bool FiltersConfig::operator==(const FiltersConfig& other) const {
  return pids == other.pids && uids == other.uids && ports == other.ports &&
         families == other.families && cgroups == other.cgroups && cgroupmap == other.cgroupmap &&
         mntnsmap == other.mntnsmap && comms == other.comms &&
         include_cidrs == other.include_cidrs && exclude_cidrs == other.exclude_cidrs &&
         namespaces == other.namespaces && exclude_namespaces == other.exclude_namespaces &&
         pods == other.pods && exclude_pods == other.exclude_pods;
}

bool KubernetesConfig::operator==(const KubernetesConfig& other) const {
  return pod_logs_dir == other.pod_logs_dir && container_logs_dir == other.container_logs_dir;
}

bool DnsConfig::operator==(const DnsConfig& other) const {
  return enabled == other.enabled && ports == other.ports && capture_bytes == other.capture_bytes &&
         cache_entries == other.cache_entries && max_age == other.max_age &&
         lookup_timeout == other.lookup_timeout && stale_grace == other.stale_grace &&
         capture == other.capture &&
         ring_bytes == other.ring_bytes && scope == other.scope;
}

bool AllowRule::matches(Family f, const uint8_t* daddr16, uint16_t dport,
                        std::string_view dns_name) const {
  if (cidr && !cidr->contains(f, daddr16)) return false;
  if (!ports.empty() && std::none_of(ports.begin(), ports.end(), [&](const PortRange& range) {
        return range.contains(dport);
      })) {
    return false;
  }
  if (!name.empty()) {
    if (!dns_name.empty() && dns_name.back() == '.') dns_name.remove_suffix(1);
    if (dns_name.empty() || !glob_match(name, dns_name)) return false;
  }
  return true;
}

bool AllowRule::operator==(const AllowRule& other) const {
  return cidr == other.cidr && name == other.name && ports == other.ports;
}

bool AllowlistConfig::allows(Family f, const uint8_t* daddr16, uint16_t dport,
                             std::string_view dns_name) const {
  if (!enabled) return true;
  return std::any_of(rules.begin(), rules.end(), [&](const AllowRule& rule) {
    return rule.matches(f, daddr16, dport, dns_name);
  });
}

bool AllowlistConfig::operator==(const AllowlistConfig& other) const {
  return enabled == other.enabled && rules == other.rules;
}

bool Config::operator==(const Config& other) const {
  return web == other.web && probes == other.probes && labels == other.labels &&
         limits == other.limits && filters == other.filters && dns == other.dns &&
         allowlist == other.allowlist && kubernetes == other.kubernetes;
}

Result<Config> parse_config(std::string_view yaml_text, const std::string& name) {
  return parse_config(yaml_text, name, ConfigFileCheck{});
}

Result<Config> parse_config(std::string_view yaml_text, const std::string& name,
                            const ConfigFileCheck& check) {
  // Checked here rather than only when reading a file, so that every caller (reload,
  // --check-config, the fuzzer) gets the same protection.
  if (yaml_text.size() > kMaxConfigBytes) {
    return Error{name + ": config is too large (" + std::to_string(yaml_text.size()) +
                 " bytes, the limit is " + std::to_string(kMaxConfigBytes) + ")"};
  }
  if (const size_t nul = yaml_text.find('\0'); nul != std::string_view::npos) {
    return error_at(name, mark_at_offset(yaml_text, nul),
                    "config contains a NUL byte (is this a binary file?)");
  }

  Config config;
  config.source = name;
  Parser parser(name, kBudgetPerByte * yaml_text.size() + kBudgetSlack);
  try {
    const std::string text(yaml_text);
    const YAML::Node root = YAML::Load(text);
    const std::optional<SecondDocument> second = second_document(text);
    if (second && second->stuck) {
      const auto at = static_cast<size_t>(std::max(second->mark.pos, 0));
      return error_at(name, mark_at_offset(yaml_text, at),
                      "invalid YAML: unexpected " +
                          quote(at < yaml_text.size() ? yaml_text.substr(at, 1) : "") +
                          " (a \",\" outside [...] or {...}?)");
    }
    if (Status status = parser.parse_document(root, &config); !status) return status.error();
    if (second) {
      return error_at(name, second->mark,
                      "more than one YAML document (\"---\"); the config must be a single one");
    }
  } catch (const YAML::DeepRecursion& e) {
    return error_at(name, mark_at_offset(yaml_text, static_cast<size_t>(std::max(e.mark.pos, 0))),
                    "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    return error_at(name, e.mark, "invalid YAML: " + escape(e.msg));
  }

  if (std::optional<Problem> problem = find_problem(config)) {
    return error_at(name, parser.mark_of(problem->key), problem->key + ": " + problem->message);
  }
  if (check) {
    if (std::optional<ConfigProblem> problem = check(config)) {
      return error_at(name, parser.mark_of(problem->key), problem->key + ": " + problem->message);
    }
  }
  return config;
}

Result<Config> load_config_file(const std::string& path) {
  return load_config_file(path, ConfigFileCheck{});
}

Result<Config> load_config_file(const std::string& path, const ConfigFileCheck& check) {
  const std::string what = "cannot read config file " + path;
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return Error::from_errno(what, errno);

  // One byte past the limit tells "exactly at the limit" from "too large" without trusting
  // st_size, which is 0 for pipes and /proc files.
  std::string text;
  char buffer[64 * 1024];
  while (text.size() <= kMaxConfigBytes) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(what, errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  if (text.size() > kMaxConfigBytes) {
    return Error{path + ": config file is too large (more than " + std::to_string(kMaxConfigBytes) +
                 " bytes)"};
  }
  return parse_config(text, path, check);
}

Status validate_config(const Config& config) {
  if (std::optional<Problem> problem = find_problem(config)) {
    return Error{problem->key + ": " + problem->message};
  }
  return Ok{};
}

bool listen_address_is_loopback(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find('%') != std::string::npos) return false;  // a zone: link-local, not lo
  }
  if (host == "localhost") return true;  // bound as 127.0.0.1 (app/web_server.h)
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // "" (every address), or anything else
}

std::vector<std::string> config_warnings(const Config& config) {
  std::vector<std::string> out;
  const WebConfig& web = config.web;
  if (!web.basic_auth_users.empty() && !web.tls.enabled() &&
      !listen_address_is_loopback(web.listen_address)) {
    out.push_back("web.basic_auth_users without web.tls on " + quote(web.listen_address) +
                  ", which is not a loopback address: passwords cross the network in clear "
                  "text (base64); configure web.tls, or listen on 127.0.0.1");
  }
  const LabelsConfig& labels = config.labels;
  if (labels.has(Label::kLport)) {
    out.emplace_back(
        "labels.keep includes lport: one series per local port, nearly one per connection; "
        "expect very high cardinality");
  }
  if (labels.has(Label::kPid)) {
    out.emplace_back("labels.keep includes pid: one series per process; expect high cardinality");
  }
  if (labels.has(Label::kDnsName) && !config.dns.enabled) {
    out.emplace_back(
        "labels.keep includes dns_name but dns.enabled is false: dns_name will always be empty");
  }
  if (!labels.has(Label::kDaddr) &&
      (labels.daddr_prefix_v4 != 32 || labels.daddr_prefix_v6 != 128)) {
    out.emplace_back(
        "labels.daddr_prefix_v4/daddr_prefix_v6 have no effect: daddr is not in labels.keep");
  }
  if (!labels.has(Label::kDport) && labels.collapse_ephemeral_dports) {
    out.emplace_back("labels.collapse_ephemeral_dports has no effect: dport is not in labels.keep");
  }
  const AllowlistConfig& allowlist = config.allowlist;
  if (allowlist.enabled && allowlist.rules.empty()) {
    out.emplace_back("allowlist is empty: every connect counts as unexpected");
  }
  if (allowlist.enabled && !config.dns.enabled) {
    for (size_t i = 0; i < allowlist.rules.size(); ++i) {
      if (!allowlist.rules[i].name.empty()) {
        out.push_back(indexed("allowlist", i) +
                      " matches by name but dns.enabled is false: it can never match");
      }
    }
  }
  return out;
}

}  // namespace tcpconnect
