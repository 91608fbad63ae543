// What changes in the running connect probe without reloading it: its filters, the key
// fields it fills, and the deletion of idle keys.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "connect.skel.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

constexpr int kEnotsupp = 524;  // the kernel's internal ENOTSUPP, as bpf() may return it

// Deletes key from a per-CPU hash and returns its value summed over CPUs (V: u64s),
// but the words in max_words (PercpuMapReader), which are the largest over CPUs.
//
// With BPF_MAP_LOOKUP_AND_DELETE_ELEM (per-CPU hashes: kernel 5.14) the copy and the
// unlink happen under the bucket lock, so every increment made before the delete is in
// the returned value. What remains is a program that looked the entry up just before
// and adds to it just after (a few instructions): that increment lands on the unlinked
// element and is lost. Older kernels: read, then delete, then account what was read;
// increments between the two system calls are lost.
template <typename V>
Result<std::optional<V>> take_percpu(int fd, const void* key, bool* lookup_and_delete,
                                     uint64_t max_words) {
  static_assert(sizeof(V) % sizeof(uint64_t) == 0);
  constexpr size_t kWords = sizeof(V) / sizeof(uint64_t);
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return Error::from_errno("counting possible CPUs", -ncpus);
  std::vector<uint64_t> buf(static_cast<size_t>(ncpus) * kWords);
  bool taken = false;
  if (*lookup_and_delete) {
    if (bpf_map_lookup_and_delete_elem(fd, key, buf.data()) == 0) {
      taken = true;
    } else if (errno == ENOENT) {
      return std::optional<V>();
    } else if (errno == EINVAL || errno == EOPNOTSUPP || errno == kEnotsupp) {
      *lookup_and_delete = false;
    } else {
      return Error::from_errno("deleting an idle key", errno);
    }
  }
  if (!taken) {
    if (bpf_map_lookup_elem(fd, key, buf.data()) != 0) {
      if (errno == ENOENT) return std::optional<V>();
      return Error::from_errno("reading an idle key", errno);
    }
    if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT)
      return Error::from_errno("deleting an idle key", errno);
  }
  uint64_t sum[kWords] = {};
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    for (size_t w = 0; w < kWords; ++w) {
      const uint64_t v = buf[static_cast<size_t>(cpu) * kWords + w];
      sum[w] = w < 64 && (max_words >> w & 1) ? std::max(sum[w], v) : sum[w] + v;
    }
  }
  V out;
  std::memcpy(&out, sum, sizeof(out));
  return std::optional<V>(out);
}

}  // namespace

ConnectFilters& ConnectProbe::filters() {
  if (!filters_) {
    // The maps exist once the object is loaded (or adopted): from_object cannot fail
    // for this binary's own object.
    auto f = ConnectFilters::from_object(skel_->obj);
    filters_.emplace(f ? std::move(f).value() : ConnectFilters(ConnectFilters::MapFds{}));
  }
  return *filters_;
}

Status ConnectProbe::set_key_fields(uint32_t fields) {
  const int fd = bpf_map__fd(skel_->maps.settings);
  const uint32_t slot = 0;
  tc_connect_settings s{};
  if (bpf_map_lookup_elem(fd, &slot, &s) != 0)
    return Error::from_errno("reading the probe's settings", errno);
  s.key_fields = fields;
  // Once attempts may have been deferred for their local port, every connect checks
  // for one its socket address left behind, for as long as the probe lives.
  if (fields & TC_KEY_LPORT) s.settle_deferred = 1;
  if (bpf_map_update_elem(fd, &slot, &s, BPF_ANY) != 0)
    return Error::from_errno("writing the probe's settings", errno);
  return Ok{};
}

Result<std::optional<tc_connect_counts>> ConnectProbe::take_connects(const tc_connect_key& key) {
  return take_percpu<tc_connect_counts>(bpf_map__fd(skel_->maps.connects), &key,
                                        &lookup_and_delete_supported_, kConnectsMaxWords);
}

bool ConnectProbe::in_flight_from_counts() {
  const uint32_t slot = 0;
  tc_connect_settings s{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.settings), &slot, &s) != 0) return false;
  tc_filter_config f{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.flt_cfg), &slot, &f) != 0) return false;
  return !(s.key_fields & TC_KEY_OF_TASK) && !(f.flags & TC_FILTERS_OF_TASK);
}

}  // namespace tcpconnect
