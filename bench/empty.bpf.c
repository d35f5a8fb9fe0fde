// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty.bpf.c: the benchmark floor. One trivial program (return 0) on every attach point of
 * Corral's compat set (docs/bpf.md, "compat"), so state (b) of scripts/bench pays the hook
 * trampolines and LSM dispatch but no decision. 38 programs, like what `corral run` attaches in
 * compat mode: the 35 of the compat set plus scope_ptrace, scope_traceme and idmap_write.
 */
#include "vmlinux.h" /* bpf/include, as scripts/build-bpf */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define EMPTY(sec, name) SEC(sec) int name(void *ctx) { return 0; }

EMPTY("lsm/task_alloc", e_fork)
EMPTY("lsm/userns_create", e_userns)
EMPTY("fentry/unshare_nsproxy_namespaces", e_unsh_in)
EMPTY("fexit/unshare_nsproxy_namespaces", e_unsh_out)

#define SETNS(fn, tag) EMPTY("fentry/" #fn, e_in_##tag) EMPTY("fexit/" #fn, e_out_##tag)
SETNS(mntns_install, mnt)
SETNS(utsns_install, uts)
SETNS(ipcns_install, ipc)
SETNS(pidns_install, pid)
SETNS(netns_install, net)
SETNS(cgroupns_install, cgrp)
SETNS(timens_install, time)
SETNS(userns_install, user)

EMPTY("lsm/capable", e_capable)
EMPTY("fexit/copy_mnt_ns", e_cp_mnt)
EMPTY("fexit/copy_utsname", e_cp_uts)
EMPTY("fexit/copy_ipcs", e_cp_ipc)
EMPTY("fexit/copy_pid_ns", e_cp_pid)
EMPTY("fexit/copy_cgroup_ns", e_cp_cgrp)
EMPTY("fexit/copy_net_ns", e_cp_net)
EMPTY("fexit/copy_time_ns", e_cp_time)
EMPTY("fexit/create_user_ns", e_cp_user)
EMPTY("fentry/proc_free_inum", e_ns_free)
EMPTY("fexit/cgroup_procs_write_start", e_cg_procs)
EMPTY("fentry/cgroup_can_fork", e_cg_fork)
EMPTY("fentry/cgroup_attach_permissions", e_cg_enter)
EMPTY("fexit/cgroup_attach_permissions", e_cg_exit)
EMPTY("lsm/inode_permission", e_cg_perm)
EMPTY("lsm/ptrace_access_check", e_ptrace)
EMPTY("lsm/ptrace_traceme", e_traceme)
EMPTY("lsm/file_permission", e_file_perm)
