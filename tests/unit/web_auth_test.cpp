// Basic auth against bcrypt hashes: the header parser, crypt_r verification and the
// remembered successes.
#include "web/web_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

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

// Wrong passwords and unknown users from many threads at once: bcrypt runs one at a time,
// an unknown user costs a run like a known one, and what cannot wait is answered kBusy.
TEST(BasicAuth, BcryptRunsOneAtATimeUnderAFlood) {
  BasicAuth auth({{"alice", testing::bcrypt_hash("a-pass", 6)}});
  constexpr int kThreads = 8;
  constexpr int kChecksEach = 12;
  std::atomic<int> denied{0}, busy{0}, allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kChecksEach; ++i) {
        const std::string user = t % 2 == 0 ? "alice" : "nobody-" + std::to_string(i);
        switch (auth.verify(user, "wrong-" + std::to_string(i))) {
          case BasicAuth::Verdict::kDenied:
            ++denied;
            break;
          case BasicAuth::Verdict::kBusy:
            ++busy;
            break;
          case BasicAuth::Verdict::kAllowed:
            ++allowed;
            break;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const BasicAuth::Stats stats = auth.stats();
  EXPECT_EQ(allowed, 0);
  EXPECT_EQ(denied + busy, kThreads * kChecksEach);
  EXPECT_EQ(stats.most_concurrent, 1);
  // Every denial, unknown users' included, came from a bcrypt run.
  EXPECT_EQ(stats.runs, static_cast<uint64_t>(denied));
  EXPECT_EQ(stats.busy, static_cast<uint64_t>(busy));
  EXPECT_GT(denied, 0);

  // An unknown user alone: one bcrypt run.
  const uint64_t before = auth.stats().runs;
  EXPECT_EQ(auth.verify("carol", "x"), BasicAuth::Verdict::kDenied);
  EXPECT_EQ(auth.stats().runs, before + 1);
}

// A remembered success is answered while a slow bcrypt run (a wrong password against a
// cost-13 hash, about a second here) is in progress: the lookup does not wait for it.
TEST(BasicAuth, RememberedSuccessDoesNotWaitBehindBcrypt) {
  BasicAuth auth(
      {{"prom", testing::bcrypt_hash("good", 4)}, {"slow", testing::bcrypt_hash("slow-pass", 13)}});
  ASSERT_TRUE(auth.check("prom", "good"));  // remembered from now on
  const uint64_t runs_before = auth.stats().runs;
  std::atomic<bool> slow_done{false};
  std::thread slow([&] {
    EXPECT_FALSE(auth.check("slow", "wrong"));
    slow_done = true;
  });
  // Until the slow run has started (it holds the bcrypt lock while running).
  for (int i = 0; i < 2000 && auth.stats().in_progress == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(auth.stats().in_progress, 1);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(auth.check("prom", "good"));
  // Answered while the slow run was still going: it had not completed.
  EXPECT_FALSE(slow_done);
  EXPECT_EQ(auth.stats().runs, runs_before);
  slow.join();
  EXPECT_EQ(auth.stats().runs, runs_before + 1);
}

}  // namespace
}  // namespace tcpconnect
