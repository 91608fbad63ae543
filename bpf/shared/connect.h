/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structures shared by connect.bpf.c and the daemon. Fixed-width types and explicit
 * padding only, no includes: both the BPF object (vmlinux.h) and the daemon
 * (<linux/types.h>) provide the __u* types before including this file.
 */
#ifndef TCPCONNECT_SHARED_CONNECT_H
#define TCPCONNECT_SHARED_CONNECT_H

#define TC_AF_INET 2
#define TC_AF_INET6 10

/* Key of the per-CPU connect counters: one entry per distinct connect. Addresses are
 * in network byte order; an IPv4 address (and a v4-mapped IPv6 one) uses the first
 * 4 bytes and family TC_AF_INET. Fields a configuration does not label are zero, so
 * the kernel aggregates over them; `fields` says which optional ones were filled, so
 * that a key made under other labels is another key and reads as "not collected".
 */
struct tc_connect_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 family;
	__u16 dport; /* host byte order */
	__u32 uid;
	__u32 tgid;
	__u16 lport; /* host byte order; see TC_KEY_LPORT */
	__u16 fields; /* TC_KEY_* as the probe filled the key */
	__u64 cgroup_id; /* cgroup v2 id (bpf_get_current_cgroup_id) */
	char comm[16];
	__u64 netns; /* its network namespace cookie (TC_KEY_NETNS) */
};

/*
 * Which parts of a key the connect probe fills, at run time (tc_connect_settings): zero
 * is the classic key (family, saddr, daddr, dport). daddr and family are always kept:
 * DNS names, the latency histogram and the allowlist need them.
 */
#define TC_KEY_UID (1u << 0)
#define TC_KEY_TGID (1u << 1)
#define TC_KEY_CGROUP (1u << 2)
#define TC_KEY_COMM (1u << 3)
/*
 * The local port is assigned after CLOSE -> SYN_SENT (inet_hash_connect runs after the
 * state change), so unless the application bound the socket, the attempt is counted at
 * its next transition (ESTABLISHED or CLOSE), with the port then in skc_num; see
 * TC_PENDING_ATTEMPT.
 */
#define TC_KEY_LPORT (1u << 4)
#define TC_KEY_NO_SADDR (1u << 5) /* saddr left zero */
#define TC_KEY_NO_DPORT (1u << 6) /* dport left zero (filters still see it) */
/*
 * The network namespace (its cookie, as bpf_get_netns_cookie gives it) of the
 * socket: DNS names are scoped to the namespace whose lookup learnt them, so
 * connects keep it when names are on. Not a label: series of several namespaces
 * fold together.
 */
#define TC_KEY_NETNS (1u << 7)
/*
 * The fields only the connecting task has (CLOSE -> SYN_SENT runs in its context, the
 * outcome in softirq). Without them and without filters of the task
 * (TC_FILTERS_OF_TASK), the outcome reads its whole key from the socket; with them the
 * key waits in the stash.
 */
#define TC_KEY_OF_TASK (TC_KEY_UID | TC_KEY_TGID | TC_KEY_CGROUP | TC_KEY_COMM | TC_KEY_LPORT)

/* The one value of the connect probe's `settings` array, written by the daemon. */
struct tc_connect_settings {
	__u32 key_fields; /* TC_KEY_* */
	/* Non-zero once TC_KEY_LPORT was ever set: a connect then first settles an
	 * attempt its socket address left deferred in the stash (outcome never seen). */
	__u32 settle_deferred;
};

enum tc_failure_reason {
	TC_FAIL_REFUSED = 0,
	TC_FAIL_TIMEOUT = 1,
	TC_FAIL_RESET = 2,
	TC_FAIL_UNREACHABLE = 3,
	TC_FAIL_OTHER = 4, /* an errno none of the above names */
	TC_FAIL_ABORTED = 5, /* closed by the application before any answer */
	TC_FAIL_MAX = 6,
};

/* Connect latency histogram per destination: upper bounds of the buckets in ns (the
 * Prometheus default buckets from 100 us to 10 s); one more bucket holds +Inf.
 */
