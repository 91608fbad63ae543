// Reading what a daemon sends to a notification socket (sd_notify's AF_UNIX datagrams):
// the text, the file descriptors passed with it, the kernel's receive timestamp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tcpconnect::testing {

struct Datagram {
  std::string text;
  std::vector<int> fds;       // SCM_RIGHTS, in order: the caller owns (and closes) them
  int64_t timestamp_ns = -1;  // SCM_TIMESTAMPNS (CLOCK_REALTIME), when SO_TIMESTAMPNS is on
};

// One recvmsg() on `fd` with `flags` (MSG_CMSG_CLOEXEC is always added), with room for 16
// fds, the sender's credentials and a timestamp. nullopt, errno set, when nothing was read.
std::optional<Datagram> receive_datagram(int fd, int flags = 0);

}  // namespace tcpconnect::testing
