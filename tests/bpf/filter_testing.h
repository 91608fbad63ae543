// Real processes for the filter and label tests: a child that connects once released (so
// that its pid can be configured, or the child moved into a cgroup, first), a cgroup made
// by the test, pinned maps in bcc's layout, threads with a chosen comm.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probes/cgroup_fs.h"

namespace tcpconnect::testing {

// A forked child that, once released, connects `n` times to ip:port (blocking, each socket
// closed at once) and exits with the number of connects that got `expected_errno`
// (0: established).
class ConnectorChild {
 public:
  ConnectorChild(int family, std::string ip, uint16_t port, int n, int expected_errno = 0);
  ~ConnectorChild();  // kills a child never released
  ConnectorChild(const ConnectorChild&) = delete;
  ConnectorChild& operator=(const ConnectorChild&) = delete;

  pid_t pid() const { return pid_; }
  // Lets it connect and waits for it (at most 30 s); returns its exit status or -1.
  int release_and_wait();

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
};

// A cgroup v2 directory the test makes under the cgroup2 mount, removed (with its
// children) by the destructor once empty.
class TestCgroup {
 public:
  // name relative to the mount, e.g. "tcx-test-123.slice/inner.scope" (parents made too).
  static std::unique_ptr<TestCgroup> create(const std::string& name, std::string* error);
  ~TestCgroup();

  const std::string& relative() const { return relative_; }  // as filters.cgroups takes it
  const std::string& path() const { return path_; }
  uint64_t id() const;
  bool add_process(pid_t pid) const;

 private:
  TestCgroup() = default;
  std::vector<std::string> made_;  // outermost first
  std::string relative_;
  std::string path_;
};

Cgroup2Mount cgroup2_mount();  // throws when there is none

// A pinned BPF hash map made with bpftool, as bcc's documentation makes them; unpinned by
// the destructor.
class PinnedIdSet {
 public:
  static std::unique_ptr<PinnedIdSet> create(const std::string& name, int key_size, int value_size,
                                             std::string* error);
  ~PinnedIdSet();
  const std::string& path() const { return path_; }
  bool add(uint64_t id) const;

 private:
  std::string path_;
  int value_size_ = 8;
};

// Runs fn on a new thread whose comm is `comm`.
void run_as_comm(const std::string& comm, const std::function<void()>& fn);

// A blocking connect that returns the local port the kernel chose (0 when connect failed
// before one was assigned) and the errno in *err.
uint16_t connect_reporting_lport(int family, const std::string& ip, uint16_t port, int* err,
                                 uint16_t bind_port = 0);

// The inode of /proc/<pid>/ns/mnt: the mount namespace id bcc's mntnsmap holds.
uint64_t mntns_id(pid_t pid);

}  // namespace tcpconnect::testing
