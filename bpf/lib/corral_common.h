/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel constants and small readers shared by all Corral BPF programs. */
#ifndef CORRAL_COMMON_H
#define CORRAL_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "corral_abi.h"

/* uapi / kernel macros that vmlinux.h (BTF) cannot carry */
#define EPERM 1
#define ENOENT 2
#define MAX_ERRNO 4095
#define CAP_SYS_ADMIN 21
#define MAY_WRITE 0x2
#define CGROUP2_SUPER_MAGIC 0x63677270
#define CLONE_NEWTIME 0x00000080
#define CLONE_THREAD 0x00010000
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWCGROUP 0x02000000
#define CLONE_NEWUTS 0x04000000
#define CLONE_NEWIPC 0x08000000
#define CLONE_NEWUSER 0x10000000
#define CLONE_NEWPID 0x20000000
#define CLONE_NEWNET 0x40000000
#define CLONE_INTO_CGROUP 0x200000000ULL
/* Namespace types whose creation the compat set decides per flag (user: lsm/userns_create). */
#define CORRAL_NS_CREATE_MASK (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | \
			       CLONE_NEWCGROUP | CLONE_NEWNET | CLONE_NEWTIME)

#define CORRAL_IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-MAX_ERRNO)
#define CORRAL_IS_ERR_OR_NULL(p) (!(p) || CORRAL_IS_ERR(p))

/*
 * Loops: plain bounded `for` loops with a constant bound (Linux >= 5.3), never open-coded
 * iterators (bpf_for, 6.4+), so the object loads on 6.1. The verifier walks a bounded loop
 * once per iteration; loops whose bodies are large or nested call global functions
 * (corral_eval_slot, corral_scan_anchor, corral_decide_*), which are verified once each.
 */

/* Order in which the kernel creates namespaces in create_new_namespaces(); user last
 * (it is created earlier, in copy_creds/unshare_userns, and decided by lsm/userns_create). */
enum corral_ns_index {
	CORRAL_NSI_MNT = 0,
	CORRAL_NSI_UTS = 1,
	CORRAL_NSI_IPC = 2,
	CORRAL_NSI_PID = 3,
	CORRAL_NSI_CGROUP = 4,
	CORRAL_NSI_NET = 5,
	CORRAL_NSI_TIME = 6,
	CORRAL_NSI_USER = 7,
	CORRAL_NSI_COUNT = 8,
};

static __always_inline __u32 corral_ns_flag(int idx)
{
	switch (idx) {
	case CORRAL_NSI_MNT: return CLONE_NEWNS;
	case CORRAL_NSI_UTS: return CLONE_NEWUTS;
	case CORRAL_NSI_IPC: return CLONE_NEWIPC;
	case CORRAL_NSI_PID: return CLONE_NEWPID;
	case CORRAL_NSI_CGROUP: return CLONE_NEWCGROUP;
	case CORRAL_NSI_NET: return CLONE_NEWNET;
	case CORRAL_NSI_TIME: return CLONE_NEWTIME;
	case CORRAL_NSI_USER: return CLONE_NEWUSER;
	}
	return 0;
}

/* cgroup2 id (kernfs node id) of the ancestor of `cg` at `level` (0 = root). */
static __always_inline __u64 corral_cgroup_ancestor_id(struct cgroup *cg, int level)
{
	struct cgroup *a = NULL;

	bpf_core_read(&a, sizeof(a), &cg->ancestors[level]);
	if (!a)
		return 0;
	return BPF_CORE_READ(a, kn, id);
}

#define CORRAL_MODE_ATTACH 0x02 /* PTRACE_MODE_ATTACH */

/* LSM return value for an errno (positive): the verifier wants [-MAX_ERRNO, 0] provably. */
static __always_inline int corral_ret(int err)
{
	int zero = 0;

	if (err <= 0 || err > MAX_ERRNO)
		return 0;
	/* 0 - err, not -err: keep the bounds check before the subtraction the verifier tracks */
	asm volatile("" : "+r"(zero), "+r"(err));
	return zero - err;
}

/* ns->ops->type (the CLONE_NEW* flag). 6.12's ns_common has no ns_type field. ns: a BTF
 * pointer (a hook or fentry argument): direct loads, no helper call. */
static __always_inline __u32 corral_ns_type(struct ns_common *ns)
{
	const struct proc_ns_operations *ops = ns->ops;

	return ops ? ops->type : 0;
}

#endif /* CORRAL_COMMON_H */
