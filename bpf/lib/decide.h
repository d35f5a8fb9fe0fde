/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one implementation of docs/semantics.md in BPF. Both entry-point sets (native_*, compat_*)
 * fill a struct corral_decision and call corral_decide_ns() or corral_decide_cgroup(); these read
 * corral_control.active_gen once, compute the actor's subject bits, collect the applicable
 * results, pick the would-be and effective winners by rank, apply the side effect (track / lock)
 * and emit the event. They return the errno to deny with (positive), 0 to allow.
 */
#ifndef CORRAL_DECIDE_H
#define CORRAL_DECIDE_H

#include "corral_maps.h"

/* ---- actor ----
 * Direct loads: `t`, `cg` and what is reached from them here are BTF pointers (the hook's
 * arguments, bpf_get_current_task_btf()), so a field read is one BPF_PROBE_MEM load (fault-safe:
 * a bad address reads 0) instead of a bpf_probe_read_kernel helper call (issue 12: about 0.2 µs
 * each under TCG). Pointers that may be NULL are checked before they are dereferenced (the
 * verifier insists for RCU pointers on 6.2+). Only callers with BTF pointers may use these; a
 * scalar (bpf_get_func_arg, a map value) fails verification, it is not read wrong. The
 * `_probe` variants are for scalars.
 *
 * Ancestors by kernfs parent: cgroup->ancestors[] is a flexible array of pointers, which the
 * verifier does not let a BTF pointer index; a cgroup2 cgroup's kernfs node is a child of its
 * parent cgroup's node (cgroup_create: kernfs_create_dir_ns(parent->kn, ...); a rename keeps
 * the parent; the hierarchy root's node has none) and its id is the cgroup id, so walking
 * kn->parent from cg->kn visits ancestors[level], ..., ancestors[0]. A cgroup at level >=
 * CORRAL_MAX_CGROUP_DEPTH takes the old path (ancestors[0..MAX-1] by probe reads), so what is
 * matched does not change. */

/* cgroup2 id of cg (kn->id). cg: a BTF pointer. */
static __always_inline __u64 corral_cgroup_id(struct cgroup *cg)
{
	struct kernfs_node *kn = cg ? cg->kn : NULL;

	return kn ? kn->id : 0;
}

/* Subject bits of t's executable identity: the carried one (CORRAL_TASK_EXE_CARRIED) or the
 * inode of its mm's exe_file. t: a BTF pointer. */
static __always_inline __u64 corral_exe_bits(struct task_struct *t, const struct corral_task_state *st,
					      __u32 gen)
{
	struct corral_exe_key k = {};
	struct mm_struct *mm;
	struct file *f;
	struct inode *ino;
	struct super_block *sb;
	__u64 *bits;

	if (st && (st->flags & CORRAL_TASK_EXE_CARRIED)) {
		k.ino = st->exe_ino;
		k.dev = st->exe_dev;
	} else {
		mm = t->mm;
		if (!mm)
			return 0;
		f = mm->exe_file;
		if (!f)
			return 0;
		ino = f->f_inode;
		if (!ino)
			return 0;
		k.ino = ino->i_ino;
		sb = ino->i_sb;
		k.dev = sb ? sb->s_dev : 0;
	}
	k.gen = gen;
	bits = bpf_map_lookup_elem(&corral_subj_exe, &k);
	return bits ? *bits : 0;
}

/* The kernfs walk needs kernfs_node::parent; kernels that renamed it (6.15: __parent, RCU)
 * take the ancestors[] path by probe reads (CO-RE: the field test is a load-time constant). */
#define CORRAL_KN_PARENT_WALK bpf_core_field_exists(struct kernfs_node, parent)

/* corral_cgroup_bits by probe reads of ancestors[]: levels 0..min(level, MAX-1) (a cgroup at
 * level >= CORRAL_MAX_CGROUP_DEPTH, or no kernfs parent field). */
static __always_inline __u64 corral_cgroup_bits_deep(struct cgroup *cg, int level, __u32 epoch)
{
	struct corral_cgroup_key k = {.epoch = epoch};
	struct corral_cgroup_class *c;
	__u64 bits = 0;
	int i;

	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i > level)
			break;
		k.cgroup_id = corral_cgroup_ancestor_id(cg, i);
		c = bpf_map_lookup_elem(&corral_cgroups, &k);
		if (c)
			bits |= c->subject_bits;
	}
	return bits;
}

/* OR of the subject bits of t's default-hierarchy cgroup and its ancestors (corral_cgroups).
 * t: a BTF pointer. */
