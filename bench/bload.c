// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bload: benchmark loader (static, libbpf). Loads and attaches a BPF object, runs one command
 * with the programs attached, waits for it, exits (closing the links detaches everything).
 *
 *   bload empty OBJ -- CMD ARGS...         every program of OBJ (bench/empty.bpf.o: the floor)
 *   bload corral OBJ NDENY -- CMD ARGS...  the compat set of Corral's object, with generation 1
 *                                          of the maps filled like examples/bench/policy-10k.yaml
 *                                          (written by this C code, per corral_abi.h, not by
 *                                          Corral's compiler): the fallback for state (c).
 *   bload cycle EMPTY_OBJ EMPTY_NATIVE_OBJ CORRAL_OBJ NDENY ROUNDS STATES WORKLOAD N...
 *       loads (and verifies) once the object of each state of STATES:
 *         a  nothing                         b  EMPTY_OBJ (the compat floor)
 *         c  CORRAL_OBJ's compat set, NDENY  z  CORRAL_OBJ's compat set, 3 rules (NDENY 0)
 *         e  EMPTY_NATIVE_OBJ (native floor) n  CORRAL_OBJ's native set, NDENY
 *         m  CORRAL_OBJ's native set, 3 rules
 *         s  $BLOAD_STEPS_OBJ (bench/steps.bpf.o), policy as n: native decisions in steps, for
 *            the profile only (its timings mean nothing)
 *       (e, n and m need a kernel with the seed hooks); then ROUNDS times, for each state of
 *       STATES (rotated by one each round): attaches that state's programs, runs
 *       `WORKLOAD run STATE ROUND N...` (N: per-op iterations, see workload.c), detaches. Loaded
 *       but unattached programs never run, so the states interleave within seconds and share
 *       host conditions. Then, with BPF run-time statistics on (BPF_ENABLE_STATS), once per
 *       state with programs and per op: attaches, runs `WORKLOAD run P<STATE> 0 ...` with only
 *       that op, and prints each program's runs and run time per op (not part of the timings):
 *         BENCH_PROF state=S op=OP prog=NAME runs_per_op=R ns_per_op=T
 * Exit status: CMD's (128+N on signal N); 3 on a load/attach error.
 *
 * Policy written in corral mode (subject bit 0 = any; ranks as bpf/tools/smoke.c):
 *   slot 0         track-bench   track net, label bench-sb          (list NS_ALLOC)
 *   slot 1         lock-bench    lock-on-entry [bench-sb]           (list NS_INSTALL)
 *   slot 2         stay-mig      stay /bench/mig                    (anchor)
 *   slot 3+i       deny-NNNNN    deny-into /bench/deny/dNNNNN       (anchor), i < NDENY
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "corral_abi.h"

#define CG "/sys/fs/cgroup"
#define RANK(prec, tier, spec, idx) (((__u64)(prec) << 48) | ((__u64)(tier) << 44) | \
				     ((__u64)(spec) << 28) | (0x7FFFFFFull - (idx)))

static struct bpf_object *obj; /* the object being filled */

static int print_warn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static __u32 fnv(const char *s)
{
	__u32 h = 0x811C9DC5;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x01000193;
	return h ? h : 1;
}

static void upd(const char *map, const void *k, const void *v)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, map);

	if (!m || bpf_map_update_elem(bpf_map__fd(m), k, v, BPF_ANY)) {
		fprintf(stderr, "bload: update %s: %s\n", map, strerror(errno));
		exit(3);
	}
}

static __u64 ino_of(const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		perror(path);
		exit(3);
	}
	return st.st_ino;
}

static int uids_fd = -1; /* generation 1's inner map of corral_rule_uids (ABI 5), see fill_slot */

static void put_rule(__u32 slot, struct corral_rule r)
{
	__u32 key = CORRAL_MAX_RULE_SLOTS + slot;
	struct corral_uid_key uk = {.rule_uid = r.rule_uid, .gen = 1};

	upd("corral_rules", &key, &r);
	if (bpf_map_update_elem(uids_fd, &uk, &slot, BPF_ANY)) {
		fprintf(stderr, "bload: update corral_rule_uids[1]: %s\n", strerror(errno));
		exit(3);
	}
}

/*
 * ABI 5: corral_rule_uids (and corral_pattern_names) are BPF_MAP_TYPE_ARRAY_OF_MAPS, key = the
 * generation slot, value = an inner BPF_MAP_TYPE_HASH (BPF_F_NO_PREALLOC) with that slot's entries
 * (corral_abi.h, "Per-slot maps"; the daemon: PolicyInstaller.swift). Creates slot 1's inner map
 * with the inner definition's sizes (corral_maps.h: corral_rule_uids_inner; libbpf frees its copy of
 * the inner definition once the outer map exists, so they come from corral_abi.h); fill_slot
 * stores it once filled. corral_pattern_names stays empty (no patterns in this policy): an empty
 * slot has no entries.
 */
