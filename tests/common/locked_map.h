// A pinned BPF map for tests of what the kernel refuses late: a hash with 8-byte keys and
// values and no flags (the layout bcc's cgroupmap has, which the daemon's check accepts),
// whose value holds a bpf_spin_lock described in BTF, so that the kernel refuses it in a
// map-in-map slot made for plain hashes.
#pragma once

#include <memory>
#include <string>

namespace tcpconnect::testing {

class LockedIdSet {
 public:
  // Pinned at /sys/fs/bpf/<name>; nullptr with the reason in *error.
  static std::unique_ptr<LockedIdSet> create(const std::string& name, std::string* error);
  ~LockedIdSet();  // unpins
  LockedIdSet(const LockedIdSet&) = delete;
  LockedIdSet& operator=(const LockedIdSet&) = delete;
  const std::string& path() const { return path_; }

 private:
  LockedIdSet() = default;
  std::string path_;
};

}  // namespace tcpconnect::testing
