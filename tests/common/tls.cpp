#include "common/tls.h"

#include <crypt.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

namespace tcpconnect::testing {
namespace {

bool run(const std::string& command, std::string* why) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  if (status == 0) return true;
  *why = "failed (status " + std::to_string(status) + "): " + command;
  return false;
}

}  // namespace

std::optional<TestPki> make_test_pki(const std::string& dir, std::string* why) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    *why = "the openssl command is missing (Debian package openssl)";
    return std::nullopt;
  }
  TestPki pki{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/other.key"};
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string ca_key = dir + "/ca.key";
  const std::string csr = dir + "/server.csr";
  const std::string ext = dir + "/server.ext";
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n";
  if (!run("openssl req -x509 " + ec + " -keyout " + ca_key + " -out " + pki.ca_cert +
               " -days 1 -subj /CN=tcpconnect-test-ca",
           why) ||
      !run("openssl req " + ec + " -keyout " + pki.key + " -out " + csr + " -subj /CN=localhost",
           why) ||
      !run("openssl x509 -req -in " + csr + " -CA " + pki.ca_cert + " -CAkey " + ca_key +
               " -CAcreateserial -days 1 -extfile " + ext + " -out " + pki.cert,
           why) ||
      !run("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out " +
               pki.other_key,
           why)) {
    return std::nullopt;
  }
  return pki;
}

std::string bcrypt_hash(const std::string& password, int cost, const std::string& prefix) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn(prefix.c_str(), static_cast<unsigned long>(cost), nullptr, 0, salt,
                       sizeof(salt)) == nullptr) {
    return "";
  }
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(password.c_str(), salt, data.get());
  return out != nullptr && out[0] != '*' ? out : "";
}

}  // namespace tcpconnect::testing
