#include "bpf/libbpf_owners.h"

#include <bpf/libbpf.h>

namespace tcpconnect {

void RingBufferFree::operator()(ring_buffer* ring) const { ring_buffer__free(ring); }

}  // namespace tcpconnect
