// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * smoke: loads build/bpf/corral.bpf.o with libbpf (native or compat set, by probing the
 * kernel BTF), writes a tiny policy into generation 1 of the maps and checks real syscalls
 * against it. Runs as root in a guest kernel (bpf/tools/smoke-vm). Exit 0 = all checks passed.
 *
 * Policy (subject bit 0 = any, bit 1 = exe of this binary (only while enabled), bit 2 = cgroup /a):
 *   slot 0 deny-cg     deny-into /deny                 err EACCES
 *   slot 1 track-sb    track uts,ipc... label sandbox
 *   slot 2 lock-sb     lock-on-entry sandbox, deny-unshare, err ENOLCK
 *   slot 3 no-ipc      deny-create ipc                 err EACCES
 *   slot 4 stay-a      stay /a                         err EBUSY
 *   slot 5 mgr         managers, subject exe           (outranks stay-a by specificity)
 *   slot 6 no-net-a    deny-create net, subject cgroup /a   err EACCES
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "corral_abi.h"

#define CG "/sys/fs/cgroup"
#define RANK(prec, tier, spec, idx) (((__u64)(prec) << 48) | ((__u64)(tier) << 44) | \
				     ((__u64)(spec) << 28) | (0x7FFFFFFull - (idx)))

static int failures, native;
static struct bpf_object *obj;

static int print_warn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%s ", ok ? "PASS" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!ok)
		failures++;
}

static __u32 fnv(const char *s)
{
	__u32 h = 0x811C9DC5;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x01000193;
	return h ? h : 1;
}

static int map_fd(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m) {
		fprintf(stderr, "no map %s\n", name);
		exit(1);
	}
	return bpf_map__fd(m);
}

static void upd(const char *map, const void *k, const void *v)
{
	if (bpf_map_update_elem(map_fd(map), k, v, BPF_ANY)) {
		fprintf(stderr, "update %s: %s\n", map, strerror(errno));
		exit(1);
	}
}

/* Per-slot maps (corral_abi.h): updates go to slot `gen`'s inner map, created on first use. */
static void upd_slot(const char *map, __u32 gen, __u32 max_entries, __u32 key_size, __u32 value_size,
		     const void *k, const void *v)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int outer = map_fd(map), inner;
	__u32 id;

	if (bpf_map_lookup_elem(outer, &gen, &id) == 0) {
		inner = bpf_map_get_fd_by_id(id);
	} else {
		inner = bpf_map_create(BPF_MAP_TYPE_HASH, "smoke_inner", key_size, value_size, max_entries, &o);
		if (inner >= 0 && bpf_map_update_elem(outer, &gen, &inner, BPF_ANY)) {
			fprintf(stderr, "store inner map of %s: %s\n", map, strerror(errno));
			exit(1);
		}
	}
	if (inner < 0 || bpf_map_update_elem(inner, k, v, BPF_ANY)) {
		fprintf(stderr, "update %s[%u]: %s\n", map, gen, strerror(errno));
		exit(1);
	}
	close(inner);
}

static __u64 ino_of(const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		perror(path);
		exit(1);
	}
	return st.st_ino;
}

static void put_rule(__u32 slot, struct corral_rule r)
{
	__u32 key = 1 * CORRAL_MAX_RULE_SLOTS + slot;
	struct corral_uid_key uk = {.rule_uid = r.rule_uid, .gen = 1};

	upd("corral_rules", &key, &r);
	upd_slot("corral_rule_uids", 1, CORRAL_MAX_RULE_SLOTS, sizeof(uk), sizeof(slot), &uk, &slot);
}

static void put_list(__u32 list, int n, const __u16 *slots)
{
	struct corral_slot_list l = {.count = n};
	__u32 key = 1 * CORRAL_LIST_COUNT + list;

	memcpy(l.slots, slots, n * sizeof(*slots));
	upd("corral_hook_rules", &key, &l);
}

/* A corral_cgroups entry of epoch 7 (generation 7): one anchored slot and subject bits. */
static void put_anchor_bits(__u64 cg, __u16 slot, __u64 bits)
{
	struct corral_cgroup_key k = {.cgroup_id = cg, .epoch = 7};
	struct corral_cgroup_class a = {.subject_bits = bits, .n_anchor = 1, .anchor_slots = {slot}};

	upd("corral_cgroups", &k, &a);
}

