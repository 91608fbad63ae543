// Basic auth against bcrypt hashes: the header parser, crypt_r verification and the
// remembered successes.
#include "app/web_auth.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/tls.h"

namespace tcpconnect {
namespace {

using Credentials = std::optional<std::pair<std::string, std::string>>;

TEST(BasicAuthHeader, Parses) {
  // "alice:open sesame", "bob:", "u:a:b"
  EXPECT_EQ(parse_basic_authorization("Basic YWxpY2U6b3BlbiBzZXNhbWU="),
            Credentials({"alice", "open sesame"}));
  EXPECT_EQ(parse_basic_authorization("basic Ym9iOg=="), Credentials({"bob", ""}));
  EXPECT_EQ(parse_basic_authorization("BASIC   dTphOmI=  "), Credentials({"u", "a:b"}));
}

TEST(BasicAuthHeader, RefusesMalformed) {
  for (const char* header :
       {"", "Basic", "Basic ", "Bearer YWxpY2U6eA==", "BasicYWxpY2U6eA==", "Basic YWxpY2U6eA",
        "Basic !!!!", "Basic bm9jb2xvbg==" /* nocolon */}) {
    EXPECT_EQ(parse_basic_authorization(header), std::nullopt) << header;
  }
}

TEST(Bcrypt, MatchesOnlyTheRightPassword) {
  for (const std::string prefix : {"$2a$", "$2b$", "$2y$"}) {
    const std::string hash = testing::bcrypt_hash("correct horse", 4, prefix);
    ASSERT_FALSE(hash.empty());
    EXPECT_TRUE(bcrypt_matches("correct horse", hash)) << hash;
    EXPECT_FALSE(bcrypt_matches("correct hors", hash));
    EXPECT_FALSE(bcrypt_matches("", hash));
    EXPECT_FALSE(bcrypt_matches(std::string("correct horse\0x", 15), hash));
  }
  EXPECT_FALSE(bcrypt_matches("x", ""));
  EXPECT_FALSE(bcrypt_matches("x", "$2b$04$tooshort"));
}

TEST(BasicAuth, ChecksUsersAndPasswords) {
  BasicAuth auth(
      {{"alice", testing::bcrypt_hash("a-pass")}, {"bob", testing::bcrypt_hash("b-pass", 5)}});
  EXPECT_TRUE(auth.check("alice", "a-pass"));
  EXPECT_TRUE(auth.check("bob", "b-pass"));
  EXPECT_FALSE(auth.check("alice", "b-pass"));
  EXPECT_FALSE(auth.check("bob", "a-pass"));
  EXPECT_FALSE(auth.check("carol", "a-pass"));
  EXPECT_FALSE(auth.check("", ""));
  EXPECT_FALSE(auth.check("Alice", "a-pass"));
  // Remembered successes answer the same.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(auth.check("alice", "a-pass"));
    EXPECT_FALSE(auth.check("alice", "a-pas"));
  }
  EXPECT_EQ(auth.remembered(), 2u);
}

TEST(BasicAuth, RemembersOnlySuccessesAndABoundedNumber) {
  const std::string hash = testing::bcrypt_hash("pw");
  {
    BasicAuth auth({{"u", hash}});
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(auth.check("u", "pw" + std::to_string(i)));
    EXPECT_EQ(auth.remembered(), 0u);
    EXPECT_TRUE(auth.check("u", "pw"));
    EXPECT_EQ(auth.remembered(), 1u);
  }
  // More distinct successes than the bound: one user each (bcrypt cost 4, ~1 ms a check).
  std::map<std::string, std::string> users;
  const size_t count = BasicAuth::kMaxRemembered + 10;
  for (size_t i = 0; i < count; ++i) users["user" + std::to_string(i)] = hash;
  BasicAuth auth(users);
  for (size_t i = 0; i < count; ++i) ASSERT_TRUE(auth.check("user" + std::to_string(i), "pw"));
  EXPECT_EQ(auth.remembered(), BasicAuth::kMaxRemembered);
  // The oldest were forgotten, not refused: they still pass (through bcrypt again).
  EXPECT_TRUE(auth.check("user0", "pw"));
  EXPECT_FALSE(auth.check("user0", "pw "));
}

}  // namespace
}  // namespace tcpconnect
