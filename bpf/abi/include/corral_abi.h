/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * corral_abi.h: the one contract between Corral's BPF programs (bpf/) and its Swift code
 * (CorralCompiler writes these maps, CorralKernel reads events). Every map key, value and
 * event is defined here, with a worked example. Semantics: docs/semantics.md.
 *
 * Layout rules: fixed-width fields only, explicit padding, natural alignment, so the
 * same struct has the same layout in BPF (clang -target bpf) and in Swift (x86_64/aarch64).
 *
 * Generations: policy maps carry a `gen` (0 or 1) in their key or index. The compiler writes
 * a new policy into the inactive generation, then flips corral_control.active_gen. A
 * decision reads active_gen once and uses only that generation's entries.
 */
#ifndef CORRAL_ABI_H
#define CORRAL_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CORRAL_ABI_VERSION 6 /* 2: corral_rule.audit_until_ns, corral_id_ranges, CORRAL_LIST_ID_MAP, hooks 6-7
				* 3: cgroup patterns: corral_cgroups (replaces corral_anchors and corral_subj_cg),
				*    corral_pattern_{nodes,names,globs}, corral_rule.list_pos, generation epochs;
				*    corral_subj_xattr
				* 4: corral_task_state carries the executable identity across the exec of an
				*    anonymous file; CORRAL_RULE_F_LOCK_TO_LABEL; CORRAL_EVENT_F_ALREADY_IN,
				*    CORRAL_EVENT_F_EXE_CARRIED
				* 5: corral_pattern_names and corral_rule_uids are per-slot maps (arrays of
				*    2 inner hash maps, one per generation slot)
				* 6: corral_event.actor_uid, actor_gid (128 bytes); corral_generation.event_rate,
				*    corral_event_budget, CORRAL_STAT_EVENTS_SUPPRESSED */

/* ---- capacities (the compiler refuses policies that exceed them) ---- */
#define CORRAL_MAX_RULE_SLOTS     16384 /* rule slots per generation (a rule with N scopes uses N) */
#define CORRAL_MAX_SUBJECTS       64    /* distinct subjects per policy: bits of a subject mask */
#define CORRAL_MAX_LABELS         8     /* labels named by one rule */
#define CORRAL_MAX_HOOK_RULES     64    /* subject-driven rule slots per hook list */
#define CORRAL_MAX_ANCHOR_RULES   16    /* rule slots anchored at one cgroup (and at one pattern node) */
#define CORRAL_MAX_CGROUPS        65536 /* classified (cgroup, epoch) entries, all epochs */
#define CORRAL_MAX_PATTERN_NODES  16384 /* pattern trie nodes per generation */
#define CORRAL_MAX_PATTERN_NAMES  16384 /* literal trie edges per generation */
#define CORRAL_MAX_PATTERN_GLOBS  4096  /* one-'*' trie edges per generation */
#define CORRAL_MAX_NODE_GLOBS     8     /* one-'*' edges leaving one trie node */
#define CORRAL_GLOB_PART_MAX      64    /* bytes of a glob component's prefix, and of its suffix */
#define CORRAL_CGROUP_NAME_MAX    256   /* a cgroup name and its NUL (NAME_MAX + 1) */
#define CORRAL_MAX_CGROUP_STATES  8     /* trie nodes one cgroup can stand at */
#define CORRAL_MAX_SUBJECT_EXES   4096  /* (gen, dev, ino) subject entries, both generations */
#define CORRAL_MAX_TRACKED_NS     65536 /* tracked namespaces */
#define CORRAL_MAX_CGROUP_DEPTH   32    /* ancestors walked per cgroup; deeper levels are not matched */
#define CORRAL_MAX_ID_RANGES      4     /* allowed uid (and gid) ranges of one id-map rule */
#define CORRAL_MAX_ID_EXTENTS     4     /* extents one uid_map/gid_map write may carry where an id-map rule applies */
#define CORRAL_ID_MAP_WRITE_MAX   160   /* bytes of such a write Corral reads; longer writes are refused */
#define CORRAL_MAX_ID_MAP_SLOTS   1024  /* corral_id_ranges entries, both generations */
#define CORRAL_RINGBUF_BYTES      (1 << 20)

/* ---- enums ---- */
enum corral_hook {
	CORRAL_HOOK_NS_ALLOC = 1,
	CORRAL_HOOK_NS_INSTALL = 2,
	CORRAL_HOOK_NS_FREE = 3,
	CORRAL_HOOK_CGROUP_ATTACH = 4,
	/* 5 is CORRAL_HOOK_SELF_PROTECT (below) */
	CORRAL_HOOK_PTRACE = 6, /* domain scope: ptrace_access_check (ATTACH) and ptrace_traceme */
	CORRAL_HOOK_ID_MAP = 7, /* a write to /proc/PID/{uid_map,gid_map,setgroups} (lsm/file_permission) */
	CORRAL_HOOK_END, /* one past the last; Swift's Hook has a case for each value but 5 (ABIValueTests) */
};

