#include "bpf/percpu_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tcpconnect {
namespace {

// Entries per batched lookup: enough that the syscalls are few (a 100k-key map in a
// few dozen), bounded in bytes for machines with many CPUs.
constexpr uint32_t kMinBatch = 256;
constexpr uint32_t kMaxBatch = 8192;
constexpr size_t kBatchBytes = 512 << 10;

uint32_t round8(uint32_t n) { return (n + 7) & ~7u; }

}  // namespace

PercpuMapReader::PercpuMapReader(int map_fd, uint32_t key_size, uint32_t value_size,
                                 uint64_t max_words)
    : fd_(map_fd), key_size_(key_size), value_size_(value_size), max_words_(max_words) {
  int n = libbpf_num_possible_cpus();
  ncpus_ = n > 0 ? static_cast<uint32_t>(n) : 1;
  const size_t per_entry = key_size_ + static_cast<size_t>(round8(value_size_)) * ncpus_;
  batch_ = static_cast<uint32_t>(std::clamp<size_t>(kBatchBytes / per_entry, kMinBatch, kMaxBatch));
}

void PercpuMapReader::sum_cpus(const uint8_t* percpu, uint64_t* out) const {
  const uint32_t words = value_size_ / sizeof(uint64_t);
  const uint32_t stride = round8(value_size_);
  std::memset(out, 0, words * sizeof(uint64_t));
  for (uint32_t cpu = 0; cpu < ncpus_; ++cpu) {
    const uint8_t* base = percpu + static_cast<size_t>(cpu) * stride;
    for (uint32_t i = 0; i < words; ++i) {
      uint64_t v;
      std::memcpy(&v, base + i * sizeof(uint64_t), sizeof(v));
      if (i < 64 && (max_words_ >> i & 1))
        out[i] = std::max(out[i], v);
      else
        out[i] += v;
    }
  }
}

Status PercpuMapReader::read_all(const Visitor& visit) {
  if (batch_supported_) {
    Status s = read_batched(visit);
    if (s.ok() || s.error().errnum != EINVAL) return s;
    batch_supported_ = false;  // old kernel: no batch ops for this map type
  }
  return read_iterating(visit);
}

Status PercpuMapReader::read_batched(const Visitor& visit) {
  const size_t vstride = static_cast<size_t>(round8(value_size_)) * ncpus_;
  keys_.resize(static_cast<size_t>(key_size_) * batch_);
  values_.resize(vstride * batch_);
  summed_.resize(value_size_ / sizeof(uint64_t));
  uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = batch_;
    int err = bpf_map_lookup_batch(fd_, first ? nullptr : &in_batch, &out_batch, keys_.data(),
                                   values_.data(), &count, &opts);
    int e = err ? errno : 0;
    if (err && e != ENOENT) {
      if (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP) {
        if (first) return Error{"batch lookup unsupported", EINVAL};
      }
      return Error::from_errno("reading per-CPU map", e);
    }
    for (uint32_t i = 0; i < count; ++i) {
      sum_cpus(values_.data() + i * vstride, summed_.data());
      visit(keys_.data() + static_cast<size_t>(i) * key_size_, summed_.data());
    }
    if (e == ENOENT) return Ok{};
    in_batch = out_batch;
    first = false;
  }
}

Status PercpuMapReader::read_iterating(const Visitor& visit) {
  std::vector<uint8_t> key(key_size_), next(key_size_);
  std::vector<uint8_t> value(static_cast<size_t>(round8(value_size_)) * ncpus_);
  std::vector<uint64_t> summed(value_size_ / sizeof(uint64_t));
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    key = next;
    prev = key.data();
    if (bpf_map_lookup_elem(fd_, key.data(), value.data()) != 0) {
      if (errno == ENOENT) continue;  // deleted between the two calls
      return Error::from_errno("reading per-CPU map", errno);
    }
    sum_cpus(value.data(), summed.data());
    visit(key.data(), summed.data());
  }
  if (errno != ENOENT) return Error::from_errno("iterating per-CPU map", errno);
  return Ok{};
}

Result<std::vector<uint64_t>> PercpuMapReader::read_array(int map_fd, uint32_t entries) {
  int n = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(n > 0 ? n : 1);
  std::vector<uint64_t> out(entries);
  for (uint32_t i = 0; i < entries; ++i) {
    if (bpf_map_lookup_elem(map_fd, &i, percpu.data()) != 0)
      return Error::from_errno("reading per-CPU array", errno);
    for (uint64_t v : percpu) out[i] += v;
  }
  return out;
}

}  // namespace tcpconnect
