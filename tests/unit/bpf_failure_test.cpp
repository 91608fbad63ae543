// The explanation of a refused BPF load or attach, against given facts about the host:
// each cause named only when the facts point to it.
#include "bpf/bpf_failure.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace tcpconnect {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr BpfNeeds kTracing{"CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN", true};
constexpr BpfNeeds kCgroup{"CAP_BPF and CAP_NET_ADMIN"};

BpfHostFacts root_on(const std::string& release) {
  BpfHostFacts f;
  f.root = true;
  f.kernel_btf = true;
  f.lockdown = "none";
  f.kernel_release = release;
  f.memlock_max = 64 * 1024;
  return f;
}

TEST(BpfFailure, NonRootIsToldTheCapabilitiesTheObjectNeeds) {
  BpfHostFacts user = root_on("6.1.0");
  user.root = false;
  EXPECT_EQ(explain_bpf_failure("loading", -EPERM, kTracing, user),
            "loading: Operation not permitted (run as root, or with CAP_BPF, CAP_PERFMON and "
            "CAP_NET_ADMIN)");
  EXPECT_EQ(explain_bpf_failure("attaching", EACCES, kCgroup, user),
            "attaching: Permission denied (run as root, or with CAP_BPF and CAP_NET_ADMIN)");
}

TEST(BpfFailure, MissingBtfIsNamedOnlyForObjectsThatNeedIt) {
  BpfHostFacts no_btf = root_on("6.1.0");
  no_btf.kernel_btf = false;
  EXPECT_THAT(explain_bpf_failure("attaching", -EINVAL, kTracing, no_btf),
              HasSubstr("(the kernel has no BTF: /sys/kernel/btf/vmlinux is missing)"));
  EXPECT_EQ(explain_bpf_failure("attaching", -EINVAL, kCgroup, no_btf),
            "attaching: Invalid argument");
  EXPECT_EQ(explain_bpf_failure("attaching", -EINVAL, kTracing, root_on("6.1.0")),
            "attaching: Invalid argument");
}

TEST(BpfFailure, RootIsToldOfConfidentialityLockdown) {
  BpfHostFacts locked = root_on("6.1.0");
  locked.lockdown = "confidentiality";
  EXPECT_THAT(explain_bpf_failure("loading", -EPERM, kTracing, locked),
              HasSubstr("locked down in confidentiality mode"));
  locked.lockdown = "integrity";
  EXPECT_EQ(explain_bpf_failure("loading", -EPERM, kTracing, locked),
            "loading: Operation not permitted");
}

TEST(BpfFailure, MemlockIsNamedOnlyWhereTheKernelChargesIt) {
  EXPECT_THAT(explain_bpf_failure("loading", -EPERM, kCgroup, root_on("5.10.0-28-amd64")),
              HasSubstr("kernel 5.10.0-28-amd64 charges BPF memory to RLIMIT_MEMLOCK, here 64 "
                        "KiB"));
  EXPECT_THAT(explain_bpf_failure("loading", -EPERM, kCgroup, root_on("4.19.0")),
              HasSubstr("RLIMIT_MEMLOCK"));
  EXPECT_EQ(explain_bpf_failure("loading", -EPERM, kCgroup, root_on("5.11.0")),
            "loading: Operation not permitted");
  BpfHostFacts unlimited = root_on("5.10.0");
  unlimited.memlock_max.reset();
  EXPECT_THAT(explain_bpf_failure("loading", -EPERM, kCgroup, unlimited),
              Not(HasSubstr("RLIMIT_MEMLOCK")));
}

TEST(BpfFailure, ThisProcessFactsAreRead) {
  const BpfHostFacts f = BpfHostFacts::of_this_process();
  EXPECT_FALSE(f.kernel_release.empty());
}

}  // namespace
}  // namespace tcpconnect
