/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Self-protection: only the daemon identity may change Corral's maps, programs and links (get a
 * writable map fd, update/detach/pin/attach through an fd), open or remove its pins, unmount the bpffs holding them, or ptrace-attach the daemon.
 * Driven by one map, corral_protect (ABI: "Self-protection" in corral_abi.h), filled by
 * Sources/CorralKernel/Protect/SelfProtection.swift. Empty map: every program allows.
 *
 * These programs are unprefixed (neither native_ nor compat_): they load in both modes.
 *
 *   protect_bpf     lsm/bpf                   a writable BPF_MAP_GET_FD_BY_ID of a protected map;
 *                                             commands given an fd for a protected object that
 *                                             change it or tie it to something else (link
 *                                             update/detach, pin, map writes, attach, test-run,
 *                                             bind, iterators): the fd is resolved in current's
 *                                             fd table. Program and link fds by id, and read-only
 *                                             map fds, stay open (bpftool prog/link show).
 *   protect_perm    lsm/inode_permission      pin file: any access (BPF_OBJ_GET runs
 *                                             path_permission on the pin); pin dir: MAY_WRITE
 *   protect_unlink  lsm/inode_unlink          a protected inode, or inside a protected dir
 *   protect_rename  lsm/inode_rename          from, to or over a protected inode / dir
 *   protect_rmdir   lsm/inode_rmdir           a protected dir, or inside one
 *   protect_umount  lsm/sb_umount             any mount of the protected bpffs superblock
 *   protect_ptrace  lsm/ptrace_access_check   PTRACE_MODE_ATTACH on a daemon-identity task
 *                                             (ptrace attach, pidfd_getfd, /proc/PID/mem)
 *   protect_map     lsm/bpf_map               a new *writable* fd for a protected map id by any
 *                                             path (bpf_map_new_fd: BY_ID, BPF_OBJ_GET of any pin)
 *   protect_prog    lsm/bpf_prog              a new program (end of BPF_PROG_LOAD) that uses a
 *                                             protected map or extends/traces a protected program.
 *                                             Links have no such hook: their pins need protect_perm.
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

/* Reports the refusal (struct corral_event, hook CORRAL_HOOK_SELF_PROTECT) and returns -err. */
static __always_inline int corral_sp_deny_err(__u32 op, __u32 object, __u32 target_pid, int err)
{
	struct corral_task_state *st;
	struct corral_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&corral_events, sizeof(*e), 0);
	if (!e) {
		corral_stat_inc(CORRAL_STAT_RINGBUF_DROPS);
		return -err;
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
	e->err = err;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->actor_cgroup = bpf_get_current_cgroup_id();
	st = bpf_task_storage_get(&corral_task_state, bpf_get_current_task_btf(), 0, 0);
	if (st && (st->flags & CORRAL_TASK_LOCKED)) {
		e->actor_lock_rule = st->lock_rule_uid;
		e->actor_lock_label = st->lock_label;
	}
	corral_event_set_ids(e);
	bpf_ringbuf_submit(e, 0);
	return -err;
}

static __always_inline int corral_sp_deny(__u32 op, __u32 object, __u32 target_pid)
{
	return corral_sp_deny_err(op, object, target_pid, EPERM);
}

/* Denies unless the caller is the daemon identity. */
static __always_inline int corral_sp_refuse(__u32 op, __u32 object, __u32 target_pid)
{
	if (corral_sp_is_daemon(bpf_get_current_task_btf()))
		return 0;
	return corral_sp_deny(op, object, target_pid);
}

/* The BPF object behind fd `fd` of the current task (struct corral_sp_obj; kind 0: none).
 * Files are recognised as BPF maps, programs and links by their anonymous inode (the anon_inode
 * superblock magic) and its name ("bpf-map", "bpf-prog", "bpf-link": anon_inode_getfd() in
 * bpf_map_new_fd / bpf_prog_new_fd / bpf_link_new_fd); private_data is then the object.
 * The fd is read from current->files->fdt->fd[fd]: the kernel looks it up again after
 * security_bpf(), so another thread that swaps the fd in between (dup2) is not seen here. */
