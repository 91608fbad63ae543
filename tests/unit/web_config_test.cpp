// The web section's TLS and basic-auth keys: parsing, validation with positions, and the
// checks of the certificate and key files the config names (real files from openssl).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/scratch_dir.h"
#include "common/tls.h"
#include "config/config.h"
#include "web/web_tls.h"

namespace tcpconnect {
namespace {

constexpr char kName[] = "web.yaml";

// A bcrypt hash that crypt_r accepts (cost 4), for configs that only need a valid one.
const std::string& valid_hash() {
  static const std::string hash = testing::bcrypt_hash("secret");
  return hash;
}

void expect_error(const std::string& yaml, const std::string& position, const std::string& phrase) {
  SCOPED_TRACE("yaml: " + yaml);
  Result<Config> result = parse_config(yaml, kName);
  ASSERT_FALSE(result.ok()) << "parsed, but expected: " << phrase;
  const std::string& message = result.error().message;
  EXPECT_EQ(message.rfind(std::string(kName) + ":" + position + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(phrase), std::string::npos) << message << "\nexpected: " << phrase;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(WebConfig, DefaultsAreOff) {
  const Config config;
  EXPECT_FALSE(config.web.tls.enabled());
  EXPECT_TRUE(config.web.basic_auth_users.empty());
  EXPECT_EQ(config.web.tls.min_version, TlsVersion::kTls12);
}

TEST(WebConfig, ParsesTlsAndUsers) {
  const std::string yaml =
      "web:\n  tls:\n    cert_file: /etc/x/tls.crt\n    key_file: /etc/x/tls.key\n"
      "    min_version: TLS13\n  basic_auth_users:\n    prometheus: '" +
      valid_hash() + "'\n    alice: \"" + valid_hash() + "\"\n";
  Result<Config> result = parse_config(yaml, kName);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const WebConfig& web = result.value().web;
  EXPECT_TRUE(web.tls.enabled());
  EXPECT_EQ(web.tls.cert_file, "/etc/x/tls.crt");
  EXPECT_EQ(web.tls.key_file, "/etc/x/tls.key");
  EXPECT_EQ(web.tls.min_version, TlsVersion::kTls13);
  ASSERT_EQ(web.basic_auth_users.size(), 2u);
  EXPECT_EQ(web.basic_auth_users.at("prometheus"), valid_hash());
  EXPECT_NE(result.value(), Config{});
}

TEST(WebConfig, AcceptsEveryBcryptPrefix) {
  for (const std::string prefix : {"$2a$", "$2b$", "$2y$"}) {
    const std::string hash = testing::bcrypt_hash("pw", 4, prefix);
    ASSERT_EQ(hash.substr(0, 4), prefix);
    EXPECT_EQ(check_bcrypt_hash(hash), std::nullopt) << hash;
  }
}

TEST(WebConfig, TlsErrors) {
  expect_error("web:\n  tls:\n    cert_file: /a.crt\n", "3:16",
               "web.tls.cert_file: web.tls.key_file is missing (TLS needs both");
  expect_error("web:\n  tls:\n    key_file: /a.key\n", "3:15",
               "web.tls.key_file: web.tls.cert_file is missing");
  expect_error("web:\n  tls:\n    min_version: TLS13\n", "3:18",
               "web.tls.min_version: has no effect without web.tls.cert_file");
  expect_error("web:\n  tls:\n    cert_file: /a\n    key_file: /b\n    min_version: TLS11\n",
               "5:18", "unknown TLS version \"TLS11\" (valid: TLS12, TLS13)");
  expect_error("web:\n  tls:\n    cert_file: a.crt\n    key_file: /b\n", "3:16",
               "web.tls.cert_file: must be an absolute path, got \"a.crt\"");
  expect_error("web:\n  tls:\n    cert_file: /a\n    key_file: [x]\n", "4:15",
               "web.tls.key_file: expected a string, got a list");
  expect_error("web:\n  tls:\n    certfile: /a\n", "3:5",
               "unknown key \"certfile\" in web.tls (known: cert_file, key_file, min_version)");
  expect_error("web:\n  tls: /a\n", "2:8", "web.tls: expected a map with keys cert_file");
}

TEST(WebConfig, UserErrors) {
  const std::string hash = valid_hash();
  expect_error("web:\n  basic_auth_users: [a]\n", "2:21",
               "web.basic_auth_users: expected a map of user: bcrypt hash, got a list");
  expect_error("web:\n  basic_auth_users:\n", "2:3", "web.basic_auth_users: missing value");
  expect_error("web:\n  basic_auth_users:\n    alice: hunter2\n", "3:12",
               "web.basic_auth_users.alice: not a bcrypt hash");
  expect_error("web:\n  basic_auth_users:\n    alice: '$6$salt$abc'\n", "3:12",
               "the hash starts with \"$6$\": only bcrypt ($2a$, $2b$, $2y$) is accepted");
  expect_error("web:\n  basic_auth_users:\n    alice: '$2b$10$short'\n", "3:12",
               "malformed bcrypt hash");
  expect_error(
      "web:\n  basic_auth_users:\n    alice: '" + hash.substr(0, 4) + "99" + hash.substr(6) + "'\n",
      "3:12", "bcrypt cost 99 is out of range (4..31)");
  expect_error("web:\n  basic_auth_users:\n    alice: '" + hash.substr(0, 59) + "!'\n", "3:12",
               "invalid character after the cost");
  expect_error("web:\n  basic_auth_users:\n    \"a:b\": '" + hash + "'\n", "3:12",
               "user name \"a:b\" contains \":\"");
  expect_error("web:\n  basic_auth_users:\n    alice: '" + hash + "'\n    alice: '" + hash + "'\n",
               "4:5", "duplicate user \"alice\" (first at 3:5)");
  expect_error("web:\n  basic_auth_users:\n    alice:\n", "3:5",
               "web.basic_auth_users.alice: missing value");
  expect_error("web:\n  basic_auth_users:\n    [a]: x\n", "3:5",
               "user names must be plain strings");
}

// --- the files web.tls names ----------------------------------------------------------

class WebFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto pki = testing::make_test_pki(dir_.path(), &why);
    if (!pki) GTEST_SKIP() << why;
    pki_ = *pki;
  }
  std::string config_with(const std::string& cert, const std::string& key) {
    return dir_.write("config.yaml", "# TLS\nweb:\n  tls:\n    cert_file: " + cert +
                                         "\n    key_file: " + key + "\n");
  }
  Result<Config> load(const std::string& cert, const std::string& key) {
    return load_config_file(config_with(cert, key), check_web_files);
  }
  testing::ScratchDir dir_{"web_config_test"};
  testing::TestPki pki_;
};

TEST_F(WebFiles, MatchingPairPasses) {
  Result<Config> result = load(pki_.cert, pki_.key);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.value().web.tls.cert_file, pki_.cert);
}

TEST_F(WebFiles, MismatchedKeyNamesTheKey) {
  const std::string path = config_with(pki_.cert, pki_.other_key);
  Result<Config> result = load_config_file(path, check_web_files);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, path + ":5:15: web.tls.key_file: " + pki_.other_key +
                                        " is not the private key of the certificate in " +
                                        pki_.cert);
}

