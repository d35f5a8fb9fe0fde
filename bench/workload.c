// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload: the operations scripts/bench times in the guest, whatever BPF is attached.
 *
 *   workload setup NDENY
 *       mkdir /sys/fs/cgroup/bench/mig/{m1,m2} and NDENY cgroups /sys/fs/cgroup/bench/deny/dNNNNN
 *       (the destinations of the 10k deny-into rules in examples/bench/policy-10k.yaml).
 *   workload run STATE REP [SETNS_N MIG_N CLONE_N RW_N]
 *       moves itself into /bench/mig/m1, then times each op in batches (50 setns, 20 mig,
 *       3 clone round trips: a few ms each under TCG), after N/10 untimed warm-up iterations:
 *         setns  setns(uts fd of a second uts ns) + setns(back)          (one round trip)
 *         mig    write pid to m2/cgroup.procs + write pid to m1/...      (one round trip)
 *         clone  clone3(CLONE_INTO_CGROUP m2), child _exit(0), waitpid   (one child)
 *         rw     pwrite + pread of 64 bytes on a file in /tmp            (lsm/file_permission, twice)
 *       and prints one line per op, per-op ns as the fastest batch (min: least disturbed by the
 *       host preempting the vCPU), the median batch and the overall mean:
 *         BENCH state=STATE rep=REP op=OP iters=N batch=B min=X med=Y mean=Z progs=P
 *       progs = BPF programs loaded in the kernel at the start (sanity check of the state).
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

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

static void op_rw(int n, int fd)
{
	char buf[64] = {0};
	int i;

	for (i = 0; i < n; i++)
		if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) || pread(fd, buf, sizeof(buf), 0) != sizeof(buf))
			die("rw");
}

enum { SETNS, MIG, CLONE, RW, NOPS };
static const char *names[NOPS] = {"setns", "mig", "clone", "rw"};

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int iters[NOPS] = {2000, 1000, 300, 5000};
	int batch[NOPS] = {50, 20, 3, 200}; /* ops per timed batch: a few ms under TCG */
	int self_ns, other_ns, fd1, fd2, cgfd2, rwfd, op, progs;
	const char *state, *rep;

	if (argc == 3 && !strcmp(argv[1], "setup"))
		return setup(atoi(argv[2]));
	if ((argc != 4 && argc != 4 + NOPS) || strcmp(argv[1], "run")) {
		fprintf(stderr, "usage: workload setup NDENY | workload run STATE REP [SETNS_N MIG_N CLONE_N RW_N]\n");
		return 2;
	}
	state = argv[2];
	rep = argv[3];
	if (argc == 4 + NOPS)
		for (op = 0; op < NOPS; op++)
			iters[op] = atoi(argv[4 + op]);
	progs = count_progs();
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
	if (self_ns < 0 || unshare(CLONE_NEWUTS))
		die("unshare uts");
	other_ns = open("/proc/self/ns/uts", O_RDONLY);
	if (other_ns < 0 || setns(self_ns, CLONE_NEWUTS))
		die("setns back");

	for (op = 0; op < NOPS; op++) {
		int bs = batch[op], nb = (iters[op] + bs - 1) / bs, b;
		long long *per = calloc(nb, sizeof(*per)), total = 0, t0, t1;

		if (!per)
			die("calloc");
		for (b = -nb / 10 - 1; b < nb; b++) { /* negative b: warm-up batches, not timed */
			t0 = now_ns();
			switch (op) {
			case SETNS: op_setns(bs, self_ns, other_ns); break;
			case MIG: op_mig(bs, fd1, fd2); break;
			case CLONE: op_clone(bs, cgfd2); break;
			case RW: op_rw(bs, rwfd); break;
			}
			t1 = now_ns();
			if (b >= 0) {
				per[b] = (t1 - t0) / bs;
				total += t1 - t0;
			}
		}
		qsort(per, nb, sizeof(*per), cmp_ll);
		printf("BENCH state=%s rep=%s op=%s iters=%d batch=%d min=%lld med=%lld mean=%lld progs=%d\n",
		       state, rep, names[op], nb * bs, bs, per[0], per[nb / 2], total / (nb * bs), progs);
		fflush(stdout);
		free(per);
	}
	return 0;
}
