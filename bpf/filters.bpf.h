/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which connects are counted: tcpconnect(8)'s filters and more, decided in the kernel
 * and changed at run time through maps (user side: daemon/probes/connect_filters.h).
 * Included by every program on sock:inet_sock_set_state that filters connects, after
 * vmlinux.h, the libbpf headers and shared/connect.h; each program gets its own copy of
 * the maps.
 *
 * Semantics (every active filter must pass; within one, any entry matches):
 * - pid: the caller's tgid; uid: its real uid (bpf_get_current_uid_gid); comm: the
 *   calling thread's comm, exact.
 * - cgroup: the caller's cgroup v2 cgroup is one of the configured cgroups or below one
 *   (the ancestor at each configured cgroup's level is compared), so a slice matches
 *   every unit in it.
 * - cgroupmap / mntnsmap: bcc's --cgroupmap / --mntnsmap. The caller's cgroup id
 *   (exactly, as bcc) or mount namespace id is a key of a pinned hash map that someone
 *   else manages (key 8 bytes; value 8 bytes as bcc's cgroupmap, or 4 as its
 *   mntnsmap). The pinned map sits in slot 0 of an array of maps, so that the path can
 *   change without reloading the program.
 * - family, destination port (a 65536-bit bitmap: lists and ranges cost one lookup),
 *   destination networks to include / exclude (LPM tries holding both families).
 *
 * Must run in the connecting task's context (CLOSE -> SYN_SENT).
 */
#ifndef TCPCONNECT_FILTERS_BPF_H
#define TCPCONNECT_FILTERS_BPF_H

#include "shared/filters.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tc_filter_config);
} flt_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, __u8);
} flt_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, __u8);
} flt_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TC_FILTER_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} flt_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__type(key, struct tc_comm_key);
	__type(value, __u8);
} flt_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__type(key, __u64);
	__type(value, __u8);
} flt_cgroups SEC(".maps");

/* What a pinned bcc-style id set must look like to go into a slot (max_entries may
 * differ: the kernel does not compare it for hash maps). */
struct tc_id_set64 {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
};

struct tc_id_set32 {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct tc_id_set64);
} flt_cgmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct tc_id_set32);
} flt_cgmap32 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct tc_id_set64);
} flt_mntns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct tc_id_set32);
} flt_mntns32 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tc_cidr_key);
	__type(value, __u8);
} flt_incl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TC_FILTER_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tc_cidr_key);
	__type(value, __u8);
} flt_excl SEC(".maps");

/* Whether id is a key of the map in slot 0 of outer (false while the slot is empty). */
static __always_inline bool tc_id_in_slot(void *outer, __u64 id)
{
	__u32 slot = 0;
	void *set = bpf_map_lookup_elem(outer, &slot);

	return set && bpf_map_lookup_elem(set, &id);
}

static __always_inline __u64 tc_current_mntns_id(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

static __always_inline bool tc_cgroup_matches(__u64 levels)
{
	__u64 id;
	int i;

	for (i = 0; i < TC_FILTER_CGROUP_LEVELS && levels; i++, levels >>= 1) {
		if (!(levels & 1))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(i);
		if (id && bpf_map_lookup_elem(&flt_cgroups, &id))
			return true;
	}
	return false;
}

static __always_inline bool tc_daddr_in(void *trie,
					const struct tc_connect_key *key)
{
	struct tc_cidr_key k = {};

	k.family = key->family;
	k.prefixlen = 8 + (key->family == TC_AF_INET ? 32 : 128);
	__builtin_memcpy(k.addr, key->daddr, sizeof(k.addr));
	return bpf_map_lookup_elem(trie, &k) != NULL;
}

/* Whether an active filter reads the connecting task (TC_FILTERS_OF_TASK). */
static __always_inline bool tc_filters_need_task(void)
{
	__u32 zero = 0;
	struct tc_filter_config *cfg = bpf_map_lookup_elem(&flt_cfg, &zero);

	return cfg && (cfg->flags & TC_FILTERS_OF_TASK);
}

/*
 * Whether this connect is counted. key: family, daddr and dport (host order) as the
 * connect probe reads them; everything about the task is read here, and only for the
 * active filters.
 */
static __always_inline bool tc_filters_pass(const struct tc_connect_key *key)
{
	struct tc_filter_config *cfg;
	struct tc_comm_key comm;
	__u32 zero = 0, flags, u;
	__u64 *bits, id;

	cfg = bpf_map_lookup_elem(&flt_cfg, &zero);
	if (!cfg || !cfg->flags)
		return true;
	flags = cfg->flags;

	if (flags & TC_FILTER_FAMILY) {
		u = key->family == TC_AF_INET ? TC_FILTER_FAMILY_INET :
						TC_FILTER_FAMILY_INET6;
		if (!(cfg->families & u))
			return false;
	}
	if (flags & TC_FILTER_PORT) {
		u = key->dport / 64;
		bits = bpf_map_lookup_elem(&flt_ports, &u);
		if (!bits || !(*bits & (1ULL << (key->dport % 64))))
			return false;
	}
	if (flags & TC_FILTER_PID) {
		u = bpf_get_current_pid_tgid() >> 32;
		if (!bpf_map_lookup_elem(&flt_pids, &u))
			return false;
	}
	if (flags & TC_FILTER_UID) {
		u = (__u32)bpf_get_current_uid_gid();
		if (!bpf_map_lookup_elem(&flt_uids, &u))
			return false;
	}
	if (flags & TC_FILTER_COMM) {
		__builtin_memset(&comm, 0, sizeof(comm));
		bpf_get_current_comm(comm.comm, sizeof(comm.comm));
		if (!bpf_map_lookup_elem(&flt_comms, &comm))
			return false;
	}
	if ((flags & TC_FILTER_CGROUP) && !tc_cgroup_matches(cfg->cgroup_levels))
		return false;
	if (flags & (TC_FILTER_CGROUPMAP | TC_FILTER_CGROUPMAP32)) {
		id = bpf_get_current_cgroup_id();
		if ((flags & TC_FILTER_CGROUPMAP) && !tc_id_in_slot(&flt_cgmap, id))
			return false;
		if ((flags & TC_FILTER_CGROUPMAP32) &&
		    !tc_id_in_slot(&flt_cgmap32, id))
			return false;
	}
	if (flags & (TC_FILTER_MNTNSMAP | TC_FILTER_MNTNSMAP32)) {
		id = tc_current_mntns_id();
		if ((flags & TC_FILTER_MNTNSMAP) && !tc_id_in_slot(&flt_mntns, id))
			return false;
		if ((flags & TC_FILTER_MNTNSMAP32) &&
		    !tc_id_in_slot(&flt_mntns32, id))
			return false;
	}
	if ((flags & TC_FILTER_INCLUDE) && !tc_daddr_in(&flt_incl, key))
		return false;
	if ((flags & TC_FILTER_EXCLUDE) && tc_daddr_in(&flt_excl, key))
		return false;
	return true;
}

#endif
