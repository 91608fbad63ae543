// Networks and port ranges as the config file writes them: reading the text ("10.0.0.0/8",
// "8000-8999") and the checks every Cidr and PortRange must pass, whether it came from the
// file, the command line or code. Reading only refuses what cannot be represented; the
// checks give the reasons an operator can act on ("has host bits set; did you mean ...").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "util/result.h"

namespace tcpconnect::config_detail {

size_t family_bits(Family family);  // 32 or 128

// An address and, optionally, a prefix length that fits in a byte; check_cidr does the rest.
Result<Cidr> read_cidr(std::string_view text);
std::optional<std::string> check_cidr(const Cidr& cidr);

// "443" or "8000-8999", each number fitting in 16 bits; check_port_range does the rest.
Result<PortRange> read_port_range(std::string_view text);
std::optional<std::string> check_port_range(const PortRange& range);

}  // namespace tcpconnect::config_detail
