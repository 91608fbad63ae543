// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS queries and their answers, captured where sockets send and receive them.
 *
 * cgroup/connect4|6 and cgroup/sendmsg4|6 on the cgroup2 root run when any
 * socket of any network namespace connects or sends a datagram to an address:
 * those aimed at a DNS port get a mark in socket-local storage, with their
 * network namespace. cgroup_skb/egress and cgroup_skb/ingress on the same root
 * run for every packet a local socket sends or is delivered (loopback
 * included), after IP reassembly; the packets of marked sockets to (egress) or
 * from (ingress) a DNS port, UDP or TCP, IPv4 or IPv6, are copied (headers'
 * facts plus up to capture_bytes of the L4 payload) into a ring buffer that the
 * daemon polls. The daemon uses a response only when it answers a query the
 * same socket sent (addresses, ports, id and question). A packet from a DNS
 * port to a socket that never sent to one is only counted: a spoofed "answer"
 * to a syslog listener never reaches the daemon.
 *
 * The programs never drop traffic (they always return 1), and a full ring only
 * costs the event, which is counted. No wakeup per event: the consumer is woken
 * only when the ring's fill crosses a multiple of wakeup_bytes, so that a flood
 * cannot fill it between two polls and a slow consumer costs no wakeup storm.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "shared/connect.h"
#include "shared/dns.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the daemon before load. Ports in host byte order. */
const volatile __u16 ports[TC_DNS_MAX_PORTS] = {53};
const volatile __u32 nports = 1;
const volatile __u32 capture_bytes = 512;
const volatile __u64 wakeup_bytes = 0; /* 0: never wake the consumer */

/* Sized by the daemon before load (dns.ring_bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

/* Sockets that connected or sent to a DNS port (struct tc_dns_sock). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tc_dns_sock);
} dns_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_DNS_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_counters SEC(".maps");

/* An event is assembled here and then copied into the ring at its real size, so
 * that a 60-byte response takes 60 bytes of ring, not capture_bytes. Softirq
 * does not nest on a CPU, so one slot per CPU is enough.
 */
/* capture() bounds the copy length with a mask. */
_Static_assert((TC_DNS_MAX_CAPTURE & (TC_DNS_MAX_CAPTURE - 1)) == 0,
	       "TC_DNS_MAX_CAPTURE must be a power of two");

