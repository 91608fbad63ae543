// HTTP basic authentication against bcrypt hashes (web.basic_auth_users), verified with
// libxcrypt's crypt_r.
//
// bcrypt is slow on purpose (tens of milliseconds at cost 10), and Prometheus sends the
// same credentials every scrape, so successful checks are remembered: by the SHA-256 of
// user, password and hash together, never the password itself, in a small bounded set.
// Failures are never cached, and an unknown user costs a bcrypt run like a known one, so
// the time a failure takes does not say whether the user exists.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace tcpconnect {

class BasicAuth {
 public:
  // users: name -> bcrypt hash, already validated (check_bcrypt_hash).
  explicit BasicAuth(std::map<std::string, std::string> users);

  // Whether user and password match a configured user. Thread-safe.
  bool check(std::string_view user, std::string_view password);

  // How many distinct successful logins are remembered at most, and now.
  static constexpr size_t kMaxRemembered = 256;
  size_t remembered();

 private:
  using Digest = std::array<uint8_t, 32>;

  std::map<std::string, std::string, std::less<>> users_;
  std::string dummy_hash_;  // verified against for unknown users
  std::mutex mutex_;
  std::set<Digest> remembered_;
  std::deque<Digest> order_;  // oldest first, for eviction
};

// The user and password of an "Authorization: Basic ..." header value; nullopt when the
// scheme is not Basic or the base64 or the "user:password" form is malformed.
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header);

// crypt_r(password, hash) == hash, compared in constant time. False for any failure.
bool bcrypt_matches(std::string_view password, const std::string& hash);

}  // namespace tcpconnect
