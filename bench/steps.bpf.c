// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * steps.bpf.c: where a native decision's time goes (state s of scripts/bench, seed-hooks only).
 * Several programs on the same hook, each running a prefix of what Corral's native program
 * runs, with Corral's own code (bpf/lib/decide.h) and maps (filled by bload like state n).
 * BPF run-time statistics are per program, so the differences between them split the cost of
 * native_ns_inst and native_cgattach into steps. Not a policy: all of them only ever allow.
 */
#include "decide.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- lsm.s/namespace_install: native_ns_inst in steps ---- */

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_0_empty, struct nsset *nsset, struct ns_common *ns)
{
	return 0;
}

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_1_ctx, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (c)
		c->d.ns_inum = BPF_CORE_READ(ns, inum);
	return 0;
}

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_2_cgbits, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (c)
		c->d.bits = corral_cgroup_bits(bpf_get_current_task_btf(), 1);
	return 0;
}

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_3_exebits, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (c)
		c->d.bits = corral_exe_bits(bpf_get_current_task_btf(), NULL, 1);
	return 0;
}

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_4_begin, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_NS_INSTALL;
	c->d.compat = 0;
	corral_begin(&c->d);
	return 0;
}

SEC("lsm.s/namespace_install")
int BPF_PROG(st_ns_5_full, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_NS_INSTALL;
	c->d.ns_type = corral_ns_type(ns);
	c->d.ns_inum = BPF_CORE_READ(ns, inum);
	c->d.compat = 0;
	c->d.eperm_only = 0;
	corral_decide_ns(&c->d);
	return 0; /* measured, not enforced */
}

/* ---- lsm.s/cgroup_attach: native_cgattach in steps ---- */

SEC("lsm.s/cgroup_attach")
int BPF_PROG(st_cg_0_empty, struct task_struct *task, struct cgroup *src_cgrp, struct cgroup *dst_cgrp)
{
	return 0;
}

SEC("lsm.s/cgroup_attach")
int BPF_PROG(st_cg_1_ancestors, struct task_struct *task, struct cgroup *src_cgrp, struct cgroup *dst_cgrp)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.n_src = corral_read_ancestors(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors(dst_cgrp, c->d.dst_anc);
	return 0;
}

SEC("lsm.s/cgroup_attach")
int BPF_PROG(st_cg_2_begin, struct task_struct *task, struct cgroup *src_cgrp, struct cgroup *dst_cgrp)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_CGROUP_ATTACH;
	c->d.compat = 0;
	c->d.n_src = corral_read_ancestors(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors(dst_cgrp, c->d.dst_anc);
	corral_begin(&c->d);
	return 0;
}

SEC("lsm.s/cgroup_attach")
int BPF_PROG(st_cg_3_full, struct task_struct *task, struct cgroup *src_cgrp, struct cgroup *dst_cgrp,
	     struct super_block *sb, bool threadgroup)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_CGROUP_ATTACH;
	c->d.compat = 0;
	c->d.eperm_only = 0;
	c->d.src_id = BPF_CORE_READ(src_cgrp, kn, id);
	c->d.dst_id = BPF_CORE_READ(dst_cgrp, kn, id);
	c->d.n_src = corral_read_ancestors(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors(dst_cgrp, c->d.dst_anc);
	c->d.target_pid = BPF_CORE_READ(task, pid);
	c->d.threadgroup = threadgroup ? 1 : 0;
	corral_decide_cgroup(&c->d);
	return 0; /* measured, not enforced */
}