enum corral_rule_kind {
	CORRAL_RULE_TRACK = 1,
	CORRAL_RULE_LOCK_ON_ENTRY = 2,
	CORRAL_RULE_DENY_CREATE = 3,
	CORRAL_RULE_DENY_ENTER = 4,
	CORRAL_RULE_ALLOW_ENTER_ONLY = 5,
	CORRAL_RULE_MANAGERS = 6,
	CORRAL_RULE_DELEGATED = 7,
	CORRAL_RULE_STAY = 8,
	CORRAL_RULE_LOCKED = 9,
	CORRAL_RULE_DENY_INTO = 10,
	CORRAL_RULE_ID_MAP = 11,
	CORRAL_RULE_KIND_END, /* one past the last: decide.h asserts it; Swift's RuleKind has a case for each */
};

enum corral_mode {
	CORRAL_MODE_ENFORCE = 0,
	CORRAL_MODE_AUDIT = 1,
};

/* Reported verdict of a decision (see the table in docs/semantics.md). */
enum corral_verdict {
	CORRAL_VERDICT_ALLOW = 0,
	CORRAL_VERDICT_DENY = 1,
	CORRAL_VERDICT_AUDIT = 2, /* allowed, but an audit-mode rule would deny */
};

/* Hook lists: which subject-driven rule slots each decision scans. */
enum corral_hook_list {
	CORRAL_LIST_NS_ALLOC = 0,   /* track, deny-create */
	CORRAL_LIST_NS_INSTALL = 1, /* deny-enter, allow-enter-only, lock-on-entry */
	CORRAL_LIST_CGROUP = 2,     /* managers, delegated */
	CORRAL_LIST_ID_MAP = 3,     /* id-map */
	CORRAL_LIST_COUNT = 4,
};

/* Rank layout, identical to Sources/CorralPolicy/RuleOrder.swift. */
#define CORRAL_RANK_DENY (1ULL << 27)

/* corral_rule.flags */
#define CORRAL_RULE_F_DENY_UNSHARE (1u << 0) /* lock-on-entry: a locked task may not create namespaces */
/* ptrace-scope: the rule also confines PTRACE_MODE_ATTACH access (ptrace attach/seize,
 * /proc/PID/mem, process_vm_readv/writev, pidfd_getfd) and PTRACE_TRACEME to its domain.
 * lock-on-entry: the domain is the tasks locked by the same entry (same lock_label and
 * lock_inum). deny-create / deny-enter: set only on slots whose subject is a cgroup; the domain
 * is that subject's subtree. */
#define CORRAL_RULE_F_PTRACE_SCOPE (1u << 1)
#define CORRAL_RULE_F_SETGROUPS (1u << 2) /* id-map: writes to /proc/PID/setgroups are allowed */
/* lock-on-entry `lock-to: label`: a locked task may still enter namespaces carrying the label
 * whose entry locked it (a container's other namespaces); its ptrace domain is every task locked
 * with that label. Without the flag the lock confines it to the one namespace it entered. */
#define CORRAL_RULE_F_LOCK_TO_LABEL (1u << 3)

/* corral_control.flags and corral_generation.flags */
#define CORRAL_F_AUDIT_ALL (1u << 0) /* treat every rule as audit */
#define CORRAL_F_TRACE_ALL (1u << 1) /* emit an event for every decision, even with no rule */
#define CORRAL_F_CLASSIFY  (1u << 2) /* corral_generation.flags only: the slot's pattern tables are
				      * complete; cgroups created from now on are classified into its
				      * epoch (see corral_cgroups) */

/* corral_task_state.flags */
#define CORRAL_TASK_LOCKED (1u << 0)
#define CORRAL_TASK_TRACED (1u << 1) /* emit events for every decision this task makes (inherited) */
/* The task's executable identity is exe_dev/exe_ino, not its mm's exe_file: it executed an
 * anonymous file (nlink 0: a memfd, an O_TMPFILE) while it had that identity (runtimes such as
 * crun re-execute themselves from a sealed memfd copy). Cleared by the exec of a named file. */
#define CORRAL_TASK_EXE_CARRIED (1u << 2)
/* bprm_check_security saw an anonymous file: pending_dev/pending_ino become the carried
 * identity if the exec succeeds (bprm_committed_creds); not inherited. */
#define CORRAL_TASK_EXE_PENDING (1u << 3)

/* corral_event.flags */
#define CORRAL_EVENT_F_COMPAT (1u << 0)   /* decided by the compat hook set */
#define CORRAL_EVENT_F_LOCKED (1u << 1)   /* this decision locked the actor */
#define CORRAL_EVENT_F_TRACKED (1u << 2)  /* this decision tracked the namespace */
#define CORRAL_EVENT_F_TRACEME (1u << 3)  /* hook PTRACE: the actor called PTRACE_TRACEME; the
					   * tracer is target_pid (its parent) */
#define CORRAL_EVENT_F_UID_MAP (1u << 4)  /* hook ID_MAP: the file written (exactly one of three) */
#define CORRAL_EVENT_F_GID_MAP (1u << 5)
#define CORRAL_EVENT_F_SETGROUPS (1u << 6)
#define CORRAL_EVENT_F_UNCLASSIFIED (1u << 7) /* hook CGROUP_ATTACH: the destination or one of its
					       * ancestors has no classification (it could not be
					       * recorded at creation): denied, rule_uid 0 */
#define CORRAL_EVENT_F_ALREADY_IN (1u << 8) /* hook NS_INSTALL: the actor is already in the
					     * namespace (not mnt or user): not an entry, allowed
					     * without a rule; emitted only for traced tasks */