struct scratch {
	struct tc_dns_event hdr;
	__u8 payload[TC_DNS_MAX_CAPTURE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} dns_scratch SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&dns_counters, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline bool is_dns_port(__u16 port)
{
	__u32 i;

	for (i = 0; i < TC_DNS_MAX_PORTS; i++) {
		if (i >= nports)
			break;
		if (ports[i] == port)
			return true;
	}
	return false;
}

/* Where the transport header starts and the IP payload ends. */
struct l3 {
	__u32 l4_off;
	__u32 end;
	__u8 protocol;
};

static __always_inline int parse_ipv4(struct __sk_buff *skb,
				      struct tc_dns_event *e, struct l3 *l3)
{
	struct iphdr ip;
	__u32 ihl;

	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return -1;
	ihl = ip.ihl * 4;
	/* Fragments never reach a socket (the stack reassembles first). */
	if (ip.version != 4 || ihl < sizeof(ip) ||
	    (ip.frag_off & bpf_htons(0x3fff)))
		return -1;
	l3->protocol = ip.protocol;
	l3->l4_off = ihl;
	l3->end = bpf_ntohs(ip.tot_len);
	e->family = TC_AF_INET;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	__builtin_memcpy(e->saddr, &ip.saddr, 4);
	__builtin_memcpy(e->daddr, &ip.daddr, 4);
	return 0;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb,
				      struct tc_dns_event *e, struct l3 *l3)
{
	struct ipv6hdr ip;
	__u32 off = sizeof(ip), i;
	__u8 next;

	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return -1;
	if (ip.version != 6)
		return -1;
	next = ip.nexthdr;
	for (i = 0; i < TC_DNS_MAX_IPV6_EXT; i++) {
		__u8 opt[2];

		if (next == TC_DNS_PROTO_TCP || next == TC_DNS_PROTO_UDP)
			break;
		if (!tc_dns_is_ipv6_ext(next))
			return -1; /* ICMPv6, ESP, no next header: not ours */
		if (bpf_skb_load_bytes(skb, off, opt, sizeof(opt))) {
			count(TC_DNS_SKIP_IPV6_EXT);
			return -1;
		}
		if (next == TC_DNS_NEXTHDR_FRAGMENT)
			off += 8; /* only atomic fragments reach a socket */
		else if (next == TC_DNS_NEXTHDR_AUTH)
			off += ((__u32)opt[1] + 2) * 4;
		else
			off += ((__u32)opt[1] + 1) * 8;
		next = opt[0];
	}
	if (next != TC_DNS_PROTO_TCP && next != TC_DNS_PROTO_UDP) {
		count(TC_DNS_SKIP_IPV6_EXT);
		return -1;
	}
	l3->protocol = next;
	l3->l4_off = off;
	l3->end = sizeof(ip) + bpf_ntohs(ip.payload_len);
	e->family = TC_AF_INET6;
	__builtin_memcpy(e->saddr, &ip.saddr, 16);
	__builtin_memcpy(e->daddr, &ip.daddr, 16);
	return 0;
}

/*
 * Every packet a local socket sends or is delivered runs these programs; nearly
 * none is DNS. This answers "certainly not to (query) / from (answer) a DNS
 * port" from the linear header bytes alone, without a helper call. 0 means
 * "look closer" (headers not linear, IPv6 extension headers).
 */
static __always_inline int surely_not_dns(struct __sk_buff *skb,
					  const bool query)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u16 *pp;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return 0;
		if (ip->protocol != TC_DNS_PROTO_TCP &&
		    ip->protocol != TC_DNS_PROTO_UDP)
			return 1;
		ihl = (ip->ihl & 0x0f) * 4;
		pp = data + ihl;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return 0;
		if (ip6->nexthdr != TC_DNS_PROTO_TCP &&
		    ip6->nexthdr != TC_DNS_PROTO_UDP)
			return 0;
		pp = (void *)(ip6 + 1);
	} else {
		return 1;
	}
	if ((void *)(pp + 2) > end)
		return 0;
	return !is_dns_port(bpf_ntohs(pp[query ? 1 : 0]));
}

/* The mark of a socket that asked DNS (NULL for any other). */
static __always_inline struct tc_dns_sock *asker(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return NULL;
	return bpf_sk_storage_get(&dns_socks, sk, 0, 0);
}

