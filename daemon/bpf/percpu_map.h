// Typed reads of per-CPU BPF maps: every entry with its values summed over CPUs.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "util/result.h"

namespace tcpconnect {

// Reads all entries of a per-CPU hash map whose value is an array of u64 counters.
// Values of all CPUs are added field by field. Uses batched lookups where the kernel
// has them and falls back to key iteration. Keep one reader per map to reuse its
// buffers across reads.
class PercpuMapReader {
 public:
  // max_words: bit i set makes u64 word i of the value the largest over CPUs (e.g. a
  // timestamp) rather than their sum.
  PercpuMapReader(int map_fd, uint32_t key_size, uint32_t value_size, uint64_t max_words = 0);

  // Calls visit(key, summed_value) for each entry. Both pointers are valid only during
  // the call. The value is value_size bytes of u64 counters.
  using Visitor = std::function<void(const void* key, const uint64_t* value)>;
  Status read_all(const Visitor& visit);

  // Sums of each u64 slot of a per-CPU array map, for index 0..entries-1.
  static Result<std::vector<uint64_t>> read_array(int map_fd, uint32_t entries);

  int fd() const { return fd_; }

 private:
  Status read_batched(const Visitor& visit);
  Status read_iterating(const Visitor& visit);
  void sum_cpus(const uint8_t* percpu, uint64_t* out) const;

  int fd_;
  uint32_t key_size_;
  uint32_t value_size_;
  uint32_t ncpus_;
  uint64_t max_words_;
  bool batch_supported_ = true;
  uint32_t batch_ = 0;  // entries per batched lookup
  std::vector<uint8_t> keys_, values_;
  std::vector<uint64_t> summed_;
};

// Every entry of a per-CPU hash map of Key -> Value (a struct of u64 counters), as the
// typed structs, values summed over CPUs. The reader was made for this map with
// sizeof(Key) and sizeof(Value).
template <typename Key, typename Value>
Status read_percpu_counters(PercpuMapReader& reader,
                            const std::function<void(const Key&, const Value&)>& visit) {
  static_assert(sizeof(Value) % sizeof(uint64_t) == 0, "a value is u64 counters");
  return reader.read_all([&](const void* k, const uint64_t* v) {
    Key key;
    Value value;
    std::memcpy(&key, k, sizeof(key));
    std::memcpy(&value, v, sizeof(value));
    visit(key, value);
  });
}

// The same with a reader made for one read. max_words as for PercpuMapReader.
template <typename Key, typename Value>
Status read_percpu_counters(int map_fd, const std::function<void(const Key&, const Value&)>& visit,
                            uint64_t max_words = 0) {
  PercpuMapReader reader(map_fd, sizeof(Key), sizeof(Value), max_words);
  return read_percpu_counters(reader, visit);
}

}  // namespace tcpconnect
