/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structures shared by trace.bpf.c and `tcpconnect_exporter trace`. Same rules as
 * connect.h (fixed-width types, explicit padding); the key is connect.h's.
 */
#ifndef TCPCONNECT_SHARED_TRACE_H
#define TCPCONNECT_SHARED_TRACE_H

#include "connect.h"

/* How an attempt ended, as far as the event knows (tc_trace_event.outcome). */
#define TC_TRACE_PENDING 0 /* emitted at SYN_SENT, before any answer */
#define TC_TRACE_ESTABLISHED 1
#define TC_TRACE_FAILED 2 /* + enum tc_failure_reason */

/*
 * One connect attempt, a record of the ring buffer. The key holds the addresses,
 * family and destination port as connect.h describes them, and the caller's tgid, uid
 * and comm (never zeroed here).
 */
struct tc_trace_event {
	struct tc_connect_key key;
	__u64 ts_ns; /* bpf_ktime_get_ns() at CLOSE -> SYN_SENT */
	__u16 lport; /* host byte order; 0 when not assigned yet */
	__u8 outcome; /* TC_TRACE_* */
	__u8 pad;
	__u32 syn_retransmits; /* at the outcome; 0 before */
};

/* Indexes of the per-CPU counters of what could not be recorded. */
enum tc_trace_error {
	TC_TRACE_ERR_RING_FULL = 0, /* event dropped: the ring buffer was full */
	TC_TRACE_ERR_PENDING_FULL = 1, /* attempt dropped: too many in flight */
	TC_TRACE_ERR_COUNTS_FULL = 2, /* -c: the count map was full */
	TC_TRACE_ERR_MAX = 3,
};

#endif
