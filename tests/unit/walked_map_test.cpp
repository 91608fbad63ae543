// WalkedMap (bpf/walked_map.h): whatever order the walks return keys in (the previous
// one's, shifted by inserts and deletes, or any other), every key gets its own entry,
// new keys are said to be new, and a complete walk drops exactly the keys it did not
// return.
#include "bpf/walked_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace tcpconnect {
namespace {

struct Seen {
  uint32_t key = 0;  // the key this entry was made for
  uint64_t visits = 0;
};
using Map = WalkedMap<uint32_t, Seen>;

// One walk over `keys`; checks that each visit lands on the key's own entry and that it
// is new exactly when `known` did not have it. Returns the keys reported new.
std::vector<uint32_t> walk(Map& m, const std::vector<uint32_t>& keys, bool complete,
                           std::map<uint32_t, uint64_t>& known) {
  std::vector<uint32_t> added;
  m.begin_walk();
  for (uint32_t k : keys) {
    bool inserted = false;
    Map::Entry& e = m.visit(k, &inserted);
    if (inserted) {
      EXPECT_EQ(known.count(k), 0u) << "key " << k << " reported new but was kept";
      e.key = k;
      added.push_back(k);
    } else {
      EXPECT_EQ(known.count(k), 1u) << "key " << k << " reported kept but was new";
    }
    EXPECT_EQ(e.key, k) << "the visit of key " << k << " got the entry of key " << e.key;
    ++e.visits;
    ++known[k];
    EXPECT_EQ(e.visits, known[k]) << "key " << k;
  }
  m.end_walk(complete);
  if (complete) {
    for (auto it = known.begin(); it != known.end();) {
      if (std::find(keys.begin(), keys.end(), it->first) == keys.end())
        it = known.erase(it);
      else
        ++it;
    }
  }
  EXPECT_EQ(m.size(), known.size());
  return added;
}

TEST(WalkedMapTest, SameOrderEveryWalkKeepsEveryEntry) {
  Map m;
  std::map<uint32_t, uint64_t> known;
  const std::vector<uint32_t> keys = {5, 1, 9, 3, 7};
  EXPECT_EQ(walk(m, keys, true, known).size(), 5u);
  EXPECT_TRUE(walk(m, keys, true, known).empty());
  EXPECT_TRUE(walk(m, keys, true, known).empty());
  EXPECT_EQ(m.find(9)->visits, 3u);
}

TEST(WalkedMapTest, InsertsDeletesAndReordersBetweenWalks) {
  Map m;
  std::map<uint32_t, uint64_t> known;
  walk(m, {1, 2, 3, 4, 5, 6}, true, known);
  // 3 deleted: the rest shift by one.
  EXPECT_TRUE(walk(m, {1, 2, 4, 5, 6}, true, known).empty());
  EXPECT_EQ(m.find(3), nullptr);
  // 10 inserted in the middle, 3 back (as a new key).
  EXPECT_EQ(walk(m, {1, 2, 10, 4, 3, 5, 6}, true, known), (std::vector<uint32_t>{10, 3}));
  EXPECT_EQ(m.find(3)->visits, 1u);
  // Reversed.
  EXPECT_TRUE(walk(m, {6, 5, 3, 4, 10, 2, 1}, true, known).empty());
  // Rotated, with the first key gone.
  EXPECT_TRUE(walk(m, {4, 10, 2, 1, 5, 3}, true, known).empty());
  EXPECT_EQ(m.size(), 6u);
}

TEST(WalkedMapTest, KeyReturnedTwiceInOneWalkIsOneEntry) {
  Map m;
  std::map<uint32_t, uint64_t> known;
  walk(m, {1, 2, 3}, true, known);
  // The walk raced with an insert: 2 comes again after 3, and 4 twice.
  EXPECT_EQ(walk(m, {1, 2, 3, 2, 4, 4}, true, known), (std::vector<uint32_t>{4}));
  EXPECT_EQ(m.find(2)->visits, 3u);
  EXPECT_EQ(m.size(), 4u);
  EXPECT_TRUE(walk(m, {1, 2, 3, 4}, true, known).empty());
}

TEST(WalkedMapTest, PartialWalkKeepsWhatItDidNotReach) {
  Map m;
  std::map<uint32_t, uint64_t> known;
  walk(m, {1, 2, 3, 4}, true, known);
  walk(m, {1, 2}, false, known);
  EXPECT_EQ(m.size(), 4u);
  EXPECT_TRUE(walk(m, {1, 2, 3, 4}, true, known).empty());
  walk(m, {2, 4}, true, known);
  EXPECT_EQ(m.find(1), nullptr);
  EXPECT_EQ(m.find(3), nullptr);
}

TEST(WalkedMapTest, EraseBetweenWalks) {
  Map m;
  std::map<uint32_t, uint64_t> known;
  walk(m, {1, 2, 3, 4}, true, known);
  m.erase(2);
  m.erase(42);  // not there: nothing happens
  known.erase(2);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_TRUE(walk(m, {1, 3, 4}, true, known).empty());
  m.erase(3);
  known.erase(3);
  // A key erased here and returned by the kernel again is new.
  EXPECT_EQ(walk(m, {1, 3, 4}, true, known), (std::vector<uint32_t>{3}));
}

// Random walks against a plain map: keys come and go, the order is mostly kept (as the
// kernel's bucket order is), sometimes shuffled, walks sometimes stop early, keys are
// sometimes returned twice or erased between walks.
TEST(WalkedMapTest, RandomWalksAgreeWithAPlainMap) {
  std::mt19937 rng(8);  // fixed: the same sequence every run
  Map m;
  std::map<uint32_t, uint64_t> known;
  std::vector<uint32_t> kernel;
  uint32_t next_key = 0;
  for (int round = 0; round < 400; ++round) {
    const unsigned op = rng() % 10;
    if (op < 3 || kernel.empty()) {
      for (unsigned n = rng() % 20; n > 0; --n)
        kernel.insert(kernel.begin() + static_cast<long>(rng() % (kernel.size() + 1)), next_key++);
    } else if (op < 5) {
      for (unsigned n = rng() % 10; n > 0 && !kernel.empty(); --n)
        kernel.erase(kernel.begin() + static_cast<long>(rng() % kernel.size()));
    } else if (op == 5) {
      std::shuffle(kernel.begin(), kernel.end(), rng);
    } else if (op == 6 && !kernel.empty()) {
      const uint32_t k = kernel[rng() % kernel.size()];
      m.erase(k);
      known.erase(k);
    }
    std::vector<uint32_t> returned = kernel;
    if (rng() % 8 == 0 && !returned.empty())
      returned.push_back(returned[rng() % returned.size()]);  // raced with an insert
    const bool complete = rng() % 6 != 0;
    if (!complete) returned.resize(returned.size() / 2);
    walk(m, returned, complete, known);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(next_key, 500u);
}

}  // namespace
}  // namespace tcpconnect
