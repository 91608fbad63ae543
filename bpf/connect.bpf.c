// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Outbound TCP connects, counted in the kernel.
 *
 * sock:inet_sock_set_state CLOSE -> SYN_SENT is exactly the set of connects for which
 * tcp_v[46]_connect() succeeded in sending a SYN (bcc tcpconnect's semantics). It runs
 * in the connecting process's context. The outcome (SYN_SENT -> ESTABLISHED or CLOSE)
 * runs in softirq context, never reading the current task. It reads the key from the
 * socket again, and the connect's start from the socket's own SYN timestamps, unless
 * the key keeps a field of the task or a filter reads one (TC_KEY_OF_TASK): then the
 * key and start time wait for the outcome in the stash. Each connect key's value holds
 * its counts, latest attempt time and latency histogram: an attempt and an outcome
 * cost one map operation each, like bpftrace's one-liner's one.
 *
 * The same logic is attached through one of three program types, whichever the kernel
 * supports first: tp_btf, raw_tp, or the classic tracefs tracepoint.
 *
 * What is counted (filters.bpf.h) and which parts of the key are kept (`settings`) are
 * maps the daemon rewrites on reload: no program is reloaded or reattached.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "shared/connect.h"
#include "sock_state.bpf.h"
#include "filters.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are set by the daemon before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tc_connect_key);
	__type(value, struct tc_connect_counts);
} connects SEC(".maps");

/*
 * In-flight connects whose key has a field of the task (on_connect): the key and start
 * time their outcome needs, by socket. Most sit in
 * `stash`, an array indexed by a hash of the socket's address, whose slots are taken and
 * given back with a compare-and-swap (struct tc_stash_slot): no lock, no allocation. It
 * is kept small (ConnectProbe::kDefaultStashSlots), so that its slots stay in cache: a
 * slot picked by a hash out of a large array cost a cache miss on most connects. A
 * connect whose slot another in-flight connect holds goes to `pending`, a hash keyed by
 * the socket's address. (A hash for all of them cost about a third of this program's time per connect:
 * an update, a lookup and a delete, each under a bucket lock; see docs/benchmarks.md.)
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512); /* 1 << (64 - stash_shift), set by the daemon */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tc_stash_slot);
} stash SEC(".maps");

/* 64 - log2(stash's entries): the slot is the top bits of a multiplicative hash. */
const volatile __u32 stash_shift = 55;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tc_pending);
} pending SEC(".maps");

/*
 * When each connect whose key the socket holds began, for the latency of one whose SYN
 * was retransmitted: the socket then no longer says when its first SYN went out (its
 * transmit time is the latest retransmission's, retrans_stamp is cleared by the
 * SYN-ACK). A slot per hash of the socket's address, written with one plain store and
 * read only for such an outcome: the start in units of 1024 ns above TC_START_TAG_BITS
 * bits of the same hash, so that a slot another socket took since is told apart (its
 * outcome then observes no latency, counted as TC_ERR_START_LOST). Sized like the
 * connect map: a store that misses the cache does not stall the program.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384); /* 1 << (64 - starts_shift), set by the daemon */
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

const volatile __u32 starts_shift = 50;

#define TC_START_TAG_BITS 20
#define TC_START_TAG_MASK ((1ULL << TC_START_TAG_BITS) - 1)
/* The tag's bits of the hash: below the slot index's (starts_shift >= 44), above the
 * low bits that a socket's alignment leaves poorly mixed. */
#define TC_START_TAG_SHIFT 24
#define TC_START_UNIT_SHIFT 10

/*
 * Sockets of a simultaneous open (SYN_SENT -> SYN_RECV: only a connecting socket makes
 * that transition), whose outcome leaves SYN_RECV. Where outcomes are keyed from the
 * socket, this is what tells such an outcome from that of a server's Fast Open child,
 * which is accept()ed while still in SYN_RECV and so also has its socket: a child's
 * SYN_RECV -> ESTABLISHED is no connect of this host. LRU: an entry whose outcome was
 * never seen makes room for newer ones.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} simultaneous SEC(".maps");

/* Holds a socket's address for one instant: see sk_word(). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sk_words SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_ERR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

/* Which optional key fields to fill: written by the daemon, changed by reloads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tc_connect_settings);
} settings SEC(".maps");

/*
 * Adds to a per-CPU value. A plain add, not a locked one: the kernel never runs this
 * program twice at once on one CPU (raw_tp and tp_btf skip a run that would nest, the
 * classic tracepoint too: recursion_misses counts them), and nothing else writes these
 * values but the daemon's delete.
 */
