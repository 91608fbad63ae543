// Throwaway TLS material and bcrypt hashes for tests of the HTTPS endpoint.
#pragma once

#include <optional>
#include <string>

namespace tcpconnect::testing {

struct TestPki {
  std::string ca_cert;    // a CA made for the test: what curl --cacert trusts
  std::string cert;       // server certificate for 127.0.0.1, ::1 and localhost, signed by it
  std::string key;        // its private key
  std::string other_key;  // a private key that belongs to no certificate
};

// Makes the files in `dir` with the openssl command-line tool (EC P-256 keys, valid one
// day). nullopt, with the reason in *why, when openssl is missing or fails.
std::optional<TestPki> make_test_pki(const std::string& dir, std::string* why);

// crypt_r's bcrypt hash of `password` with a fresh salt. prefix: "$2a$", "$2b$" or "$2y$".
// Cost 4 is bcrypt's minimum: fast enough for tests.
std::string bcrypt_hash(const std::string& password, int cost = 4,
                        const std::string& prefix = "$2b$");

}  // namespace tcpconnect::testing
