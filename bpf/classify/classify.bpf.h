/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Cgroup classification at creation (docs/compiler.md, "Cgroup paths and patterns").
 *
 * tp_btf/cgroup_mkdir fires inside cgroup_mkdir() with cgroup_mutex held, after the cgroup is
 * set up and before kernfs_activate() makes its directory visible: no task can be attached to
 * the cgroup (cgroup.procs, cgroup.threads, clone3(CLONE_INTO_CGROUP)) before this program
 * has written its corral_cgroups entry. The entry is computed from the parent's entry and the
 * new cgroup's name by one step of the pattern trie (corral_abi.h), for each generation slot
 * with CORRAL_F_CLASSIFY. tp_btf/cgroup_rmdir deletes the entries again.
 *
 * The same step is Sources/CorralCompiler/CgroupClassifier.swift; the two must agree (the
 * installer's walk and the consistency check compare them).
 */
#ifndef CORRAL_CLASSIFY_H
#define CORRAL_CLASSIFY_H

#include "../lib/corral_maps.h"

static __always_inline const struct corral_pattern_node *corral_node(struct corral_classify *w, __u32 node)
{
	__u32 key;

	if (node >= w->n_nodes || node >= CORRAL_MAX_PATTERN_NODES)
		return NULL;
	key = w->gen * CORRAL_MAX_PATTERN_NODES + node;
	return bpf_map_lookup_elem(&corral_pattern_nodes, &key);
}

/* Adds `node`, and the `**` node it reaches without a component, to w->cls. */
__noinline int corral_class_add(struct corral_classify *w, __u32 node)
{
	const struct corral_pattern_node *n;
	int i, k, seen;

	if (!w)
		return 0;
	for (k = 0; k < 2; k++) {
		n = corral_node(w, node);
		if (!n)
			return 0;
		seen = 0;
		for (i = 0; i < CORRAL_MAX_CGROUP_STATES; i++) {
			if (i >= w->cls.n_state)
				break;
			if (w->cls.states[i] == node)
				seen = 1;
		}
		if (!seen) {
			if (w->cls.n_state >= CORRAL_MAX_CGROUP_STATES) {
				w->cls.flags |= CORRAL_CLASS_F_OVERFLOW | CORRAL_CLASS_F_LIVE;
				return 0;
			}
			w->cls.states[w->cls.n_state & (CORRAL_MAX_CGROUP_STATES - 1)] = node;
			w->cls.n_state++;
			w->cls.subject_bits |= n->subject_bits;
			if (n->flags & CORRAL_NODE_F_LIVE)
				w->cls.flags |= CORRAL_CLASS_F_LIVE;
			for (i = 0; i < CORRAL_MAX_ANCHOR_RULES; i++) {
				if (i >= n->n_anchor)
					break;
				if (w->cls.n_anchor >= CORRAL_MAX_ANCHOR_RULES) {
					w->cls.flags |= CORRAL_CLASS_F_OVERFLOW;
					break;
				}
				w->cls.anchor_slots[w->cls.n_anchor & (CORRAL_MAX_ANCHOR_RULES - 1)] = n->anchor_slots[i];
				w->cls.n_anchor++;
			}
		}
		if (!n->eps)
			return 0;
		node = n->eps;
	}
	return 0;
}

/* The literal edge of `node` named w->name, compared in full (the hash only finds it). */
__noinline int corral_class_name(struct corral_classify *w, __u32 node)
{
	struct corral_pattern_name_key k = {};
	const struct corral_pattern_name *v;
	void *names;
	int i;

	if (!w)
		return 0;
	k.hash = w->hash;
	k.node = node;
	k.gen = w->gen;
	names = corral_slot_map(&corral_pattern_names, w->gen);
	if (!names)
		return 0;
	v = bpf_map_lookup_elem(names, &k);
	if (!v || v->len != w->len)
		return 0;
	for (i = 0; i < CORRAL_CGROUP_NAME_MAX; i++) {
		if (i >= w->len)
			break;
		if (v->name[i] != w->name[i])
			return 0;
	}
	corral_class_add(w, v->child);
	return 0;
}

/* One-'*' edge `index`: prefix and suffix match without overlapping. */
__noinline int corral_class_glob(struct corral_classify *w, __u32 index)
{
	const struct corral_pattern_glob *g;
	__u32 key, pl, sl, off;
	int i;

	if (!w || index >= CORRAL_MAX_PATTERN_GLOBS)
		return 0;
	key = w->gen * CORRAL_MAX_PATTERN_GLOBS + index;
	g = bpf_map_lookup_elem(&corral_pattern_globs, &key);
	if (!g)
		return 0;
	pl = g->prefix_len;
	sl = g->suffix_len;
	if (pl > CORRAL_GLOB_PART_MAX || sl > CORRAL_GLOB_PART_MAX || pl + sl > w->len)
		return 0;
	/* keep clang from replacing the loops' constant bounds by pl/sl (the verifier needs them) */
	barrier_var(pl);
	barrier_var(sl);
	for (i = 0; i < CORRAL_GLOB_PART_MAX; i++) {
		if (i >= pl)
			break;
		if (w->name[i & (CORRAL_CGROUP_NAME_MAX - 1)] != g->prefix[i & (CORRAL_GLOB_PART_MAX - 1)])
			return 0;
	}
	off = w->len - sl;
	for (i = 0; i < CORRAL_GLOB_PART_MAX; i++) {
		if (i >= sl)
			break;
		if (w->name[(off + i) & (CORRAL_CGROUP_NAME_MAX - 1)] != g->suffix[i & (CORRAL_GLOB_PART_MAX - 1)])
			return 0;
	}
	corral_class_add(w, g->child);
	return 0;
}

/* The states a child named w->name reaches from the parent's state `node`: the node itself when
 * it is `**`, its literal edge, then its one-'*' edges in order. */
__noinline int corral_class_step(struct corral_classify *w, __u32 node)
{
	const struct corral_pattern_node *n;
	__u32 first, ng;
	int j;

	if (!w)
		return 0;
	n = corral_node(w, node);
	if (!n)
		return 0;
	first = n->glob_first;
	ng = n->n_glob;
	if (n->flags & CORRAL_NODE_F_ANY_DEPTH)
		corral_class_add(w, node);
	corral_class_name(w, node);
	for (j = 0; j < CORRAL_MAX_NODE_GLOBS; j++) {
		if (j >= ng)
			break;
		corral_class_glob(w, first + j);
	}
	return 0;
}

static __always_inline void corral_classify_into(struct corral_classify *w, __u32 gen, __u64 parent_id,
						 __u64 id)
{
	struct corral_cgroup_key k = {};
	const struct corral_generation *g;
	const struct corral_cgroup_class *p;
	int i;

	g = bpf_map_lookup_elem(&corral_generations, &gen);
	if (!g || !(g->flags & CORRAL_F_CLASSIFY))
		return;
	k.cgroup_id = parent_id;
	k.epoch = (__u32)g->generation;
	p = bpf_map_lookup_elem(&corral_cgroups, &k);
	if (!p || !(p->flags & CORRAL_CLASS_F_LIVE))
		return; /* nothing in the policy lies below the parent */
	w->gen = gen;
	w->n_nodes = g->pattern_nodes;
	w->parent = *p;
	__builtin_memset(&w->cls, 0, sizeof(w->cls));
	for (i = 0; i < CORRAL_MAX_CGROUP_STATES; i++) {
		if (i >= w->parent.n_state)
			break;
		corral_class_step(w, w->parent.states[i]);
	}
	if (w->parent.flags & CORRAL_CLASS_F_OVERFLOW)
		w->cls.flags |= CORRAL_CLASS_F_OVERFLOW | CORRAL_CLASS_F_LIVE; /* incomplete below */
	k.cgroup_id = id;
	if (bpf_map_update_elem(&corral_cgroups, &k, &w->cls, BPF_ANY))
		corral_stat_inc(CORRAL_STAT_CLASSIFY_FAILED); /* no entry: unclassified, moves denied */
	else
		corral_stat_inc(CORRAL_STAT_CLASSIFIED);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(classify_mkdir, struct cgroup *cgrp, const char *path)
{
	struct corral_classify *w;
	__u64 id, parent_id;
	int level;

	level = BPF_CORE_READ(cgrp, level);
	if (level <= 0)
		return 0;
	w = corral_read_name(BPF_CORE_READ(cgrp, kn, name));
	if (!w)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	parent_id = corral_cgroup_ancestor_id(cgrp, level - 1);
	corral_classify_into(w, 0, parent_id, id);
	corral_classify_into(w, 1, parent_id, id);
	return 0;
}

static __always_inline void corral_unclassify(__u64 id, __u32 gen)
{
	struct corral_cgroup_key k = {};
	const struct corral_generation *g;

	g = bpf_map_lookup_elem(&corral_generations, &gen);
	if (!g)
		return;
	k.cgroup_id = id;
	k.epoch = (__u32)g->generation;
	bpf_map_delete_elem(&corral_cgroups, &k);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(classify_rmdir, struct cgroup *cgrp, const char *path)
{
	__u64 id = BPF_CORE_READ(cgrp, kn, id);

	corral_unclassify(id, 0);
	corral_unclassify(id, 1);
	return 0;
}

#endif /* CORRAL_CLASSIFY_H */