#define CORRAL_EVENT_F_EXE_CARRIED (1u << 9) /* the actor's executable identity was carried
					      * across the exec of an anonymous file */

/*
 * Map "corral_control": BPF_MAP_TYPE_ARRAY, 1 entry, key __u32 0.
 * Example: {active_gen = 1, flags = 0} — decisions use generation 1's maps.
 */
struct corral_control {
	__u32 active_gen; /* 0 or 1 */
	__u32 flags;      /* CORRAL_F_* applied on top of the generation's flags */
};

/*
 * Map "corral_generations": BPF_MAP_TYPE_ARRAY, 2 entries, key = gen.
 * Example: {generation = 7, any_mask = 0x1, pid1_mask = 0x2, rule_slots = 3,
 *           flags = CORRAL_F_CLASSIFY, pattern_nodes = 4}:
 * policy generation 7; subject bit 0 is "any", bit 1 is "pid1"; its epoch (the key of its
 * corral_cgroups entries) is 7; trie nodes 0..3 of this slot are valid.
 */
struct corral_generation {
	__u64 generation; /* monotonically increasing policy generation, reported in events; its low
			   * 32 bits are the generation's epoch */
	__u64 any_mask;   /* subject bits every task matches */
	__u64 pid1_mask;  /* subject bits tgid 1 matches */
	__u32 rule_slots; /* slots used in corral_rules for this gen */
	__u32 flags;      /* CORRAL_F_* */
	__u32 pattern_nodes; /* nodes used in corral_pattern_nodes for this gen (at least 1: the root) */
	__u32 event_rate; /* decision events per rule per second (policy `events: {rate-limit: N}`);
			   * 0: no limit. See corral_event_budget. */
};

/*
 * Map "corral_rules": BPF_MAP_TYPE_ARRAY, 2 * CORRAL_MAX_RULE_SLOTS entries,
 * key = gen * CORRAL_MAX_RULE_SLOTS + slot.
 *
 * Example: stay rule "stay-services" on /system.slice (cgroup id 42), enforce, file position 0,
 * subject any (bit 0):
 *   {rank = RuleOrder.rank(allow), subject_mask = 0x1, cgroup_id = 42, rule_uid = fnv1a("stay-services"),
 *    kind = CORRAL_RULE_STAY, mode = CORRAL_MODE_ENFORCE, flags = 0, ns_types = 0, err = 1 (EPERM),
 *    labels = {0}, track_label = 0, list_pos = 0, audit_until_ns = 0}
 * The slot is also listed in the anchors of the trie node of /system.slice (corral_pattern_nodes),
 * and so in the corral_cgroups entry of cgroup 42.
 * After `corral loosen stay-services --for 5m` at boot time 100 s: the same value with
 * audit_until_ns = 400000000000. Until then decisions treat the rule as audit; from then on as
 * enforce, although the daemon has not written a new generation (docs/operations.md, "Loosening").
 */
struct corral_rule {
	__u64 rank;         /* rank of this rule's allow; a deny ranks rank | CORRAL_RANK_DENY */
	__u64 subject_mask; /* applies when (actor subject bits & subject_mask) != 0 */
	__u64 cgroup_id;    /* exact scope's cgroup id at compile time (0: a pattern, or absent); for
			     * events and tools only: decisions use the anchoring cgroup */
	__u32 rule_uid;     /* FNV-1a 32 of the rule id: stable across generations */
	__u16 kind;         /* enum corral_rule_kind */
	__u8 mode;          /* enum corral_mode; `corral mode` rewrites it in place */
	__u8 flags;         /* CORRAL_RULE_F_* */
	__u32 ns_types;     /* CLONE_NEW* mask (track, deny-create, deny-enter, allow-enter-only) */
	__s32 err;          /* errno for denials (positive) */
	__u32 labels[CORRAL_MAX_LABELS]; /* label ids, 0-terminated */
	__u32 track_label;  /* track: label id given to tracked namespaces */
	__u32 list_pos;     /* position in its hook list (delegated: the bit of the decision's
			     * "inside a delegated instance" mask); 0 when in no list */
	__u64 audit_until_ns; /* `corral loosen`: the rule is audit while bpf_ktime_get_boot_ns() is
			       * below this (CLOCK_BOOTTIME), then `mode` applies again, with or
			       * without a daemon. 0: no loosening. */
};

/*
 * Map "corral_hook_rules": BPF_MAP_TYPE_ARRAY, 2 * CORRAL_LIST_COUNT entries,
 * key = gen * CORRAL_LIST_COUNT + list (enum corral_hook_list).
 * Example: list CGROUP of gen 0 = {count = 2, slots = {1, 4}}: slots 1 and 4 are
 * managers/delegated rules scanned for every cgroup_attach decision.
 */
struct corral_slot_list {
	__u32 count;
	__u32 _pad;
	__u16 slots[CORRAL_MAX_HOOK_RULES];
};

