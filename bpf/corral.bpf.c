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
	if (st) {
		*st = *parent;
		st->flags &= ~CORRAL_TASK_EXE_PENDING;
	}
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
	__u32 inum = ns->inum;

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
	c->d.ns_inum = ns->inum;
	c->d.compat = 0;
	c->d.eperm_only = 0;
	return corral_ret(corral_decide_ns(&c->d));
}

SEC("lsm/namespace_free")
int BPF_PROG(native_ns_free, struct ns_common *ns)
{
	__u32 inum = ns->inum;

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
	/* hook arguments: direct loads (corral_read_ancestors: kernfs walk, no helper calls) */
	c->d.n_src = corral_read_ancestors(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors(dst_cgrp, c->d.dst_anc);
	c->d.src_id = corral_cgroup_id(src_cgrp);
	c->d.dst_id = corral_cgroup_id(dst_cgrp);
	c->d.target_pid = task->pid;
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
	c->d.n_src = corral_read_ancestors_probe(src_cgrp, c->d.src_anc);
	c->d.n_dst = corral_read_ancestors_probe(dst_cgrp, c->d.dst_anc);
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

/* ====================================================================================== */
/* shared: domain scope (ptrace-scope), both modes                                          */
/* ====================================================================================== */

/* ptrace attach/seize, /proc/PID/mem, process_vm_readv/writev, pidfd_getfd: all ask for
 * PTRACE_MODE_ATTACH. READ-mode checks (/proc/PID/stat, environ, ...) are not scoped. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(scope_ptrace, struct task_struct *child, unsigned int mode)
{
	struct corral_task_ctx *c;

	if (!(mode & CORRAL_MODE_ATTACH))
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_PTRACE;
	c->d.compat = 0;
	c->d.eperm_only = 0;
	c->d.ev_flags = 0;
	c->d.target_pid = BPF_CORE_READ(child, pid);
	return corral_ret(corral_decide_ptrace(&c->d, bpf_get_current_task_btf(), child));
}

/* PTRACE_TRACEME: the parent becomes the tracer, so it is the one confined. */
SEC("lsm/ptrace_traceme")
int BPF_PROG(scope_traceme, struct task_struct *parent)
{
	struct corral_task_ctx *c = corral_ctx(1);

	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_PTRACE;
	c->d.compat = 0;
	c->d.eperm_only = 0;
	c->d.ev_flags = CORRAL_EVENT_F_TRACEME;
	c->d.target_pid = BPF_CORE_READ(parent, pid);
	return corral_ret(corral_decide_ptrace(&c->d, parent, bpf_get_current_task_btf()));
}

/* ====================================================================================== */
/* shared: id maps (id-map rules), both modes                                              */
/* ====================================================================================== */

#define CORRAL_PROC_SUPER_MAGIC 0x9fa0
#define CORRAL_NR_WRITE 1     /* x86_64 write(2) */
#define CORRAL_NR_PWRITE64 18 /* x86_64 pwrite64(2) */

/* Ends the number being read: stores it as the next field of the current extent. */
static __always_inline void corral_id_field_end(struct corral_task_ctx *c)
{
	__u32 idx = c->d.n_ext * 3 + c->id_field;

	if (!c->id_digit)
		return;
	if (c->id_cur > 0xffffffffULL || c->id_field >= 3 || idx >= 3 * CORRAL_MAX_ID_EXTENTS)
		c->d.id_bad = 1;
	else
		c->d.id_ext[idx] = (__u32)c->id_cur;
	c->id_field++;
	c->id_cur = 0;
	c->id_digit = 0;
}

/* Ends a line: a complete extent has three numbers; an empty line is skipped. */
static __always_inline void corral_id_line_end(struct corral_task_ctx *c)
{
	corral_id_field_end(c);
	if (c->id_field == 3)
		c->d.n_ext++;
	else if (c->id_field != 0)
		c->d.id_bad = 1;
	c->id_field = 0;
}

/* bpf_loop body: one byte of "INSIDE OUTSIDE COUNT\n..." (the format map_write parses). */
static long corral_id_parse_byte(__u32 i, void *unused)
{
	struct corral_task_ctx *c = corral_ctx(0);
	char ch;

	if (!c || i >= CORRAL_ID_MAP_WRITE_MAX || i >= c->id_len)
		return 1;
	ch = c->id_buf[i];
	if (ch >= '0' && ch <= '9') {
		c->id_cur = c->id_cur * 10 + (ch - '0');
		c->id_digit = 1;
		if (c->id_cur > 0xffffffffULL)
			c->d.id_bad = 1;
	} else if (ch == ' ' || ch == '\t') {
		corral_id_field_end(c);
	} else if (ch == '\n') {
		corral_id_line_end(c);
	} else {
		c->d.id_bad = 1;
	}
	return c->d.id_bad ? 1 : 0;
}

/* Reads and parses the buffer of the write(2)/pwrite64(2) being checked. Anything else (writev,
 * io_uring, a fault, more than CORRAL_ID_MAP_WRITE_MAX bytes or CORRAL_MAX_ID_EXTENTS extents)
 * leaves id_bad set: where an id-map rule applies, the write is refused. */
static __always_inline void corral_id_read_write(struct corral_task_ctx *c)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	unsigned long nr, buf, len;
	__u32 n;

	c->d.n_ext = 0;
	c->d.id_bad = 1;
	c->id_len = 0;
	c->id_field = c->id_digit = 0;
	c->id_cur = 0;
	if (!regs)
		return;
	nr = BPF_CORE_READ(regs, orig_ax);
	buf = BPF_CORE_READ(regs, si);
	len = BPF_CORE_READ(regs, dx);
	if (nr != CORRAL_NR_WRITE && nr != CORRAL_NR_PWRITE64)
		return;
	n = len;
	asm volatile("" : "+r"(n)); /* keep the bound check on the register passed to the helper */
	if (n == 0 || n > CORRAL_ID_MAP_WRITE_MAX || len > CORRAL_ID_MAP_WRITE_MAX)
		return;
	if (bpf_probe_read_user(c->id_buf, n, (const void *)buf))
		return;
	c->id_len = n;
	c->d.id_bad = 0;
	bpf_loop(CORRAL_ID_MAP_WRITE_MAX, corral_id_parse_byte, NULL, 0);
	if (!c->d.id_bad)
		corral_id_line_end(c);
	if (c->d.n_ext > CORRAL_MAX_ID_EXTENTS)
		c->d.id_bad = 1;
}

static __always_inline int corral_name_is(const unsigned char *name, __u32 len, const char *want, __u32 want_len)
{
	char got[10] = {};
	int i;

	if (len != want_len || bpf_probe_read_kernel(got, want_len, name))
		return 0;
#pragma unroll
	for (i = 0; i < 10; i++) {
		if (i >= want_len)
			break;
		if (got[i] != want[i])
			return 0;
	}
	return 1;
}

/* Writes to /proc/PID/{uid_map,gid_map,setgroups} (and the task/TID copies). Every other
 * write returns after reading the superblock magic: this hook runs for every read and write. */
SEC("lsm/file_permission")
int BPF_PROG(idmap_write, struct file *file, int mask)
{
	struct corral_task_ctx *c;
	struct seq_file *seq;
	struct user_namespace *ns;
	struct dentry *dentry;
	const unsigned char *name;
	__u32 len, which;

	if (!(mask & MAY_WRITE) || BPF_CORE_READ(file, f_inode, i_sb, s_magic) != CORRAL_PROC_SUPER_MAGIC)
		return 0;
	dentry = BPF_CORE_READ(file, f_path.dentry);
	name = BPF_CORE_READ(dentry, d_name.name);
	len = BPF_CORE_READ(dentry, d_name.len);
	if (corral_name_is(name, len, "uid_map", 7))
		which = CORRAL_EVENT_F_UID_MAP;
	else if (corral_name_is(name, len, "gid_map", 7))
		which = CORRAL_EVENT_F_GID_MAP;
	else if (corral_name_is(name, len, "setgroups", 9))
		which = CORRAL_EVENT_F_SETGROUPS;
	else
		return 0;
	seq = BPF_CORE_READ(file, private_data);
	ns = seq ? BPF_CORE_READ(seq, private) : NULL;
	if (!ns)
		return 0;
	c = corral_ctx(1);
	if (!c)
		return 0;
	c->d.hook = CORRAL_HOOK_ID_MAP;
	c->d.ns_type = CLONE_NEWUSER;
	c->d.ns_inum = BPF_CORE_READ(ns, ns.inum);
	c->d.compat = 0;
	c->d.eperm_only = 0;
	c->d.ev_flags = which;
	c->d.n_ext = 0;
	c->d.id_bad = 0;
	if (which != CORRAL_EVENT_F_SETGROUPS)
		corral_id_read_write(c);
	return corral_ret(corral_decide_id_map(&c->d));
}

#include "self-protect/self_protect.bpf.h" /* self-protection, both modes: docs/security.md */
#include "classify/classify.bpf.h" /* cgroup classification at creation, both modes: docs/compiler.md */
#include "executables/executables.bpf.h" /* subject executables across upgrades, both modes: docs/compiler.md */
