#include "web/web_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

namespace tcpconnect {
namespace {

// The cost of the bcrypt run for an unknown user: that of the most expensive configured
// hash, so that an unknown user is not answered faster than any known one.
std::string pick_dummy_hash(const std::map<std::string, std::string, std::less<>>& users) {
  std::string dummy;
  for (const auto& [user, hash] : users) {
    if (dummy.empty() || hash.compare(4, 2, dummy, 4, 2) > 0) dummy = hash;
  }
  return dummy;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

BasicAuth::BasicAuth(std::map<std::string, std::string> users)
    : users_(users.begin(), users.end()), dummy_hash_(pick_dummy_hash(users_)) {}

bool BasicAuth::remembered(const Digest& digest) {
  std::lock_guard lock(mutex_);
  return remembered_.count(digest) != 0;
}

bool BasicAuth::run_bcrypt(std::string_view password, const std::string& hash) {
  const int now = running_.fetch_add(1) + 1;
  for (int most = most_concurrent_.load(); now > most;) {
    if (most_concurrent_.compare_exchange_weak(most, now)) break;
  }
  const bool matches = bcrypt_matches(password, hash);
  running_.fetch_sub(1);
  runs_.fetch_add(1);
  return matches;
}

BasicAuth::Verdict BasicAuth::verify(std::string_view user, std::string_view password) {
  const auto found = users_.find(user);
  const std::string& hash = found != users_.end() ? found->second : dummy_hash_;

  // Fields separated by NUL, which none of them can contain (user names are checked, a
  // password containing NUL never matches crypt_r, bcrypt hashes are ASCII).
  std::string material;
  material.reserve(user.size() + password.size() + hash.size() + 2);
  material.append(user).push_back('\0');
  material.append(password).push_back('\0');
  material.append(hash);
  Digest digest{};
  unsigned int digest_len = 0;
  const bool hashed = EVP_Digest(material.data(), material.size(), digest.data(), &digest_len,
                                 EVP_sha256(), nullptr) == 1 &&
                      digest_len == digest.size();
  OPENSSL_cleanse(material.data(), material.size());

  const bool known = found != users_.end();
  if (hashed && known && remembered(digest)) return Verdict::kAllowed;

  // Wait for the one bcrypt run at a time, unless enough checks wait already.
  if (waiting_.fetch_add(1) >= kMaxWaiting) {
    waiting_.fetch_sub(1);
    busy_.fetch_add(1);
    return Verdict::kBusy;
  }
  std::unique_lock bcrypt_lock(bcrypt_mutex_);
  waiting_.fetch_sub(1);
  // The same credentials may have been remembered while this check waited.
  if (hashed && known && remembered(digest)) return Verdict::kAllowed;
  // Run bcrypt even for an unknown user; only then decide.
  const bool matches = run_bcrypt(password, hash) && known;
  bcrypt_lock.unlock();
  if (matches && hashed) {
    std::lock_guard lock(mutex_);
    if (remembered_.insert(digest).second) {
      order_.push_back(digest);
      if (order_.size() > kMaxRemembered) {
        remembered_.erase(order_.front());
        order_.pop_front();
      }
    }
  }
  return matches ? Verdict::kAllowed : Verdict::kDenied;
}

bool BasicAuth::check(std::string_view user, std::string_view password) {
  return verify(user, password) == Verdict::kAllowed;
}

BasicAuth::Stats BasicAuth::stats() const {
  return Stats{runs_.load(), most_concurrent_.load(), busy_.load(), running_.load()};
}

size_t BasicAuth::remembered() {
  std::lock_guard lock(mutex_);
  return remembered_.size();
}

std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  constexpr std::string_view kScheme = "basic";
  if (header.size() <= kScheme.size() || !equal_ignoring_case(header.substr(0, 5), kScheme) ||
      header[kScheme.size()] != ' ') {
    return std::nullopt;
  }
  std::string_view encoded = header.substr(kScheme.size() + 1);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  // EVP_DecodeBlock wants whole 4-character groups and writes 3 bytes for each, padding
  // included; the padding is taken off afterwards.
  if (encoded.empty() || encoded.size() % 4 != 0 || encoded.size() > 4096) return std::nullopt;
  std::vector<unsigned char> decoded(encoded.size() / 4 * 3 + 1);
  const int n =
      EVP_DecodeBlock(decoded.data(), reinterpret_cast<const unsigned char*>(encoded.data()),
                      static_cast<int>(encoded.size()));
  if (n < 0) return std::nullopt;
  size_t size = static_cast<size_t>(n);
  if (encoded.back() == '=') --size;
  if (encoded.size() >= 2 && encoded[encoded.size() - 2] == '=') --size;
  const std::string text(reinterpret_cast<const char*>(decoded.data()), size);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(text.substr(0, colon), text.substr(colon + 1));
}

bool bcrypt_matches(std::string_view password, const std::string& hash) {
  if (hash.empty() || password.find('\0') != std::string_view::npos) return false;
  // crypt_data is ~32 KiB: too much for some threads' stacks.
  auto data = std::make_unique<crypt_data>();
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  bool ok = false;
  if (out != nullptr && out[0] != '*') {
    const std::string_view result(out);
    ok =
        result.size() == hash.size() && CRYPTO_memcmp(result.data(), hash.data(), hash.size()) == 0;
  }
  OPENSSL_cleanse(pw.data(), pw.size());
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

}  // namespace tcpconnect