/*
 * Cgroup classification. Every cgroup path and pattern of a policy is compiled into a trie of
 * path components (the "pattern trie", one per generation slot). A cgroup's classification
 * is the set of trie nodes its path reaches, with what those nodes carry: subject bits and
 * anchored rule slots. It is computed from the parent's classification and the cgroup's name,
 * so every cgroup is classified when it is created (tp_btf/cgroup_mkdir runs before the new
 * directory is visible) and userspace classifies the cgroups that exist at install time.
 *
 * Map "corral_pattern_nodes": BPF_MAP_TYPE_ARRAY, 2 * CORRAL_MAX_PATTERN_NODES entries,
 * key = gen * CORRAL_MAX_PATTERN_NODES + node. Node 0 is the root "/".
 * Example (paths written as component lists, since C comments cannot hold a slash-star),
 * policy {stay [system.slice, *.service] (slot 0), deny-into [denied] (slot 1),
 *         cgroup subject [kubepods.slice, **] (bit 3)}:
 *   node 0 []:                        {n_glob = 0, flags = LIVE}
 *   node 1 [system.slice]:            {glob_first = 0, n_glob = 1, flags = LIVE}
 *   node 2 [system.slice, *.service]: {n_anchor = 1, anchor_slots = {0}}
 *   node 3 [denied]:                  {n_anchor = 1, anchor_slots = {1}}
 *   node 4 [kubepods.slice]:          {eps = 5, flags = LIVE}
 *   node 5 [kubepods.slice, **]:      {subject_bits = 0x8, flags = ANY_DEPTH | LIVE}
 */
#define CORRAL_NODE_F_ANY_DEPTH (1u << 0) /* a `**` node: stays a state of every descendant */
#define CORRAL_NODE_F_LIVE      (1u << 1) /* has edges or is ANY_DEPTH: children need classifying */

struct corral_pattern_node {
	__u64 subject_bits;  /* subject bits of tasks in a cgroup at this node, or below it */
	__u32 eps;           /* the `**` node reached from here without a component (0: none) */
	__u32 glob_first;    /* its first edge in corral_pattern_globs (slot-relative index) */
	__u16 n_glob;        /* its one-'*' edges, at most CORRAL_MAX_NODE_GLOBS */
	__u16 n_anchor;
	__u32 flags;         /* CORRAL_NODE_F_* */
	__u16 anchor_slots[CORRAL_MAX_ANCHOR_RULES]; /* rule slots scoped to the cgroups at this node */
};

/*
 * Per-slot maps: corral_pattern_names and corral_rule_uids, the two hash maps that grow with the
 * policy, are BPF_MAP_TYPE_ARRAY_OF_MAPS with 2 entries, key = gen, each an inner
 * BPF_MAP_TYPE_HASH (BPF_F_NO_PREALLOC) holding that slot's entries. The daemon fills a new inner
 * map and stores it in the inactive slot; after the switch it deletes the old slot's entry, and
 * the kernel frees that inner map. An empty slot (no inner map) has no entries. The keys still
 * carry `gen`.
 *
 * Map "corral_pattern_names": per-slot, CORRAL_MAX_PATTERN_NAMES entries per slot.
 * Literal edges: key {hash = FNV-1a 64 of the name, node = parent node, gen}; the value holds
 * the whole name, which is compared, so a hash collision never matches.
 * Example: {hash = fnv1a64("system.slice"), node = 0, gen = 0} ->
 *          {child = 1, len = 12, name = "system.slice"}
 */
struct corral_pattern_name_key {
	__u64 hash;
	__u32 node;
	__u32 gen;
};

struct corral_pattern_name {
	__u32 child;
	__u32 len; /* bytes of name, without NUL */
	char name[CORRAL_CGROUP_NAME_MAX];
};

/*
 * Map "corral_pattern_globs": BPF_MAP_TYPE_ARRAY, 2 * CORRAL_MAX_PATTERN_GLOBS entries,
 * key = gen * CORRAL_MAX_PATTERN_GLOBS + index. A component with one '*': a name matches
 * when it starts with prefix, ends with suffix, and is at least prefix_len + suffix_len long.
 * Example: the component "*.service" -> {child = 2, prefix_len = 0, suffix_len = 8, suffix = ".service"}
 */
struct corral_pattern_glob {
	__u32 child;
	__u16 prefix_len;
	__u16 suffix_len;
	char prefix[CORRAL_GLOB_PART_MAX];
	char suffix[CORRAL_GLOB_PART_MAX];
};

/*
 * Map "corral_cgroups": BPF_MAP_TYPE_HASH, CORRAL_MAX_CGROUPS entries,
 * key {cgroup_id, epoch = low 32 bits of the policy generation}, value struct corral_cgroup_class.
 * Written for the root and for every cgroup whose parent is LIVE: by the installer for the
 * cgroups that exist, by tp_btf/cgroup_mkdir for every later one (into each slot with
 * CORRAL_F_CLASSIFY), deleted by tp_btf/cgroup_rmdir. Decisions read the entries of the
 * cgroups' ancestors: subject bits (ORed) and anchored rule slots. A cgroup whose parent is LIVE
 * but that has no entry, or whose entry has OVERFLOW, is unclassified: a move into it is denied
 * (CORRAL_EVENT_F_UNCLASSIFIED).
 * Example: [system.slice, ssh.service] (cgroup 57) under the policy above, generation 7:
 *   {cgroup_id = 57, epoch = 7} -> {states = {2}, n_state = 1, n_anchor = 1, anchor_slots = {0}}
 */
#define CORRAL_CLASS_F_LIVE     (1u << 0) /* a state is LIVE: the children get entries */
#define CORRAL_CLASS_F_OVERFLOW (1u << 1) /* more than CORRAL_MAX_CGROUP_STATES states or
					   * CORRAL_MAX_ANCHOR_RULES anchors: unclassified */

