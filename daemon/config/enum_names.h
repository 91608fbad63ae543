// The config file's spelling of each enum value, indexed by the value: the one list that
// both to_string and the parser read, so that what the file accepts and what the daemon
// prints cannot drift apart.
#pragma once

#include <array>
#include <string_view>

namespace tcpconnect::config_detail {

inline constexpr std::array<std::string_view, 4> kBackendNames = {"auto", "tp_btf", "raw_tp",
                                                                  "tracepoint"};
inline constexpr std::array<std::string_view, 13> kLabelNames = {
    "family", "saddr", "daddr", "dport",     "dns_name", "uid",      "comm",
    "unit",   "lport", "pid",   "namespace", "pod",      "container"};
inline constexpr std::array<std::string_view, 2> kFamilyNames = {"ipv4", "ipv6"};
inline constexpr std::array<std::string_view, 4> kCaptureNames = {"auto", "cgroup_skb",
                                                                  "packet_socket", "fentry"};
inline constexpr std::array<std::string_view, 2> kDnsScopeNames = {"netns", "host"};
inline constexpr std::array<std::string_view, 2> kTlsVersionNames = {"TLS12", "TLS13"};

}  // namespace tcpconnect::config_detail
