// Owners of the libbpf objects the daemon holds: a skeleton (destroying it detaches its
// links, unloads its programs and frees its maps) and a ring buffer reader. Headers that
// only name these types need neither the skeleton's header nor libbpf's.
#pragma once

#include <memory>

struct ring_buffer;

namespace tcpconnect {

// Calls the skeleton's own destroy(), so S must be complete where the owner is destroyed
// (the file that includes S's .skel.h), not where it is declared.
template <typename S>
struct SkeletonDestroy {
  void operator()(S* skel) const { S::destroy(skel); }
};

template <typename S>
using SkeletonPtr = std::unique_ptr<S, SkeletonDestroy<S>>;

struct RingBufferFree {
  void operator()(ring_buffer* ring) const;
};

using RingBufferPtr = std::unique_ptr<ring_buffer, RingBufferFree>;

}  // namespace tcpconnect