struct corral_cgroup_key {
	__u64 cgroup_id; /* cgroup2 id: kernfs node id, equal to the cgroup directory's inode number */
	__u32 epoch;
	__u32 _pad;
};

struct corral_cgroup_class {
	__u64 subject_bits;
	__u32 flags;     /* CORRAL_CLASS_F_* */
	__u16 n_state;
	__u16 n_anchor;
	__u32 states[CORRAL_MAX_CGROUP_STATES];
	__u16 anchor_slots[CORRAL_MAX_ANCHOR_RULES];
};

/*
 * Map "corral_subj_exe": BPF_MAP_TYPE_HASH, CORRAL_MAX_SUBJECT_EXES entries,
 * key struct corral_exe_key, value __u64 subject bits.
 * Example: {ino = 1234, dev = 0x00800001 (kernel dev_t of 8:1), gen = 0} -> 0x8.
 */
/*
 * corral_subj_exe follows the executables it names (bpf/executables/, docs/compiler.md):
 *   - lsm/inode_rename over an entry's inode (dpkg: write foo.dpkg-new, rename it over foo) adds
 *     the incoming inode with the same bits, before the new file is visible at the path;
 *   - lsm/inode_post_setxattr of an attribute an `xattr:` subject names (corral_subj_xattr) adds
 *     the file's inode with that subject's bits; lsm/inode_removexattr removes them;
 *   - lsm/inode_free_security of an unlinked inode (i_nlink 0) deletes its entries, so a reused
 *     inode number never inherits them.
 * Entries for an inode that was replaced stay while the inode lives: processes still running the
 * old file keep matching until they exit or exec.
 */
struct corral_exe_key {
	__u64 ino;
	__u32 dev; /* kernel-internal dev_t: major << 20 | minor (not the stat(2) encoding) */
	__u32 gen;
};

/*
 * Map "corral_subj_xattr": BPF_MAP_TYPE_HASH, 2 * CORRAL_MAX_SUBJECTS entries.
 * The attribute names of `xattr:` subjects: key {hash = FNV-1a 64 of the name, gen}, the value
 * holds the whole name (compared in full) and the subject bits a file carrying it gets.
 * Example: {hash = fnv1a64("trusted.corral.manager"), gen = 0} ->
 *          {bits = 0x10, len = 22, name = "trusted.corral.manager"}
 */
#define CORRAL_XATTR_NAME_MAX 256 /* XATTR_NAME_MAX + 1 */

struct corral_xattr_key {
	__u64 hash;
	__u32 gen;
	__u32 _pad;
};

struct corral_xattr_subject {
	__u64 bits;
	__u32 len;
	__u32 _pad;
	char name[CORRAL_XATTR_NAME_MAX];
};

/*
 * Map "corral_rule_uids": per-slot, CORRAL_MAX_RULE_SLOTS entries per slot,
 * key struct corral_uid_key, value __u32 slot (the rule's first slot in that generation).
 * Used to find a task lock's rule in the active generation.
 */
struct corral_uid_key {
	__u32 rule_uid;
	__u32 gen;
};

/*
 * Map "corral_id_ranges": BPF_MAP_TYPE_HASH, CORRAL_MAX_ID_MAP_SLOTS entries,
 * key __u32 = the id-map rule's corral_rules key (gen * CORRAL_MAX_RULE_SLOTS + slot).
 * The ranges a uid_map / gid_map write may map: every written extent (inside, outside, count)
 * must lie within one range with the same offset (outside - inside). n_uid = 0: no uid_map write.
 * Example: rule "sandbox-ids" (slot 5, gen 0), `uids: ["0 100000 65536"]`, no gids ->
 *   5 -> {n_uid = 1, n_gid = 0, uid = {{0, 100000, 65536}}}
 *   "0 100000 1000" and "1000 101000 10" are allowed, "0 0 1" is not; every gid_map write is denied.
 */
struct corral_id_range {
	__u32 inside;
	__u32 outside;
	__u32 count;
};

struct corral_id_ranges {
	__u32 n_uid;
	__u32 n_gid;
	struct corral_id_range uid[CORRAL_MAX_ID_RANGES];
	struct corral_id_range gid[CORRAL_MAX_ID_RANGES];
};

/*
 * Map "corral_tracked_ns": BPF_MAP_TYPE_HASH, CORRAL_MAX_TRACKED_NS entries, key __u32 inum.
 * Not generational: tracked namespaces survive policy swaps. Deleted at namespace_free.
 * Example: 4026532290 -> {label = fnv1a("sandbox"), ns_type = CLONE_NEWUTS, rule_uid = fnv1a("track-sandbox"),
 *                         creator_tgid = 311}
 */
struct corral_tracked_ns {
	__u32 label;
	__u32 ns_type;
	__u32 rule_uid;
	__u32 creator_tgid;
};

/*
 * Map "corral_task_state": BPF_MAP_TYPE_TASK_STORAGE, value struct corral_task_state.
 * Copied from parent to child in task_alloc (fork, clone, threads); survives execve.
 * Example: {flags = CORRAL_TASK_LOCKED, lock_rule_uid = fnv1a("lock-sandbox"), lock_label = fnv1a("sandbox"),
 *           lock_inum = 4026532290}
 * Example (crun after its memfd re-exec): {flags = CORRAL_TASK_EXE_CARRIED, exe_dev = 0x00800001,
 *           exe_ino = 1234 (/usr/bin/crun)}: its exe and xattr subject bits come from that inode.
 */
