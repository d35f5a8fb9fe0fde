// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Corral's BPF programs: two thin entry-point sets over one decision (lib/decide.h).
 *   native_*  kernels with the "bpf: add a few hooks for sandboxing" LSM hooks
 *   compat_*  stock kernels with BPF LSM (see docs/bpf.md for the mapping)
 * The loader turns off autoload for the set it does not use; the two are never attached together.
 */
#include "decide.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- shared: lock / trace inheritance ---- */

/* The child gets the parent's corral_task_state (fork, clone, threads). */
static __always_inline void corral_inherit(struct task_struct *child)
{
	struct corral_task_state *parent, *st;

	parent = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0, 0);
	if (!parent || !parent->flags)
		return;
	st = bpf_task_storage_get(&corral_task_state, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st)
		*st = *parent;
}

/* ====================================================================================== */
/* native: the seed hooks                                                                  */
/* ====================================================================================== */

SEC("lsm/task_alloc")
int BPF_PROG(native_fork, struct task_struct *task, unsigned long clone_flags)
{
	corral_inherit(task);
	return 0;
}

SEC("lsm.s/namespace_alloc")
int BPF_PROG(native_ns_alloc, struct ns_common *ns)
{
	struct corral_task_ctx *c;
	__u32 inum = BPF_CORE_READ(ns, inum);

	if (!inum) /* anonymous mount namespace: neither decided nor tracked */
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_NS_ALLOC;
	c->d.ns_type = corral_ns_type(ns);
	c->d.ns_inum = inum;
	c->d.compat = 0;
	c->d.eperm_only = 0;
	return corral_ret(corral_decide_ns(&c->d));
}

SEC("lsm.s/namespace_install")
int BPF_PROG(native_ns_inst, struct nsset *nsset, struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_NS_INSTALL;
	c->d.ns_type = corral_ns_type(ns);
	c->d.ns_inum = BPF_CORE_READ(ns, inum);
	c->d.compat = 0;
	c->d.eperm_only = 0;
	return corral_ret(corral_decide_ns(&c->d));
}

SEC("lsm/namespace_free")
int BPF_PROG(native_ns_free, struct ns_common *ns)
{
	__u32 inum = BPF_CORE_READ(ns, inum);

	corral_stat_inc(CORRAL_STAT_HOOK_NS_FREE);
	bpf_map_delete_elem(&corral_tracked_ns, &inum);
	return 0;
}

SEC("lsm.s/cgroup_attach")
int BPF_PROG(native_cgattach, struct task_struct *task, struct cgroup *src_cgrp,
	     struct cgroup *dst_cgrp, struct super_block *sb, bool threadgroup,
	     struct cgroup_namespace *ns)
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
	return corral_ret(corral_decide_cgroup(&c->d));
}

/* ====================================================================================== */
/* compat: stock kernels. Only LSM programs deny; fentry/fexit record context per task.    */
/* ====================================================================================== */

/*
 * Decides namespace_alloc for each CLONE_NEW* flag in `flags` (user excluded), in the
 * kernel's creation order, stopping at the first denial. Allowed types with a matching
 * track rule are stashed until the copy_* fexit learns the inum.
 */
static __always_inline int corral_compat_alloc(struct corral_task_ctx *c, __u64 flags,
					       int eperm_only)
{
	int i, err = 0;
	__u32 type;

	c->track_mask = 0;
	for (i = 0; i < CORRAL_NSI_USER; i++) {
		type = corral_ns_flag(i);
		if (!(flags & type))
			continue;
		c->d.hook = CORRAL_HOOK_NS_ALLOC;
		c->d.ns_type = type;
		c->d.ns_inum = 0;
		c->d.compat = 1;
		c->d.eperm_only = eperm_only;
		err = corral_decide_ns(&c->d);
		if (err)
			break;
		if (c->d.side_uid && i >= 0 && i < CORRAL_NSI_COUNT) {
			c->track_mask |= 1u << i;
			c->track_label[i] = c->d.side_label;
			c->track_uid[i] = c->d.side_uid;
		}
	}
	return err;
}