#define TC_LAT_BOUNDS_NS                                                        \
	100000ULL, 250000ULL, 500000ULL, 1000000ULL, 2500000ULL, 5000000ULL,   \
		10000000ULL, 25000000ULL, 50000000ULL, 100000000ULL,           \
		250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL,      \
		5000000000ULL, 10000000000ULL
#define TC_LAT_BUCKETS 17
struct tc_latency_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 buckets[TC_LAT_BUCKETS]; /* not cumulative */
};

/* Cumulative per-CPU counts for one key. The kernel only ever adds; the daemon reads
 * the sum over CPUs and folds the difference from its previous read.
 */
struct tc_connect_counts {
	/* CLOCK_MONOTONIC of the latest attempt (set, not added: the daemon takes the
	 * largest over CPUs). First, as the per-CPU readers expect such a word. */
	__u64 last_connect_ns;
	__u64 attempts; /* CLOSE -> SYN_SENT */
	__u64 established; /* SYN_SENT -> ESTABLISHED */
	__u64 failed[TC_FAIL_MAX]; /* SYN_SENT -> CLOSE, by reason */
	/* SYN retransmissions of the connects whose outcome was seen: the
	 * socket's tcp_sock.total_retrans at the outcome (the handshake is all
	 * it sent). */
	__u64 syn_retransmits;
	/* Time from SYN sent to established, of the established ones. */
	struct tc_latency_hist latency;
};

/* A destination: the part of a connect key that the latency histograms and the DNS
 * layer's activity are kept by (the daemon folds them out of the connect keys). */
struct tc_latency_key {
	__u8 daddr[16];
	__u16 family;
	__u16 pad[3];
	__u64 netns; /* as in tc_connect_key (0 unless TC_KEY_NETNS) */
};


/* What the connect stash keeps between SYN_SENT and the outcome. */
struct tc_pending {
	struct tc_connect_key key;
	__u64 start_ns;
	__u32 flags; /* TC_PENDING_* */
	__u32 pad;
};

/*
 * The attempt itself is not counted yet: it is, with the local port, by whoever deletes
 * this entry: the outcome, a later connect from the same socket address, or the
 * daemon's sweep of entries whose outcome was missed. Deleting is what claims it, so it
 * is counted exactly once.
 */
#define TC_PENDING_ATTEMPT (1u << 0)

/*
 * One slot of the stash array (connect.bpf.c): an in-flight connect, at the index a hash
 * of its socket's address gives. `sk` is the word that owns the slot: 0 when free, the
 * socket's address once `p` is complete, that address + TC_STASH_BUSY while its writer
 * fills `p`. Whoever changes `sk` from the address to 0 with a compare-and-swap (the
 * outcome, a later connect from the same socket, the daemon's sweep) has claimed `p`;
 * nobody writes `p` unless it took the slot from 0 to BUSY. The daemon maps the array
 * (BPF_F_MMAPABLE) to sweep it with the same compare-and-swap.
 */
struct tc_stash_slot {
	__u64 sk;
	struct tc_pending p;
};

#define TC_STASH_BUSY 1ULL /* socket addresses are aligned: bit 0 is free */

/* Indexes of the per-CPU error counters. */
enum tc_error {
	TC_ERR_CONNECTS_FULL = 0, /* connect map full: attempt not counted per key */
	TC_ERR_PENDING_FULL = 1, /* stash full: outcome and latency lost */
	TC_ERR_OUTCOME_FULL = 2, /* outcome's key vanished and could not be re-added */
	/* A retransmitted connect's start was overwritten: no latency observed. */
	TC_ERR_START_LOST = 3,
	TC_ERR_MAX = 4,
};

/*
 * A destination's connect activity, which the daemon folds from the connect keys'
 * values (drain/destination_activity.h) for the DNS layer: the time of the latest
 * connect, for the answer-to-connect delay, and a cumulative count, for attribution hits
 * and misses. Not a kernel map's value.
 */
struct tc_dest_activity {
	__u64 last_connect_ns; /* bpf_ktime_get_ns() of the latest connect */
	__u64 connects; /* cumulative */
};

#endif
