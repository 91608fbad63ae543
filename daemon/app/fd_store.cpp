#include "app/fd_store.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace tcpconnect {

FdStore FdStore::from_environment() {
  FdStore store;
  const char* socket = std::getenv("NOTIFY_SOCKET");
  store.available_ = socket && *socket;
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) spdlog::warn("reading the fds passed by the service manager: {}", -n);
  for (int i = 0; i < n; ++i) {
    std::string name = names && names[i] ? names[i] : "unknown";
    store.received_.emplace(name, UniqueFd(SD_LISTEN_FDS_START + i));
  }
  if (names) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
  if (n > 0) spdlog::debug("received {} fds from the service manager", n);
  return store;
}

NamedFds FdStore::take(const std::string& prefix) {
  NamedFds out;
  for (auto it = received_.begin(); it != received_.end();) {
    // Names need not be unique; ours are, so two fds of one name are leftovers of
    // something else: they stay, to be forgotten.
    if (it->first.compare(0, prefix.size(), prefix) == 0 && received_.count(it->first) == 1) {
      out.emplace(it->first, std::move(it->second));
      it = received_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<std::string> FdStore::untaken() const {
  std::vector<std::string> names;
  for (auto it = received_.begin(); it != received_.end(); it = received_.upper_bound(it->first))
    names.push_back(it->first);
  return names;
}

Status FdStore::keep(const std::string& name, int fd) const {
  if (!available_) return Ok{};
  std::string message = "FDSTORE=1\nFDPOLL=0\nFDNAME=" + name;
  int r = sd_pid_notify_with_fds(0, 0, message.c_str(), &fd, 1);
  if (r < 0) return Error::from_errno("handing " + name + " to the service manager", r);
  return Ok{};
}

Status FdStore::forget(const std::string& name) const {
  if (!available_) return Ok{};
  std::string message = "FDSTOREREMOVE=1\nFDNAME=" + name;
  int r = sd_notify(0, message.c_str());
  if (r < 0) return Error::from_errno("removing " + name + " from the service manager", r);
  return Ok{};
}

void FdStore::forget_untaken() {
  for (const std::string& name : untaken()) {
    spdlog::info("closing {} left in the fd store by an earlier run", name);
    if (Status s = forget(name); !s) spdlog::warn("{}", s.error().message);
  }
  received_.clear();
}

}  // namespace tcpconnect