static struct corral_exe_key self_exe_key(void)
{
	struct stat st;
	struct corral_exe_key k = {.gen = 1};

	if (stat("/proc/self/exe", &st)) {
		perror("exe");
		exit(1);
	}
	k.ino = st.st_ino;
	k.dev = (major(st.st_dev) << 20) | minor(st.st_dev); /* kernel dev_t */
	return k;
}

static void install_policy(void)
{
	__u32 zero = 0, one = 1;
	__u64 any = 1, a_bit = 4;
	__u64 id_deny = ino_of(CG "/deny"), id_a = ino_of(CG "/a");
	struct corral_generation g = {.generation = 7, .any_mask = 0x1, .rule_slots = 7};
	struct corral_control ctl = {.active_gen = 1};
	__u16 l_alloc[] = {1, 3, 6}, l_inst[] = {2}, l_cg[] = {5};

	put_rule(0, (struct corral_rule){.rank = RANK(0, 0, 0, 0), .subject_mask = any,
		.cgroup_id = id_deny, .rule_uid = fnv("deny-cg"), .kind = CORRAL_RULE_DENY_INTO,
		.err = EACCES});
	put_rule(1, (struct corral_rule){.rank = RANK(0, 0, 0, 1), .subject_mask = any,
		.rule_uid = fnv("track-sb"), .kind = CORRAL_RULE_TRACK,
		.ns_types = CLONE_NEWUTS | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID,
		.track_label = fnv("sandbox")});
	put_rule(2, (struct corral_rule){.rank = RANK(0, 1, 0, 2), .subject_mask = any,
		.rule_uid = fnv("lock-sb"), .kind = CORRAL_RULE_LOCK_ON_ENTRY,
		.flags = CORRAL_RULE_F_DENY_UNSHARE, .err = ENOLCK, .labels = {fnv("sandbox")}});
	put_rule(3, (struct corral_rule){.rank = RANK(0, 0, 0, 3), .subject_mask = any,
		.rule_uid = fnv("no-ipc"), .kind = CORRAL_RULE_DENY_CREATE,
		.ns_types = CLONE_NEWIPC, .err = EACCES});
	put_rule(4, (struct corral_rule){.rank = RANK(0, 0, 0, 4), .subject_mask = any,
		.cgroup_id = id_a, .rule_uid = fnv("stay-a"), .kind = CORRAL_RULE_STAY,
		.err = EBUSY});
	put_rule(5, (struct corral_rule){.rank = RANK(0, 0, 3 * 256, 5), .subject_mask = 0x2,
		.rule_uid = fnv("mgr"), .kind = CORRAL_RULE_MANAGERS});
	put_rule(6, (struct corral_rule){.rank = RANK(0, 0, 256 + 1, 6), .subject_mask = a_bit,
		.rule_uid = fnv("no-net-a"), .kind = CORRAL_RULE_DENY_CREATE,
		.ns_types = CLONE_NEWNET, .err = EACCES});
	put_list(CORRAL_LIST_NS_ALLOC, 3, l_alloc);
	put_list(CORRAL_LIST_NS_INSTALL, 1, l_inst);
	put_list(CORRAL_LIST_CGROUP, 1, l_cg);
	put_anchor_bits(id_deny, 0, 0);
	put_anchor_bits(id_a, 4, a_bit);
	upd("corral_generations", &one, &g);
	upd("corral_control", &zero, &ctl); /* publish */
}

/* ---- events ---- */
#define MAX_EV 256
static struct corral_event evs[MAX_EV];
static int nev;

static int on_event(void *ctx, void *data, size_t len)
{
	if (nev < MAX_EV && len >= sizeof(struct corral_event))
		memcpy(&evs[nev++], data, sizeof(struct corral_event));
	return 0;
}

static int count_ev(__u32 hook, __u32 verdict, __u32 uid, __u32 tgid, __s32 err)
{
	int i, n = 0;

	for (i = 0; i < nev; i++)
		if (evs[i].hook == hook && evs[i].verdict == verdict && evs[i].rule_uid == uid &&
		    (!tgid || evs[i].tgid == tgid) && evs[i].err == err)
			n++;
	return n;
}

