// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tcpconnect_exporter trace`: one record per outbound TCP connect attempt, for a
 * foreground tool. Loaded only by that subcommand: the daemon's own probe
 * (connect.bpf.c) stays free of any per-event cost.
 *
 * CLOSE -> SYN_SENT (process context: pid, uid and comm are the caller's) is every
 * attempt that sent a SYN, including those that later fail. The local port is assigned
 * just after that transition, so when the user asks for it (or for the outcome) the
 * attempt is stashed and emitted at the next transition, SYN_SENT -> ESTABLISHED or
 * -> CLOSE (softirq: only the stash is used there, never the current task). Otherwise
 * it is emitted at once. With -c nothing is emitted: the kernel counts per source,
 * destination and port, exactly, however slow the reader is.
 *
 * The filters (-p, -u, -P, -4/-6, --cgroupmap, --mntnsmap) are the daemon's own
 * (filters.bpf.h), filled by the tool before it attaches.
 *
 * Whatever cannot be recorded (ring full, stash full, count map full) is counted, so
 * that the tool can say so.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "shared/connect.h"
#include "shared/trace.h"
#include "sock_state.bpf.h"
#include "filters.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the tool before load: -c counts and emits nothing; with -L or --outcome
 * an attempt is emitted at its next state. */
const volatile bool count_mode = false;
const volatile bool wait_outcome = false;

/* Sized by the tool before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Attempts waiting for their next state: socket address -> the event so far. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tc_trace_event);
} pending SEC(".maps");

/* -c: per family, source, destination and port (the rest of the key is zero). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tc_connect_key);
	__type(value, struct tc_connect_counts);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_TRACE_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

static __always_inline struct tc_connect_counts *
counts_of(const struct tc_connect_key *key)
{
	static const struct tc_connect_counts zero;
	struct tc_connect_key k = {};

	__builtin_memcpy(k.saddr, key->saddr, sizeof(k.saddr));
	__builtin_memcpy(k.daddr, key->daddr, sizeof(k.daddr));
	k.family = key->family;
	k.dport = key->dport;
	k.netns =
	    key->netns; /* -d names each namespace's row by its own lookups */
	return lookup_or_init(&counts, &k, &zero);
}

/*
 * inet_sport, not skc_num: a refused connect has released its port (skc_num is 0) by
 * the time SYN_SENT -> CLOSE is traced, but the socket still says which it was.
 */
static __always_inline __u16 local_port(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

static __always_inline void emit(const struct tc_trace_event *ev)
{
	if (bpf_ringbuf_output(&events, (void *)ev, sizeof(*ev), 0))
		count_in(&errors, TC_TRACE_ERR_RING_FULL);
}

static __always_inline void on_connect(const struct sock *sk, const bool btf)
{
	struct tc_trace_event ev = {};
	struct tc_connect_counts *c;
	__u64 skp = (__u64)sk;

	if (read_addresses(sk, &ev.key, btf))
		return;
	ev.key.dport = read_dport(sk, btf);
	ev.key.tgid = bpf_get_current_pid_tgid() >> 32;
	ev.key.uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(ev.key.comm, sizeof(ev.key.comm));
	ev.key.cgroup_id = bpf_get_current_cgroup_id(); /* --pod */
	/* -d names a connect only by lookups made in its own network namespace.
	 */
	ev.key.netns = read_netns(sk, btf);
	if (!tc_filters_pass(&ev.key))
		return;
	ev.ts_ns = bpf_ktime_get_ns();
	/* Already known when the application bound the socket itself. */
	ev.lport = local_port(sk);

	if (count_mode) {
		c = counts_of(&ev.key);
		if (c)
			__sync_fetch_and_add(&c->attempts, 1);
		else
			count_in(&errors, TC_TRACE_ERR_COUNTS_FULL);
	}
	if (!wait_outcome) {
		if (!count_mode)
			emit(&ev);
		return;
	}
	if (bpf_map_update_elem(&pending, &skp, &ev, BPF_ANY))
		count_in(&errors, TC_TRACE_ERR_PENDING_FULL);
}

static __always_inline void on_next_state(const struct sock *sk, int newstate,
					  const bool btf)
{
	const struct tcp_sock *tp;
	struct tc_connect_counts *c;
	struct tc_trace_event *stashed;
	struct tc_trace_event ev;
	__u64 skp = (__u64)sk;
	__u32 reason;

	/* SYN_SENT -> SYN_RECV (simultaneous open) is not an outcome yet. */
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;
	stashed = bpf_map_lookup_elem(&pending, &skp);
	if (!stashed)
		return;
	ev = *stashed;
	/* Whoever deletes the entry owns the attempt: the tool, when it stops, takes the
	 * attempts still in flight the same way, and each is printed once. */
	if (bpf_map_delete_elem(&pending, &skp))
		return;

	if (newstate == TCP_ESTABLISHED) {
		ev.outcome = TC_TRACE_ESTABLISHED;
	} else {
		reason = failure_reason(sk, btf);
		if (reason >= TC_FAIL_MAX)
			reason = TC_FAIL_OTHER;
		ev.outcome = TC_TRACE_FAILED + reason;
	}
	tp = btf ? bpf_skc_to_tcp_sock((void *)sk) : NULL;
	ev.syn_retransmits = syn_retransmits(sk, tp, btf);
	if (!count_mode) {
		ev.lport = local_port(sk);
		emit(&ev);
		return;
	}
	c = counts_of(&ev.key);
	if (c && ev.syn_retransmits)
		__sync_fetch_and_add(&c->syn_retransmits, ev.syn_retransmits);
	if (!c) {
		count_in(&errors, TC_TRACE_ERR_COUNTS_FULL);
	} else if (newstate == TCP_ESTABLISHED) {
		__sync_fetch_and_add(&c->established, 1);
	} else {
		reason = ev.outcome - TC_TRACE_FAILED;
		if (reason < TC_FAIL_MAX)
			__sync_fetch_and_add(&c->failed[reason], 1);
	}
}

static __always_inline int handle_state(const struct sock *sk, int oldstate,
					int newstate, const bool btf)
{
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
		on_connect(sk, btf);
	else if (wait_outcome &&
		 (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV))
		on_next_state(sk, newstate, btf);
	return 0;
}

TC_SET_STATE_PROGRAMS(tt, handle_state)
