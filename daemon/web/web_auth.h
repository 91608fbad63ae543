// HTTP basic authentication against bcrypt hashes (web.basic_auth_users), verified with
// libxcrypt's crypt_r.
//
// bcrypt is slow on purpose (tens of milliseconds at cost 10), and Prometheus sends the
// same credentials every scrape, so successful checks are remembered: by the SHA-256 of
// user, password and hash together, never the password itself, in a small bounded set.
// Failures are never cached, and an unknown user costs a bcrypt run like a known one (its
// password is checked against the configured hash of the highest cost), so the time a
// failure takes does not say whether the user exists.
//
// Under a flood of wrong passwords: bcrypt runs one at a time (each run is ~50 ms of CPU
// at cost 10; run on every web worker at once they would take a core each), at most
// kMaxWaiting checks wait for their turn and any further one is answered kBusy at once,
// so that the flood holds at most kMaxWaiting + 1 of civetweb's workers. A remembered
// success is looked up under a lock no bcrypt run holds: Prometheus's scrapes with the
// good credentials are answered without waiting for the flood.
#pragma once

#include <array>
#include <atomic>
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

  enum class Verdict { kAllowed, kDenied, kBusy };
  // Whether user and password match a configured user; kBusy when the check needed a
  // bcrypt run and kMaxWaiting other checks were already waiting for one. Thread-safe.
  Verdict verify(std::string_view user, std::string_view password);
  // verify() == kAllowed.
  bool check(std::string_view user, std::string_view password);

  static constexpr int kMaxWaiting = 4;

  // What the bcrypt runs did so far, for tests and benchmarks.
  struct Stats {
    uint64_t runs = 0;        // bcrypt runs completed
    int most_concurrent = 0;  // the most runs ever in progress at the same time
    uint64_t busy = 0;        // checks answered kBusy
    int in_progress = 0;      // runs in progress now
  };
  Stats stats() const;

  // How many distinct successful logins are remembered at most, and now.
  static constexpr size_t kMaxRemembered = 256;
  size_t remembered();

 private:
  using Digest = std::array<uint8_t, 32>;

  std::map<std::string, std::string, std::less<>> users_;
  bool remembered(const Digest& digest);
  bool run_bcrypt(std::string_view password, const std::string& hash);

  std::string dummy_hash_;  // verified against for unknown users
  std::mutex mutex_;        // the remembered set only; never held during bcrypt
  std::set<Digest> remembered_;
  std::deque<Digest> order_;  // oldest first, for eviction

  std::mutex bcrypt_mutex_;  // held for each bcrypt run
  std::atomic<int> waiting_{0};
  std::atomic<int> running_{0};
  std::atomic<int> most_concurrent_{0};
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> busy_{0};
};

// The user and password of an "Authorization: Basic ..." header value; nullopt when the
// scheme is not Basic or the base64 or the "user:password" form is malformed.
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header);

// crypt_r(password, hash) == hash, compared in constant time. False for any failure.
bool bcrypt_matches(std::string_view password, const std::string& hash);

}  // namespace tcpconnect