#define TC_PERCPU_ADD(field, n) ((field) += (n))

/* Upper bounds (ns) of the latency buckets but the last (+Inf). */
static const __u64 latency_bounds_ns[TC_LAT_BUCKETS - 1] = { TC_LAT_BOUNDS_NS };

static __always_inline void count_error(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&errors, &which);

	if (v)
		TC_PERCPU_ADD(*v, 1);
}

/* One attempt, made at start_ns, into its key's value. */
static __always_inline void add_attempt(struct tc_connect_counts *c, __u64 start_ns)
{
	TC_PERCPU_ADD(c->attempts, 1);
	/* Only ever raised: an attempt settled late brings an older time. */
	if (start_ns > c->last_connect_ns)
		c->last_connect_ns = start_ns;
}

static __always_inline void count_attempt(const struct tc_connect_key *key, __u64 start_ns)
{
	static const struct tc_connect_counts zero;
	struct tc_connect_counts *c = lookup_or_init(&connects, key, &zero);

	if (c)
		add_attempt(c, start_ns);
	else
		count_error(TC_ERR_CONNECTS_FULL);
}

/* The optional parts of the key that the labels keep (process context only). */
static __always_inline void fill_key(struct tc_connect_key *key,
				     const struct sock *sk, __u32 fields,
				     const bool btf)
{
	if (fields & TC_KEY_UID)
		key->uid = (__u32)bpf_get_current_uid_gid();
	if (fields & TC_KEY_TGID)
		key->tgid = bpf_get_current_pid_tgid() >> 32;
	if (fields & TC_KEY_CGROUP)
		key->cgroup_id = bpf_get_current_cgroup_id();
	if (fields & TC_KEY_COMM)
		bpf_get_current_comm(key->comm, sizeof(key->comm));
	/* Non-zero only when the application bound the socket itself: otherwise the
	 * port is chosen after this transition. */
	if (fields & TC_KEY_LPORT)
		key->lport = TC_SK_READ(btf, sk, __sk_common.skc_num);
	if (fields & TC_KEY_NO_SADDR)
		__builtin_memset(key->saddr, 0, sizeof(key->saddr));
	if (fields & TC_KEY_NO_DPORT)
		key->dport = 0;
	if (fields & TC_KEY_NETNS)
		key->netns = read_netns(sk, btf);
	key->fields = fields;
}

/*
 * The socket's address as a plain number, for hashing and for the slot's owner word.
 * tp_btf holds the socket as a typed pointer, which the verifier lets no program
 * multiply, mask or compare-and-swap; what a program reads back from a map value is a
 * number. (raw_tp and tracepoint hold it as a number already; the round trip is two
 * memory accesses.)
 */
static __always_inline __u64 sk_word(const struct sock *sk)
{
	__u32 zero = 0;
	volatile __u64 *w = bpf_map_lookup_elem(&sk_words, &zero);

	if (!w)
		return 0;
	*w = (__u64)sk;
	return *w;
}

static __always_inline struct tc_stash_slot *slot_of(__u64 skw)
{
	__u32 i = (skw * 0x9E3779B97F4A7C15ULL) >> stash_shift;

	return bpf_map_lookup_elem(&stash, &i);
}

static __always_inline __u64 start_hash(__u64 skw)
{
	return skw * 0x9E3779B97F4A7C15ULL;
}

static __always_inline void remember_start(const struct sock *sk, __u64 now_ns)
{
	__u64 h = start_hash(sk_word(sk));
	__u32 i = h >> starts_shift;
	__u64 *slot = bpf_map_lookup_elem(&starts, &i);

	if (slot)
		*slot = (now_ns >> TC_START_UNIT_SHIFT) << TC_START_TAG_BITS |
			(h >> TC_START_TAG_SHIFT & TC_START_TAG_MASK);
}

/* The start remember_start() left for this socket, or 0 if its slot was taken since. */
static __always_inline __u64 remembered_start(const struct sock *sk, __u64 now_ns)
{
	__u64 h = start_hash(sk_word(sk)), word, ago;
	__u32 i = h >> starts_shift;
	__u64 *slot = bpf_map_lookup_elem(&starts, &i);

	if (!slot)
		return 0;
	word = *slot;
	if ((word & TC_START_TAG_MASK) != (h >> TC_START_TAG_SHIFT & TC_START_TAG_MASK))
		return 0;
	ago = ((now_ns >> TC_START_UNIT_SHIFT) - (word >> TC_START_TAG_BITS)) &
	      ((1ULL << (64 - TC_START_TAG_BITS)) - 1);
	return now_ns - (ago << TC_START_UNIT_SHIFT);
}

