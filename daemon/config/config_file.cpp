// Reading the config file: bounded, so that a wrong path (a device, a huge log) cannot make
// the daemon read without end.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "config/config.h"
#include "util/unique_fd.h"

namespace tcpconnect {

Result<Config> load_config_file(const std::string& path) {
  return load_config_file(path, ConfigFileCheck{});
}

Result<Config> load_config_file(const std::string& path, const ConfigFileCheck& check) {
  const std::string what = "cannot read config file " + path;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return Error::from_errno(what, errno);

  // One byte past the limit tells "exactly at the limit" from "too large" without trusting
  // st_size, which is 0 for pipes and /proc files.
  std::string text;
  char buffer[64 * 1024];
  while (text.size() <= kMaxConfigBytes) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(what, errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  if (text.size() > kMaxConfigBytes) {
    return Error{path + ": config file is too large (more than " + std::to_string(kMaxConfigBytes) +
                 " bytes)"};
  }
  return parse_config(text, path, check);
}

}  // namespace tcpconnect
