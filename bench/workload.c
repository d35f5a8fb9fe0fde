// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload: the operations scripts/bench times in the guest, whatever BPF is attached.
 *
 *   workload setup NDENY
 *       mkdir /sys/fs/cgroup/bench/mig/{m1,m2} and NDENY cgroups /sys/fs/cgroup/bench/deny/dNNNNN
 *       (the destinations of the 10k deny-into rules in examples/bench/policy-10k.yaml).
 *   workload run STATE REP [SETNS_N MIG_N CLONE_N RW_N [PIDFD_N UNSHARE_N CLONENS_N]]
 *       moves itself into /bench/mig/m1, then times each op in batches (50 setns, 20 mig,
 *       3 clone round trips: a few ms each under TCG), after N/10 untimed warm-up iterations:
 *         setns    setns(uts fd of a second uts ns) + setns(back)          (one round trip)
 *         mig      write pid to m2/cgroup.procs + write pid to m1/...      (one round trip)
 *         clone    clone3(CLONE_INTO_CGROUP m2), child _exit(0), waitpid   (one child)
 *         rw       pwrite + pread of 64 bytes on a file in /tmp            (lsm/file_permission, twice)
 *         pidfd    setns(pidfd of a helper in the second uts ns, CLONE_NEWUTS) + setns(pidfd of
 *                  a helper in the first, CLONE_NEWUTS)                    (one round trip)
 *         unshare  unshare(CLONE_NEWUTS) + setns(back, uts fd): allocates, installs and (on the
 *                  setns) frees one uts namespace                          (one round trip)
 *         clonens  clone3(CLONE_NEWUTS | CLONE_NEWIPC), child _exit(0), waitpid  (one child)
 *       (an op with N = 0, or not given, is skipped) and prints one line per op, per-op ns as the
 *       fastest batch (min: least disturbed by the host preempting the vCPU), the median batch
 *       and the overall mean:
 *         BENCH state=STATE rep=REP op=OP iters=N batch=B min=X med=Y mean=Z progs=P done=D
 *       progs = BPF programs loaded in the kernel at the start (sanity check of the state);
 *       done = ops executed, warm-up included (bload's per-program statistics divide by it).
 * Exit 0 when every operation succeeded, 1 otherwise (a denial would be a benchmark bug).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CG "/sys/fs/cgroup"

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * The clock. Some guest kernels (seed-hooks under TCG) run CLOCK_MONOTONIC on a jiffies
 * clocksource: 4 ms steps, longer than a batch. So time is read from the TSC (under TCG the
 * host's TSC: fine-grained) and scaled by the guest's "cpu MHz"; the scale is one constant per
 * boot, so ratios within a boot are exact and the ns are approximately right.
 */
static double tsc_per_ns;

static void clock_init(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	double mhz = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	if (f)
		fclose(f);
	if (mhz <= 0) {
		fprintf(stderr, "workload: no cpu MHz in /proc/cpuinfo\n");
		exit(1);
	}
	tsc_per_ns = mhz / 1000;
}

static long long now_ns(void)
{
	return (long long)(__builtin_ia32_rdtsc() / tsc_per_ns);
}

static void mk(const char *p)
{
	if (mkdir(p, 0755) && errno != EEXIST)
		die(p);
}

static int setup(int ndeny)
{
	char p[128];
	int i;

	mk(CG "/bench");
	mk(CG "/bench/mig");
	mk(CG "/bench/mig/m1");
	mk(CG "/bench/mig/m2");
	mk(CG "/bench/deny");
	for (i = 0; i < ndeny; i++) {
		snprintf(p, sizeof(p), CG "/bench/deny/d%05d", i);
		mk(p);
	}
	printf("workload: created %d deny cgroups under " CG "/bench/deny\n", ndeny);
	return 0;
}

static int count_progs(void)
{
	union bpf_attr a;
	int n = 0;

	memset(&a, 0, sizeof(a));
	while (syscall(SYS_bpf, BPF_PROG_GET_NEXT_ID, &a, sizeof(a)) == 0) {
		n++;
		a.start_id = a.next_id;
	}
	return n;
}

static int pidlen;
static char pidbuf[32];

static int open_procs(const char *cg)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), CG "%s/cgroup.procs", cg);
	fd = open(p, O_WRONLY);
	if (fd < 0)
		die(p);
	return fd;
}

static void move(int fd)
{
	if (pwrite(fd, pidbuf, pidlen, 0) != pidlen)
		die("cgroup.procs write");
}

static void op_setns(int n, int self, int other)
{
	int i;

	for (i = 0; i < n; i++)
		if (setns(other, CLONE_NEWUTS) || setns(self, CLONE_NEWUTS))
			die("setns");
}

static void op_mig(int n, int fd1, int fd2)
{
	int i;

	for (i = 0; i < n; i++) {
		move(fd2);
		move(fd1);
	}
}

static void op_clone(int n, int cgfd)
{
	struct clone_args a = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = cgfd};
	int i, st;

	for (i = 0; i < n; i++) {
		long p = syscall(SYS_clone3, &a, sizeof(a));

		if (p < 0)
			die("clone3");
		if (p == 0)
			_exit(0);
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
			die("waitpid");
	}
}

static void op_pidfd(int n, int pfd_self, int pfd_other)
{
	int i;

	for (i = 0; i < n; i++)
		if (setns(pfd_other, CLONE_NEWUTS) || setns(pfd_self, CLONE_NEWUTS))
			die("setns pidfd");
}