static void new_uids_slot(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);

	uids_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "rule_uids_1", sizeof(struct corral_uid_key), sizeof(__u32),
				 CORRAL_MAX_RULE_SLOTS, &o);
	if (uids_fd < 0) {
		fprintf(stderr, "bload: create inner map of corral_rule_uids: %s\n", strerror(errno));
		exit(3);
	}
}

static void fill_slot(void)
{
	__u32 one = 1;

	upd("corral_rule_uids", &one, &uids_fd); /* the outer map holds its own reference */
	close(uids_fd);
	uids_fd = -1;
}

static void put_anchor(__u64 cg, __u16 slot)
{
	/* epoch 1 = generation 1; no root entry, so nothing counts as unclassified */
	struct corral_cgroup_key k = {.cgroup_id = cg, .epoch = 1};
	struct corral_cgroup_class a = {.n_anchor = 1, .anchor_slots = {slot}};

	upd("corral_cgroups", &k, &a);
}

static void install_policy(int ndeny)
{
	__u32 zero = 0, one = 1, key;
	struct corral_generation g = {.generation = 1, .any_mask = 1, .rule_slots = 3 + ndeny};
	struct corral_control ctl = {.active_gen = 1};
	struct corral_slot_list l_alloc = {.count = 1, .slots = {0}}, l_inst = {.count = 1, .slots = {1}};
	__u64 mig = ino_of(CG "/bench/mig");
	char id[32], path[96];
	int i;

	new_uids_slot();

	put_rule(0, (struct corral_rule){.rank = RANK(0, 0, 0, 0), .subject_mask = 1,
		.rule_uid = fnv("track-bench"), .kind = CORRAL_RULE_TRACK,
		.ns_types = CLONE_NEWNET, .track_label = fnv("bench-sb")});
	put_rule(1, (struct corral_rule){.rank = RANK(0, 1, 0, 1), .subject_mask = 1,
		.rule_uid = fnv("lock-bench"), .kind = CORRAL_RULE_LOCK_ON_ENTRY, .err = EPERM,
		.labels = {fnv("bench-sb")}});
	put_rule(2, (struct corral_rule){.rank = RANK(0, 0, 0, 2), .subject_mask = 1, .cgroup_id = mig,
		.rule_uid = fnv("stay-mig"), .kind = CORRAL_RULE_STAY, .err = EPERM});
	put_anchor(mig, 2);
	for (i = 0; i < ndeny; i++) {
		__u64 cg;

		snprintf(id, sizeof(id), "deny-%05d", i);
		snprintf(path, sizeof(path), CG "/bench/deny/d%05d", i);
		cg = ino_of(path);
		put_rule(3 + i, (struct corral_rule){.rank = RANK(0, 0, 0, 3 + i), .subject_mask = 1,
			.cgroup_id = cg, .rule_uid = fnv(id), .kind = CORRAL_RULE_DENY_INTO, .err = EPERM});
		put_anchor(cg, 3 + i);
	}
	key = CORRAL_LIST_COUNT + CORRAL_LIST_NS_ALLOC;
	upd("corral_hook_rules", &key, &l_alloc);
	key = CORRAL_LIST_COUNT + CORRAL_LIST_NS_INSTALL;
	upd("corral_hook_rules", &key, &l_inst);
	fill_slot();
	upd("corral_generations", &one, &g);
	upd("corral_control", &zero, &ctl); /* publish */
}

/* What Corral attaches in a mode (CorralObject.init: keeps the mode's prefix, drops the other
 * mode's and protect_*): the compat_* or native_* set, plus the programs both modes load (ptrace
 * scope, id maps). Self-protection (protect_*) is the daemon's only. */
enum { ALL, COMPAT, NATIVE };

static int corral_program(const char *name, int set)
{
	return !strncmp(name, set == NATIVE ? "native_" : "compat_", 7) || !strncmp(name, "scope_", 6) ||
	       !strncmp(name, "idmap_", 6);
}

/* Opens and loads one object: every program (ALL) or Corral's COMPAT or NATIVE set. */
static struct bpf_object *load(const char *path, int corral, int *nprog)
{
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int err;

	if (!o) {
		fprintf(stderr, "bload: open %s: %s\n", path, strerror(errno));
		exit(3);
	}
	*nprog = 0;
	bpf_object__for_each_program(prog, o) {
		int mine = corral == ALL || corral_program(bpf_program__name(prog), corral);

		bpf_program__set_autoload(prog, mine);
		*nprog += mine;
	}
	err = bpf_object__load(o);
	if (err) {
		fprintf(stderr, "bload: load %s: %s\n", path, strerror(-err));
		exit(3);
	}
	return o;
}

