// Checks of single values whose rules come from outside the config (civetweb's listener
// syntax, the kernel's limits on comm and paths, DNS names, HTTP basic auth): each returns
// why the value is refused, or nullopt. validate.cpp says which key each one applies to.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tcpconnect::config_detail {

// ":port", "host:port" or "[ipv6]:port", bindable without a DNS or /etc/services lookup.
std::optional<std::string> check_listen_address(std::string_view address);
// An HTTP path: starts with "/", printable ASCII without spaces, "?" or "#".
std::optional<std::string> check_telemetry_path(std::string_view path);
// An allowlist name glob: lower-case [a-z0-9._-] and "*", no empty label, no trailing dot.
std::optional<std::string> check_name_pattern(std::string_view name);
// A Kubernetes namespace or pod name glob: what such names may hold (a-z, 0-9, ".", "-")
// and "*".
std::optional<std::string> check_pod_pattern(std::string_view pattern);
std::optional<std::string> check_cgroup_path(std::string_view path);
std::optional<std::string> check_map_path(std::string_view path);  // a pinned BPF map
std::optional<std::string> check_comm(std::string_view comm);
std::optional<std::string> check_file_path(std::string_view path);  // a file web.tls names
std::optional<std::string> check_user_name(std::string_view user);  // a basic auth user-id

}  // namespace tcpconnect::config_detail
