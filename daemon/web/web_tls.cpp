#include "web/web_tls.h"

#include <civetweb.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "util/unique_fd.h"

extern "C" {
// In web/openssl_shim: calling them keeps the shims linked (see daemon/CMakeLists.txt).
int tcpconnect_libssl_shim(void);
int tcpconnect_libcrypto_shim(void);
}

namespace tcpconnect {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// OpenSSL's error queue as one line (the most recent reason), then cleared: the queue is
// per thread and would otherwise leak into the next check.
std::string openssl_reason() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "no details";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "error " + std::to_string(last);
}

// A key file must not ask for a passphrase: there is nobody to type it.
int refuse_passphrase(char*, int, int, void*) { return -1; }

// The whole file, if it is a readable regular file of at most kMaxPemBytes.
Result<std::string> read_pem(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::string hint;
    if (err == EACCES) {
      hint = " (the daemon reads it as uid " + std::to_string(geteuid()) +
             "; under systemd that is the tcpconnect-exporter user)";
    }
    return Error{"cannot read " + path + ": " + std::strerror(err) + hint, err};
  }
  const UniqueFd closer(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) return Error{"cannot stat " + path + ": " + std::strerror(errno), errno};
  if (!S_ISREG(st.st_mode)) return Error{path + " is not a regular file"};
  if (static_cast<uint64_t>(st.st_size) > kMaxPemBytes) {
    return Error{path + " is " + std::to_string(st.st_size) + " bytes, more than a PEM file " +
                 "should be (limit " + std::to_string(kMaxPemBytes) + ")"};
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot read " + path + ": " + std::strerror(errno), errno};
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

std::optional<ConfigProblem> check_web_files(const Config& config) {
  const WebTlsConfig& tls = config.web.tls;
  if (!tls.enabled()) return std::nullopt;
  ERR_clear_error();

  Result<std::string> cert_text = read_pem(tls.cert_file);
  if (!cert_text) return ConfigProblem{"web.tls.cert_file", cert_text.error().message};
  auto cert_bio = memory_bio(cert_text.value());
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!cert) {
    return ConfigProblem{"web.tls.cert_file",
                         "no PEM certificate in " + tls.cert_file + " (" + openssl_reason() + ")"};
  }

  Result<std::string> key_text = read_pem(tls.key_file);
  if (!key_text) return ConfigProblem{"web.tls.key_file", key_text.error().message};
  auto key_bio = memory_bio(key_text.value());
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) {
    return ConfigProblem{"web.tls.key_file", "no unencrypted PEM private key in " + tls.key_file +
                                                 " (" + openssl_reason() + ")"};
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return ConfigProblem{"web.tls.key_file", tls.key_file + " is not the private key of the " +
                                                 "certificate in " + tls.cert_file};
  }
  ERR_clear_error();
  return std::nullopt;
}

Status configure_tls(void* ssl_ctx, const WebTlsConfig& tls) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  ERR_clear_error();
  SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return Error{"web.tls.cert_file " + tls.cert_file + ": " + openssl_reason()};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error{"web.tls.key_file " + tls.key_file + ": " + openssl_reason()};
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Error{"web.tls.key_file " + tls.key_file + " does not match web.tls.cert_file " +
                 tls.cert_file};
  }
  const int version = tls.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, version) != 1) {
    return Error{"web.tls.min_version " + std::string(to_string(tls.min_version)) + ": " +
                 openssl_reason()};
  }
  return Ok{};
}

Status civetweb_tls_available() {
  if (mg_check_feature(2) == 0) return Error{"this civetweb was built without TLS"};
  // What civetweb's own dlopen("libssl.so") will return: already loaded, so the shim.
  if (tcpconnect_libssl_shim() != 1 || tcpconnect_libcrypto_shim() != 1) {
    return Error{"the OpenSSL shims for civetweb are not loaded"};
  }
  void* ssl = dlopen("libssl.so", RTLD_LAZY | RTLD_NOLOAD);
  const bool shimmed = ssl != nullptr && dlsym(ssl, "SSL_get_peer_certificate") != nullptr;
  if (ssl != nullptr) dlclose(ssl);
  if (!shimmed) {
    return Error{
        "civetweb would load an OpenSSL without SSL_get_peer_certificate and crash "
        "on the first HTTPS client; the daemon's libssl.so shim was not found on its "
        "RUNPATH"};
  }
  return Ok{};
}

}  // namespace tcpconnect
