/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Self-protection: only the daemon identity may get fds for Corral's maps, programs and links,
 * open or remove its pins, unmount the bpffs holding them, or ptrace-attach the daemon.
 * Driven by one map, corral_protect (ABI: "Self-protection" in corral_abi.h), filled by
 * Sources/CorralKernel/Protect/SelfProtection.swift. Empty map: every program allows.
 *
 * These programs are unprefixed (neither native_ nor compat_): they load in both modes.
 *
 *   protect_bpf     lsm/bpf                   BPF_{MAP,PROG,LINK}_GET_FD_BY_ID of a protected id
 *   protect_perm    lsm/inode_permission      pin file: any access (BPF_OBJ_GET runs
 *                                             path_permission on the pin); pin dir: MAY_WRITE
 *   protect_unlink  lsm/inode_unlink          a protected inode, or inside a protected dir
 *   protect_rename  lsm/inode_rename          from, to or over a protected inode / dir
 *   protect_rmdir   lsm/inode_rmdir           a protected dir, or inside one
 *   protect_umount  lsm/sb_umount             any mount of the protected bpffs superblock
 *   protect_ptrace  lsm/ptrace_access_check   PTRACE_MODE_ATTACH on a daemon-identity task
 *                                             (ptrace attach, pidfd_getfd, /proc/PID/mem)
 *   protect_map     lsm/bpf_map               any new fd for a protected map id (bpf_map_new_fd:
 *                                             BPF_OBJ_GET of any pin of it, wherever it is)
 *   protect_prog    lsm/bpf_prog              the same for programs (bpf_prog_new_fd). Links
 *                                             have no such hook: their pins need protect_perm.
 *
 * Daemon identity: current->mm->exe_file's inode (dev, ino) is a CORRAL_PROTECT_DAEMON_EXE key.
 * Denials return -EPERM and emit a corral_event with hook CORRAL_HOOK_SELF_PROTECT.
 * Hot hooks (inode_permission) return after one superblock-magic read for non-bpffs inodes.
 */
#ifndef CORRAL_SELF_PROTECT_H
#define CORRAL_SELF_PROTECT_H

#include "corral_maps.h"

#define CORRAL_BPF_FS_MAGIC 0xcafe4a11
#define CORRAL_S_IFMT 00170000
#define CORRAL_S_IFDIR 0040000
#define CORRAL_PTRACE_MODE_ATTACH 0x02

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CORRAL_MAX_PROTECTED);
	__type(key, struct corral_protect_key);
	__type(value, __u32);
} corral_protect SEC(".maps");

static __always_inline int corral_sp_has(__u32 kind, __u64 id, __u32 dev)
{
	struct corral_protect_key k = {};

	k.id = id;
	k.dev = dev;
	k.kind = kind;
	return bpf_map_lookup_elem(&corral_protect, &k) != NULL;
}

/* Is `t` the daemon identity: its executable's inode is a recorded DAEMON_EXE? */
static __always_inline int corral_sp_is_daemon(struct task_struct *t)
{
	struct inode *exe = BPF_CORE_READ(t, mm, exe_file, f_inode);

	if (!exe)
		return 0; /* kernel threads, exiting tasks */
	return corral_sp_has(CORRAL_PROTECT_DAEMON_EXE, BPF_CORE_READ(exe, i_ino),
			     BPF_CORE_READ(exe, i_sb, s_dev));
}

/* A protected bpffs inode (pin file or pin directory)? Non-bpffs inodes cost one read. */
static __always_inline int corral_sp_inode(struct inode *inode)
{
	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != CORRAL_BPF_FS_MAGIC)
		return 0;
	return corral_sp_has(CORRAL_PROTECT_INODE, BPF_CORE_READ(inode, i_ino),
			     BPF_CORE_READ(inode, i_sb, s_dev));
}

static __always_inline struct inode *corral_sp_dentry_inode(struct dentry *d)
{
	return d ? BPF_CORE_READ(d, d_inode) : NULL;
}

/* Reports the refusal (struct corral_event, hook CORRAL_HOOK_SELF_PROTECT) and returns -EPERM. */
static __always_inline int corral_sp_deny(__u32 op, __u32 object, __u32 target_pid)
{
	struct corral_task_state *st;
	struct corral_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&corral_events, sizeof(*e), 0);
	if (!e) {
		corral_stat_inc(CORRAL_STAT_RINGBUF_DROPS);
		return -EPERM;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->timestamp_ns = bpf_ktime_get_ns();
	e->seq = __sync_fetch_and_add(&corral_event_seq, 1);
	e->hook = CORRAL_HOOK_SELF_PROTECT;
	e->verdict = CORRAL_VERDICT_DENY;
	e->mode = CORRAL_MODE_ENFORCE;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->target_pid = target_pid;
	e->ns_type = op;
	e->ns_inum = object;
	e->err = EPERM;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->actor_cgroup = bpf_get_current_cgroup_id();
	st = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0, 0);
	if (st && (st->flags & CORRAL_TASK_LOCKED)) {
		e->actor_lock_rule = st->lock_rule_uid;
		e->actor_lock_label = st->lock_label;
	}
	bpf_ringbuf_submit(e, 0);
	return -EPERM;
}

/* Denies unless the caller is the daemon identity. */
static __always_inline int corral_sp_refuse(__u32 op, __u32 object, __u32 target_pid)
{
	if (corral_sp_is_daemon(bpf_get_current_task_btf()))
		return 0;
	return corral_sp_deny(op, object, target_pid);
}