#define CORRAL_ANON_INODE_MAGIC 0x09041934
#define CORRAL_BPF_F_REPLACE (1U << 2) /* uapi BPF_F_REPLACE (a #define, not in vmlinux.h) */
struct corral_sp_obj {
	__u32 kind; /* CORRAL_PROTECT_{MAP,PROG,LINK}_ID or 0 */
	__u32 id;
	__u32 link_type;
	__u32 iter_map_id; /* an iterator link over a map: that map's id, else 0 */
	__u32 map_type;
};

struct bpf_iter_link___corral {
	struct bpf_link link;
	struct bpf_iter_aux_info aux;
} __attribute__((preserve_access_index));

static __always_inline void corral_sp_fd(int fd, struct corral_sp_obj *o)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	const unsigned char *dname;
	char name[10] = {};
	void *p;

	o->kind = 0;
	o->iter_map_id = 0;
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	if (BPF_CORE_READ(f, f_inode, i_sb, s_magic) != CORRAL_ANON_INODE_MAGIC)
		return;
	dname = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (!dname || bpf_probe_read_kernel_str(name, sizeof(name), dname) < 0)
		return;
	if (name[0] != 'b' || name[1] != 'p' || name[2] != 'f' || name[3] != '-')
		return;
	p = BPF_CORE_READ(f, private_data);
	if (!p)
		return;
	if (name[4] == 'm' && name[5] == 'a' && name[6] == 'p' && name[7] == 0) {
		o->kind = CORRAL_PROTECT_MAP_ID;
		o->id = BPF_CORE_READ((struct bpf_map *)p, id);
		o->map_type = BPF_CORE_READ((struct bpf_map *)p, map_type);
	} else if (name[4] == 'p' && name[5] == 'r' && name[6] == 'o' && name[7] == 'g' && name[8] == 0) {
		o->kind = CORRAL_PROTECT_PROG_ID;
		o->id = BPF_CORE_READ((struct bpf_prog *)p, aux, id);
	} else if (name[4] == 'l' && name[5] == 'i' && name[6] == 'n' && name[7] == 'k' && name[8] == 0) {
		o->kind = CORRAL_PROTECT_LINK_ID;
		o->id = BPF_CORE_READ((struct bpf_link *)p, id);
		o->link_type = BPF_CORE_READ((struct bpf_link *)p, type);
		if (o->link_type == BPF_LINK_TYPE_ITER) {
			struct bpf_map *m = BPF_CORE_READ((struct bpf_iter_link___corral *)p, aux.map);

			if (m)
				o->iter_map_id = BPF_CORE_READ(m, id);
		}
	}
}

/* Refuses `op` when fd `fd` is a protected object of `kind` (0: any kind). */
static __always_inline int corral_sp_fd_refuse(int fd, __u32 kind, __u32 op)
{
	struct corral_sp_obj o = {};

	corral_sp_fd(fd, &o);
	if (!o.kind || (kind && o.kind != kind))
		return 0;
	if (corral_sp_has(o.kind, o.id, 0))
		return corral_sp_refuse(op, o.id, 0);
	if (o.iter_map_id && corral_sp_has(CORRAL_PROTECT_MAP_ID, o.iter_map_id, 0))
		return corral_sp_refuse(CORRAL_PROTECT_OP_MAP_USE, o.iter_map_id, 0);
	return 0;
}

/*
 * bpf(2) commands. Reading stays open: BPF_{PROG,LINK}_GET_FD_BY_ID of any id, and
 * BPF_MAP_GET_FD_BY_ID with open_flags = BPF_F_RDONLY (a map fd without FMODE_WRITE: the kernel
 * itself refuses updates, deletes, BPF_MAP_FREEZE and writable mmap through it). Refused for
 * everyone but the daemon identity: a writable map fd by id, and every command that changes a
 * protected object or ties it to something else, given an fd for it.
 */