/* copy_* fexit: the namespace of type `idx` got `inum`; track it if its decision said so. */
static __always_inline void corral_compat_track(int idx, __u32 inum)
{
	struct corral_task_ctx *c = corral_ctx(0);
	struct corral_tracked_ns v = {};

	if (!c || idx < 0 || idx >= CORRAL_NSI_COUNT || !(c->track_mask & (1u << idx)) || !inum)
		return;
	c->track_mask &= ~(1u << idx);
	v.label = c->track_label[idx];
	v.ns_type = corral_ns_flag(idx);
	v.rule_uid = c->track_uid[idx];
	v.creator_tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_update_elem(&corral_tracked_ns, &inum, &v, BPF_ANY);
}

/* fork/clone/clone3: inherit state; decide CLONE_NEW* (not user: lsm/userns_create). */
SEC("lsm/task_alloc")
int BPF_PROG(compat_fork, struct task_struct *task, unsigned long clone_flags)
{
	struct corral_task_ctx *c;
	int err;

	if (clone_flags & CORRAL_NS_CREATE_MASK) {
		c = corral_ctx(1);
		if (c) {
			err = corral_compat_alloc(c, clone_flags, 0);
			if (err)
				return corral_ret(err);
		}
	}
	corral_inherit(task);
	return 0;
}

/* User namespaces, every path (unshare, clone, clone3). */
SEC("lsm/userns_create")
int BPF_PROG(compat_userns, const struct cred *cred)
{
	struct corral_task_ctx *c = corral_ctx(1);
	int err;

	if (!c)
		return 0;
	c->track_mask &= ~(1u << CORRAL_NSI_USER);
	c->d.hook = CORRAL_HOOK_NS_ALLOC;
	c->d.ns_type = CLONE_NEWUSER;
	c->d.ns_inum = 0;
	c->d.compat = 1;
	c->d.eperm_only = 0;
	err = corral_decide_ns(&c->d);
	if (!err && c->d.side_uid) {
		c->track_mask |= 1u << CORRAL_NSI_USER;
		c->track_label[CORRAL_NSI_USER] = c->d.side_label;
		c->track_uid[CORRAL_NSI_USER] = c->d.side_uid;
	}
	return corral_ret(err);
}

/* unshare(2): record intent; lsm/capable(CAP_SYS_ADMIN) decides. */
SEC("fentry/unshare_nsproxy_namespaces")
int BPF_PROG(compat_unsh_in, unsigned long unshare_flags)
{
	struct corral_task_ctx *c;

	if (!(unshare_flags & CORRAL_NS_CREATE_MASK))
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->ns_pend = CORRAL_PEND_UNSHARE;
	c->ns_flags = unshare_flags & CORRAL_NS_CREATE_MASK;
	c->ns_decided = 0;
	c->ns_err = 0;
	return 0;
}

SEC("fexit/unshare_nsproxy_namespaces")
int BPF_PROG(compat_unsh_out, unsigned long unshare_flags)
{
	struct corral_task_ctx *c = corral_ctx(0);

	if (c && c->ns_pend == CORRAL_PEND_UNSHARE) {
		c->ns_pend = CORRAL_PEND_NONE;
		c->track_mask &= 1u << CORRAL_NSI_USER;
	}
	return 0;
}

/* setns(2): each <type>ns_install records {type, inum}; lsm/capable decides; fexit clears. */
static __always_inline int corral_setns_in(struct ns_common *ns)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->ns_pend = CORRAL_PEND_SETNS;
	c->ns_type = corral_ns_type(ns);
	c->ns_inum = BPF_CORE_READ(ns, inum);
	c->ns_decided = 0;
	c->ns_err = 0;
	return 0;
}

static __always_inline int corral_setns_out(void)
{
	struct corral_task_ctx *c = corral_ctx(0);

	if (c && c->ns_pend == CORRAL_PEND_SETNS)
		c->ns_pend = CORRAL_PEND_NONE;
	return 0;
}

