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
 * the kernel aggregates over them.
 */
struct tc_connect_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 family;
	__u16 dport; /* host byte order */
	__u32 uid;
	__u32 tgid;
	__u32 pad;
	__u64 cgroup_id;
	char comm[16];
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

/* Cumulative per-CPU counts for one key. The kernel only ever adds; the daemon reads
 * the sum over CPUs and folds the difference from its previous read.
 */
struct tc_connect_counts {
	__u64 attempts; /* CLOSE -> SYN_SENT */
	__u64 established; /* SYN_SENT -> ESTABLISHED */
	__u64 failed[TC_FAIL_MAX]; /* SYN_SENT -> CLOSE, by reason */
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
struct tc_latency_key {
	__u8 daddr[16];
	__u16 family;
	__u16 pad[3];
};

struct tc_latency_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 buckets[TC_LAT_BUCKETS]; /* not cumulative */
};

/* What the connect stash keeps between SYN_SENT and the outcome. */
struct tc_pending {
	struct tc_connect_key key;
	__u64 start_ns;
};

/* Indexes of the per-CPU error counters. */
enum tc_error {
	TC_ERR_CONNECTS_FULL = 0, /* connect map full: attempt not counted per key */
	TC_ERR_PENDING_FULL = 1, /* stash full: outcome and latency lost */
	TC_ERR_LATENCY_FULL = 2, /* latency map full */
	TC_ERR_OUTCOME_FULL = 3, /* outcome's key vanished and could not be re-added */
	TC_ERR_MAX = 4,
};

/*
 * Per destination (keyed like the latency map), written only when the daemon names
 * destinations by DNS: the time of the latest connect, for the answer-to-connect delay,
 * and a cumulative count, for attribution hits and misses. Kept out of
 * tc_connect_counts, which holds nothing but counters that the drain folds field by
 * field: a timestamp is not a counter. Per CPU: the daemon takes the largest
 * last_connect_ns and the sum of connects.
 */
struct tc_dest_activity {
	__u64 last_connect_ns; /* bpf_ktime_get_ns() of the latest connect on this CPU */
	__u64 connects; /* cumulative */
};

#endif
