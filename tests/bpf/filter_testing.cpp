#include "filter_testing.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "common/net.h"
#include "probe_testing.h"

namespace tcpconnect::testing {

ConnectorChild::ConnectorChild(int family, std::string ip, uint16_t port, int n,
                               int expected_errno) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    close(fds[1]);
    char c;
    if (read(fds[0], &c, 1) != 1) _exit(255);
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += connect_once(family, ip, port) == expected_errno;
    _exit(ok);
  }
  close(fds[0]);
  go_fd_ = fds[1];
}

ConnectorChild::~ConnectorChild() {
  if (go_fd_ >= 0) close(go_fd_);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int ConnectorChild::release_and_wait() {
  if (pid_ <= 0) return -1;
  char go = 1;
  if (write(go_fd_, &go, 1) != 1) return -1;
  close(go_fd_);
  go_fd_ = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

Cgroup2Mount cgroup2_mount() {
  auto m = find_cgroup2_mount();
  if (!m) throw std::runtime_error(m.error().message);
  return m.value();
}

std::unique_ptr<TestCgroup> TestCgroup::create(const std::string& name, std::string* error) {
  Cgroup2Mount mount;
  try {
    mount = cgroup2_mount();
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
  std::unique_ptr<TestCgroup> cg(new TestCgroup());
  cg->relative_ = name;
  std::string path = mount.mount_point;
  size_t start = 0;
  while (start < name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    path += "/" + name.substr(start, end - start);
    if (mkdir(path.c_str(), 0755) != 0) {
      if (errno != EEXIST) {
        *error = "mkdir " + path + ": " + std::strerror(errno);
        return nullptr;
      }
    } else {
      cg->made_.push_back(path);
    }
    start = end + 1;
  }
  cg->path_ = path;
  return cg;
}

TestCgroup::~TestCgroup() {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    // A child that just exited may still count as a member for a moment.
    for (int i = 0; i < 200 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

uint64_t TestCgroup::id() const {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

bool TestCgroup::add_process(pid_t pid) const {
  std::ofstream procs(path_ + "/cgroup.procs");
  procs << pid << std::flush;
  return static_cast<bool>(procs);
}

std::unique_ptr<PinnedIdSet> PinnedIdSet::create(const std::string& name, int key_size,
                                                 int value_size, std::string* error) {
  std::unique_ptr<PinnedIdSet> set(new PinnedIdSet());
  set->path_ = "/sys/fs/bpf/" + name;
  set->value_size_ = value_size;
  unlink(set->path_.c_str());
  // As bcc's docs/special_filtering.md makes them.
  CommandResult r = run_command("bpftool map create " + set->path_ + " type hash key " +
                                std::to_string(key_size) + " value " + std::to_string(value_size) +
                                " entries 128 name " + name + " flags 0");
  if (r.status != 0) {
    *error = "bpftool map create: " + r.output;
    set->path_.clear();
    return nullptr;
  }
  return set;
}

PinnedIdSet::~PinnedIdSet() {
  if (!path_.empty()) unlink(path_.c_str());
}

bool PinnedIdSet::add(uint64_t id) const {
  int fd = bpf_obj_get(path_.c_str());
  if (fd < 0) return false;
  uint64_t value = 1;
  bool ok = bpf_map_update_elem(fd, &id, &value, BPF_ANY) == 0;
  close(fd);
  return ok;
}

void run_as_comm(const std::string& comm, const std::function<void()>& fn) {
  std::thread t([&] {
    prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
    fn();
  });
  t.join();
}

uint16_t connect_reporting_lport(int family, const std::string& ip, uint16_t port, int* err,
                                 uint16_t bind_port) {
  Fd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  if (bind_port) {
    sockaddr_storage local =
        make_addr(family, family == AF_INET ? "127.0.0.1" : "::1", bind_port, &len);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), len) != 0) {
      *err = errno;
      return 0;
    }
  }
  sockaddr_storage ss = make_addr(family, ip, port, &len);
  *err = connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
  sockaddr_storage me{};
  socklen_t me_len = sizeof(me);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&me), &me_len);
  return ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&me)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&me)->sin6_port);
}

uint64_t mntns_id(pid_t pid) {
  struct stat st {};
  if (stat(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), &st) != 0) return 0;
  return st.st_ino;
}

}  // namespace tcpconnect::testing
