#include "config/networks.h"

#include <arpa/inet.h>

#include <algorithm>

#include "config/text.h"

namespace tcpconnect {

namespace config_detail {

namespace {

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

std::string format_port_range(const PortRange& range) {
  if (range.first == range.last) return std::to_string(range.first);
  return std::to_string(range.first) + "-" + std::to_string(range.last);
}

}  // namespace

size_t family_bits(Family family) { return family == Family::kIpv4 ? 32 : 128; }

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

}  // namespace config_detail

using config_detail::check_cidr;
using config_detail::check_port_range;
using config_detail::read_cidr;
using config_detail::read_port_range;

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

}  // namespace tcpconnect