/*
 * Takes this socket's entry out of its slot if the slot holds one that is wanted (`any`,
 * or it still owes its attempt): returns 1 with *out filled; 0 if the slot holds none
 * (or one not wanted); -1 if it held this socket's entry but someone else (the daemon's
 * sweep) claimed it first. Fields are read before the claim: they do not change while
 * the slot is owned. sk_word() never returns 0 (its array has its one slot on every
 * CPU), so no socket's word looks like a free slot.
 */
static __always_inline int slot_take(struct tc_stash_slot *slot, __u64 skw,
				     struct tc_pending *out, bool any)
{
	if (!slot || slot->sk != skw)
		return 0;
	*out = slot->p;
	if (!any && !(out->flags & TC_PENDING_ATTEMPT))
		return 0;
	return __sync_val_compare_and_swap(&slot->sk, skw, 0) == skw ? 1 : -1;
}

/*
 * An entry this socket address left in the stash (its outcome was never seen) goes
 * before a new connect from it: an attempt it still owes is counted now, without the
 * local port, if this program claims it. `any`: remove it even if it owes nothing (a
 * filtered-out connect, whose outcome must not be taken for the old one's).
 */
static __always_inline void release_stashed(__u64 skw, bool any)
{
	struct tc_pending *old, taken;
	struct tc_connect_key key;
	__u64 start_ns;
	__u32 flags;

	if (slot_take(slot_of(skw), skw, &taken, any) > 0) {
		if (taken.flags & TC_PENDING_ATTEMPT)
			count_attempt(&taken.key, taken.start_ns);
	}
	old = bpf_map_lookup_elem(&pending, &skw);
	if (!old)
		return;
	flags = old->flags;
	if (!any && !(flags & TC_PENDING_ATTEMPT))
		return;
	key = old->key;
	start_ns = old->start_ns;
	if (bpf_map_delete_elem(&pending, &skw))
		return;
	if (flags & TC_PENDING_ATTEMPT)
		count_attempt(&key, start_ns);
}

/*
 * Stashes p for the socket: in its slot when the slot is free or holds this socket's own
 * stale entry (whose outcome was missed: replaced, as a hash update would), else in the
 * hash. `seen`: the slot's owner word as on_connect() read it first; the
 * compare-and-swap expects it, so a slot that changed since sends the entry to the hash.
 * Returns 0, or the hash's error.
 */
static __always_inline long stash_put(struct tc_stash_slot *slot, __u64 seen, __u64 skw,
				      const struct tc_pending *p)
{
	if (slot && ((seen == 0 || seen == skw) &&
		     __sync_val_compare_and_swap(&slot->sk, seen, skw | TC_STASH_BUSY) == seen)) {
		slot->p = *p;
		/* Published only once complete: the compiler keeps the order, and x86
		 * keeps stores in order for the other CPUs. */
		barrier();
		*(volatile __u64 *)&slot->sk = skw;
		return 0;
	}
	return bpf_map_update_elem(&pending, &skw, p, BPF_ANY);
}

/* Whether the outcome reads the key from the socket (TC_KEY_OF_TASK). */
static __always_inline bool from_socket(__u32 fields)
{
	return !(fields & TC_KEY_OF_TASK) && !tc_filters_need_task();
}

/*
 * A connect's key as its socket holds it, with the optional `fields` filled: false when
 * the socket is not IP or the filters leave the connect out. The outcome reads it again
 * (from_socket) and so applies the same address and port filters.
 */
static __always_inline bool key_from_socket(const struct sock *sk, struct tc_connect_key *key,
					    __u32 fields, const bool btf)
{
	if (read_addresses(sk, key, btf))
		return false;
	key->dport = read_dport(sk, btf);
	if (!tc_filters_pass(key))
		return false;
	if (fields)
		fill_key(key, sk, fields, btf);
	return true;
}

/* A connect whose key has a field of the task (p->key filled): counted, and stashed for
 * its outcome. */
