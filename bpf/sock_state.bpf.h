/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every program on sock:inet_sock_set_state reads from a connecting socket, and
 * the three program types the same handler is attached through. Included by
 * connect.bpf.c (the daemon's counters) and trace.bpf.c (the trace subcommand's
 * events), after vmlinux.h, the libbpf headers and shared/connect.h.
 */
#ifndef TCPCONNECT_SOCK_STATE_BPF_H
#define TCPCONNECT_SOCK_STATE_BPF_H

#define ECONNRESET 104
#define ENETDOWN 100
#define ENETUNREACH 101
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTDOWN 112
#define EHOSTUNREACH 113
#define EEXIST 17

/*
 * The value under key, inserted as zero if absent. Another CPU may insert the same key
 * between the lookup and the update: EEXIST then means the value is there.
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

/*
 * A field of the socket, e.g. TC_SK_READ(btf, sk, __sk_common.skc_family). Where the
 * program has the socket as a BTF pointer (tp_btf) this is a plain load, which the
 * verifier checks against the kernel's BTF and the JIT guards against faults; elsewhere
 * (raw_tp, tracepoint) it is a bpf_probe_read_kernel() call, several times slower. Both
 * are CO-RE relocated. `btf` is a literal in every program, so each program contains
 * only one of the two.
 */
#define TC_SK_READ(btf, sk, field) \
	((btf) ? (sk)->field : BPF_CORE_READ(sk, field))

