// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty-native.bpf.c: the benchmark floor of native mode (state e of scripts/bench). One trivial
 * program (return 0) on every attach point of what Corral attaches in native mode
 * (CorralObject: the native_* programs, plus scope_ptrace, scope_traceme and idmap_write, which
 * both modes load): the 4 seed hooks, with the same sleepable (lsm.s) sections as bpf/corral.bpf.c,
 * and lsm/task_alloc, lsm/ptrace_access_check, lsm/ptrace_traceme, lsm/file_permission. 8 programs.
 * The seed hooks exist only in kernels with the native-hooks patches (seed-hooks): load this
 * object only there.
 */
#include "vmlinux.h" /* bpf/include, as scripts/build-bpf */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define EMPTY(sec, name) SEC(sec) int name(void *ctx) { return 0; }

EMPTY("lsm/task_alloc", e_fork)
EMPTY("lsm.s/namespace_alloc", e_ns_alloc)
EMPTY("lsm.s/namespace_install", e_ns_inst)
EMPTY("lsm/namespace_free", e_ns_free)
EMPTY("lsm.s/cgroup_attach", e_cgattach)
EMPTY("lsm/ptrace_access_check", e_ptrace)
EMPTY("lsm/ptrace_traceme", e_traceme)
EMPTY("lsm/file_permission", e_file_perm)