TEST_F(WebFiles, MissingFiles) {
  Result<Config> result = load(dir_.path() + "/nope.crt", pki_.key);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find(":4:16: web.tls.cert_file: cannot read " + dir_.path() +
                                        "/nope.crt: No such file or directory"),
            std::string::npos)
      << result.error().message;
  result = load(pki_.cert, dir_.path() + "/nope.key");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find(":5:15: web.tls.key_file: cannot read"), std::string::npos)
      << result.error().message;
}

TEST_F(WebFiles, NotRegularOrNotPem) {
  Result<Config> result = load(dir_.path(), pki_.key);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("is not a regular file"), std::string::npos)
      << result.error().message;
  result = load("/dev/zero", pki_.key);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("/dev/zero is not a regular file"), std::string::npos)
      << result.error().message;
  const std::string junk = dir_.write("junk.pem", "not a certificate\n");
  result = load(junk, pki_.key);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("web.tls.cert_file: no PEM certificate in " + junk),
            std::string::npos)
      << result.error().message;
  // Certificate and key swapped.
  result = load(pki_.key, pki_.cert);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("no PEM certificate"), std::string::npos)
      << result.error().message;
}

TEST_F(WebFiles, EncryptedKeyIsRefused) {
  const std::string encrypted = dir_.path() + "/encrypted.key";
  ASSERT_EQ(std::system(("openssl pkey -in " + pki_.key + " -aes256 -passout pass:x -out " +
                         encrypted + " 2>/dev/null")
                            .c_str()),
            0);
  Result<Config> result = load(pki_.cert, encrypted);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("web.tls.key_file: no unencrypted PEM private key in"),
            std::string::npos)
      << result.error().message;
}

TEST_F(WebFiles, UnreadableKey) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  ASSERT_EQ(::chmod(pki_.key.c_str(), 0), 0);
  Result<Config> result = load(pki_.cert, pki_.key);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("Permission denied"), std::string::npos)
      << result.error().message;
}

TEST_F(WebFiles, NoCheckWithoutTls) { EXPECT_EQ(check_web_files(Config{}), std::nullopt); }

}  // namespace
}  // namespace tcpconnect
