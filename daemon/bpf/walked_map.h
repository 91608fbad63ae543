// What the daemon keeps per key of a kernel hash map that it reads whole on every drain
// (the maps of cumulative counters): one entry per key, updated in place by each walk of
// the map, and dropped once a complete walk no longer returns its key.
//
// Why not a plain unordered_map: at 100k keys, one hash lookup per key and walk was the
// largest user-space cost of a drain (hashing a 72-byte key, then a chain walk that
// hashes every node it passes, each a cache miss). The kernel returns the keys of a
// hash map in bucket order, which does not change while the map does not, so this
// remembers the order of the previous walk and checks each key the walk returns
// against the next one expected first: one comparison instead of a lookup. Any other
// key (new, or the order shifted by an insert or a delete) is looked up, and the walk
// continues from that key's place in the previous order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace tcpconnect {

// Hash and equality of a kernel map key as the kernel sees it: its bytes. For the shared
// structs of bpf/shared/ (explicit padding, zeroed by the programs).
template <typename K>
struct KernelKeyHash {
  static_assert(std::has_unique_object_representations_v<K>, "no implicit padding");
  size_t operator()(const K& k) const noexcept {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(&k), sizeof(K)));
  }
};
template <typename K>
struct KernelKeyEq {
  bool operator()(const K& a, const K& b) const noexcept {
    return std::memcmp(&a, &b, sizeof(K)) == 0;
  }
};

template <typename Key, typename T, typename Hash = KernelKeyHash<Key>,
          typename Eq = KernelKeyEq<Key>>
class WalkedMap {
 public:
  // What is kept per key: T (value-initialised for a new key) and the walk bookkeeping.
  struct Entry : T {
   private:
    friend class WalkedMap;
    uint64_t walk_ = 0;  // the last walk that returned the key
    size_t place_ = 0;   // its place in that walk's order
  };
  using Map = std::unordered_map<Key, Entry, Hash, Eq>;

  // Starts a walk of the kernel map: every key it returns is passed to visit().
  void begin_walk() {
    ++walk_;
    cursor_ = 0;
    next_.clear();
    next_.reserve(order_.size());
  }

  // The entry of a key the walk returned; *inserted says whether it is new. A walk that
  // races with inserts can return a key twice: the second visit gets the entry as the
  // first one left it.
  Entry& visit(const Key& key, bool* inserted) {
    *inserted = false;
    Node* node = nullptr;
    while (cursor_ < order_.size() && !order_[cursor_]) ++cursor_;  // erased since
    if (cursor_ < order_.size() && eq_(order_[cursor_]->first, key)) {
      node = order_[cursor_++];
    } else {
      auto [it, added] = map_.try_emplace(key);
      node = &*it;
      *inserted = added;
      // Where the previous walk had this key, the rest of its order is likely to follow.
      if (!added && node->second.walk_ == order_walk_) cursor_ = node->second.place_ + 1;
    }
    Entry& e = node->second;
    if (e.walk_ != walk_) {
      e.walk_ = walk_;
      e.place_ = next_.size();
      next_.push_back(node);
    }
    return e;
  }

  // Ends the walk. After a complete one the keys it returned are all the kernel has:
  // the others are dropped. After a partial one they are kept for the next walk.
  void end_walk(bool complete) {
    // Every key was returned (next_ holds each once): nothing to drop.
    if (complete && next_.size() != map_.size()) {
      for (auto it = map_.begin(); it != map_.end();) {
        if (it->second.walk_ != walk_)
          it = map_.erase(it);
        else
          ++it;
      }
    }
    order_.swap(next_);
    order_walk_ = walk_;
    next_.clear();
  }

  Entry* find(const Key& key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }

  // Drops one key (outside a walk).
  void erase(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    const Entry& e = it->second;
    if (e.walk_ == order_walk_ && e.place_ < order_.size() && order_[e.place_] == &*it)
      order_[e.place_] = nullptr;
    map_.erase(it);
  }

  const Map& entries() const { return map_; }
  size_t size() const { return map_.size(); }

 private:
  using Node = typename Map::value_type;

  Map map_;
  Eq eq_;
  uint64_t walk_ = 0;
  // The previous walk's keys in the order it returned them (null: erased since), and
  // the walk in progress's. Nodes of an unordered_map do not move: pointers stay valid
  // until their entry is erased.
  std::vector<Node*> order_;
  uint64_t order_walk_ = 0;
  std::vector<Node*> next_;
  size_t cursor_ = 0;
};

}  // namespace tcpconnect