static __always_inline void connect_stashed(const struct sock *sk, struct tc_pending *p,
					    __u32 fields, bool settle, const bool btf)
{
	__u64 skw = sk_word(sk), seen;
	struct tc_stash_slot *slot = slot_of(skw);

	if (settle)
		release_stashed(skw, false);

	p->start_ns = bpf_ktime_get_ns();
	if ((fields & TC_KEY_LPORT) && !p->key.lport)
		p->flags = TC_PENDING_ATTEMPT;
	else
		count_attempt(&p->key, p->start_ns);

	seen = slot ? *(volatile __u64 *)&slot->sk : 0;
	if (stash_put(slot, seen, skw, p)) {
		count_error(TC_ERR_PENDING_FULL);
		/* No room to defer it: counted now, without the local port. */
		if (p->flags & TC_PENDING_ATTEMPT)
			count_attempt(&p->key, p->start_ns);
	}
}

static __always_inline void on_connect(const struct sock *sk, const bool btf)
{
	struct tc_connect_settings *cfg;
	struct tc_pending p = {};
	__u32 zero = 0, fields = 0;
	bool settle = false, stashed;

	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (cfg) {
		fields = cfg->key_fields;
		settle = cfg->settle_deferred;
	}
	stashed = !from_socket(fields);
	if (!key_from_socket(sk, &p.key, fields, btf)) {
		/* Not counted. An entry this socket address left in the stash must not
		 * take the outcome of this connect for its own. */
		if (stashed)
			release_stashed(sk_word(sk), true);
		return;
	}
	if (stashed) {
		connect_stashed(sk, &p, fields, settle, btf);
		return;
	}
	p.start_ns = bpf_ktime_get_ns();
	count_attempt(&p.key, p.start_ns);
	remember_start(sk, p.start_ns);
}

static __always_inline void observe_latency(struct tc_latency_hist *h, __u64 delta_ns)
{
	__u32 i;

	for (i = 0; i < TC_LAT_BUCKETS - 1; i++) {
		if (delta_ns <= latency_bounds_ns[i])
			break;
	}
	if (i >= TC_LAT_BUCKETS)
		i = TC_LAT_BUCKETS - 1;
	TC_PERCPU_ADD(h->buckets[i], 1);
	TC_PERCPU_ADD(h->sum_ns, delta_ns);
	TC_PERCPU_ADD(h->count, 1);
}

/*
 * When the answer that established the connect arrived, for its latency: the socket's
 * clock cache. tcp_rcv_state_process() refreshes it (tcp_clock_ns(): CLOCK_MONOTONIC, the
 * clock of bpf_ktime_get_ns()) right before it handles a segment in SYN_SENT (or
 * SYN_RECV), so this costs a load instead of a clock read per connect. With tp_btf only
 * (elsewhere a load is a bpf_probe_read_kernel() call, no cheaper than the clock), and
 * only when the cache is not older than the connect: a TCP_REPAIR connect establishes
 * without a segment, and its cache may be stale.
 */
static __always_inline __u64 established_ns(const struct tcp_sock *tp, __u64 start_ns,
					    const bool btf)
{
	if (btf && tp && bpf_core_field_exists(struct tcp_sock, tcp_clock_cache) &&
	    tp->tcp_clock_cache >= start_ns)
		return tp->tcp_clock_cache;
	return bpf_ktime_get_ns();
}

/*
 * When a connect whose key the socket holds began, at its outcome (tp_btf: `tp`): its
 * SYN's send time, the socket's latest transmission until it answers the SYN-ACK. After
 * a SYN retransmission that is the retransmission's: the time remember_start() kept
 * then, 0 if that is gone (counted).
 */
static __always_inline __u64 started_ns(const struct sock *sk, const struct tcp_sock *tp,
					__u32 retrans, __u64 now_ns, const bool btf)
{
	__u64 start;

	if (!retrans)
		return btf && tp ? tp->tcp_wstamp_ns :
				   BPF_CORE_READ((const struct tcp_sock *)sk, tcp_wstamp_ns);
	start = remembered_start(sk, now_ns);
	if (!start)
		count_error(TC_ERR_START_LOST);
	return start;
}

/*
 * Counts an outcome into its key's value `c`. start_ns: when the connect began, as
 * stashed; 0 to read it from the socket (started_ns).
 */
