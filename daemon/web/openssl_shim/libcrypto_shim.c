/* Loaded in place of "libcrypto.so" for civetweb: SONAME "libcrypto.so", depending on
 * libcrypto.so.3, so that civetweb's dlopen("libcrypto.so") needs no development symlink
 * (see libssl_shim.c). It defines nothing civetweb uses. */

/* Referenced by the daemon so that the linker keeps this library as a dependency. */
int tcpconnect_libcrypto_shim(void);
int tcpconnect_libcrypto_shim(void) { return 1; }
