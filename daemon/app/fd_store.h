// systemd's file descriptor store (sd_pid_notify_with_fds(3), FDSTORE=1): fds that the
// service manager keeps on behalf of the service and hands to its next process, named,
// as $LISTEN_FDS/$LISTEN_FDNAMES. The daemon keeps its BPF link, program and maps there,
// so that the probe stays attached and keeps counting while the daemon restarts.
//
// What systemd 252 does with the store (measured in tests/integration/vm): kept across
// `systemctl restart` and across a crash that Restart= restarts; released (closed, which
// detaches the probe) when the unit stops for good (`systemctl stop`, start limit hit).
// Without $NOTIFY_SOCKET nothing is stored and nothing is received: every start is fresh.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace tcpconnect {

class FdStore {
 public:
  // Takes the fds passed to this process ($LISTEN_FDS for this pid) and unsets the
  // variables, so that no child inherits them.
  static FdStore from_environment();

  // Whether a service manager listens ($NOTIFY_SOCKET): keep() is a no-op otherwise.
  bool available() const { return available_; }

  // Removes and returns the received fds whose names start with prefix.
  NamedFds take(const std::string& prefix);
  // Names of the received fds nobody took.
  std::vector<std::string> untaken() const;

  // Hands a duplicate of fd to the service manager under name. FDPOLL=0: a BPF map fd
  // polls as EPOLLERR (only ring buffers implement poll), which would make systemd close
  // it at once.
  Status keep(const std::string& name, int fd) const;
  // Asks the service manager to close every fd it keeps under name.
  Status forget(const std::string& name) const;
  // Forgets and closes every received fd nobody took: leftovers of another version.
  void forget_untaken();

 private:
  bool available_ = false;
  std::multimap<std::string, UniqueFd> received_;
};

}  // namespace tcpconnect