static __always_inline void count_outcome(struct tc_connect_counts *c, const struct sock *sk,
					  int newstate, __u64 start_ns, const bool btf)
{
	const struct tcp_sock *tp;
	__u64 now, start;
	__u32 retrans;

	/* tp_btf: the socket as a tcp_sock, for plain loads of its fields. */
	tp = btf ? bpf_skc_to_tcp_sock((void *)sk) : NULL;
	retrans = syn_retransmits(sk, tp, btf);
	if (retrans)
		TC_PERCPU_ADD(c->syn_retransmits, retrans);
	if (newstate == TCP_ESTABLISHED) {
		TC_PERCPU_ADD(c->established, 1);
		now = established_ns(tp, start_ns, btf);
		start = start_ns ? start_ns : started_ns(sk, tp, retrans, now, btf);
		/* None when no SYN was sent (TCP_REPAIR). */
		if (start && start <= now)
			observe_latency(&c->latency, now - start);
	} else {
		__u32 reason = failure_reason(sk, btf);

		if (reason < TC_FAIL_MAX)
			TC_PERCPU_ADD(c->failed[reason], 1);
	}
}

/* The outcome of a connect whose whole key the socket holds: no stash involved. */
static __always_inline void outcome_from_socket(const struct sock *sk, int newstate,
						__u32 fields, const bool btf)
{
	static const struct tc_connect_counts zero;
	struct tc_connect_key key = {};
	struct tc_connect_counts *c;

	if (!key_from_socket(sk, &key, fields, btf))
		return;
	c = lookup_or_init(&connects, &key, &zero);
	if (c)
		count_outcome(c, sk, newstate, 0, btf);
	else
		count_error(TC_ERR_OUTCOME_FULL);
}

/*
 * A transition out of SYN_SENT or SYN_RECV where outcomes are keyed from the socket:
 * an outcome, the start of a simultaneous open, or a server's Fast Open child (ignored).
 */
static __always_inline void socket_outcome(const struct sock *sk, int oldstate, int newstate,
					   __u32 fields, const bool btf)
{
	static const __u8 one = 1;
	__u64 skw;

	if (newstate == TCP_SYN_RECV) {
		skw = sk_word(sk);
		bpf_map_update_elem(&simultaneous, &skw, &one, BPF_ANY);
		return;
	}
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;
	if (oldstate == TCP_SYN_RECV) {
		skw = sk_word(sk);
		if (bpf_map_delete_elem(&simultaneous, &skw))
			return;
	}
	outcome_from_socket(sk, newstate, fields, btf);
}

static __always_inline void on_outcome(const struct sock *sk, int oldstate, int newstate,
				       const bool btf)
{
	static const struct tc_connect_counts zero_counts;
	struct tc_connect_settings *cfg;
	__u32 zero = 0, fields = 0;
	struct tc_connect_counts *c;
	struct tc_pending *stashed;
	struct tc_pending p;
	__u64 skw;
	int taken;

	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (cfg)
		fields = cfg->key_fields;
	if (from_socket(fields)) {
		socket_outcome(sk, oldstate, newstate, fields, btf);
		return;
	}
	/* SYN_SENT -> SYN_RECV (simultaneous open) is not an outcome yet. */
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;
	skw = sk_word(sk);
	taken = slot_take(slot_of(skw), skw, &p, true);
	/* The daemon's sweep may have claimed it meanwhile. */
	if (taken < 0)
		return;
	if (!taken) {
		stashed = bpf_map_lookup_elem(&pending, &skw);
		if (!stashed)
			return;
		p = *stashed;
		/* The daemon's sweep may have claimed it meanwhile. */
		if (bpf_map_delete_elem(&pending, &skw))
			return;
	}
	/* inet_sport, not skc_num: -> CLOSE is traced after the port was released
	 * (skc_num zeroed); inet_sport keeps it. 0 when none was ever assigned. */
	if (p.flags & TC_PENDING_ATTEMPT)
		p.key.lport = bpf_ntohs(
			BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));

	c = lookup_or_init(&connects, &p.key, &zero_counts);
	if (!c) {
		if (p.flags & TC_PENDING_ATTEMPT)
			count_error(TC_ERR_CONNECTS_FULL);
		count_error(TC_ERR_OUTCOME_FULL);
		return;
	}
	if (p.flags & TC_PENDING_ATTEMPT)
		add_attempt(c, p.start_ns);
	count_outcome(c, sk, newstate, p.start_ns, btf);
}

static __always_inline int handle_state(const struct sock *sk, int oldstate,
					int newstate, const bool btf)
{
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
		on_connect(sk, btf);
	else if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)
		on_outcome(sk, oldstate, newstate, btf);
	return 0;
}

TC_SET_STATE_PROGRAMS(tc, handle_state)