static void op_unshare(int n, int self)
{
	int i;

	for (i = 0; i < n; i++)
		if (unshare(CLONE_NEWUTS) || setns(self, CLONE_NEWUTS))
			die("unshare + setns");
}

static void op_clonens(int n)
{
	struct clone_args a = {.flags = CLONE_NEWUTS | CLONE_NEWIPC, .exit_signal = SIGCHLD};
	int i, st;

	for (i = 0; i < n; i++) {
		long p = syscall(SYS_clone3, &a, sizeof(a));

		if (p < 0)
			die("clone3 CLONE_NEWUTS|CLONE_NEWIPC");
		if (p == 0)
			_exit(0);
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
			die("waitpid");
	}
}

/* A helper child that sits in the caller's current namespaces until killed; returns its pidfd. */
static int helper(pid_t *pid)
{
	int fd;

	*pid = fork();
	if (*pid < 0)
		die("fork helper");
	if (*pid == 0) {
		for (;;)
			pause();
	}
	fd = syscall(SYS_pidfd_open, *pid, 0);
	if (fd < 0)
		die("pidfd_open");
	return fd;
}

static void op_rw(int n, int fd)
{
	char buf[64] = {0};
	int i;

	for (i = 0; i < n; i++)
		if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) || pread(fd, buf, sizeof(buf), 0) != sizeof(buf))
			die("rw");
}

enum { SETNS, MIG, CLONE, RW, PIDFD, UNSHARE, CLONENS, NOPS };
static const char *names[NOPS] = {"setns", "mig", "clone", "rw", "pidfd", "unshare", "clonens"};

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int iters[NOPS] = {2000, 1000, 300, 5000, 0, 0, 0};
	int batch[NOPS] = {50, 20, 3, 200, 50, 20, 3}; /* ops per timed batch: a few ms under TCG */
	int self_ns, other_ns, fd1, fd2, cgfd2, rwfd, op, progs, pfd_self, pfd_other;
	pid_t h_self, h_other;
	const char *state, *rep;

	if (argc == 3 && !strcmp(argv[1], "setup"))
		return setup(atoi(argv[2]));
	if (argc < 4 || argc > 4 + NOPS || strcmp(argv[1], "run")) {
		fprintf(stderr, "usage: workload setup NDENY | workload run STATE REP [SETNS_N MIG_N CLONE_N RW_N "
				"[PIDFD_N UNSHARE_N CLONENS_N]]\n");
		return 2;
	}
	state = argv[2];
	rep = argv[3];
	if (argc > 4)
		for (op = 0; op < NOPS; op++)
			iters[op] = 4 + op < argc ? atoi(argv[4 + op]) : 0;
	progs = count_progs();
	clock_init();
	pidlen = snprintf(pidbuf, sizeof(pidbuf), "%d\n", getpid());

	fd1 = open_procs("/bench/mig/m1");
	fd2 = open_procs("/bench/mig/m2");
	move(fd1);
	cgfd2 = open(CG "/bench/mig/m2", O_DIRECTORY | O_RDONLY);
	if (cgfd2 < 0)
		die("open m2");
	rwfd = open("/tmp/bench-rw", O_RDWR | O_CREAT, 0600);
	if (rwfd < 0)
		die("open /tmp/bench-rw");
	self_ns = open("/proc/self/ns/uts", O_RDONLY);
	pfd_self = helper(&h_self);
	if (self_ns < 0 || unshare(CLONE_NEWUTS))
		die("unshare uts");
	other_ns = open("/proc/self/ns/uts", O_RDONLY);
	pfd_other = helper(&h_other);
	if (other_ns < 0 || setns(self_ns, CLONE_NEWUTS))
		die("setns back");

	for (op = 0; op < NOPS; op++) {
		int bs = batch[op], nb = (iters[op] + bs - 1) / bs, b, done = 0;
		long long *per, total = 0, t0, t1;

		if (nb <= 0)
			continue;
		per = calloc(nb, sizeof(*per));
		if (!per)
			die("calloc");
		for (b = -nb / 10 - 1; b < nb; b++) { /* negative b: warm-up batches, not timed */
			t0 = now_ns();
			switch (op) {
			case SETNS: op_setns(bs, self_ns, other_ns); break;
			case MIG: op_mig(bs, fd1, fd2); break;
			case CLONE: op_clone(bs, cgfd2); break;
			case RW: op_rw(bs, rwfd); break;
			case PIDFD: op_pidfd(bs, pfd_self, pfd_other); break;
			case UNSHARE: op_unshare(bs, self_ns); break;
			case CLONENS: op_clonens(bs); break;
			}
			done += bs;
			t1 = now_ns();
			if (b >= 0) {
				per[b] = (t1 - t0) / bs;
				total += t1 - t0;
			}
		}
		qsort(per, nb, sizeof(*per), cmp_ll);
		printf("BENCH state=%s rep=%s op=%s iters=%d batch=%d min=%lld med=%lld mean=%lld progs=%d done=%d\n",
		       state, rep, names[op], nb * bs, bs, per[0], per[nb / 2], total / (nb * bs), progs, done);
		fflush(stdout);
		free(per);
	}
	kill(h_self, SIGKILL);
	kill(h_other, SIGKILL);
	waitpid(h_self, NULL, 0);
	waitpid(h_other, NULL, 0);
	return 0;
}
