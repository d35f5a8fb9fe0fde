/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The maps of corral_abi.h (names exactly as documented there) plus Corral-internal state. */
#ifndef CORRAL_MAPS_H
#define CORRAL_MAPS_H

#include "corral_common.h"

/* ---- ABI maps (written by CorralCompiler / read by CorralKernel) ---- */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct corral_control);
} corral_control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct corral_generation);
} corral_generations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * CORRAL_MAX_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct corral_rule);
} corral_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * CORRAL_LIST_COUNT);
	__type(key, __u32);
	__type(value, struct corral_slot_list);
} corral_hook_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CORRAL_MAX_CGROUPS);
	__type(key, struct corral_cgroup_key);
	__type(value, struct corral_cgroup_class);
} corral_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * CORRAL_MAX_PATTERN_NODES);
	__type(key, __u32);
	__type(value, struct corral_pattern_node);
} corral_pattern_nodes SEC(".maps");

/* Per-slot maps (corral_abi.h, "Per-slot maps"): an array of 2 inner hash maps, one per
 * generation slot. The daemon fills a fresh inner map and stores it in the inactive slot, and
 * drops the old slot's map with one delete: the kernel frees it. A NULL slot has no entries. */
struct corral_pattern_names_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CORRAL_MAX_PATTERN_NAMES);
	/* sizes, not __type: clang emits the types of an inner map definition as forward
	 * declarations, whose size libbpf cannot read */
	__uint(key_size, sizeof(struct corral_pattern_name_key));
	__uint(value_size, sizeof(struct corral_pattern_name));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct corral_pattern_names_inner);
} corral_pattern_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * CORRAL_MAX_PATTERN_GLOBS);
	__type(key, __u32);
	__type(value, struct corral_pattern_glob);
} corral_pattern_globs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CORRAL_MAX_SUBJECT_EXES);
	__type(key, struct corral_exe_key);
	__type(value, __u64);
} corral_subj_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * CORRAL_MAX_SUBJECTS);
	__type(key, struct corral_xattr_key);
	__type(value, struct corral_xattr_subject);
} corral_subj_xattr SEC(".maps");

struct corral_rule_uids_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CORRAL_MAX_RULE_SLOTS);
	__uint(key_size, sizeof(struct corral_uid_key));
	__uint(value_size, sizeof(__u32));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct corral_rule_uids_inner);
} corral_rule_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CORRAL_MAX_ID_MAP_SLOTS);
	__type(key, __u32);
	__type(value, struct corral_id_ranges);
} corral_id_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CORRAL_MAX_TRACKED_NS);
	__type(key, __u32);
	__type(value, struct corral_tracked_ns);
} corral_tracked_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct corral_task_state);
} corral_task_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CORRAL_RINGBUF_BYTES);
} corral_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CORRAL_MAX_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct corral_event_budget);
} corral_event_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CORRAL_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} corral_stats SEC(".maps");

/* ---- internal: one classification's working set (tp_btf/cgroup_mkdir, exe xattr hooks) ---- */
struct corral_classify {
	char name[CORRAL_CGROUP_NAME_MAX];
	__u32 len;       /* bytes of name without NUL */
	__u32 gen;       /* slot being classified into */
	__u64 hash;      /* FNV-1a 64 of name */
	__u32 n_nodes;   /* that slot's pattern_nodes */
	__u32 _pad;
	struct corral_cgroup_class parent;
	struct corral_cgroup_class cls;
};

/* Per task, not per CPU: a program can be preempted on PREEMPT kernels, and another task's run
 * on the same CPU must not overwrite the working set. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct corral_classify);
} corral_classify_scratch SEC(".maps");

static __always_inline struct corral_classify *corral_scratch(void)
{
	return bpf_task_storage_get(&corral_classify_scratch, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

#define CORRAL_FNV64_OFFSET 0xcbf29ce484222325ULL
#define CORRAL_FNV64_PRIME  0x100000001b3ULL

/* Reads a kernel string (a cgroup or xattr name) into the task's scratch with its length and
 * FNV-1a 64 hash (the key of corral_pattern_names and corral_subj_xattr). NULL for an empty name. */
static __always_inline struct corral_classify *corral_read_name(const char *name)
{
	struct corral_classify *w;
	__u64 h = CORRAL_FNV64_OFFSET;
	int len, i;

	w = corral_scratch();
	if (!w)
		return NULL;
	len = bpf_probe_read_kernel_str(w->name, sizeof(w->name), name);
	if (len <= 1)
		return NULL;
	w->len = len - 1;
	for (i = 0; i < CORRAL_CGROUP_NAME_MAX; i++) {
		if (i >= w->len)
			break;
		h ^= (__u8)w->name[i];
		h *= CORRAL_FNV64_PRIME;
	}
	w->hash = h;
	return w;
}

