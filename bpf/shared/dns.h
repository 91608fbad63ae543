/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structures shared by dns.bpf.c and the daemon, and the one test both make of IPv6
 * extension headers. Fixed-width types and explicit padding only, no includes: both
 * the BPF object (vmlinux.h) and the daemon (<linux/types.h>) provide the __u* types
 * before including this file.
 */
#ifndef TCPCONNECT_SHARED_DNS_H
#define TCPCONNECT_SHARED_DNS_H

/* Source ports a response is captured from: at most this many (dns.ports). */
#define TC_DNS_MAX_PORTS 8
/* Bounds of dns.capture_bytes: L4 payload bytes copied per packet. */
#define TC_DNS_MIN_CAPTURE 64
#define TC_DNS_MAX_CAPTURE 8192
/* IPv6 extension headers walked before a packet is given up on (and counted).
 */
#define TC_DNS_MAX_IPV6_EXT 6
/* The IPv6 extension headers walked (any other next header ends the walk). */
#define TC_DNS_NEXTHDR_HOP 0
#define TC_DNS_NEXTHDR_ROUTING 43
#define TC_DNS_NEXTHDR_FRAGMENT 44
#define TC_DNS_NEXTHDR_AUTH 51
#define TC_DNS_NEXTHDR_DEST 60

/* Whether `next` names one of those (dns.bpf.c, and the packet socket's decoder). */
static inline int tc_dns_is_ipv6_ext(__u8 next)
{
	return next == TC_DNS_NEXTHDR_HOP || next == TC_DNS_NEXTHDR_ROUTING ||
	       next == TC_DNS_NEXTHDR_FRAGMENT || next == TC_DNS_NEXTHDR_AUTH ||
	       next == TC_DNS_NEXTHDR_DEST;
}

#define TC_DNS_PROTO_TCP 6
#define TC_DNS_PROTO_UDP 17

/* TCP flags as in the header's 13th byte. */
#define TC_DNS_TCP_FIN 0x01
#define TC_DNS_TCP_SYN 0x02
#define TC_DNS_TCP_RST 0x04

/*
 * One DNS packet of a socket that asked DNS a question, as the ring carries it:
 * a query it sent (TC_DNS_EV_QUERY: to a DNS port) or a packet delivered to it
 * from a DNS port; this header, then `captured` bytes of the L4 payload (for
 * TCP, the segment's payload, which may hold a 2-byte DNS length prefix, part
 * of a message, or several messages). Addresses and ports are as on the wire:
 * for a query, saddr/sport are the local socket's and daddr/dport the server's.
 */
struct tc_dns_event {
	__u64 ts_ns;	/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at delivery */
	__u8 saddr[16]; /* the DNS server; IPv4 in the first 4 bytes */
	__u8 daddr[16]; /* the local address the response went to */
	__u16 family;	/* 2 (AF_INET) or 10 (AF_INET6), as TC_AF_INET* */
	__u16 sport;	/* host byte order */
	__u16 dport;	/* host byte order */
	__u8 protocol;	/* TC_DNS_PROTO_UDP or TC_DNS_PROTO_TCP */
	__u8 tcp_flags; /* TC_DNS_TCP_* (0 for UDP) */
	__u32 tcp_seq;	/* host byte order: sequence number of the first payload
			   byte */
	__u32 payload_len; /* L4 payload bytes in the packet */
	__u32 captured; /* bytes that follow: min(payload_len, capture_bytes) */
	__u32 flags;	/* TC_DNS_EV_* */
	__u64 netns;	/* cookie of the socket's network namespace */
};

#define TC_DNS_EV_QUERY                                                        \
	(1u << 0) /* sent by the local socket, not delivered to it */

/*
 * Per socket (BPF_MAP_TYPE_SK_STORAGE), made when the socket connects or sends
 * to a DNS port (cgroup/connect4|6, cgroup/sendmsg4|6): only such sockets'
 * packets are captured, so a datagram from port 53 to any other socket never
 * reaches the daemon.
 */
struct tc_dns_sock {
	__u64 netns; /* bpf_get_netns_cookie() of the socket */
};

/* Indexes of the per-CPU counters of dns.bpf.c. */
enum tc_dns_counter {
	TC_DNS_LOST =
	    0, /* ring full: a packet from a DNS port was not captured */
	TC_DNS_SKIP_IPV6_EXT =
	    1, /* IPv6 packet whose transport header was not reached:
		* more than TC_DNS_MAX_IPV6_EXT extension headers or
		* one that cannot be walked. Counted for every such
		* packet: its ports are unknown. */
	TC_DNS_SKIP_UNREADABLE =
	    2, /* headers of a packet from a DNS port unreadable */
	TC_DNS_CAPTURED = 3,	/* events written to the ring */
	TC_DNS_UNSOLICITED = 4, /* from a DNS port to a socket that never sent
				 * to one: not captured */
	TC_DNS_COUNTER_MAX = 5,
};

#endif
