/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Executables that survive upgrades (docs/compiler.md, "Executables"): corral_subj_exe follows
 * the files it names across rename(2) and setxattr(2), and forgets inodes that are freed.
 * Both modes; the hooks never deny.
 *
 *   exe_rename   lsm/inode_rename          a file renamed over a subject executable inherits
 *                                           its bits (before the rename takes effect)
 *   exe_setxattr lsm/inode_post_setxattr   a file that gained an `xattr:` subject's attribute
 *   exe_rmxattr  lsm/inode_removexattr     ... and lost it (at the check: fails closed for
 *                                           managers, before the removal for deny rules)
 *   exe_free     lsm/inode_free_security   an unlinked inode's entries go (no reuse)
 *   exe_check    lsm/bprm_check_security   the exec of an anonymous file (nlink 0: memfd,
 *                                           O_TMPFILE) keeps the executing task's identity ...
 *   exe_commit   lsm/bprm_committed_creds  ... once the exec has succeeded; a named file drops it
 */
#ifndef CORRAL_EXECUTABLES_H
#define CORRAL_EXECUTABLES_H

#include "../lib/corral_maps.h"

#define CORRAL_S_IFMT  00170000
#define CORRAL_S_IFREG 0100000

static __always_inline int corral_is_regular(struct inode *ino)
{
	return ino && (BPF_CORE_READ(ino, i_mode) & CORRAL_S_IFMT) == CORRAL_S_IFREG;
}

static __always_inline struct inode *corral_dentry_inode(struct dentry *d)
{
	return d ? BPF_CORE_READ(d, d_inode) : NULL;
}

/* ORs `bits` into the entry of `ino` in generation slot `gen` (creating it). */
static __always_inline void corral_exe_add(struct inode *ino, __u32 gen, __u64 bits)
{
	struct corral_exe_key k = {};
	__u64 *have, v = bits;

	k.ino = BPF_CORE_READ(ino, i_ino);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.gen = gen;
	have = bpf_map_lookup_elem(&corral_subj_exe, &k);
	if (have)
		v |= *have;
	bpf_map_update_elem(&corral_subj_exe, &k, &v, BPF_ANY);
}

static __always_inline void corral_follow_rename(struct inode *over, struct inode *from, __u32 gen)
{
	struct corral_exe_key k = {};
	__u64 *bits;

	k.ino = BPF_CORE_READ(over, i_ino);
	k.dev = BPF_CORE_READ(over, i_sb, s_dev);
	k.gen = gen;
	bits = bpf_map_lookup_elem(&corral_subj_exe, &k);
	if (!bits || !*bits)
		return;
	corral_exe_add(from, gen, *bits);
	corral_stat_inc(CORRAL_STAT_EXE_FOLLOWED);
}

SEC("lsm/inode_rename")
int BPF_PROG(exe_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry)
{
	struct inode *from = corral_dentry_inode(old_dentry);
	struct inode *over = corral_dentry_inode(new_dentry); /* NULL: a new name */

	if (!over || !corral_is_regular(from))
		return 0;
	corral_follow_rename(over, from, 0);
	corral_follow_rename(over, from, 1);
	return 0;
}

/* The subject bits of attribute `name` in slot `gen` (0: no such subject). */
static __always_inline __u64 corral_xattr_bits(struct corral_classify *w, __u32 gen)
{
	struct corral_xattr_key k = {};
	const struct corral_xattr_subject *v;
	int i;

	k.hash = w->hash;
	k.gen = gen;
	v = bpf_map_lookup_elem(&corral_subj_xattr, &k);
	if (!v || v->len != w->len)
		return 0;
	for (i = 0; i < CORRAL_XATTR_NAME_MAX; i++) {
		if (i >= w->len)
			break;
		if (v->name[i & (CORRAL_XATTR_NAME_MAX - 1)] != w->name[i & (CORRAL_CGROUP_NAME_MAX - 1)])
			return 0;
	}
	return v->bits;
}

SEC("lsm/inode_post_setxattr")
int BPF_PROG(exe_setxattr, struct dentry *dentry, const char *name)
{
	struct inode *ino = corral_dentry_inode(dentry);
	struct corral_classify *w;
	__u64 bits;
	__u32 gen;

	if (!corral_is_regular(ino))
		return 0;
	w = corral_read_name(name);
	if (!w)
		return 0;
	for (gen = 0; gen < 2; gen++) {
		bits = corral_xattr_bits(w, gen & 1);
		if (bits) {
			corral_exe_add(ino, gen & 1, bits);
			corral_stat_inc(CORRAL_STAT_EXE_MARKED);
		}
	}
	return 0;
}