static __always_inline __u64 corral_cgroup_bits(struct task_struct *t, __u32 epoch)
{
	struct corral_cgroup_key k = {.epoch = epoch};
	struct corral_cgroup_class *c;
	struct css_set *cset;
	struct kernfs_node *kn;
	struct cgroup *cg;
	__u64 bits = 0;
	int level, i;

	cset = t->cgroups;
	if (!cset)
		return 0;
	cg = cset->dfl_cgrp;
	if (!cg)
		return 0;
	level = cg->level;
	if (level >= CORRAL_MAX_CGROUP_DEPTH || !CORRAL_KN_PARENT_WALK)
		return corral_cgroup_bits_deep(cg, level, epoch);
	kn = cg->kn;
	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i > level || !kn)
			break;
		k.cgroup_id = kn->id;
		c = bpf_map_lookup_elem(&corral_cgroups, &k);
		if (c)
			bits |= c->subject_bits;
		kn = kn->parent;
	}
	return bits;
}

/* Ids of cg's ancestors, root first, at most MAX_DEPTH, by probe reads of ancestors[]. */
static __always_inline __u32 corral_read_ancestors_deep(struct cgroup *cg, int level, __u64 *anc)
{
	int i;
	__u32 n = 0;

	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i > level)
			break;
		anc[i] = corral_cgroup_ancestor_id(cg, i);
		n = i + 1;
	}
	return n;
}

/* Fills src_anc/dst_anc-style arrays: ids of cg's ancestors, root first, at most MAX_DEPTH.
 * cg: a BTF pointer (a hook argument); corral_read_ancestors_probe for a scalar. */
static __always_inline __u32 corral_read_ancestors(struct cgroup *cg, __u64 *anc)
{
	struct kernfs_node *kn;
	int level, i, idx;

	if (!cg)
		return 0;
	level = cg->level;
	if (level < 0)
		return 0;
	if (level >= CORRAL_MAX_CGROUP_DEPTH || !CORRAL_KN_PARENT_WALK)
		return corral_read_ancestors_deep(cg, level, anc);
	kn = cg->kn;
	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		idx = level - i;
		if (idx < 0)
			break;
		anc[idx & (CORRAL_MAX_CGROUP_DEPTH - 1)] = kn ? kn->id : 0;
		kn = kn ? kn->parent : NULL;
	}
	return level + 1;
}

/* corral_read_ancestors for a cgroup pointer the verifier does not know (compat_cg_enter gets
 * it from bpf_get_func_arg): the same kernfs walk by probe reads (2 per level). */
static __always_inline __u32 corral_read_ancestors_probe(struct cgroup *cg, __u64 *anc)
{
	struct kernfs_node *kn = NULL;
	int level = -1, i, idx;
	__u64 id;

	if (!cg)
		return 0;
	bpf_core_read(&level, sizeof(level), &cg->level);
	if (level < 0)
		return 0;
	if (level >= CORRAL_MAX_CGROUP_DEPTH || !CORRAL_KN_PARENT_WALK)
		return corral_read_ancestors_deep(cg, level, anc);
	bpf_core_read(&kn, sizeof(kn), &cg->kn);
	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		idx = level - i;
		if (idx < 0)
			break;
		id = 0;
		if (kn) {
			bpf_core_read(&id, sizeof(id), &kn->id);
			if (idx > 0)
				bpf_core_read(&kn, sizeof(kn), &kn->parent);
		}
		anc[idx & (CORRAL_MAX_CGROUP_DEPTH - 1)] = id;
	}
	return level + 1;
}

/* Reads the active generation and the actor's subject bits and lock. The actor is the task
 * that asks (current), except for PTRACE_TRACEME, where it is the tracer (current's parent). */
static __always_inline void corral_begin_actor(struct corral_decision *d, struct task_struct *actor)
{
	struct corral_generation *g;
	struct corral_control *ctl;
	struct corral_task_state *st;
	__u32 zero = 0, gen, cflags = 0;
	__u64 bits = 0;

	ctl = bpf_map_lookup_elem(&corral_control, &zero);
	gen = ctl ? (ctl->active_gen & 1) : 0; /* the one read of active_gen */
	if (ctl)
		cflags = ctl->flags;
	d->gen = gen;
	d->epoch = 0;
	d->gflags = cflags;
	d->generation = 0;
	d->rule_slots = 0;
	d->event_rate = 0;
	g = bpf_map_lookup_elem(&corral_generations, &gen);
	if (g) {
		d->gflags |= g->flags;
		d->event_rate = g->event_rate;
		d->generation = g->generation;
		d->epoch = (__u32)g->generation;
		d->rule_slots = g->rule_slots < CORRAL_MAX_RULE_SLOTS ? g->rule_slots
								       : CORRAL_MAX_RULE_SLOTS;
		bits = g->any_mask;
		if (actor->tgid == 1)
			bits |= g->pid1_mask;
	}
	st = bpf_task_storage_get(&corral_task_state, actor, 0, 0);
	bits |= corral_exe_bits(actor, st, gen);
	bits |= corral_cgroup_bits(actor, d->epoch);
	d->bits = bits;
	d->target_bits = 0;
	d->deleg_inside = 0;
	d->anchor_id = 0;
	d->unclassified = 0;

	d->traced = st && (st->flags & CORRAL_TASK_TRACED);
	d->actor_lock_rule = d->actor_lock_label = 0;
	if (st && (st->flags & CORRAL_TASK_LOCKED)) {
		d->actor_lock_rule = st->lock_rule_uid;
		d->actor_lock_label = st->lock_label;
	}

	d->wb_rank = d->ef_rank = d->side_rank = 0;
	d->wb_key = d->ef_key = d->side_key = 0;
	d->wb_deny = d->ef_deny = d->applied = d->locked = 0;
	d->verdict = CORRAL_VERDICT_ALLOW;
	d->err = 0;
	d->rule_uid = 0;
	d->mode = 0;
	d->side_label = 0;
	d->side_uid = 0;
	d->ev_flags = d->compat ? CORRAL_EVENT_F_COMPAT : 0;
	if (st && (st->flags & CORRAL_TASK_EXE_CARRIED))
		d->ev_flags |= CORRAL_EVENT_F_EXE_CARRIED;
}