#define CORRAL_SETNS_PROGS(fn, tag)							\
	SEC("fentry/" #fn)								\
	int BPF_PROG(compat_in_##tag, struct nsset *nsset, struct ns_common *ns)	\
	{										\
		return corral_setns_in(ns);						\
	}										\
	SEC("fexit/" #fn)								\
	int BPF_PROG(compat_out_##tag, struct nsset *nsset, struct ns_common *ns, int ret) \
	{										\
		return corral_setns_out();						\
	}

CORRAL_SETNS_PROGS(mntns_install, mnt)
CORRAL_SETNS_PROGS(utsns_install, uts)
CORRAL_SETNS_PROGS(ipcns_install, ipc)
CORRAL_SETNS_PROGS(pidns_install, pid)
CORRAL_SETNS_PROGS(netns_install, net)
CORRAL_SETNS_PROGS(cgroupns_install, cgrp)
CORRAL_SETNS_PROGS(timens_install, time)
CORRAL_SETNS_PROGS(userns_install, user)

/* The deciding hook for unshare and setns. Decides once per operation; the verdict is cached
 * so repeated CAP_SYS_ADMIN checks in the same operation agree and emit one event. */
SEC("lsm/capable")
int BPF_PROG(compat_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	     unsigned int opts)
{
	struct corral_task_ctx *c;
	int err;

	if (cap != CAP_SYS_ADMIN)
		return 0;
	c = corral_ctx(0);
	if (!c || c->ns_pend == CORRAL_PEND_NONE)
		return 0;
	if (c->ns_decided)
		return c->ns_err ? -EPERM : 0;
	if (c->ns_pend == CORRAL_PEND_UNSHARE) {
		err = corral_compat_alloc(c, c->ns_flags, 1);
	} else {
		c->d.hook = CORRAL_HOOK_NS_INSTALL;
		c->d.ns_type = c->ns_type;
		c->d.ns_inum = c->ns_inum;
		c->d.compat = 1;
		c->d.eperm_only = 1;
		err = corral_decide_ns(&c->d);
	}
	c->ns_decided = 1;
	c->ns_err = err;
	return err ? -EPERM : 0;
}

/* New namespaces: learn the inum and track it when the decision stashed a label. */
SEC("fexit/copy_mnt_ns")
int BPF_PROG(compat_cp_mnt, unsigned long flags, struct mnt_namespace *old,
	     struct user_namespace *user_ns, struct fs_struct *new_fs, struct mnt_namespace *ret)
{
	if ((flags & CLONE_NEWNS) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_MNT, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_utsname")
int BPF_PROG(compat_cp_uts, unsigned long flags, struct user_namespace *user_ns,
	     struct uts_namespace *old, struct uts_namespace *ret)
{
	if ((flags & CLONE_NEWUTS) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_UTS, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_ipcs")
int BPF_PROG(compat_cp_ipc, unsigned long flags, struct user_namespace *user_ns,
	     struct ipc_namespace *old, struct ipc_namespace *ret)
{
	if ((flags & CLONE_NEWIPC) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_IPC, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_pid_ns")
int BPF_PROG(compat_cp_pid, unsigned long flags, struct user_namespace *user_ns,
	     struct pid_namespace *old, struct pid_namespace *ret)
{
	if ((flags & CLONE_NEWPID) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_PID, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_cgroup_ns")
int BPF_PROG(compat_cp_cgrp, unsigned long flags, struct user_namespace *user_ns,
	     struct cgroup_namespace *old, struct cgroup_namespace *ret)
{
	if ((flags & CLONE_NEWCGROUP) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_CGROUP, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_net_ns")
int BPF_PROG(compat_cp_net, unsigned long flags, struct user_namespace *user_ns,
	     struct net *old, struct net *ret)
{
	if ((flags & CLONE_NEWNET) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_NET, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/copy_time_ns")
int BPF_PROG(compat_cp_time, unsigned long flags, struct user_namespace *user_ns,
	     struct time_namespace *old, struct time_namespace *ret)
{
	if ((flags & CLONE_NEWTIME) && !CORRAL_IS_ERR_OR_NULL(ret) && ret != old)
		corral_compat_track(CORRAL_NSI_TIME, BPF_CORE_READ(ret, ns.inum));
	return 0;
}

SEC("fexit/create_user_ns")
int BPF_PROG(compat_cp_user, struct cred *new, int ret)
{
	if (!ret)
		corral_compat_track(CORRAL_NSI_USER, BPF_CORE_READ(new, user_ns, ns.inum));
	return 0;
}

/* namespace_free: every namespace releases its inum here (so do /proc entries: the delete
 * simply misses for inums that were never tracked). */
SEC("fentry/proc_free_inum")
int BPF_PROG(compat_ns_free, unsigned int inum)
{
	if (bpf_map_delete_elem(&corral_tracked_ns, &inum) == 0)
		corral_stat_inc(CORRAL_STAT_HOOK_NS_FREE);
	return 0;
}

/* cgroup_attach: the target task of a cgroup.procs/cgroup.threads write ... */
SEC("fexit/cgroup_procs_write_start")
int BPF_PROG(compat_cg_procs, char *buf, bool threadgroup, bool *locked, struct task_struct *ret)
{
	struct corral_task_ctx *c;

	if (CORRAL_IS_ERR_OR_NULL(ret))
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->cg_target = BPF_CORE_READ(ret, pid);
	c->cg_pend = CORRAL_CG_TARGET;
	return 0;
}

/* ... or the child of clone3(CLONE_INTO_CGROUP) ... */
SEC("fentry/cgroup_can_fork")
int BPF_PROG(compat_cg_fork, struct task_struct *child, struct kernel_clone_args *kargs)
{
	struct corral_task_ctx *c;

	if (!(BPF_CORE_READ(kargs, flags) & CLONE_INTO_CGROUP))
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->cg_target = BPF_CORE_READ(child, pid);
	c->cg_pend = CORRAL_CG_TARGET;
	return 0;
}

/* ... and src/dst from cgroup_attach_permissions (both paths). A kernel with the seed series
 * (`corral run --mode compat` there) gives the function a first argument, the task:
 * (task, src, dst, sb, threadgroup, ns) instead of (src, dst, sb, threadgroup, ns). */
SEC("fentry/cgroup_attach_permissions")
int compat_cg_enter(unsigned long long *ctx)
{
	struct corral_task_ctx *c = corral_ctx(1);
	struct cgroup *src_cgrp, *dst_cgrp;
	__u64 src = 0, dst = 0, threadgroup = 0;
	__u32 base = bpf_get_func_arg_cnt(ctx) >= 6 ? 1 : 0;

	if (!c)
		return 0;
	bpf_get_func_arg(ctx, base, &src);
	bpf_get_func_arg(ctx, base + 1, &dst);
	bpf_get_func_arg(ctx, base + 3, &threadgroup);
	src_cgrp = (struct cgroup *)src;
	dst_cgrp = (struct cgroup *)dst;
	if (c->cg_pend != CORRAL_CG_TARGET)
		c->cg_target = 0;
	c->d.src_id = BPF_CORE_READ(src_cgrp, kn, id);
	c->d.dst_id = BPF_CORE_READ(dst_cgrp, kn, id);
	c->d.n_src = corral_read_ancestors(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors(dst_cgrp, c->d.dst_anc);
	c->d.threadgroup = (threadgroup & 0xff) ? 1 : 0;
	c->cg_pend = CORRAL_CG_READY;
	c->cg_decided = 0;
	c->cg_err = 0;
	return 0;
}

SEC("fexit/cgroup_attach_permissions")
int BPF_PROG(compat_cg_exit, struct cgroup *src_cgrp, struct cgroup *dst_cgrp)
{
	struct corral_task_ctx *c = corral_ctx(0);

	if (c) {
		c->cg_pend = CORRAL_CG_NONE;
		c->cg_target = 0;
	}
	return 0;
}

/* The deciding hook for migrations: cgroup_may_write() of the common ancestor's cgroup.procs
 * inside cgroup_attach_permissions(). The inode is not the destination, so src/dst come
 * from the stashed context. */
SEC("lsm/inode_permission")
int BPF_PROG(compat_cg_perm, struct inode *inode, int mask)
{
	struct corral_task_ctx *c;
	int err;

	if (!(mask & MAY_WRITE))
		return 0;
	c = corral_ctx(0);
	if (!c || c->cg_pend != CORRAL_CG_READY)
		return 0;
	if (BPF_CORE_READ(inode, i_sb, s_magic) != CGROUP2_SUPER_MAGIC)
		return 0;
	if (c->cg_decided)
		return corral_ret(c->cg_err);
	c->d.hook = CORRAL_HOOK_CGROUP_ATTACH;
	c->d.target_pid = c->cg_target;
	c->d.compat = 1;
	c->d.eperm_only = 0;
	err = corral_decide_cgroup(&c->d);
	c->cg_decided = 1;
	c->cg_err = err;
	return corral_ret(err);
}

#include "self-protect/self_protect.bpf.h" /* self-protection, both modes: docs/security.md */