static __always_inline int read_addresses(const struct sock *sk,
					  struct tc_connect_key *key,
					  const bool btf)
{
	__u16 family = TC_SK_READ(btf, sk, __sk_common.skc_family);
	__u32 *s = (__u32 *)key->saddr, *d = (__u32 *)key->daddr;

	if (family == TC_AF_INET) {
		s[0] = TC_SK_READ(btf, sk, __sk_common.skc_rcv_saddr);
		d[0] = TC_SK_READ(btf, sk, __sk_common.skc_daddr);
	} else if (family == TC_AF_INET6) {
		if (btf) {
			const struct in6_addr *sa = &sk->__sk_common.skc_v6_rcv_saddr;
			const struct in6_addr *da = &sk->__sk_common.skc_v6_daddr;

			s[0] = sa->in6_u.u6_addr32[0];
			s[1] = sa->in6_u.u6_addr32[1];
			s[2] = sa->in6_u.u6_addr32[2];
			s[3] = sa->in6_u.u6_addr32[3];
			d[0] = da->in6_u.u6_addr32[0];
			d[1] = da->in6_u.u6_addr32[1];
			d[2] = da->in6_u.u6_addr32[2];
			d[3] = da->in6_u.u6_addr32[3];
		} else {
			BPF_CORE_READ_INTO(&key->saddr, sk,
					   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
			BPF_CORE_READ_INTO(&key->daddr, sk,
					   __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		}
		if (is_v4_mapped(key->daddr)) {
			/* An IPv6 socket talking IPv4: report it as IPv4. */
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

/* The cookie of the socket's network namespace (what bpf_get_netns_cookie
 * gives). */
static __always_inline __u64 read_netns(const struct sock *sk, const bool btf)
{
	if (btf)
		return sk->__sk_common.skc_net.net->net_cookie;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
}

static __always_inline __u16 read_dport(const struct sock *sk, const bool btf)
{
	return bpf_ntohs(TC_SK_READ(btf, sk, __sk_common.skc_dport));
}

static __always_inline __u32 failure_reason(const struct sock *sk, const bool btf)
{
	int err = TC_SK_READ(btf, sk, sk_err);

	if (!err)
		err = TC_SK_READ(btf, sk, sk_err_soft);
	switch (err) {
	case 0:
		/*
		 * No error and no SYN ever queued: tcp_v[46]_connect()
		 * failed after entering SYN_SENT (no free local port:
		 * EADDRNOTAVAIL) and returned the errno to the caller.
		 * With the SYN queued, the application gave up first.
		 */
		if (!TC_SK_READ(btf, sk, tcp_rtx_queue.rb_node))
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

/*
 * The SYN retransmissions of a connect at its outcome: everything the socket
 * has retransmitted so far (tcp_retransmit_skb() adds to total_retrans), which
 * out of SYN_SENT can only be its SYN (after a simultaneous open, also its
 * SYN-ACK). With tp_btf a load from the tcp_sock the outcome looks up once
 * (`tp`); elsewhere one read.
 */
static __always_inline __u32 syn_retransmits(const struct sock *sk,
					     const struct tcp_sock *tp,
					     const bool btf)
{
	if (btf)
		return tp ? tp->total_retrans : 0;
	return BPF_CORE_READ((const struct tcp_sock *)sk, total_retrans);
}

static __always_inline bool is_tcp(const struct sock *sk, const bool btf)
{
	if (btf)
		return BPF_CORE_READ_BITFIELD(sk, sk_protocol) == IPPROTO_TCP;
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP;
}

/*
 * The transitions a connect goes through: CLOSE -> SYN_SENT, and out of SYN_SENT (or
 * SYN_RECV after a simultaneous open). A connection makes about ten transitions over
 * its life, client and server side together; testing the states first, before any
 * read from the socket, makes the other seven nearly free.
 */
static __always_inline bool is_connect_transition(int oldstate, int newstate)
{
	return (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) ||
	       oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV;
}

/*
 * SYN_RECV -> anything on a socket no process holds: the server side of an inbound
 * connection (a listener's child is created in SYN_RECV with no struct socket; accept()
 * gives it one later). Every inbound connection makes this transition, and it is never
 * a connect's outcome, so it is dismissed before the stash is searched. The outcome of
 * a simultaneous open (a connecting socket that went SYN_SENT -> SYN_RECV) still has its
 * socket, unless the application closed it first; such an orphan's outcome is left to
 * the daemon's sweep of stale stash entries, like any other outcome not seen.
 */
static __always_inline bool is_passive_open(const struct sock *sk, int oldstate,
					    const bool btf)
{
	return oldstate == TCP_SYN_RECV && !TC_SK_READ(btf, sk, sk_socket);
}

/* Adds one to slot `which` of a per-CPU array of counters. */
static __always_inline void count_in(void *counters, __u32 which)
{
	__u64 *v = bpf_map_lookup_elem(counters, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/*
 * One variant with the tracepoint's own arguments (tp_btf or raw_tp); `btf`: whether
 * the socket may be read with plain loads (tp_btf only).
 */
#define TC_SET_STATE_BTF_PROGRAM(section, name, handle, btf)                   \
	SEC(section)                                                           \
	int BPF_PROG(name, const struct sock *sk, int oldstate, int newstate)  \
	{                                                                      \
		if (!is_connect_transition(oldstate, newstate) ||              \
		    !is_tcp(sk, btf) || is_passive_open(sk, oldstate, btf))    \
			return 0;                                              \
		return handle(sk, oldstate, newstate, btf);                    \
	}

/*
 * The handler `handle(sk, oldstate, newstate, btf)` attached through each program type the
 * kernel may offer for the tracepoint, named PREFIX_tp_btf, PREFIX_raw_tp and
 * PREFIX_tracepoint. The loader enables exactly one of them.
 */
#define TC_SET_STATE_PROGRAMS(prefix, handle)                                  \
	TC_SET_STATE_BTF_PROGRAM("tp_btf/inet_sock_set_state",                 \
				 prefix##_tp_btf, handle, true)                \
	TC_SET_STATE_BTF_PROGRAM("raw_tp/inet_sock_set_state",                 \
				 prefix##_raw_tp, handle, false)               \
                                                                               \
	SEC("tracepoint/sock/inet_sock_set_state")                             \
	int prefix##_tracepoint(                                               \
		struct trace_event_raw_inet_sock_set_state *ctx)               \
	{                                                                      \
		/* Read once into registers: the verifier refuses context     \
		 * loads through a pointer the compiler offset. */            \
		int oldstate = ctx->oldstate, newstate = ctx->newstate;        \
		const struct sock *sk = ctx->skaddr;                           \
                                                                               \
		barrier_var(oldstate);                                         \
		barrier_var(newstate);                                         \
		if (!is_connect_transition(oldstate, newstate) ||              \
		    ctx->protocol != IPPROTO_TCP ||                            \
		    is_passive_open(sk, oldstate, false))                      \
			return 0;                                              \
		return handle(sk, oldstate, newstate, false);                  \
	}

#endif