static __always_inline void corral_begin(struct corral_decision *d)
{
	corral_begin_actor(d, bpf_get_current_task_btf());
}

/* ---- results ---- */

/* Audit: the rule's mode, the policy-wide switch, or a loosening (`corral loosen`) whose
 * CLOCK_BOOTTIME deadline has not passed. The deadline is checked here, at every decision, so
 * a loosening ends on time whether or not a daemon runs. The clock is read only for a
 * loosened rule. */
static __always_inline int corral_rule_audit(struct corral_decision *d, const struct corral_rule *r)
{
	if (r->mode == CORRAL_MODE_AUDIT || (d->gflags & CORRAL_F_AUDIT_ALL))
		return 1;
	return r->audit_until_ns && bpf_ktime_get_boot_ns() < r->audit_until_ns;
}

/* One applicable result: rank = rule rank, | CORRAL_RANK_DENY for a deny. */
static __always_inline void corral_result(struct corral_decision *d, const struct corral_rule *r,
					  __u32 key, int deny)
{
	__u64 rank = r->rank | (deny ? CORRAL_RANK_DENY : 0);

	d->applied = 1;
	if (!d->wb_key || rank > d->wb_rank) {
		d->wb_rank = rank;
		d->wb_key = key + 1;
		d->wb_deny = deny;
	}
	if (deny && corral_rule_audit(d, r))
		return; /* audit never tightens */
	if (!d->ef_key || rank > d->ef_rank) {
		d->ef_rank = rank;
		d->ef_key = key + 1;
		d->ef_deny = deny;
	}
}

/* Side-effect candidate (track rule at alloc, lock-on-entry at install): highest rank wins. */
static __always_inline void corral_side(struct corral_decision *d, const struct corral_rule *r,
					__u32 key)
{
	if (!d->side_key || r->rank > d->side_rank) {
		d->side_rank = r->rank;
		d->side_key = key + 1;
	}
}

static __always_inline int corral_has_label(const struct corral_rule *r, __u32 label)
{
	int i;

	if (!label)
		return 0;
#pragma unroll
	for (i = 0; i < CORRAL_MAX_LABELS; i++) {
		if (!r->labels[i])
			return 0;
		if (r->labels[i] == label)
			return 1;
	}
	return 0;
}

