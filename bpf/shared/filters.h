/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The in-kernel connect filters (filters.bpf.h) as user space fills them. Same
 * rules as connect.h: fixed-width types, explicit padding, no includes.
 *
 * Every filter lives in a map, so that a reload changes what is counted without
 * reloading or reattaching a program. One word, tc_filter_config.flags, says
 * which filters are active: with none, a connect costs one array lookup more.
 */
#ifndef TCPCONNECT_SHARED_FILTERS_H
#define TCPCONNECT_SHARED_FILTERS_H

/* Entries of each list map (the configuration's own limit per list). */
#define TC_FILTER_MAX_ENTRIES 1024
/* The destination port bitmap: 65536 bits in 64-bit words, word = port / 64. */
#define TC_FILTER_PORT_WORDS 1024
/* Cgroup levels below the root that the cgroup filter can match at. */
#define TC_FILTER_CGROUP_LEVELS 64

/*
 * Bits of tc_filter_config.flags: the filters that must pass. PID: tgid in flt_pids;
 * UID: uid in flt_uids; PORT: the destination port's bit set in flt_ports; FAMILY: the
 * family's bit set in .families; COMM: comm in flt_comms; CGROUP: the cgroup or an
 * ancestor in flt_cgroups; CGROUPMAP(32) / MNTNSMAP(32): the cgroup / mount namespace
 * id a key of the map in flt_cgmap(32) / flt_mntns(32); INCLUDE: the destination in
 * flt_incl; EXCLUDE: the destination not in flt_excl.
 */
#define TC_FILTER_PID (1u << 0)
#define TC_FILTER_UID (1u << 1)
#define TC_FILTER_PORT (1u << 2)
#define TC_FILTER_FAMILY (1u << 3)
#define TC_FILTER_COMM (1u << 4)
#define TC_FILTER_CGROUP (1u << 5)
#define TC_FILTER_CGROUPMAP (1u << 6)
#define TC_FILTER_CGROUPMAP32 (1u << 7)
#define TC_FILTER_MNTNSMAP (1u << 8)
#define TC_FILTER_MNTNSMAP32 (1u << 9)
#define TC_FILTER_INCLUDE (1u << 10)
#define TC_FILTER_EXCLUDE (1u << 11)
/* The filters that read the connecting task: only CLOSE -> SYN_SENT runs in its
 * context, so an outcome cannot apply them again (see TC_KEY_OF_TASK). */
#define TC_FILTERS_OF_TASK                                                  \
	(TC_FILTER_PID | TC_FILTER_UID | TC_FILTER_COMM | TC_FILTER_CGROUP |  \
	 TC_FILTER_CGROUPMAP | TC_FILTER_CGROUPMAP32 | TC_FILTER_MNTNSMAP |   \
	 TC_FILTER_MNTNSMAP32)

/* Bits of tc_filter_config.families. */
#define TC_FILTER_FAMILY_INET (1u << 0)
#define TC_FILTER_FAMILY_INET6 (1u << 1)

/* Key of flt_comms: a task's comm as bpf_get_current_comm() fills it
 * (NUL-padded). */
struct tc_comm_key {
	char comm[16];
};

/* The one value of the flt_cfg array. */
struct tc_filter_config {
	__u32 flags;
	__u32 families;
	/* Bit n: some configured cgroup is n levels below the root of the
	 * cgroup2 hierarchy; the filter compares the task's ancestor at each
	 * such level. */
	__u64 cgroup_levels;
};

/*
 * Key of the destination network tries (BPF_MAP_TYPE_LPM_TRIE). The family byte
 * comes first so that one trie holds both families: prefixlen is 8 + the
 * network's prefix length. IPv4 addresses use addr[0..3].
 */
struct tc_cidr_key {
	__u32 prefixlen;
	__u8 family; /* TC_AF_INET or TC_AF_INET6 */
	__u8 addr[16];
	__u8 pad[3];
};

#endif
