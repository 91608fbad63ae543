/* Loaded in place of "libssl.so" for civetweb (see daemon/CMakeLists.txt).
 *
 * Debian 12's civetweb 1.15 loads OpenSSL with dlopen("libssl.so") and looks up each
 * function with dlsym. OpenSSL 3 no longer exports SSL_get_peer_certificate (it became a
 * macro for SSL_get1_peer_certificate), civetweb leaves that entry NULL, and calls it
 * after every TLS handshake: the process dies with SIGSEGV on its first HTTPS client
 * (the stock /usr/bin/civetweb does too). This library's SONAME is "libssl.so", so once
 * loaded it is what civetweb's dlopen returns; dlsym on it finds this function here and
 * everything else in libssl.so.3 and libcrypto.so.3, its dependencies. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl);

/* OpenSSL 1.1's SSL_get_peer_certificate returned a reference the caller frees, as
 * SSL_get1_peer_certificate does; civetweb frees it. */
X509 *SSL_get_peer_certificate(const SSL *ssl) { return SSL_get1_peer_certificate(ssl); }

/* Referenced by the daemon so that the linker keeps this library as a dependency. */
int tcpconnect_libssl_shim(void);
int tcpconnect_libssl_shim(void) { return 1; }