static __always_inline void capture(struct __sk_buff *skb, const bool query)
{
	struct tc_dns_sock *mark;
	struct tc_dns_event *e;
	struct scratch *s;
	struct l3 l3 = {};
	__u32 zero = 0, payload_off, payload_len, len;
	__u16 pp[2];
	__u64 size, flags = BPF_RB_NO_WAKEUP;

	if (surely_not_dns(skb, query))
		return;
	s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s)
		return;
	e = &s->hdr;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (parse_ipv4(skb, e, &l3))
			return;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (parse_ipv6(skb, e, &l3))
			return;
	} else {
		return;
	}
	if (l3.protocol != TC_DNS_PROTO_TCP && l3.protocol != TC_DNS_PROTO_UDP)
		return;
	/* Source and destination port: the one test every packet pays for. */
	if (bpf_skb_load_bytes(skb, l3.l4_off, pp, sizeof(pp)))
		return;
	if (!is_dns_port(bpf_ntohs(pp[query ? 1 : 0])))
		return;
	mark = asker(skb);
	if (!mark) {
		if (!query)
			count(TC_DNS_UNSOLICITED);
		return;
	}
	e->netns = mark->netns;
	e->flags = query ? TC_DNS_EV_QUERY : 0;

	e->sport = bpf_ntohs(pp[0]);
	e->dport = bpf_ntohs(pp[1]);
	e->protocol = l3.protocol;
	if (l3.protocol == TC_DNS_PROTO_UDP) {
		payload_off = l3.l4_off + 8;
		e->tcp_flags = 0;
		e->tcp_seq = 0;
	} else {
		__u8 th[14];

		if (bpf_skb_load_bytes(skb, l3.l4_off, th, sizeof(th))) {
			count(TC_DNS_SKIP_UNREADABLE);
			return;
		}
		payload_off = l3.l4_off + (th[12] >> 4) * 4;
		e->tcp_flags = th[13];
		e->tcp_seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) |
			     ((__u32)th[6] << 8) | th[7];
	}
	if (l3.end <= payload_off)
		return; /* no payload: a bare ACK, SYN or FIN */
	payload_len = l3.end - payload_off;
	e->payload_len = payload_len;
	e->ts_ns = bpf_ktime_get_ns();

	len = payload_len < capture_bytes ? payload_len : capture_bytes;
	if (len < 1)
		return;
	/* The verifier needs 1 <= len <= sizeof(payload) in the register the
	 * helper gets. Comparisons do not give that on every kernel: 6.1 learns
	 * nothing from "len == 0" (what clang makes of "len < 1"), and clang 14
	 * loses bounds between a check and the call. Arithmetic does, on every
	 * verifier: (len - 1) masked to [0, MAX - 1], plus 1. For the len we have
	 * here (1..capture_bytes, capture_bytes <= MAX, MAX a power of two) the
	 * mask changes nothing; the empty asm keeps clang from dropping it.
	 */
	len -= 1;
	asm volatile("" : "+r"(len));
	len &= TC_DNS_MAX_CAPTURE - 1;
	len += 1;
	if (bpf_skb_load_bytes(skb, payload_off, s->payload, len)) {
		count(TC_DNS_SKIP_UNREADABLE);
		return;
	}
	e->captured = len;

	size = sizeof(*e) + len;
	/* Wake the consumer when this event takes the ring's fill past a multiple
	 * of wakeup_bytes, not on every event above it: a wakeup is an irq_work
	 * (a self-IPI; an APIC write that traps to the hypervisor in a VM), and
	 * waking on every event once the mark was passed cost ~16% of a flood's
	 * CPU while the consumer waited for a CPU. One wakeup is enough: the
	 * consumer reads until the ring is empty and sleeps only then, and the
	 * later marks (and its poll timeout) cover a crossing two CPUs raced past.
	 * The record's whole footprint counts (8-byte header, 8-byte alignment):
	 * with the payload size alone, a mark falling in a header gap would be
	 * crossed by no event at all.
	 */
	if (wakeup_bytes) {
		__u64 before = bpf_ringbuf_query(&dns_events, BPF_RB_AVAIL_DATA);
		__u64 footprint = (size + 8 + 7) & ~7ULL;

		if (before / wakeup_bytes != (before + footprint) / wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&dns_events, s, size, flags))
		count(TC_DNS_LOST);
	else
		count(TC_DNS_CAPTURED);
}

SEC("cgroup_skb/ingress")
int tc_dns_ingress(struct __sk_buff *skb)
{
	capture(skb, false);
	return 1; /* never drop: these programs only watch */
}

SEC("cgroup_skb/egress")
int tc_dns_egress(struct __sk_buff *skb)
{
	capture(skb, true);
	return 1;
}

/* A socket about to connect or send to a DNS port: marked, with its namespace.
 * The port is in network byte order in the low 16 bits of user_port. */
static __always_inline void mark_asker(struct bpf_sock_addr *ctx)
{
	struct tc_dns_sock *mark;

	if (!is_dns_port(bpf_ntohs((__u16)ctx->user_port)))
		return;
	mark = bpf_sk_storage_get(&dns_socks, ctx->sk, 0,
				  BPF_SK_STORAGE_GET_F_CREATE);
	if (mark)
		mark->netns = bpf_get_netns_cookie(ctx);
}

SEC("cgroup/connect4")
int tc_dns_connect4(struct bpf_sock_addr *ctx)
{
	mark_asker(ctx);
	return 1; /* never refuse: these programs only watch */
}

SEC("cgroup/connect6")
int tc_dns_connect6(struct bpf_sock_addr *ctx)
{
	mark_asker(ctx);
	return 1;
}

SEC("cgroup/sendmsg4")
int tc_dns_sendmsg4(struct bpf_sock_addr *ctx)
{
	mark_asker(ctx);
	return 1;
}

SEC("cgroup/sendmsg6")
int tc_dns_sendmsg6(struct bpf_sock_addr *ctx)
{
	mark_asker(ctx);
	return 1;
}
