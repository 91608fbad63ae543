// A move-only owner of a file descriptor, and named sets of them (what systemd's fd
// store hands back to the next process of a service).
#pragma once

#include <unistd.h>

#include <map>
#include <string>
#include <utility>

namespace tcpconnect {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Name -> fd, as in $LISTEN_FDNAMES.
using NamedFds = std::map<std::string, UniqueFd>;

}  // namespace tcpconnect
