// Routes libbpf's own messages into spdlog, so a failed load says one line at error
// level in our log and the verifier's noise only at debug level.
#pragma once

namespace tcpconnect {

// Installs the print callback. Idempotent.
void install_libbpf_logger();

}  // namespace tcpconnect