struct corral_task_state {
	__u32 flags;         /* CORRAL_TASK_* */
	__u32 lock_rule_uid; /* lock-on-entry rule that locked the task */
	__u32 lock_label;    /* label of the namespace whose entry locked it */
	__u32 lock_inum;     /* that namespace's inum */
	__u32 exe_dev;       /* CORRAL_TASK_EXE_CARRIED: the identity's device (as corral_exe_key) */
	__u32 pending_dev;   /* CORRAL_TASK_EXE_PENDING: the identity an exec in progress carries */
	__u64 exe_ino;
	__u64 pending_ino;
};

/*
 * Ring buffer "corral_events": BPF_MAP_TYPE_RINGBUF, CORRAL_RINGBUF_BYTES.
 * One record per decision that a rule applied to, or made by a traced task, or with TRACE_ALL.
 * Hook PTRACE: pid/tgid/comm are the caller, target_pid the other task (the tracee, or with
 * CORRAL_EVENT_F_TRACEME the tracer); the cgroup and ns fields are 0.
 * Hook ID_MAP: ns_type = CLONE_NEWUSER, ns_inum/ns_label the user namespace whose file was
 * written, flags say which file (CORRAL_EVENT_F_UID_MAP, _GID_MAP, _SETGROUPS).
 * Example (a denied cgroup.procs write):
 *   {timestamp_ns = 91234, generation = 7, seq = 12, src_cgroup = 40, dst_cgroup = 42,
 *    hook = CORRAL_HOOK_CGROUP_ATTACH, verdict = CORRAL_VERDICT_DENY, mode = CORRAL_MODE_ENFORCE,
 *    rule_uid = fnv1a("stay-services"), pid = 311, tgid = 311, target_pid = 312, ns_type = 0,
 *    ns_inum = 0, ns_label = 0, err = 1, threadgroup = 1, flags = CORRAL_EVENT_F_COMPAT, comm = "sh"}
 */
struct corral_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u64 generation;   /* policy generation that decided */
	__u64 seq;          /* per-boot event sequence number */
	__u64 src_cgroup;   /* cgroup_attach: source cgroup id */
	__u64 dst_cgroup;   /* cgroup_attach: destination cgroup id */
	__u32 hook;         /* enum corral_hook */
	__u32 verdict;      /* enum corral_verdict */
	__u32 mode;         /* enum corral_mode of the reported rule */
	__u32 rule_uid;     /* reported rule (0: none, default allow) */
	__u32 pid;          /* actor thread id */
	__u32 tgid;         /* actor process id */
	__u32 target_pid;   /* cgroup_attach: migrating task or new child (thread id); else 0 */
	__u32 ns_type;      /* namespace hooks: CLONE_NEW* flag */
	__u32 ns_inum;      /* namespace hooks: inode number (0 in compat alloc: not yet known) */
	__u32 ns_label;     /* namespace hooks: tracked label id, 0 if untracked */
	__s32 err;          /* errno returned to the caller when denied, else 0 */
	__u8 threadgroup;   /* cgroup_attach: 1 for cgroup.procs / clone3, 0 for cgroup.threads */
	__u8 _pad;
	__u16 flags;        /* CORRAL_EVENT_F_* */
	char comm[16];      /* actor comm */
	__u64 actor_cgroup;     /* actor's cgroup id at decision time */
	__u32 actor_lock_rule;  /* actor's lock before this decision: rule uid (0: not locked) */
	__u32 actor_lock_label; /* ... and the label of the namespace that locked it */
	__u32 actor_uid;        /* bpf_get_current_uid_gid(): the actor's uid and gid (its current */
	__u32 actor_gid;        /* credentials, in the initial user namespace) at decision time */
};

/*
 * Map "corral_stats": BPF_MAP_TYPE_PERCPU_ARRAY, CORRAL_STAT_COUNT entries of __u64.
 */
enum corral_stat {
	CORRAL_STAT_HOOK_NS_ALLOC = 0,       /* hook invocations, by hook */
	CORRAL_STAT_HOOK_NS_INSTALL = 1,
	CORRAL_STAT_HOOK_NS_FREE = 2,
	CORRAL_STAT_HOOK_CGROUP_ATTACH = 3,
	CORRAL_STAT_DENIED = 4,              /* enforced denials */
	CORRAL_STAT_AUDITED = 5,             /* would-deny decisions */
	CORRAL_STAT_RINGBUF_DROPS = 6,       /* events lost because the ring buffer was full */
	CORRAL_STAT_CLASSIFIED = 7,          /* cgroups classified at creation (per slot) */
	CORRAL_STAT_CLASSIFY_FAILED = 8,     /* ... whose entry could not be written (map full) */
	CORRAL_STAT_UNCLASSIFIED = 9,        /* moves denied into an unclassified cgroup */
	CORRAL_STAT_EXE_FOLLOWED = 10,       /* subject executables followed across a rename */
	CORRAL_STAT_EXE_MARKED = 11,         /* files that gained a subject xattr */
	CORRAL_STAT_EXE_FORGOTTEN = 12,      /* entries of freed (unlinked) inodes deleted */
	CORRAL_STAT_EXE_CARRIED = 13,        /* execs of an anonymous file that kept the identity */
	CORRAL_STAT_EVENTS_SUPPRESSED = 14,  /* decision events not sent: their rule was over its
					      * event_rate this second (the decision still applied) */
	CORRAL_STAT_COUNT = 15,
};