SEC("lsm/bpf")
int BPF_PROG(protect_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 id;
	int err;

	switch (cmd) {
	case BPF_MAP_GET_FD_BY_ID:
		id = BPF_CORE_READ(attr, map_id);
		if ((BPF_CORE_READ(attr, open_flags) & (BPF_F_RDONLY | BPF_F_WRONLY)) == BPF_F_RDONLY)
			return 0; /* read-only: protect_map sees FMODE_READ only */
		if (!corral_sp_has(CORRAL_PROTECT_MAP_ID, id, 0) || corral_sp_is_daemon(bpf_get_current_task_btf()))
			return 0;
		/* ENOENT, not EPERM: id walkers (bpftool map show/dump, which open read-write) treat it
		 * as "gone since GET_NEXT_ID" and go on with the other maps instead of aborting. The
		 * refusal is still reported (op MAP_BY_ID, err ENOENT). */
		return corral_sp_deny_err(CORRAL_PROTECT_OP_MAP_BY_ID, id, 0, ENOENT);
	case BPF_LINK_UPDATE:
		err = corral_sp_fd_refuse(BPF_CORE_READ(attr, link_update.link_fd), 0, CORRAL_PROTECT_OP_LINK_UPDATE);
		if (!err)
			err = corral_sp_fd_refuse(BPF_CORE_READ(attr, link_update.new_prog_fd), 0, CORRAL_PROTECT_OP_LINK_UPDATE);
		if (!err && (BPF_CORE_READ(attr, link_update.flags) & CORRAL_BPF_F_REPLACE))
			err = corral_sp_fd_refuse(BPF_CORE_READ(attr, link_update.old_prog_fd), 0, CORRAL_PROTECT_OP_LINK_UPDATE);
		return err;
	case BPF_LINK_DETACH:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, link_detach.link_fd), 0, CORRAL_PROTECT_OP_LINK_DETACH);
	case BPF_OBJ_PIN:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, bpf_fd), 0, CORRAL_PROTECT_OP_OBJ_PIN);
	case BPF_ITER_CREATE:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, iter_create.link_fd), 0, CORRAL_PROTECT_OP_MAP_USE);
	case BPF_PROG_ATTACH:
		err = corral_sp_fd_refuse(BPF_CORE_READ(attr, attach_bpf_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
		if (!err && (BPF_CORE_READ(attr, attach_flags) & CORRAL_BPF_F_REPLACE))
			err = corral_sp_fd_refuse(BPF_CORE_READ(attr, replace_bpf_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
		return err;
	case BPF_PROG_DETACH:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, attach_bpf_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
	case BPF_LINK_CREATE:
		err = corral_sp_fd_refuse(BPF_CORE_READ(attr, link_create.prog_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
		if (!err) /* fentry/fexit/freplace on a BPF program: target_fd is that program */
			err = corral_sp_fd_refuse(BPF_CORE_READ(attr, link_create.target_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
		return err;
	case BPF_RAW_TRACEPOINT_OPEN:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, raw_tracepoint.prog_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
	case BPF_PROG_TEST_RUN:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, test.prog_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
	case BPF_PROG_LOAD: /* also checked after verification, race-free, in protect_prog */
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, attach_prog_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
	case BPF_PROG_BIND_MAP:
		err = corral_sp_fd_refuse(BPF_CORE_READ(attr, prog_bind_map.prog_fd), CORRAL_PROTECT_PROG_ID, CORRAL_PROTECT_OP_PROG_USE);
		if (!err)
			err = corral_sp_fd_refuse(BPF_CORE_READ(attr, prog_bind_map.map_fd), CORRAL_PROTECT_MAP_ID, CORRAL_PROTECT_OP_MAP_USE);
		return err;
	case BPF_MAP_UPDATE_ELEM: {
		struct corral_sp_obj o = {};
		__u64 uvalue;
		__u32 inner = 0;

		corral_sp_fd(BPF_CORE_READ(attr, map_fd), &o);
		if (o.kind != CORRAL_PROTECT_MAP_ID)
			return 0;
		if (corral_sp_has(CORRAL_PROTECT_MAP_ID, o.id, 0))
			return corral_sp_refuse(CORRAL_PROTECT_OP_MAP_WRITE, o.id, 0);
		if (o.map_type != BPF_MAP_TYPE_ARRAY_OF_MAPS && o.map_type != BPF_MAP_TYPE_HASH_OF_MAPS)
			return 0;
		/* Another map of maps: the value is an inner map fd (read from user memory; the
		 * kernel copies it again afterwards). */
		uvalue = BPF_CORE_READ(attr, value);
		if (bpf_probe_read_user(&inner, sizeof(inner), (void *)uvalue))
			return 0;
		return corral_sp_fd_refuse(inner, CORRAL_PROTECT_MAP_ID, CORRAL_PROTECT_OP_MAP_USE);
	}
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
	case BPF_MAP_FREEZE:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, map_fd), CORRAL_PROTECT_MAP_ID, CORRAL_PROTECT_OP_MAP_WRITE);
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
		return corral_sp_fd_refuse(BPF_CORE_READ(attr, batch.map_fd), CORRAL_PROTECT_MAP_ID, CORRAL_PROTECT_OP_MAP_WRITE);
	default:
		return 0;
	}
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

/* bpf_map_new_fd(): every new fd for a map (BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET of any pin of
 * it, wherever it is). Only writable fds of protected maps are refused: a read-only one lets
 * root inspect the map (the kernel refuses writes through it). */
#define CORRAL_FMODE_WRITE 0x2
SEC("lsm/bpf_map")
int BPF_PROG(protect_map, struct bpf_map *map, fmode_t fmode)
{
	__u32 id;

	if (!(fmode & CORRAL_FMODE_WRITE))
		return 0;
	id = BPF_CORE_READ(map, id);
	if (!corral_sp_has(CORRAL_PROTECT_MAP_ID, id, 0))
		return 0;
	return corral_sp_refuse(CORRAL_PROTECT_OP_MAP_FD, id, 0);
}

/* bpf_prog_new_fd(): every new program fd, including the first one at the end of BPF_PROG_LOAD
 * (after verification: used_maps and dst_prog are final, so no fd can be swapped any more).
 * Protected programs get fds (bpftool prog show); another program may not use a protected map
 * (a read-only fd is enough for the verifier, and the program could write through it) nor
 * extend or trace a protected program (freplace, fentry/fexit with attach_prog_fd). */
#define CORRAL_MAX_USED_MAPS 64 /* MAX_USED_MAPS */
SEC("lsm/bpf_prog")
int BPF_PROG(protect_prog, struct bpf_prog *prog)
{
	struct bpf_prog_aux *aux = BPF_CORE_READ(prog, aux);
	struct bpf_map **maps;
	__u32 cnt, i, id;

	if (!aux || corral_sp_has(CORRAL_PROTECT_PROG_ID, BPF_CORE_READ(aux, id), 0))
		return 0;
	id = BPF_CORE_READ(aux, dst_prog, aux, id);
	if (id && corral_sp_has(CORRAL_PROTECT_PROG_ID, id, 0))
		return corral_sp_refuse(CORRAL_PROTECT_OP_PROG_USE, id, 0);
	cnt = BPF_CORE_READ(aux, used_map_cnt);
	maps = BPF_CORE_READ(aux, used_maps);
	if (!maps)
		return 0;
	for (i = 0; i < CORRAL_MAX_USED_MAPS && i < cnt; i++) {
		struct bpf_map *m = NULL;

		if (bpf_probe_read_kernel(&m, sizeof(m), &maps[i]) || !m)
			continue;
		id = BPF_CORE_READ(m, id);
		if (corral_sp_has(CORRAL_PROTECT_MAP_ID, id, 0))
			return corral_sp_refuse(CORRAL_PROTECT_OP_MAP_USE, id, 0);
	}
	return 0;
}

#endif /* CORRAL_SELF_PROTECT_H */