/* BPF_*_GET_FD_BY_ID: attr->{map,prog,link}_id share one offset (after start_id). */
SEC("lsm/bpf")
int BPF_PROG(protect_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 kind, op, id;

	switch (cmd) {
	case BPF_MAP_GET_FD_BY_ID:
		kind = CORRAL_PROTECT_MAP_ID;
		op = CORRAL_PROTECT_OP_MAP_BY_ID;
		id = BPF_CORE_READ(attr, map_id);
		break;
	case BPF_PROG_GET_FD_BY_ID:
		kind = CORRAL_PROTECT_PROG_ID;
		op = CORRAL_PROTECT_OP_PROG_BY_ID;
		id = BPF_CORE_READ(attr, prog_id);
		break;
	case BPF_LINK_GET_FD_BY_ID:
		kind = CORRAL_PROTECT_LINK_ID;
		op = CORRAL_PROTECT_OP_LINK_BY_ID;
		id = BPF_CORE_READ(attr, link_id);
		break;
	default:
		return 0;
	}
	if (!corral_sp_has(kind, id, 0))
		return 0;
	return corral_sp_refuse(op, id, 0);
}

/* BPF_OBJ_GET resolves the pin and calls path_permission() on it before taking a reference. */
SEC("lsm/inode_permission")
int BPF_PROG(protect_perm, struct inode *inode, int mask)
{
	int dir;

	if (!corral_sp_inode(inode))
		return 0;
	dir = (BPF_CORE_READ(inode, i_mode) & CORRAL_S_IFMT) == CORRAL_S_IFDIR;
	if (dir && !(mask & MAY_WRITE))
		return 0; /* lookup and listing stay open to everyone */
	return corral_sp_refuse(dir ? CORRAL_PROTECT_OP_DIR_WRITE : CORRAL_PROTECT_OP_OPEN,
				(__u32)BPF_CORE_READ(inode, i_ino), 0);
}

SEC("lsm/inode_unlink")
int BPF_PROG(protect_unlink, struct inode *dir, struct dentry *dentry)
{
	struct inode *victim = corral_sp_dentry_inode(dentry);

	if (corral_sp_inode(victim))
		return corral_sp_refuse(CORRAL_PROTECT_OP_UNLINK, (__u32)BPF_CORE_READ(victim, i_ino), 0);
	if (corral_sp_inode(dir))
		return corral_sp_refuse(CORRAL_PROTECT_OP_UNLINK, (__u32)BPF_CORE_READ(dir, i_ino), 0);
	return 0;
}

SEC("lsm/inode_rename")
int BPF_PROG(protect_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry)
{
	struct inode *from = corral_sp_dentry_inode(old_dentry);
	struct inode *over = corral_sp_dentry_inode(new_dentry); /* NULL: new name */
	struct inode *hit = NULL;

	if (corral_sp_inode(from))
		hit = from;
	else if (corral_sp_inode(over))
		hit = over;
	else if (corral_sp_inode(old_dir))
		hit = old_dir;
	else if (corral_sp_inode(new_dir))
		hit = new_dir;
	if (!hit)
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_RENAME, (__u32)BPF_CORE_READ(hit, i_ino), 0);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(protect_rmdir, struct inode *dir, struct dentry *dentry)
{
	struct inode *victim = corral_sp_dentry_inode(dentry);

	if (corral_sp_inode(victim))
		return corral_sp_refuse(CORRAL_PROTECT_OP_RMDIR, (__u32)BPF_CORE_READ(victim, i_ino), 0);
	if (corral_sp_inode(dir))
		return corral_sp_refuse(CORRAL_PROTECT_OP_RMDIR, (__u32)BPF_CORE_READ(dir, i_ino), 0);
	return 0;
}

/* Unmounting the last mount of a bpffs drops its pins (and so the pinned links). */
SEC("lsm/sb_umount")
int BPF_PROG(protect_umount, struct vfsmount *mnt, int flags)
{
	struct super_block *sb = BPF_CORE_READ(mnt, mnt_sb);

	if (!sb || BPF_CORE_READ(sb, s_magic) != CORRAL_BPF_FS_MAGIC)
		return 0;
	if (!corral_sp_has(CORRAL_PROTECT_SUPERBLOCK, 0, BPF_CORE_READ(sb, s_dev)))
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_UMOUNT, 0, 0);
}

/* The daemon holds fds for every map and link: pidfd_getfd(2), ptrace and /proc/PID/mem
 * would hand them (or its memory) to another process. All check PTRACE_MODE_ATTACH. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(protect_ptrace, struct task_struct *child, unsigned int mode)
{
	if (!(mode & CORRAL_PTRACE_MODE_ATTACH) || !corral_sp_is_daemon(child))
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_PTRACE, 0, BPF_CORE_READ(child, pid));
}

/* bpf_map_new_fd(): BPF_OBJ_GET of a map pin (MAP_GET_FD_BY_ID is refused earlier, in
 * protect_bpf). Catches pins made after the last scan and hard links outside the pin directory. */
SEC("lsm/bpf_map")
int BPF_PROG(protect_map, struct bpf_map *map, fmode_t fmode)
{
	__u32 id = BPF_CORE_READ(map, id);

	if (!corral_sp_has(CORRAL_PROTECT_MAP_ID, id, 0))
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_MAP_FD, id, 0);
}

SEC("lsm/bpf_prog")
int BPF_PROG(protect_prog, struct bpf_prog *prog)
{
	__u32 id = BPF_CORE_READ(prog, aux, id);

	if (!corral_sp_has(CORRAL_PROTECT_PROG_ID, id, 0))
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_PROG_FD, id, 0);
}

#endif /* CORRAL_SELF_PROTECT_H */