/* ---- syscall helpers ---- */
static int move(pid_t pid, const char *cg)
{
	char path[256], buf[32];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), CG "%s/cgroup.procs", cg);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	n = snprintf(buf, sizeof(buf), "%d\n", pid);
	if (write(fd, buf, n) != n)
		err = errno;
	close(fd);
	return err;
}

static pid_t sleeper(void)
{
	pid_t p = fork();

	if (p == 0) {
		pause();
		_exit(0);
	}
	return p;
}

static void reap(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static int clone3_err(__u64 flags, int cgfd)
{
	struct clone_args a = {.flags = flags, .exit_signal = SIGCHLD, .cgroup = cgfd};
	long p = syscall(SYS_clone3, &a, sizeof(a));

	if (p < 0)
		return errno;
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return 0;
}

/* Runs fn in a child; returns its exit status (0 = ok). */
static int in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t p = fork();

	if (p == 0)
		_exit(fn(arg));
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int exp_errno(int want)
{
	/* compat decides unshare/setns in lsm/capable: always EPERM */
	return native ? want : EPERM;
}

struct fds { int orig, sb; pid_t holder; };

static int locked_child(void *arg)
{
	struct fds *f = arg;
	int st;
	pid_t p;

	if (setns(f->sb, CLONE_NEWUTS))
		return 10; /* entering the tracked ns: allowed, locks us */
	if (setns(f->orig, CLONE_NEWUTS) == 0 || errno != exp_errno(ENOLCK))
		return 11; /* locked: leaving denied */
	if (unshare(CLONE_NEWUTS) == 0 || errno != exp_errno(ENOLCK))
		return 12; /* deny-unshare */
	if (clone3_err(CLONE_NEWUTS, 0) != ENOLCK)
		return 13; /* clone with CLONE_NEW*: task_alloc (compat) / alloc hook: rule errno */
	p = fork(); /* the lock is inherited */
	if (p == 0)
		_exit(setns(f->orig, CLONE_NEWUTS) == 0 ? 1 : errno == exp_errno(ENOLCK) ? 0 : 2);
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return 14;
	return 0;
}

/* A child unshares a user namespace and reports its inum; the parent checks it is tracked. */
/* setns by pidfd into a process that sits in the tracked ns: locks; leaving is denied. */
static int pidfd_child(void *arg)
{
	struct fds *f = arg;
	int pfd = syscall(SYS_pidfd_open, f->holder, 0);

	if (pfd < 0 || setns(pfd, CLONE_NEWUTS))
		return 40;
	if (setns(f->orig, CLONE_NEWUTS) == 0 || errno != exp_errno(ENOLCK))
		return 41;
	return 0;
}

static int userns_check(void)
{
	struct corral_tracked_ns v = {};
	struct stat st;
	int p[2], r = 0;
	__u32 inum = 0;
	pid_t c;

	if (pipe(p))
		return 20;
	c = fork();
	if (c == 0) {
		if (unshare(CLONE_NEWUSER) || stat("/proc/self/ns/user", &st))
			_exit(1);
		inum = st.st_ino;
		write(p[1], &inum, sizeof(inum));
		pause();
		_exit(0);
	}
	if (read(p[0], &inum, sizeof(inum)) != sizeof(inum))
		r = 21;
	else if (bpf_map_lookup_elem(map_fd("corral_tracked_ns"), &inum, &v) ||
		 v.label != fnv("sandbox") || v.ns_type != CLONE_NEWUSER)
		r = 22;
	reap(c);
	close(p[0]);
	close(p[1]);
	return r;
}

static int unshare_ipc(void *arg)
{
	return unshare(CLONE_NEWIPC) == 0 ? 1 : errno == exp_errno(EACCES) ? 0 : 2;
}

static int unshare_net(void *arg)
{
	return unshare(CLONE_NEWNET) ? 1 : 0;
}

static int net_in_a(void *arg)
{
	if (move(getpid(), "/a"))
		return 30; /* root -> /a: allowed */
	if (unshare(CLONE_NEWNET) == 0 || errno != exp_errno(EACCES))
		return 31; /* cgroup subject /a: deny-create net */
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/corral/lib/corral.bpf.o";
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	struct ring_buffer *rb;
	struct stat st;
	struct fds f;
	int nprog = 0, err, cgfd, i;
	__u32 inum, key;
	pid_t c;

	native = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_lsm_namespace_install", BTF_KIND_FUNC) > 0;
	printf("mode: %s\n", native ? "native" : "compat");
	libbpf_set_print(print_warn);
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		perror("open");
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		int mine = !strncmp(bpf_program__name(prog), native ? "native_" : "compat_", 7);

		bpf_program__set_autoload(prog, mine);
		nprog += mine;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
	}
	check(1, "loaded and attached %d %s programs", nprog, native ? "native" : "compat");
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_program__autoload(prog) &&
		    !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			printf("  prog %-16s verified_insns=%u xlated=%u\n", bpf_program__name(prog),
			       info.verified_insns, info.xlated_prog_len / 8);
	}
	rb = ring_buffer__new(map_fd("corral_events"), on_event, NULL, NULL);

	for (i = 0; i < 5; i++) {
		const char *d[] = {CG "/a", CG "/a/b", CG "/deny", CG "/out", CG "/c"};
		mkdir(d[i], 0755);
	}
	install_policy();

	/* --- cgroup_attach --- */
	c = sleeper();
	check(move(c, "/deny") == EACCES, "cgroup.procs write into /deny: EACCES (deny-into)");
	check(move(c, "/c") == 0, "cgroup.procs write into /c: allowed");
	check(move(c, "/a") == 0, "/c -> /a: allowed");
	check(move(c, "/out") == EBUSY, "/a -> /out: EBUSY (stay)");
	check(move(c, "/a/b") == 0, "/a -> /a/b: allowed (stays inside /a)");
	check(move(c, "/deny") == EACCES, "/a/b -> /deny: EACCES (deny-into outranks stay by file order)");
	{
		struct corral_exe_key ek = self_exe_key();
		__u64 bit = 2;

		upd("corral_subj_exe", &ek, &bit);
		check(move(c, "/out") == 0, "/a/b -> /out as exe-subject manager: allowed");
		bpf_map_delete_elem(map_fd("corral_subj_exe"), &ek);
	}
	cgfd = open(CG "/deny", O_DIRECTORY | O_RDONLY);
	check(clone3_err(CLONE_INTO_CGROUP, cgfd) == EACCES, "clone3(CLONE_INTO_CGROUP /deny): EACCES");
	close(cgfd);
	cgfd = open(CG "/c", O_DIRECTORY | O_RDONLY);
	check(clone3_err(CLONE_INTO_CGROUP, cgfd) == 0, "clone3(CLONE_INTO_CGROUP /c): allowed");
	close(cgfd);
	reap(c);

	/* --- namespace_alloc: deny-create --- */
	check(in_child(unshare_ipc, NULL) == 0,
	      "unshare(CLONE_NEWIPC): %s (deny-create)", native ? "EACCES" : "EPERM");
	check(clone3_err(CLONE_NEWIPC, 0) == EACCES, "clone3(CLONE_NEWIPC): EACCES");
	check(in_child(net_in_a, NULL) == 0, "unshare(CLONE_NEWNET) from cgroup /a: denied (cgroup subject)");
	check(in_child(unshare_net, NULL) == 0,
	      "unshare(CLONE_NEWNET) from root cgroup: allowed");

	/* --- track + lock-on-entry (seed ns_sandbox) --- */
	f.orig = open("/proc/self/ns/uts", O_RDONLY);
	check(unshare(CLONE_NEWUTS) == 0, "unshare(CLONE_NEWUTS): allowed");
	f.sb = open("/proc/self/ns/uts", O_RDONLY);
	fstat(f.sb, &st);
	inum = st.st_ino;
	{
		struct corral_tracked_ns v = {};
		int r = bpf_map_lookup_elem(map_fd("corral_tracked_ns"), &inum, &v);

		check(r == 0 && v.label == fnv("sandbox") && v.ns_type == CLONE_NEWUTS &&
		      v.rule_uid == fnv("track-sb") && v.creator_tgid == (__u32)getpid(),
		      "new uts ns %u tracked with label sandbox", inum);
	}
	check(setns(f.orig, CLONE_NEWUTS) == 0, "setns back to the host uts ns: allowed (not locked)");
	err = in_child(locked_child, &f);
	check(err == 0, "child: enter tracked ns (locks), leave/unshare/clone denied, fork inherits (status %d)", err);
	f.holder = fork();
	if (f.holder == 0) {
		if (setns(f.sb, CLONE_NEWUTS))
			_exit(1);
		pause();
		_exit(0);
	}
	usleep(100000);
	err = in_child(pidfd_child, &f);
	check(err == 0, "setns(pidfd) into the tracked ns locks; leaving denied (status %d)", err);
	reap(f.holder);
	err = userns_check();
	check(err == 0, "unshare(CLONE_NEWUSER): tracked via %s (status %d)",
	      native ? "namespace_alloc" : "userns_create + fexit create_user_ns", err);

	/* --- namespace_free --- */
	close(f.sb);
	for (i = 0; i < 50; i++) {
		struct corral_tracked_ns v;

		if (bpf_map_lookup_elem(map_fd("corral_tracked_ns"), &inum, &v))
			break;
		usleep(20000);
	}
	check(i < 50, "tracked uts ns %u deleted when freed", inum);

	/* --- audit mode flips in place --- */
	{
		struct corral_rule r;

		key = CORRAL_MAX_RULE_SLOTS + 3;
		bpf_map_lookup_elem(map_fd("corral_rules"), &key, &r);
		r.mode = CORRAL_MODE_AUDIT;
		upd("corral_rules", &key, &r);
		check(clone3_err(CLONE_NEWIPC, 0) == 0, "clone3(CLONE_NEWIPC) with no-ipc in audit mode: allowed");
	}

	/* --- events and stats --- */
	ring_buffer__consume(rb);
	printf("events: %d\n", nev);
	for (i = 0; i < nev; i++)
		printf("  ev seq=%llu gen=%llu hook=%u verdict=%u mode=%u rule=%08x pid=%u target=%u type=%#x inum=%u label=%08x err=%d tg=%u flags=%#x src=%llu dst=%llu comm=%s\n",
		       evs[i].seq, evs[i].generation, evs[i].hook, evs[i].verdict, evs[i].mode, evs[i].rule_uid,
		       evs[i].pid, evs[i].target_pid, evs[i].ns_type, evs[i].ns_inum, evs[i].ns_label,
		       evs[i].err, evs[i].threadgroup, evs[i].flags, evs[i].src_cgroup, evs[i].dst_cgroup,
		       evs[i].comm);
	check(count_ev(CORRAL_HOOK_CGROUP_ATTACH, CORRAL_VERDICT_DENY, fnv("deny-cg"), getpid(), EACCES) == 3,
	      "3 deny-into events (2 writes + clone3), one per operation");
	check(count_ev(CORRAL_HOOK_CGROUP_ATTACH, CORRAL_VERDICT_DENY, fnv("stay-a"), getpid(), EBUSY) == 1,
	      "1 stay event");
	check(count_ev(CORRAL_HOOK_CGROUP_ATTACH, CORRAL_VERDICT_ALLOW, fnv("mgr"), getpid(), 0) == 1,
	      "1 managers allow event");
	check(count_ev(CORRAL_HOOK_NS_INSTALL, CORRAL_VERDICT_DENY, fnv("lock-sb"), 0, exp_errno(ENOLCK)) == 3,
	      "3 lock denials of setns (child, grandchild, pidfd child), one event each");
	check(count_ev(CORRAL_HOOK_NS_ALLOC, CORRAL_VERDICT_AUDIT, fnv("no-ipc"), getpid(), 0) == 1,
	      "1 audit event for no-ipc");
	for (i = 0; i < nev; i++)
		if (evs[i].generation != 7 || !!(evs[i].flags & CORRAL_EVENT_F_COMPAT) == native)
			break;
	check(i == nev, "all events carry generation 7 and the %s flag", native ? "no compat" : "compat");
	{
		int ncpu = libbpf_num_possible_cpus();
		__u64 v[64], sum;
		int s, j;

		for (s = 0; s < CORRAL_STAT_COUNT; s++) {
			key = s;
			sum = 0;
			if (ncpu <= 64 && !bpf_map_lookup_elem(map_fd("corral_stats"), &key, v))
				for (j = 0; j < ncpu; j++)
					sum += v[j];
			printf("  stat[%d] = %llu\n", s, (unsigned long long)sum);
		}
	}
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
	return failures ? 1 : 0;
}