/* id-map: every written extent lies within one of the rule's ranges, at the same offset. */
static __always_inline int corral_id_map_allowed(struct corral_decision *d, __u32 key)
{
	const struct corral_id_ranges *rg = bpf_map_lookup_elem(&corral_id_ranges, &key);
	const struct corral_id_range *ranges;
	__u32 n_ranges, n = d->n_ext;
	int e, j, ok;

	if (!rg || d->id_bad)
		return 0;
	ranges = (d->ev_flags & CORRAL_EVENT_F_UID_MAP) ? rg->uid : rg->gid;
	n_ranges = (d->ev_flags & CORRAL_EVENT_F_UID_MAP) ? rg->n_uid : rg->n_gid;
#pragma unroll
	for (e = 0; e < CORRAL_MAX_ID_EXTENTS; e++) {
		__u64 in, out, cnt;

		if (e >= n)
			break;
		in = d->id_ext[3 * e];
		out = d->id_ext[3 * e + 1];
		cnt = d->id_ext[3 * e + 2];
		ok = 0;
#pragma unroll
		for (j = 0; j < CORRAL_MAX_ID_RANGES; j++) {
			__u64 ri = ranges[j].inside, ro = ranges[j].outside, rc = ranges[j].count;

			if (j < n_ranges && in >= ri && in + cnt <= ri + rc && out + ri == ro + in)
				ok = 1;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* "X ∈ P": P is X or an ancestor of X (within CORRAL_MAX_CGROUP_DEPTH levels). */
static __always_inline int corral_within(const __u64 *anc, __u32 n, __u64 id)
{
	int i;

	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i >= n)
			break;
		if (anc[i] == id)
			return 1;
	}
	return 0;
}

static __always_inline const struct corral_rule *corral_rule_at(struct corral_decision *d,
								__u32 slot, __u32 *key)
{
	if (slot >= d->rule_slots || slot >= CORRAL_MAX_RULE_SLOTS)
		return NULL;
	*key = d->gen * CORRAL_MAX_RULE_SLOTS + slot;
	return bpf_map_lookup_elem(&corral_rules, key);
}

/* Evaluates one candidate rule slot for the decision's hook. Global: verified once, not once per
 * loop iteration of its callers (scan_list: 64 slots, scan_anchor: 16 slots x 2 x 32 levels).
 * A slot of a kind this program does not know where a verdict is decided (a compiler newer than
 * the program) denies: fail closed. A new kind is added here first: */
_Static_assert(CORRAL_RULE_KIND_END == 12, "a new rule kind: teach corral_eval_slot, then update this count");
__noinline int corral_eval_slot(struct corral_decision *d, __u32 slot)
{
	const struct corral_rule *r;
	__u32 key = 0;
	int in_src, in_dst;

	if (!d)
		return 0;
	r = corral_rule_at(d, slot, &key);
	if (!r || !(r->subject_mask & d->bits))
		return 0;

	switch (d->hook) {
	case CORRAL_HOOK_NS_ALLOC:
		if (!(r->ns_types & d->ns_type))
			return 0;
		if (r->kind == CORRAL_RULE_DENY_CREATE)
			corral_result(d, r, key, 1);
		else if (r->kind == CORRAL_RULE_TRACK)
			corral_side(d, r, key);
		else
			corral_result(d, r, key, 1); /* unknown kind on this list: fail closed */
		return 0;
	case CORRAL_HOOK_NS_INSTALL:
		if (r->kind == CORRAL_RULE_DENY_ENTER) {
			if ((r->ns_types & d->ns_type) || corral_has_label(r, d->ns_label))
				corral_result(d, r, key, 1);
		} else if (r->kind == CORRAL_RULE_ALLOW_ENTER_ONLY) {
			if (!r->ns_types || (r->ns_types & d->ns_type))
				corral_result(d, r, key, !corral_has_label(r, d->ns_label));
		} else if (r->kind == CORRAL_RULE_LOCK_ON_ENTRY) {
			if (corral_has_label(r, d->ns_label))
				corral_side(d, r, key);
		} else {
			corral_result(d, r, key, 1); /* unknown kind on this list: fail closed */
		}
		return 0;
	case CORRAL_HOOK_CGROUP_ATTACH:
		if (r->kind == CORRAL_RULE_MANAGERS) {
			corral_result(d, r, key, 0);
			return 0;
		}
		if (r->kind == CORRAL_RULE_DELEGATED && !d->anchor_id) {
			/* from the CGROUP list, after the anchors: outside every instance is a deny */
			if (!(r->list_pos < 64 && (d->deleg_inside & (1ULL << r->list_pos))))
				corral_result(d, r, key, 1);
			return 0;
		}
		if (!d->anchor_id) {
			corral_result(d, r, key, 1); /* the CGROUP list holds managers and delegated only */
			return 0;
		}
		/* Anchored at d->anchor_id: this instance of the rule's scope (a pattern names many). */
		in_src = corral_within(d->src_anc, d->n_src, d->anchor_id);
		in_dst = corral_within(d->dst_anc, d->n_dst, d->anchor_id);
		switch (r->kind) {
		case CORRAL_RULE_DELEGATED:
			if (in_src && in_dst) {
				corral_result(d, r, key, 0);
				if (r->list_pos < 64)
					d->deleg_inside |= 1ULL << r->list_pos;
			}
			break;
		case CORRAL_RULE_STAY:
			if (in_src && !in_dst)
				corral_result(d, r, key, 1);
			break;
		case CORRAL_RULE_LOCKED:
			if (in_src || in_dst)
				corral_result(d, r, key, 1);
			break;
		case CORRAL_RULE_DENY_INTO:
			if (in_dst)
				corral_result(d, r, key, 1);
			break;
		default: /* unknown anchored kind: fail closed */
			corral_result(d, r, key, 1);
			break;
		}
		return 0;
	case CORRAL_HOOK_ID_MAP:
		if (r->kind != CORRAL_RULE_ID_MAP) {
			corral_result(d, r, key, 1); /* the ID_MAP list holds id-map rules only */
			return 0;
		}
		if (r->labels[0] && !corral_has_label(r, d->ns_label))
			return 0;
		if (d->ev_flags & CORRAL_EVENT_F_SETGROUPS)
			corral_result(d, r, key, !(r->flags & CORRAL_RULE_F_SETGROUPS));
		else
			corral_result(d, r, key, !corral_id_map_allowed(d, key));
		return 0;
	case CORRAL_HOOK_PTRACE:
		/* A cgroup jail (deny-create / deny-enter on a cgroup subject) with ptrace-scope:
		 * the tracer matches the subject (checked above), the tracee lies outside it. */
		if ((r->kind == CORRAL_RULE_DENY_CREATE || r->kind == CORRAL_RULE_DENY_ENTER) &&
		    (r->flags & CORRAL_RULE_F_PTRACE_SCOPE) && !(r->subject_mask & d->target_bits))
			corral_result(d, r, key, 1);
		return 0;
	}
	return 0;
}

static __always_inline void corral_scan_list(struct corral_decision *d, __u32 list)
{
	struct corral_slot_list *l;
	__u32 key = d->gen * CORRAL_LIST_COUNT + list, n;
	int i;

	l = bpf_map_lookup_elem(&corral_hook_rules, &key);
	if (!l)
		return;
	n = l->count < CORRAL_MAX_HOOK_RULES ? l->count : CORRAL_MAX_HOOK_RULES;
	for (i = 0; i < CORRAL_MAX_HOOK_RULES; i++) {
		if (i >= n)
			break;
		corral_eval_slot(d, l->slots[i]);
	}
}

/* Rule slots anchored at one cgroup (its corral_cgroups entry). Global, like corral_eval_slot.
 * Returns the entry's flags, or -1 when the cgroup has no entry. */
__noinline int corral_scan_anchor(struct corral_decision *d, __u64 cgroup_id)
{
	struct corral_cgroup_key k = {.cgroup_id = cgroup_id};
	struct corral_cgroup_class *c;
	__u32 n;
	int i;

	if (!d)
		return -1;
	k.epoch = d->epoch;
	c = bpf_map_lookup_elem(&corral_cgroups, &k);
	if (!c)
		return -1;
	n = c->n_anchor < CORRAL_MAX_ANCHOR_RULES ? c->n_anchor : CORRAL_MAX_ANCHOR_RULES;
	d->anchor_id = cgroup_id;
	for (i = 0; i < CORRAL_MAX_ANCHOR_RULES; i++) {
		if (i >= n)
			break;
		corral_eval_slot(d, c->anchor_slots[i]);
	}
	d->anchor_id = 0;
	return c->flags & 0xffff;
}

/* Task lock result: the actor is locked by L (found by uid in the active generation). */
static __always_inline void corral_lock_result(struct corral_decision *d)
{
	struct corral_task_state *st;
	struct corral_uid_key uk = {.gen = d->gen};
	const struct corral_rule *r;
	__u32 *slot, key = 0;
	void *uids;

	st = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0, 0);
	if (!st || !(st->flags & CORRAL_TASK_LOCKED))
		return;
	uk.rule_uid = st->lock_rule_uid;
	uids = corral_slot_map(&corral_rule_uids, d->gen);
	slot = uids ? bpf_map_lookup_elem(uids, &uk) : NULL;
	if (!slot)
		return; /* L is not in the active policy: the lock is lifted */
	r = corral_rule_at(d, *slot, &key);
	if (!r || r->kind != CORRAL_RULE_LOCK_ON_ENTRY)
		return;
	d->locked = 1;
	if (d->hook == CORRAL_HOOK_NS_ALLOC && !(r->flags & CORRAL_RULE_F_DENY_UNSHARE))
		return;
	if (d->hook == CORRAL_HOOK_NS_INSTALL && (r->flags & CORRAL_RULE_F_LOCK_TO_LABEL) &&
	    (d->already_in || (d->ns_label && d->ns_label == st->lock_label)))
		return; /* lock-to: label — the label's other namespaces, and the ones it is in */
	corral_result(d, r, key, 1);
}