/*
 * Map "corral_event_budget": BPF_MAP_TYPE_LRU_HASH, key = rule uid (0: decisions without a
 * rule, e.g. traced default allows), value struct corral_event_budget. Used only while the
 * active generation's event_rate is not 0: a decision event is sent when its rule has sent
 * fewer than event_rate events in the current second (window = bpf_ktime_get_ns() / 1e9),
 * else counted in `suppressed` and CORRAL_STAT_EVENTS_SUPPRESSED. Verdicts never depend on it.
 * Updates are not atomic across CPUs: a rule may send a few more than event_rate in a second.
 * Self-protection events are not limited.
 * Example: event_rate 100, rule "stay-web" denies 250 moves within second 1712:
 *   {window = 1712, sent = 100, suppressed = 150}; 100 events reach the daemon.
 */
struct corral_event_budget {
	__u64 window;     /* the second (bpf_ktime_get_ns() / 1e9) that `sent` counts */
	__u32 sent;       /* events sent in that second */
	__u32 suppressed; /* events suppressed since the entry was created (all windows) */
};

/* ====================================================================================== */
/* Self-protection (bpf/self-protect/, docs/security.md)                                   */
/* ====================================================================================== */
/*
 * Only the daemon identity may get writable fds for Corral's maps, change its maps, programs
 * and links through any fd, open or remove its pins, or unmount the bpffs that holds them.
 * Everyone may get program and link fds and read-only map fds (inspection, bpftool). Every entry lives in one hash map:
 *
 * Map "corral_protect": BPF_MAP_TYPE_HASH, CORRAL_MAX_PROTECTED entries,
 * key struct corral_protect_key, value __u32 (1; reserved). Empty map: nothing is protected.
 * Userspace (Sources/CorralKernel/Protect/SelfProtection.swift) writes the daemon identity
 * first and removes it last, so there is never a protected object without an identity.
 *
 * Worked examples (dev is the kernel-internal dev_t, major << 20 | minor, as in corral_exe_key):
 *   {id = 1183,  dev = 0x00800001, kind = CORRAL_PROTECT_DAEMON_EXE} -> 1
 *       tasks whose mm->exe_file is inode 1183 on 8:1 are the daemon identity
 *   {id = 42,    dev = 0,          kind = CORRAL_PROTECT_MAP_ID}     -> 1   map id 42
 *   {id = 97,    dev = 0,          kind = CORRAL_PROTECT_PROG_ID}    -> 1   program id 97
 *   {id = 12,    dev = 0,          kind = CORRAL_PROTECT_LINK_ID}    -> 1   link id 12
 *   {id = 20513, dev = 0x0000001a, kind = CORRAL_PROTECT_INODE}      -> 1
 *       a pin (file) or pin directory on the bpffs 0:26; files: no open/BPF_OBJ_GET, unlink,
 *       rename; directories: no entry created/removed inside (MAY_WRITE), rmdir, rename
 *   {id = 0,     dev = 0x0000001a, kind = CORRAL_PROTECT_SUPERBLOCK} -> 1
 *       the bpffs 0:26 cannot be unmounted (any of its mounts)
 */
#define CORRAL_MAX_PROTECTED 1024

enum corral_protect_kind {
	CORRAL_PROTECT_DAEMON_EXE = 1, /* id = inode number, dev = its superblock's dev */
	CORRAL_PROTECT_MAP_ID = 2,     /* id = map id (bpf_map_info.id), dev = 0 */
	CORRAL_PROTECT_PROG_ID = 3,    /* id = program id, dev = 0 */
	CORRAL_PROTECT_LINK_ID = 4,    /* id = link id, dev = 0 */
	CORRAL_PROTECT_INODE = 5,      /* id = bpffs inode number, dev = bpffs dev */
	CORRAL_PROTECT_SUPERBLOCK = 6, /* id = 0, dev = bpffs dev */
	CORRAL_PROTECT_KIND_END, /* one past the last (ABIValueTests) */
};

struct corral_protect_key {
	__u64 id;
	__u32 dev;
	__u32 kind; /* enum corral_protect_kind */
};

/*
 * Denials are reported as a struct corral_event with
 *   hook = CORRAL_HOOK_SELF_PROTECT, verdict = CORRAL_VERDICT_DENY, mode = CORRAL_MODE_ENFORCE,
 *   err = EPERM (1), rule_uid = 0, generation = 0, flags = 0,
 *   ns_type = enum corral_protect_op (what was refused),
 *   ns_inum = the map/prog/link id (*_BY_ID, *_FD, LINK_*, OBJ_PIN, *_USE, MAP_WRITE), the inode number (OPEN, UNLINK, RENAME, RMDIR,
 *             DIR_WRITE) or 0 (UMOUNT, PTRACE),
 *   target_pid = the traced task (PTRACE), else 0; pid/tgid/comm/actor_* as for decisions.
 * Example: {hook = 5, verdict = 1, err = 1, ns_type = CORRAL_PROTECT_OP_MAP_BY_ID, ns_inum = 42,
 *           pid = 377, tgid = 377, comm = "bpftool"}: bpftool was refused a writable fd for map 42
 *           (bpftool 7.1 opens maps read-write for `map show`).
 * Self-protection is always enforced: CORRAL_F_AUDIT_ALL and rule modes do not apply to it.
 */
