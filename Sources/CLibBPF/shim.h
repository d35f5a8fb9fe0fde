// libbpf (Debian libbpf-dev 1.1.2) plus the few syscalls Swift cannot call directly
// (variadic or macro-only). Only Sources/CorralKernel/System/*.swift may use this module.
#ifndef CORRAL_CLIBBPF_SHIM_H
#define CORRAL_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#endif