/* The inum of current's namespace of `type` that setns(2) would replace, or 0 for mnt, where
 * entering the namespace one is in is not a no-op (setns resets root and cwd to the namespace's
 * root: a way out of a chroot). pid and time compare with the namespace for children, which is
 * what setns changes; user with the task's user namespace (the kernel refuses that, EINVAL). */
static __always_inline __u32 corral_current_ns_inum(__u32 type)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct nsproxy *nsp = t->nsproxy;

	if (!nsp)
		return 0;
	/* direct loads: t is current's BTF pointer; each pointer is checked before its load */
	switch (type) {
	case CLONE_NEWUTS: {
		struct uts_namespace *n = nsp->uts_ns;

		return n ? n->ns.inum : 0;
	}
	case CLONE_NEWIPC: {
		struct ipc_namespace *n = nsp->ipc_ns;

		return n ? n->ns.inum : 0;
	}
	case CLONE_NEWNET: {
		struct net *n = nsp->net_ns;

		return n ? n->ns.inum : 0;
	}
	case CLONE_NEWCGROUP: {
		struct cgroup_namespace *n = nsp->cgroup_ns;

		return n ? n->ns.inum : 0;
	}
	case CLONE_NEWPID: {
		struct pid_namespace *n = nsp->pid_ns_for_children;

		return n ? n->ns.inum : 0;
	}
	case CLONE_NEWTIME:
		if (bpf_core_field_exists(nsp->time_ns_for_children)) {
			struct time_namespace *n = nsp->time_ns_for_children;

			return n ? n->ns.inum : 0;
		}
		return 0;
	case CLONE_NEWUSER: {
		const struct cred *cr = t->cred;
		struct user_namespace *n = cr ? cr->user_ns : NULL;

		return n ? n->ns.inum : 0;
	}
	}
	return 0;
}