#define CORRAL_HOOK_SELF_PROTECT 5 /* corral_event.hook; enum corral_hook continues here */

enum corral_protect_op {
	CORRAL_PROTECT_OP_MAP_BY_ID = 1,  /* bpf(BPF_MAP_GET_FD_BY_ID) asking for a writable fd
					   * (open_flags without BPF_F_RDONLY)      lsm/bpf */
	CORRAL_PROTECT_OP_PROG_BY_ID = 2, /* retired: program fds by id are allowed (bpftool) */
	CORRAL_PROTECT_OP_LINK_BY_ID = 3, /* retired: link fds by id are allowed (bpftool) */
	CORRAL_PROTECT_OP_OPEN = 4,       /* any permission check on a pin file: BPF_OBJ_GET, open */
	CORRAL_PROTECT_OP_DIR_WRITE = 5,  /* MAY_WRITE on a pin directory: create/remove entries */
	CORRAL_PROTECT_OP_UNLINK = 6,     /* lsm/inode_unlink of a pin */
	CORRAL_PROTECT_OP_RENAME = 7,     /* lsm/inode_rename from, to or over a protected inode */
	CORRAL_PROTECT_OP_RMDIR = 8,      /* lsm/inode_rmdir of a pin directory or inside one */
	CORRAL_PROTECT_OP_UMOUNT = 9,     /* lsm/sb_umount of the protected bpffs */
	CORRAL_PROTECT_OP_PTRACE = 10,    /* PTRACE_MODE_ATTACH access to a daemon-identity task */
	CORRAL_PROTECT_OP_MAP_FD = 11,    /* lsm/bpf_map: a new *writable* fd for a protected map by
					   * any path (e.g. BPF_OBJ_GET of a pin not yet protected) */
	CORRAL_PROTECT_OP_PROG_FD = 12,   /* retired: new program fds are allowed */
	CORRAL_PROTECT_OP_LINK_UPDATE = 13, /* BPF_LINK_UPDATE: link_fd a protected link, or
					     * new_prog_fd / old_prog_fd a protected program */
	CORRAL_PROTECT_OP_LINK_DETACH = 14, /* BPF_LINK_DETACH of a protected link */
	CORRAL_PROTECT_OP_OBJ_PIN = 15,   /* BPF_OBJ_PIN of a protected map, program or link */
	CORRAL_PROTECT_OP_PROG_USE = 16,  /* a protected program used by another: BPF_PROG_ATTACH /
					   * _DETACH (attach_bpf_fd, replace_bpf_fd), BPF_LINK_CREATE
					   * (prog_fd, target_fd), BPF_RAW_TRACEPOINT_OPEN,
					   * BPF_PROG_TEST_RUN, BPF_PROG_BIND_MAP, BPF_PROG_LOAD
					   * with attach_prog_fd (lsm/bpf), or a new program whose
					   * dst_prog it is (lsm/bpf_prog) */
	CORRAL_PROTECT_OP_MAP_WRITE = 17, /* BPF_MAP_{UPDATE,DELETE,LOOKUP_AND_DELETE}_ELEM,
					   * BPF_MAP_FREEZE, the *_BATCH writes on a protected map */
	CORRAL_PROTECT_OP_MAP_USE = 18,   /* a protected map tied to something else: a new program
					   * that uses it (lsm/bpf_prog), BPF_PROG_BIND_MAP, an inner
					   * map of another map of maps, an iterator link over it
					   * (BPF_ITER_CREATE, BPF_OBJ_PIN) */
	CORRAL_PROTECT_OP_END, /* one past the last (ABIValueTests) */
};

/*
 * Worked examples of the fd-based denials (ns_inum is always the protected object's id):
 *   {ns_type = CORRAL_PROTECT_OP_LINK_DETACH, ns_inum = 12, comm = "attacker"}
 *       bpf(BPF_LINK_DETACH, link_fd = an fd for link 12, got with BPF_LINK_GET_FD_BY_ID)
 *   {ns_type = CORRAL_PROTECT_OP_OBJ_PIN, ns_inum = 42}
 *       bpf(BPF_OBJ_PIN, bpf_fd = a read-only fd for map 42, pathname = "/sys/fs/bpf/keep")
 *   {ns_type = CORRAL_PROTECT_OP_MAP_WRITE, ns_inum = 42}
 *       bpf(BPF_MAP_UPDATE_ELEM, map_fd = an fd for map 42) (refused before the kernel's own
 *       FMODE_WRITE check, which a read-only fd would fail anyway)
 *   {ns_type = CORRAL_PROTECT_OP_MAP_USE, ns_inum = 42}
 *       bpf(BPF_PROG_LOAD) of a program whose instructions reference map 42 (refused at its
 *       first fd, after verification; the program is freed)
 *   {ns_type = CORRAL_PROTECT_OP_PROG_USE, ns_inum = 97}
 *       bpf(BPF_PROG_TEST_RUN or BPF_RAW_TRACEPOINT_OPEN, prog_fd = an fd for program 97)
 */

#endif /* CORRAL_ABI_H */
