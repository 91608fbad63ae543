// TLS for the HTTP endpoint: checking the certificate and key a config names, and loading
// them into the SSL_CTX that civetweb creates.
//
// civetweb (Debian's libcivetweb1 1.15) is built with TLS but loads OpenSSL itself at run
// time, by the unversioned names "libssl.so" and "libcrypto.so" (symlinks only libssl-dev
// ships), and with OpenSSL 3 it crashes on the first HTTPS client. The daemon links two
// small shims with exactly those SONAMEs (web/openssl_shim), which fix the one missing
// function and depend on the real libssl.so.3 and libcrypto.so.3: civetweb's dlopen returns
// them, and its SSL_CTX is the same OpenSSL the daemon links.
#pragma once

#include <optional>

#include "config/config.h"
#include "util/result.h"

namespace tcpconnect {

// Largest certificate or key file read; real ones are a few KiB. Also keeps a path such as
// /dev/zero from being read forever.
constexpr size_t kMaxPemBytes = 1u << 20;

// A ConfigFileCheck: web.tls.cert_file and key_file are regular files this process can
// read, hold a PEM certificate and an unencrypted PEM private key, and the key is the
// certificate's. nullopt when TLS is off or all is well.
std::optional<ConfigProblem> check_web_files(const Config& config);

// Loads the certificate chain and key into `ssl_ctx` (an SSL_CTX*) and sets the lowest
// protocol version. Called from civetweb's init_ssl callback.
Status configure_tls(void* ssl_ctx, const WebTlsConfig& tls);

// Whether civetweb can serve HTTPS here: built with TLS, and its dlopen("libssl.so") gets
// the shim (not a bare libssl.so.3, on which it would crash).
Status civetweb_tls_available();

}  // namespace tcpconnect