static __always_inline void corral_exe_clear(struct inode *ino, __u32 gen, __u64 bits)
{
	struct corral_exe_key k = {};
	__u64 *have, v;

	k.ino = BPF_CORE_READ(ino, i_ino);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.gen = gen;
	have = bpf_map_lookup_elem(&corral_subj_exe, &k);
	if (!have)
		return;
	v = *have & ~bits;
	if (v)
		bpf_map_update_elem(&corral_subj_exe, &k, &v, BPF_EXIST);
	else
		bpf_map_delete_elem(&corral_subj_exe, &k);
}

/* 6.1: (mnt_userns, dentry, name); 6.12: (idmap, dentry, name). */
SEC("lsm/inode_removexattr")
int BPF_PROG(exe_rmxattr, void *idmap, struct dentry *dentry, const char *name)
{
	struct inode *ino = corral_dentry_inode(dentry);
	struct corral_classify *w;
	__u64 bits;

	if (!corral_is_regular(ino))
		return 0;
	w = corral_read_name(name);
	if (!w)
		return 0;
	bits = corral_xattr_bits(w, 0);
	if (bits)
		corral_exe_clear(ino, 0, bits);
	bits = corral_xattr_bits(w, 1);
	if (bits)
		corral_exe_clear(ino, 1, bits);
	return 0;
}

static __always_inline int corral_exe_forget(struct corral_exe_key *k, __u32 gen)
{
	k->gen = gen;
	return bpf_map_delete_elem(&corral_subj_exe, k) == 0;
}

SEC("lsm/inode_free_security")
int BPF_PROG(exe_free, struct inode *ino)
{
	struct corral_exe_key k = {};

	/* Only unlinked regular files: an inode evicted from the cache keeps its number. */
	if (!corral_is_regular(ino) || BPF_CORE_READ(ino, __i_nlink) != 0)
		return 0;
	k.ino = BPF_CORE_READ(ino, i_ino);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	if (corral_exe_forget(&k, 0) | corral_exe_forget(&k, 1))
		corral_stat_inc(CORRAL_STAT_EXE_FORGOTTEN);
	return 0;
}

/*
 * Identity across the exec of an anonymous file. crun (and runc before 1.2) re-execute
 * themselves from a sealed memfd copy (CVE-2019-5736): the copy has no path a policy could name,
 * so without this an `exe: /usr/bin/crun` subject would stop matching the process that creates
 * the container's namespaces. The identity is the executing task's own (carried or its
 * exe_file's inode): a task can only keep an identity it had; any exec of a named file ends it.
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(exe_check, struct linux_binprm *bprm)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct corral_task_state *st;
	struct inode *ino = BPF_CORE_READ(bprm, file, f_inode);

	if (!ino || BPF_CORE_READ(ino, __i_nlink) != 0) {
		/* A named file. (Scripts: this runs again for the interpreter; the last call counts.) */
		st = bpf_task_storage_get(&corral_task_state, t, 0, 0);
		if (st)
			st->flags &= ~CORRAL_TASK_EXE_PENDING;
		return 0;
	}
	st = bpf_task_storage_get(&corral_task_state, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (st->flags & CORRAL_TASK_EXE_CARRIED) {
		st->pending_dev = st->exe_dev;
		st->pending_ino = st->exe_ino;
	} else {
		ino = BPF_CORE_READ(t, mm, exe_file, f_inode);
		if (!ino) {
			st->flags &= ~CORRAL_TASK_EXE_PENDING;
			return 0;
		}
		st->pending_ino = BPF_CORE_READ(ino, i_ino);
		st->pending_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	}
	st->flags |= CORRAL_TASK_EXE_PENDING;
	return 0;
}

SEC("lsm/bprm_committed_creds")
int BPF_PROG(exe_commit, struct linux_binprm *bprm)
{
	struct corral_task_state *st;

	st = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0, 0);
	if (!st)
		return 0;
	if (st->flags & CORRAL_TASK_EXE_PENDING) {
		st->exe_dev = st->pending_dev;
		st->exe_ino = st->pending_ino;
		st->flags = (st->flags & ~CORRAL_TASK_EXE_PENDING) | CORRAL_TASK_EXE_CARRIED;
		corral_stat_inc(CORRAL_STAT_EXE_CARRIED);
	} else {
		st->flags &= ~CORRAL_TASK_EXE_CARRIED;
	}
	return 0;
}

#endif /* CORRAL_EXECUTABLES_H */
