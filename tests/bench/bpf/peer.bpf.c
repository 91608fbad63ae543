// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmarks' peer: what bpftrace 0.17 (Debian 12) loads for the one-liner
 *
 *   tracepoint:sock:inet_sock_set_state /args->oldstate == 7 && args->newstate == 2/
 *       { @[ntop(args->daddr), args->dport] = count(); }
 *
 * written out in C so that toggle_bench can switch it on and off in windows of a
 * fraction of a second (bpftrace itself takes seconds to start). It does what bpftrace's
 * program does, as `bpftool prog dump xlated` shows it: the classic tracepoint, the two
 * state tests, a 32-byte key (address family as 8 bytes, the IPv4 destination read with
 * bpf_probe_read_kernel into 16 bytes, the port as 8 bytes), a lookup in a per-CPU hash of
 * 4096 entries, and an update with the old value plus one, found or not.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "peer.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct peer_key);
	__type(value, __u64);
} peer_counts SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int peer_count(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct peer_key key = {};
	__u64 *old, n = 1;

	if (ctx->oldstate != 7 || ctx->newstate != 2) /* TCP_CLOSE -> TCP_SYN_SENT */
		return 1;
	key.family = 2; /* what ntop() records for a 4-byte address: AF_INET */
	bpf_probe_read_kernel(key.daddr, 4, ctx->daddr);
	key.dport = ctx->dport;
	old = bpf_map_lookup_elem(&peer_counts, &key);
	if (old)
		n = *old + 1;
	bpf_map_update_elem(&peer_counts, &key, &n, BPF_ANY);
	return 1;
}

/*
 * The floor under any program on the DNS capture's attach point: cgroup_skb/ingress on
 * the cgroup2 root, doing nothing (toggle_bench --peer-kind empty_cgroup_skb). What it
 * costs per connect is the kernel's dispatch to a cgroup inet ingress program, paid on
 * every packet delivered to a socket.
 */
SEC("cgroup_skb/ingress")
int peer_empty_skb(struct __sk_buff *skb)
{
	return 1;
}

/*
 * The floor under any program on the connect probe's attach point: tp_btf on
 * sock:inet_sock_set_state, doing nothing (toggle_bench --peer-kind empty_tp_btf).
 */
SEC("tp_btf/inet_sock_set_state")
int peer_empty_tp_btf(void *ctx)
{
	return 0;
}

/*
 * The same, on a tracepoint a loopback connect never fires (a TCP retransmission of a
 * SYN-ACK): what switching a tp_btf program on and off costs the windows by itself
 * (toggle_bench --peer-kind empty_tp_btf_elsewhere).
 */
SEC("tp_btf/tcp_retransmit_synack")
int peer_empty_elsewhere(void *ctx)
{
	return 0;
}