#define MAX_LINKS 64

static int attach_all(struct bpf_object *o, struct bpf_link **links)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, o) {
		if (!bpf_program__autoload(prog) || n >= MAX_LINKS)
			continue;
		links[n] = bpf_program__attach(prog);
		if (!links[n]) {
			fprintf(stderr, "bload: attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			exit(3);
		}
		n++;
	}
	return n;
}

/* Runs argv, waits; out >= 0: the child's stdout goes there. */
static int run_cmd(char **argv, int out)
{
	int st;
	pid_t c;

	fflush(stdout);
	c = fork();
	if (c < 0)
		return 3;
	if (c == 0) {
		if (out >= 0)
			dup2(out, 1);
		execv(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	if (waitpid(c, &st, 0) != c)
		return 3;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static __u64 prog_stat(struct bpf_program *p, __u64 *cnt)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
		return *cnt = 0;
	*cnt = info.run_cnt;
	return info.run_time_ns;
}

#define MAX_OPS 7
static const char *op_names[MAX_OPS] = {"setns", "mig", "clone", "rw", "pidfd", "unshare", "clonens"};

/* Per-op run count and run time of each attached program of state s (stats must be on). */
static void profile(int s, struct bpf_object *o, char *workload, char **iters, int nops)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_program *p;
	__u64 ns0[MAX_LINKS], cnt0[MAX_LINKS], ns, cnt;
	char st[3] = {'P', s, 0}, zero[MAX_OPS][2], line[512];
	int op, k, n, i, fd, done;

	for (op = 0; op < nops; op++) {
		char *wargv[4 + MAX_OPS + 1] = {workload, "run", st, "0"};
		FILE *f;

		if (!atoi(iters[op]))
			continue;
		for (k = 0; k < nops; k++) {
			strcpy(zero[k], "0");
			wargv[4 + k] = k == op ? iters[k] : zero[k];
		}
		wargv[4 + nops] = NULL;
		fd = open("/tmp/bload-prof.out", O_RDWR | O_CREAT | O_TRUNC, 0600);
		n = attach_all(o, links);
		i = 0;
		bpf_object__for_each_program(p, o)
			if (bpf_program__autoload(p) && i < MAX_LINKS)
				ns0[i] = prog_stat(p, &cnt0[i]), i++;
		if (run_cmd(wargv, fd)) {
			fprintf(stderr, "bload: profile: state %c op %s failed\n", s, op_names[op]);
			exit(3);
		}
		done = 0;
		i = 0;
		f = fdopen(fd, "r");
		rewind(f);
		while (fgets(line, sizeof(line), f)) {
			char *d = strstr(line, " done=");

			fputs(line, stdout);
			if (d)
				done = atoi(d + 6);
		}
		fclose(f);
		bpf_object__for_each_program(p, o) {
			if (!bpf_program__autoload(p) || i >= MAX_LINKS)
				continue;
			ns = prog_stat(p, &cnt) - ns0[i];
			cnt -= cnt0[i];
			i++;
			if (cnt && done)
				printf("BENCH_PROF state=%c op=%s prog=%s runs_per_op=%.2f ns_per_op=%.0f\n", s,
				       op_names[op], bpf_program__name(p), (double)cnt / done, (double)ns / done);
		}
		for (k = 0; k < n; k++)
			bpf_link__destroy(links[k]);
		usleep(500000);
	}
	fflush(stdout);
}

static int cycle(int argc, char **argv)
{
	struct bpf_object *objs[26] = {0}; /* by state letter; a: none */
	struct bpf_link *links[MAX_LINKS];
	char states[16], round[16], st[2] = {0};
	int ndeny, rounds, ns = 0, nops = argc - 9, r, i, n, rc, sfd;

	if (argc < 10 || nops > MAX_OPS)
		return -1;
	ndeny = atoi(argv[5]);
	rounds = atoi(argv[6]);
	for (i = 0; argv[7][i] && ns < (int)sizeof(states); i++)
		if (argv[7][i] >= 'a' && argv[7][i] <= 'z')
			states[ns++] = argv[7][i];
	for (i = 0; i < ns; i++) {
		int s = states[i];
		const char *what;

		switch (s) {
		case 'a': continue;
		case 'b': objs[s - 'a'] = load(argv[2], ALL, &n); what = "empty, compat attach points"; break;
		case 'e': objs[s - 'a'] = load(argv[3], ALL, &n); what = "empty, native attach points"; break;
		case 's':
			if (!getenv("BLOAD_STEPS_OBJ")) {
				fprintf(stderr, "bload: cycle: state s needs BLOAD_STEPS_OBJ\n");
				return 2;
			}
			obj = objs[s - 'a'] = load(getenv("BLOAD_STEPS_OBJ"), ALL, &n);
			install_policy(ndeny);
			what = "native decisions in steps, 3 + NDENY rules";
			break;
		case 'c': case 'z': case 'n': case 'm':
			obj = objs[s - 'a'] = load(argv[4], s == 'c' || s == 'z' ? COMPAT : NATIVE, &n);
			install_policy(s == 'c' || s == 'n' ? ndeny : 0);
			what = s == 'c' ? "Corral compat set, 3 + NDENY rules" : s == 'z' ? "Corral compat set, 3 rules" :
			       s == 'n' ? "Corral native set, 3 + NDENY rules" : "Corral native set, 3 rules";
			break;
		default:
			fprintf(stderr, "bload: cycle: unknown state %c\n", s);
			return 2;
		}
		fprintf(stderr, "bload: state %c: %d programs loaded (%s)\n", s, n, what);
	}
	for (r = 1; r <= rounds; r++) {
		snprintf(round, sizeof(round), "%d", r);
		for (i = 0; i < ns; i++) {
			char *wargv[4 + MAX_OPS + 1] = {argv[8], "run", st, round};
			int s = states[(i + r - 1) % ns], k;

			for (k = 0; k < nops; k++)
				wargv[4 + k] = argv[9 + k];
			wargv[4 + nops] = NULL;
			st[0] = s;
			n = objs[s - 'a'] ? attach_all(objs[s - 'a'], links) : 0;
			rc = run_cmd(wargv, -1);
			for (k = 0; k < n; k++)
				bpf_link__destroy(links[k]);
			usleep(500000); /* let deferred trampoline/RCU work after detach settle */
			if (rc) {
				fprintf(stderr, "bload: cycle: state %c round %d: status %d\n", s, r, rc);
				return rc;
			}
			printf("BENCH_ATTACHED state=%c round=%d links=%d\n", s, r, n);
			fflush(stdout);
		}
	}
	sfd = bpf_enable_stats(BPF_STATS_RUN_TIME); /* on while sfd is open */
	if (sfd < 0) {
		fprintf(stderr, "bload: BPF_ENABLE_STATS: %s (no per-program profile)\n", strerror(errno));
		return 0;
	}
	for (i = 0; i < ns; i++)
		if (objs[states[i] - 'a'])
			profile(states[i], objs[states[i] - 'a'], argv[8], argv + 9, nops);
	close(sfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_program *prog;
	int corral, ndeny = 0, cmd, nprog = 0, err, st;
	pid_t c;

	libbpf_set_print(print_warn);
	if (argc > 1 && !strcmp(argv[1], "cycle")) {
		int rc = cycle(argc, argv);

		if (rc >= 0)
			return rc;
		goto usage;
	}
	if (argc < 5 || (strcmp(argv[1], "empty") && strcmp(argv[1], "corral")))
		goto usage;
	corral = !strcmp(argv[1], "corral");
	cmd = corral ? 5 : 4;
	if (corral)
		ndeny = atoi(argv[3]);
	if (argc <= cmd || strcmp(argv[cmd - 1], "--"))
		goto usage;
	libbpf_set_print(print_warn);
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj) {
		fprintf(stderr, "bload: open %s: %s\n", argv[2], strerror(errno));
		return 3;
	}
	bpf_object__for_each_program(prog, obj) {
		int mine = !corral || corral_program(bpf_program__name(prog), COMPAT);

		bpf_program__set_autoload(prog, mine);
		nprog += mine;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "bload: load: %s\n", strerror(-err));
		return 3;
	}
	bpf_object__for_each_program(prog, obj) {
		if (bpf_program__autoload(prog) && !bpf_program__attach(prog)) {
			fprintf(stderr, "bload: attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 3;
		}
	}
	if (corral)
		install_policy(ndeny);
	fprintf(stderr, "bload: %s: %d programs attached%s\n", argv[1], nprog,
		corral ? ", policy of 3 + NDENY rules in generation 1" : "");
	fflush(stderr);
	fflush(stdout);
	c = fork();
	if (c < 0)
		return 3;
	if (c == 0) {
		execv(argv[cmd], argv + cmd);
		perror(argv[cmd]);
		_exit(127);
	}
	if (waitpid(c, &st, 0) != c)
		return 3;
	bpf_object__close(obj);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
usage:
	fprintf(stderr, "usage: bload empty OBJ -- CMD... | bload corral OBJ NDENY -- CMD... |\n"
			"       bload cycle EMPTY_OBJ EMPTY_NATIVE_OBJ CORRAL_OBJ NDENY ROUNDS STATES WORKLOAD N...\n");
	return 2;
}