/* ---- outcome and event ---- */

static __always_inline void corral_finish(struct corral_decision *d)
{
	const struct corral_rule *r = NULL;
	__u32 key;

	if (d->ef_key && d->ef_deny) {
		d->verdict = CORRAL_VERDICT_DENY;
		key = d->ef_key - 1;
	} else if (d->wb_key && d->wb_deny) {
		d->verdict = CORRAL_VERDICT_AUDIT; /* allowed; an audit-mode rule would deny */
		key = d->wb_key - 1;
	} else if (d->ef_key) {
		d->verdict = CORRAL_VERDICT_ALLOW;
		key = d->ef_key - 1;
	} else {
		d->verdict = CORRAL_VERDICT_ALLOW;
		return;
	}
	r = bpf_map_lookup_elem(&corral_rules, &key);
	if (!r)
		return;
	d->rule_uid = r->rule_uid;
	d->mode = corral_rule_audit(d, r) ? CORRAL_MODE_AUDIT : CORRAL_MODE_ENFORCE;
	if (d->verdict == CORRAL_VERDICT_DENY) {
		d->err = (r->err > 0 && r->err <= MAX_ERRNO) ? r->err : EPERM;
		if (d->eperm_only)
			d->err = EPERM;
		corral_stat_inc(CORRAL_STAT_DENIED);
	} else if (d->verdict == CORRAL_VERDICT_AUDIT) {
		corral_stat_inc(CORRAL_STAT_AUDITED);
	}
}

/* Whether rule `uid` may send one more event this second (corral_event_budget). */
static __always_inline int corral_event_budget_take(__u32 uid, __u32 rate)
{
	struct corral_event_budget *b, fresh = {};
	__u64 window = bpf_ktime_get_ns() / 1000000000ull;

	b = bpf_map_lookup_elem(&corral_event_budget, &uid);
	if (!b) {
		fresh.window = window;
		fresh.sent = 1;
		bpf_map_update_elem(&corral_event_budget, &uid, &fresh, BPF_NOEXIST);
		return 1;
	}
	if (b->window != window) {
		b->window = window;
		b->sent = 1;
		return 1;
	}
	if (b->sent < rate) {
		b->sent++;
		return 1;
	}
	b->suppressed++;
	corral_stat_inc(CORRAL_STAT_EVENTS_SUPPRESSED);
	return 0;
}

