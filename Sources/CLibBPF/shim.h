// libbpf (Debian libbpf-dev 1.1.2) plus the few syscalls Swift cannot call directly
// (variadic or macro-only). Only Sources/CorralKernel/System/*.swift may use this module.
#ifndef CORRAL_CLIBBPF_SHIM_H
#define CORRAL_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Raw syscalls: return -1 and set errno on failure, like libc. */
static inline int corral_sys_setns(int fd, int nstype) { return (int)syscall(SYS_setns, fd, nstype); }
static inline int corral_sys_unshare(int flags) { return (int)syscall(SYS_unshare, flags); }
static inline int corral_sys_pidfd_open(int pid, unsigned int flags) {
	return (int)syscall(SYS_pidfd_open, pid, flags);
}
static inline int corral_sys_gettid(void) { return (int)syscall(SYS_gettid); }
static inline int corral_sys_memfd_create(const char *name, unsigned int flags) {
	return (int)syscall(SYS_memfd_create, name, flags);
}
/* execveat(fd, "", argv, envp, AT_EMPTY_PATH): execute an open file (fexecve without /proc). */
static inline int corral_sys_execveat_fd(int fd, char *const argv[], char *const envp[]) {
	return (int)syscall(SYS_execveat, fd, "", argv, envp, 0x1000 /* AT_EMPTY_PATH */);
}

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
/* ptrace(2) is variadic in glibc; the raw syscall takes exactly these four. */
static inline long corral_sys_ptrace(long request, int pid, unsigned long addr, unsigned long data) {
	return syscall(SYS_ptrace, request, pid, addr, data);
}
static inline int corral_sys_pidfd_getfd(int pidfd, int fd, unsigned int flags) {
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, flags);
}
/* process_vm_writev / process_vm_readv of one range. */
static inline long corral_sys_process_vm(int write, int pid, void *local, unsigned long remote, unsigned long len) {
	struct { void *base; unsigned long len; } l = {local, len}, r = {(void *)remote, len};
	return syscall(write ? SYS_process_vm_writev : SYS_process_vm_readv, pid, &l, 1UL, &r, 1UL, 0UL);
}

/* struct clone_args (linux/sched.h), spelled out so glibc headers do not clash. */
struct corral_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		set_tid, set_tid_size, cgroup;
};

/* clone3 without CLONE_VM: fork semantics, 0 in the child. `pidfd_out` receives a pidfd
 * when CLONE_PIDFD (0x1000) is in flags. */
static inline int corral_clone3(uint64_t flags, int cgroup_fd, int *pidfd_out) {
	struct corral_clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = flags;
	args.exit_signal = SIGCHLD;
	args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
	if (pidfd_out) args.pidfd = (uint64_t)(uintptr_t)pidfd_out;
	return (int)syscall(SYS_clone3, &args, sizeof(args));
}

/* fork, then in the child: wait for one byte on `gate_rd` (the parent writes it after marking
 * the child in task storage), then execvp. Only async-signal-safe calls after fork.
 * Child exit codes: 126 gate closed without the byte, 127 exec failed. */
static inline int corral_fork_gated_exec(int gate_rd, int gate_wr, const char *file, char *const argv[]) {
	int pid = fork();
	if (pid != 0) return pid;
	char byte = 0;
	close(gate_wr);
	ssize_t n;
	do { n = read(gate_rd, &byte, 1); } while (n < 0 && errno == EINTR);
	if (n != 1) _exit(126);
	close(gate_rd);
	execvp(file, argv);
	_exit(127);
}

/* 1 when vmlinux BTF has a struct/union `type_name` with member `member`, or an enum
 * `type_name` with enumerator `member` (e.g. enum bpf_func_id, BPF_FUNC_loop); else 0.
 * Lets the probe name kernel features (helpers, map types, struct fields) by their BTF. */
static inline int corral_btf_has_member(const struct btf *btf, const char *type_name, const char *member) {
	static const int kinds[] = {BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int id = btf__find_by_name_kind(btf, type_name, kinds[k]);
		if (id <= 0)
			continue;
		const struct btf_type *t = btf__type_by_id(btf, id);
		if (!t)
			continue;
		int n = btf_vlen(t);
		for (int i = 0; i < n; i++) {
			__u32 off;
			switch (btf_kind(t)) {
			case BTF_KIND_ENUM: off = btf_enum(t)[i].name_off; break;
			case BTF_KIND_ENUM64: off = btf_enum64(t)[i].name_off; break;
			default: off = btf_members(t)[i].name_off; break;
			}
			const char *name = btf__name_by_offset(btf, off);
			if (name && strcmp(name, member) == 0)
				return 1;
		}
	}
	return 0;
}

/* A two-instruction BPF_LSM_MAC program ("r0 = 0; exit") for the hook with BTF id
 * `attach_btf_id`: returns a prog fd, or a negative errno. */
static inline int corral_trial_load_lsm(uint32_t attach_btf_id, char *log, size_t log_size) {
	struct bpf_insn insns[2];
	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
	insns[0].dst_reg = BPF_REG_0;
	insns[1].code = BPF_JMP | BPF_EXIT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		.expected_attach_type = BPF_LSM_MAC,
		.attach_btf_id = attach_btf_id,
		.log_buf = log,
		.log_size = (uint32_t)log_size,
		.log_level = log ? 1 : 0);
	int fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "corral_probe", "GPL", insns, 2, &opts);
	return fd < 0 ? -errno : fd;
}

/* The ring-buffer callback type, named so Swift can build one. */
typedef int (*corral_ringbuf_cb)(void *ctx, void *data, size_t size);
#endif
