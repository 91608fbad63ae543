#include "config/field_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "config/config.h"
#include "config/text.h"

namespace tcpconnect {

namespace config_detail {

namespace {

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

}  // namespace

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
      const bool zone_ok =
          !zone.empty() && zone.size() <= 15 && std::all_of(zone.begin(), zone.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '-' || c == '_';
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

namespace {

// A bounded absolute path without control characters; `what` follows "an absolute path"
// in the complaint ("" or " (a map pinned under /sys/fs/bpf)").
std::optional<std::string> check_absolute_path(std::string_view path, std::string_view what) {
  if (path.size() > kMaxPathBytes) {
    return "path is " + std::to_string(path.size()) + " bytes, the limit is " +
           std::to_string(kMaxPathBytes);
  }
  if (has_control(path)) return "invalid character in path " + quote(path);
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path" + std::string(what) + ", got " + quote(path);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_map_path(std::string_view path) {
  return check_absolute_path(path, " (a map pinned under /sys/fs/bpf)");
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
  return check_absolute_path(path, "");
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

}  // namespace config_detail

using config_detail::is_decimal;
using config_detail::kMaxQuoted;
using config_detail::quote;

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

bool listen_address_is_loopback(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find('%') != std::string::npos) return false;  // a zone: link-local, not lo
  }
  if (host == "localhost") return true;  // bound as 127.0.0.1 (web/web_server.h)
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // "" (every address), or anything else
}

}  // namespace tcpconnect