static __noinline int corral_emit(struct corral_decision *d)
{
	struct corral_event *e;

	if (!d->applied && !d->side_uid && !d->traced && !(d->gflags & CORRAL_F_TRACE_ALL))
		return 0;
	if (d->event_rate && !corral_event_budget_take(d->rule_uid, d->event_rate))
		return 0;
	e = bpf_ringbuf_reserve(&corral_events, sizeof(*e), 0);
	if (!e) {
		corral_stat_inc(CORRAL_STAT_RINGBUF_DROPS);
		return 0;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->generation = d->generation;
	e->seq = __sync_fetch_and_add(&corral_event_seq, 1);
	e->hook = d->hook;
	e->verdict = d->verdict;
	e->mode = d->mode;
	e->rule_uid = d->rule_uid;
	e->pid = (__u32)bpf_get_current_pid_tgid();
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->err = d->err;
	e->flags = d->ev_flags;
	e->_pad = 0;
	if (d->hook == CORRAL_HOOK_CGROUP_ATTACH) {
		e->src_cgroup = d->src_id;
		e->dst_cgroup = d->dst_id;
		e->target_pid = d->target_pid;
		e->threadgroup = d->threadgroup;
		e->ns_type = e->ns_inum = e->ns_label = 0;
	} else if (d->hook == CORRAL_HOOK_PTRACE) {
		e->src_cgroup = e->dst_cgroup = 0;
		e->target_pid = d->target_pid;
		e->threadgroup = 0;
		e->ns_type = e->ns_inum = e->ns_label = 0;
	} else {
		e->src_cgroup = e->dst_cgroup = 0;
		e->target_pid = 0;
		e->threadgroup = 0;
		e->ns_type = d->ns_type;
		e->ns_inum = d->ns_inum;
		e->ns_label = d->hook == CORRAL_HOOK_NS_ALLOC ? d->side_label : d->ns_label;
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->actor_cgroup = bpf_get_current_cgroup_id();
	e->actor_lock_rule = d->actor_lock_rule;
	e->actor_lock_label = d->actor_lock_label;
	corral_event_set_ids(e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- decisions ----
 * Global (non-static) functions: the verifier checks each once per program, independent of
 * the caller's state, so calling them in a loop (compat unshare/clone, one call per type)
 * stays cheap to verify.
 */

/*
 * namespace_alloc / namespace_install. Inputs: hook, ns_type, ns_inum (alloc: 0 if unknown),
 * compat, eperm_only. Install looks the label up itself.
 * Side effects: alloc tracks ns_inum (or, when 0, leaves side_label/side_uid for the caller);
 * install locks the actor.
 */
__noinline int corral_decide_ns(struct corral_decision *d)
{
	const struct corral_rule *r;
	struct corral_tracked_ns *tn;
	__u32 key, inum;

	if (!d)
		return 0;
	inum = d->ns_inum;
	d->already_in = 0;
	if (d->hook == CORRAL_HOOK_NS_ALLOC) {
		corral_stat_inc(CORRAL_STAT_HOOK_NS_ALLOC);
		d->ns_label = 0;
	} else {
		corral_stat_inc(CORRAL_STAT_HOOK_NS_INSTALL);
		tn = bpf_map_lookup_elem(&corral_tracked_ns, &inum);
		d->ns_label = tn ? tn->label : 0;
		d->already_in = inum && inum == corral_current_ns_inum(d->ns_type);
	}
	corral_begin(d);
	if (d->hook == CORRAL_HOOK_NS_INSTALL && d->already_in && d->ns_type == CLONE_NEWUSER) {
		/* Its own user namespace: the kernel refuses that itself (EINVAL), after this hook in
		 * native mode and before any in compat mode. Not decided, so both modes agree. */
		d->ev_flags |= CORRAL_EVENT_F_ALREADY_IN;
		corral_emit(d);
		return 0;
	}
	corral_lock_result(d);
	if (d->hook == CORRAL_HOOK_NS_INSTALL && d->already_in) {
		/* Already in it: nothing changes, so it is not an entry (crun exec and nsenter join
		 * every namespace of a container, including those it shares with the host). Only a
		 * task lock of the default kind (no setns at all) applies; nothing locks. */
		d->ev_flags |= CORRAL_EVENT_F_ALREADY_IN;
		corral_finish(d);
		corral_emit(d);
		return d->err;
	}
	corral_scan_list(d, d->hook == CORRAL_HOOK_NS_ALLOC ? CORRAL_LIST_NS_ALLOC
							   : CORRAL_LIST_NS_INSTALL);
	corral_finish(d);

	if (d->verdict != CORRAL_VERDICT_DENY && d->side_key) {
		key = d->side_key - 1;
		r = bpf_map_lookup_elem(&corral_rules, &key);
		if (r && d->hook == CORRAL_HOOK_NS_ALLOC && r->track_label) {
			d->side_label = r->track_label;
			d->side_uid = r->rule_uid;
			d->ev_flags |= CORRAL_EVENT_F_TRACKED;
			if (inum) {
				struct corral_tracked_ns v = {
					.label = r->track_label,
					.ns_type = d->ns_type,
					.rule_uid = r->rule_uid,
					.creator_tgid = bpf_get_current_pid_tgid() >> 32,
				};
				bpf_map_update_elem(&corral_tracked_ns, &inum, &v, BPF_ANY);
			}
		} else if (r && d->hook == CORRAL_HOOK_NS_INSTALL && !d->locked && d->ns_label) {
			struct corral_task_state *st;

			st = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (st) {
				st->flags |= CORRAL_TASK_LOCKED;
				st->lock_rule_uid = r->rule_uid;
				st->lock_label = d->ns_label;
				st->lock_inum = inum;
				d->side_label = d->ns_label;
				d->side_uid = r->rule_uid;
				d->ev_flags |= CORRAL_EVENT_F_LOCKED;
			}
		}
	}
	corral_emit(d);
	return d->err;
}

/* cgroup_attach. Inputs: src/dst ids and ancestors, target_pid, threadgroup, compat. */
__noinline int corral_decide_cgroup(struct corral_decision *d)
{
	int i, flags, common, live;
	__u32 n;

	if (!d)
		return 0;
	corral_stat_inc(CORRAL_STAT_HOOK_CGROUP_ATTACH);
	corral_begin(d);
	/* Anchored rules: walk src's ancestors, then dst's below the common part. A dst level whose
	 * parent is LIVE must have an entry (it was classified when created); one without, or with
	 * OVERFLOW, is unclassified. Then the CGROUP list (managers, delegated outside). */
	n = d->n_src;
	live = 0;
	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i >= n)
			break;
		flags = corral_scan_anchor(d, d->src_anc[i]);
		common = i < d->n_dst && d->src_anc[i] == d->dst_anc[i];
		if (common) {
			if ((i > 0 && live && flags < 0) || (flags > 0 && (flags & CORRAL_CLASS_F_OVERFLOW)))
				d->unclassified = 1;
			live = flags > 0 && (flags & CORRAL_CLASS_F_LIVE);
		}
	}
	n = d->n_dst;
	for (i = 0; i < CORRAL_MAX_CGROUP_DEPTH; i++) {
		if (i >= n)
			break;
		if (i < d->n_src && d->src_anc[i] == d->dst_anc[i])
			continue;
		flags = corral_scan_anchor(d, d->dst_anc[i]);
		if ((i > 0 && live && flags < 0) || (flags > 0 && (flags & CORRAL_CLASS_F_OVERFLOW)))
			d->unclassified = 1;
		live = flags > 0 && (flags & CORRAL_CLASS_F_LIVE);
	}
	corral_scan_list(d, CORRAL_LIST_CGROUP);
	corral_finish(d);
	if (d->unclassified) {
		/* Fail closed: the policy cannot say what this cgroup is. */
		d->applied = 1;
		d->ev_flags |= CORRAL_EVENT_F_UNCLASSIFIED;
		d->rule_uid = 0;
		corral_stat_inc(CORRAL_STAT_UNCLASSIFIED);
		if (d->gflags & CORRAL_F_AUDIT_ALL) {
			d->verdict = CORRAL_VERDICT_AUDIT;
			d->mode = CORRAL_MODE_AUDIT;
			d->err = 0;
		} else {
			d->verdict = CORRAL_VERDICT_DENY;
			d->mode = CORRAL_MODE_ENFORCE;
			d->err = EPERM;
		}
	}
	corral_emit(d);
	return d->err;
}

/*
 * Domain scope (ptrace_access_check with PTRACE_MODE_ATTACH, ptrace_traceme): `tracer` may
 * attach to `tracee` only inside its domains. Results come from the tracer's task lock (when
 * its lock-on-entry rule has ptrace-scope and the tracee is not locked by the same entry) and
 * from ptrace-scope deny-create / deny-enter slots of cgroup subjects the tracer matches and
 * the tracee does not. Inputs: hook = CORRAL_HOOK_PTRACE, target_pid, ev_flags (TRACEME).
 */
static __always_inline int corral_decide_ptrace(struct corral_decision *d, struct task_struct *tracer,
						struct task_struct *tracee)
{
	struct corral_task_state *st, *ts;
	struct corral_uid_key uk = {};
	const struct corral_rule *r;
	__u32 *slot, key = 0, flags = d->ev_flags;
	void *uids;

	corral_begin_actor(d, tracer);
	d->ev_flags |= flags;
	d->target_bits = corral_cgroup_bits(tracee, d->epoch);
	st = bpf_task_storage_get(&corral_task_state, tracer, 0, 0);
	if (st && (st->flags & CORRAL_TASK_LOCKED)) {
		uk.rule_uid = st->lock_rule_uid;
		uk.gen = d->gen;
		uids = corral_slot_map(&corral_rule_uids, d->gen);
		slot = uids ? bpf_map_lookup_elem(uids, &uk) : NULL;
		r = slot ? corral_rule_at(d, *slot, &key) : NULL;
		if (r && r->kind == CORRAL_RULE_LOCK_ON_ENTRY && (r->flags & CORRAL_RULE_F_PTRACE_SCOPE)) {
			d->locked = 1;
			ts = bpf_task_storage_get(&corral_task_state, tracee, 0, 0);
			if (!ts || !(ts->flags & CORRAL_TASK_LOCKED) || ts->lock_label != st->lock_label ||
			    (!(r->flags & CORRAL_RULE_F_LOCK_TO_LABEL) && ts->lock_inum != st->lock_inum))
				corral_result(d, r, key, 1);
		}
	}
	corral_scan_list(d, CORRAL_LIST_NS_ALLOC);
	corral_scan_list(d, CORRAL_LIST_NS_INSTALL);
	corral_finish(d);
	corral_emit(d);
	return d->err;
}

/*
 * A write to a user namespace's uid_map, gid_map or setgroups file. Inputs: hook =
 * CORRAL_HOOK_ID_MAP, ns_inum, ev_flags (which file), id_ext/n_ext/id_bad. The actor is current.
 */
static __always_inline int corral_decide_id_map(struct corral_decision *d)
{
	struct corral_tracked_ns *tn;
	__u32 inum = d->ns_inum, flags = d->ev_flags;

	tn = bpf_map_lookup_elem(&corral_tracked_ns, &inum);
	d->ns_label = tn ? tn->label : 0;
	corral_begin(d);
	d->ev_flags |= flags;
	corral_scan_list(d, CORRAL_LIST_ID_MAP);
	corral_finish(d);
	corral_emit(d);
	return d->err;
}

#endif /* CORRAL_DECIDE_H */
