// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Outbound TCP connects, counted in the kernel.
 *
 * sock:inet_sock_set_state CLOSE -> SYN_SENT is exactly the set of connects for which
 * tcp_v[46]_connect() succeeded in sending a SYN (bcc tcpconnect's semantics). It runs
 * in the connecting process's context. The outcome (SYN_SENT -> ESTABLISHED or CLOSE)
 * runs in softirq context: only the stashed key is used there, never the current task.
 *
 * The same logic is attached through one of three program types, whichever the kernel
 * supports first: tp_btf, raw_tp, or the classic tracefs tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "shared/connect.h"

#define ECONNRESET 104
#define ENETDOWN 100
#define ENETUNREACH 101
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTDOWN 112
#define EHOSTUNREACH 113
#define EEXIST 17

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are set by the daemon before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tc_connect_key);
	__type(value, struct tc_connect_counts);
} connects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tc_latency_key);
	__type(value, struct tc_latency_hist);
} latency SEC(".maps");

/* In-flight connects: socket address -> key and start time. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tc_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

/* Set by the daemon before load: whether the DNS layer wants per-destination activity. */
const volatile bool track_destinations = false;

/* Destination -> latest connect and count, for the DNS layer (sized like connects). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tc_latency_key);
	__type(value, struct tc_dest_activity);
} destinations SEC(".maps");

/* Upper bounds (ns) of the latency buckets but the last (+Inf). */
static const __u64 latency_bounds_ns[TC_LAT_BUCKETS - 1] = { TC_LAT_BOUNDS_NS };

static __always_inline void count_error(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&errors, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/*
 * Programs on a preemptible kernel can interleave on one CPU, so even per-CPU values
 * are updated atomically: counts must be exact.
 */
static __always_inline void *lookup_or_init(void *map, const void *key,
					    const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int read_addresses(const struct sock *sk,
					  struct tc_connect_key *key)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == TC_AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)key->saddr, sk,
				   __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)key->daddr, sk,
				   __sk_common.skc_daddr);
	} else if (family == TC_AF_INET6) {
		BPF_CORE_READ_INTO(&key->saddr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&key->daddr, sk,
				   __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		if (is_v4_mapped(key->daddr)) {
			/* An IPv6 socket talking IPv4: report it as IPv4. */
			__u32 *s = (__u32 *)key->saddr, *d = (__u32 *)key->daddr;

			s[0] = is_v4_mapped(key->saddr) ? s[3] : 0;
			d[0] = d[3];
			s[1] = s[2] = s[3] = 0;
			d[1] = d[2] = d[3] = 0;
			family = TC_AF_INET;
		}
	} else {
		return -1;
	}
	key->family = family;
	return 0;
}

/* Not counted when the map is full: only DNS attribution statistics depend on it. */
static __always_inline void record_destination(const struct tc_connect_key *key,
					       __u64 now_ns)
{
	static const struct tc_dest_activity zero;
	struct tc_latency_key dk = {};
	struct tc_dest_activity *a;

	__builtin_memcpy(dk.daddr, key->daddr, sizeof(dk.daddr));
	dk.family = key->family;
	a = lookup_or_init(&destinations, &dk, &zero);
	if (!a)
		return;
	a->last_connect_ns = now_ns;
	__sync_fetch_and_add(&a->connects, 1);
}

static __always_inline void on_connect(const struct sock *sk)
{
	static const struct tc_connect_counts zero;
	struct tc_pending p = {};
	struct tc_connect_counts *c;
	__u64 skp = (__u64)sk;

	if (read_addresses(sk, &p.key))
		return;
	p.key.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));

	c = lookup_or_init(&connects, &p.key, &zero);
	if (c)
		__sync_fetch_and_add(&c->attempts, 1);
	else
		count_error(TC_ERR_CONNECTS_FULL);

	p.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&pending, &skp, &p, BPF_ANY))
		count_error(TC_ERR_PENDING_FULL);
	if (track_destinations)
		record_destination(&p.key, p.start_ns);
}

static __always_inline __u32 failure_reason(const struct sock *sk)
{
	int err = BPF_CORE_READ(sk, sk_err);

	if (!err)
		err = BPF_CORE_READ(sk, sk_err_soft);
	switch (err) {
	case 0:
		/*
		 * No error and no SYN ever queued: tcp_v[46]_connect()
		 * failed after entering SYN_SENT (no free local port:
		 * EADDRNOTAVAIL) and returned the errno to the caller.
		 * With the SYN queued, the application gave up first.
		 */
		if (!BPF_CORE_READ(sk, tcp_rtx_queue.rb_node))
			return TC_FAIL_OTHER;
		return TC_FAIL_ABORTED;
	case ECONNREFUSED:
		return TC_FAIL_REFUSED;
	case ETIMEDOUT:
		return TC_FAIL_TIMEOUT;
	case ECONNRESET:
		return TC_FAIL_RESET;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return TC_FAIL_UNREACHABLE;
	default:
		return TC_FAIL_OTHER;
	}
}

static __always_inline void observe_latency(const struct tc_connect_key *key,
					    __u64 delta_ns)
{
	static const struct tc_latency_hist zero;
	struct tc_latency_key lk = {};
	struct tc_latency_hist *h;
	__u32 i;

	__builtin_memcpy(lk.daddr, key->daddr, sizeof(lk.daddr));
	lk.family = key->family;
	h = lookup_or_init(&latency, &lk, &zero);
	if (!h) {
		count_error(TC_ERR_LATENCY_FULL);
		return;
	}
	for (i = 0; i < TC_LAT_BUCKETS - 1; i++) {
		if (delta_ns <= latency_bounds_ns[i])
			break;
	}
	if (i >= TC_LAT_BUCKETS)
		i = TC_LAT_BUCKETS - 1;
	__sync_fetch_and_add(&h->buckets[i], 1);
	__sync_fetch_and_add(&h->sum_ns, delta_ns);
	__sync_fetch_and_add(&h->count, 1);
}

static __always_inline void on_outcome(const struct sock *sk, int newstate)
{
	static const struct tc_connect_counts zero;
	struct tc_connect_counts *c;
	struct tc_pending *stashed;
	struct tc_pending p;
	__u64 skp = (__u64)sk;

	/* SYN_SENT -> SYN_RECV (simultaneous open) is not an outcome yet. */
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;
	stashed = bpf_map_lookup_elem(&pending, &skp);
	if (!stashed)
		return;
	p = *stashed;
	bpf_map_delete_elem(&pending, &skp);

	c = lookup_or_init(&connects, &p.key, &zero);
	if (!c) {
		count_error(TC_ERR_OUTCOME_FULL);
		return;
	}
	if (newstate == TCP_ESTABLISHED) {
		__sync_fetch_and_add(&c->established, 1);
		observe_latency(&p.key, bpf_ktime_get_ns() - p.start_ns);
	} else {
		__u32 reason = failure_reason(sk);

		if (reason < TC_FAIL_MAX)
			__sync_fetch_and_add(&c->failed[reason], 1);
	}
}

static __always_inline int handle_state(const struct sock *sk, int oldstate,
					int newstate)
{
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
		on_connect(sk);
	else if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)
		on_outcome(sk, newstate);
	return 0;
}

static __always_inline bool is_tcp(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tc_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	if (!is_tcp(sk))
		return 0;
	return handle_state(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tc_raw_tp, const struct sock *sk, int oldstate, int newstate)
{
	if (!is_tcp(sk))
		return 0;
	return handle_state(sk, oldstate, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tc_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return handle_state(ctx->skaddr, ctx->oldstate, ctx->newstate);
}
