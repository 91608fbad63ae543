/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The peer's map key (peer.bpf.c), shared with toggle_bench: bpftrace's layout for
 * @[ntop(args->daddr), args->dport]. */
#ifndef TCPCONNECT_BENCH_PEER_H
#define TCPCONNECT_BENCH_PEER_H

struct peer_key {
	__u64 family;
	__u8 daddr[16];
	__u64 dport;
};

#endif