/* ---- internal: one decision's working set (kept off the 512-byte BPF stack) ---- */
struct corral_decision {
	/* inputs, set by the entry point */
	__u32 hook;        /* enum corral_hook */
	__u32 ns_type;     /* CLONE_NEW* */
	__u32 ns_inum;     /* 0 when not yet known (compat alloc) */
	__u32 ns_label;    /* install: tracked label of the namespace, 0 if untracked */
	__u64 src_id;      /* cgroup_attach: src/dst cgroup ids and their ancestors (root first) */
	__u64 dst_id;
	__u32 target_pid;
	__u8 threadgroup;
	__u8 compat;       /* decided by the compat set (CORRAL_EVENT_F_COMPAT) */
	__u8 eperm_only;   /* compat capable path: the caller can only see EPERM */
	__u8 _pad0;
	__u32 n_src;
	__u32 n_dst;
	__u64 src_anc[CORRAL_MAX_CGROUP_DEPTH];
	__u64 dst_anc[CORRAL_MAX_CGROUP_DEPTH];
	/* read once per decision */
	__u32 gen;
	__u32 epoch;       /* low 32 bits of generation: the key of its corral_cgroups entries */
	__u32 gflags;      /* corral_control.flags | corral_generation.flags */
	__u32 rule_slots;
	__u32 traced;
	__u64 generation;
	__u64 bits;        /* actor subject bits */
	__u64 target_bits; /* hook PTRACE: the tracee's cgroup subject bits */
	__u64 deleg_inside; /* hook CGROUP_ATTACH: bit list_pos of each delegated slot anchored at a
			     * common ancestor of src and dst (the move stays inside an instance) */
	__u64 anchor_id;   /* hook CGROUP_ATTACH: the cgroup whose anchors are being scanned */
	__u32 unclassified; /* hook CGROUP_ATTACH: dst or an ancestor has no classification */
	__u32 event_rate;  /* corral_generation.event_rate */
	/* hook ID_MAP: the written extents (inside, outside, count) x n_ext; id_bad when the write
	 * could not be read or parsed, or holds more than CORRAL_MAX_ID_EXTENTS */
	__u32 id_ext[3 * CORRAL_MAX_ID_EXTENTS];
	__u32 n_ext;
	__u32 id_bad;
	/* results: keys are corral_rules keys + 1 (0 = none) */
	__u64 wb_rank;     /* would-be winner */
	__u64 ef_rank;     /* effective winner (audit denies dropped) */
	__u64 side_rank;   /* best track (alloc) / lock-on-entry (install) rule */
	__u32 wb_key;
	__u32 ef_key;
	__u32 side_key;
	__u8 wb_deny;
	__u8 ef_deny;
	__u8 applied;      /* some rule produced a result */
	__u8 locked;       /* the actor's task lock is enforced in this generation */
	/* outcome */
	__u32 verdict;     /* enum corral_verdict */
	__s32 err;         /* errno returned (positive), 0 when allowed */
	__u32 rule_uid;    /* reported rule */
	__u32 mode;        /* its effective mode */
	__u32 side_label;  /* label tracked (alloc) / lock label (install) */
	__u32 side_uid;    /* rule uid of the track / lock-on-entry rule applied */
	__u32 ev_flags;    /* CORRAL_EVENT_F_* */
	__u32 actor_lock_rule;  /* the actor's task lock when the decision began (events) */
	__u32 actor_lock_label;
	__u32 already_in;       /* install: the actor is already in the namespace (not mnt/user) */
};

/* Compat pending namespace operations (corral_task_ctx.ns_pend). */
enum {
	CORRAL_PEND_NONE = 0,
	CORRAL_PEND_UNSHARE = 1, /* inside unshare_nsproxy_namespaces */
	CORRAL_PEND_SETNS = 2,   /* inside one <type>ns_install */
};

/* Compat pending cgroup migration (corral_task_ctx.cg_pend). */
enum {
	CORRAL_CG_NONE = 0,
	CORRAL_CG_TARGET = 1, /* target task known (cgroup_procs_write_start / cgroup_can_fork) */
	CORRAL_CG_READY = 2,  /* inside cgroup_attach_permissions: src/dst known, decide */
};

/* Per-task scratch and compat context. Not part of the ABI. */
struct corral_task_ctx {
	__u32 ns_pend;
	__u32 ns_flags;     /* unshare: CLONE_NEW* flags still to decide */
	__u32 ns_type;      /* setns: the namespace being installed */
	__u32 ns_inum;
	__s32 ns_err;       /* cached verdict of the pending operation */
	__u32 ns_decided;
	__u32 cg_pend;
	__u32 cg_decided;
	__s32 cg_err;
	__u32 cg_target;
	/* compat alloc: namespaces to track once their inum is known, by enum corral_ns_index */
	__u32 track_mask;
	__u32 track_label[CORRAL_NSI_COUNT];
	__u32 track_uid[CORRAL_NSI_COUNT];
	/* id-map write: the bytes read from the writer and the parser's state */
	char id_buf[CORRAL_ID_MAP_WRITE_MAX];
	__u32 id_len;
	__u32 id_field;  /* numbers seen on the current line */
	__u32 id_digit;  /* inside a number */
	__u32 _pad1;
	__u64 id_cur;    /* the number being read */
	struct corral_decision d;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct corral_task_ctx);
} corral_task_ctx SEC(".maps");

/* Per-boot event sequence number (corral_event.seq). */
__u64 corral_event_seq = 0;

/* The inner map of per-slot map `outer` for generation slot `gen` (NULL: the slot is empty). */
#define corral_slot_map(outer, gen) ({ __u32 __g = (gen); (void *)bpf_map_lookup_elem(outer, &__g); })

static __always_inline void corral_stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&corral_stats, &stat);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The actor's uid and gid, in the initial user namespace (corral_event.actor_uid/actor_gid). */
static __always_inline void corral_event_set_ids(struct corral_event *e)
{
	__u64 ids = bpf_get_current_uid_gid();

	e->actor_uid = (__u32)ids;
	e->actor_gid = ids >> 32;
}

static __always_inline struct corral_task_ctx *corral_ctx(int create)
{
	return bpf_task_storage_get(&corral_task_ctx, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

#endif /* CORRAL_MAPS_H */
