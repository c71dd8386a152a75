// SPDX-License-Identifier: MIT
/*
 * syscount.h - count the syscalls of chosen processes with a BPF program
 * (syscount.bpf.c) loaded through libbpf.  Needs root (or CAP_BPF +
 * CAP_PERFMON) and a bench built with libbpf, clang and bpftool; every
 * failure is returned with a readable note so the bench can report "not
 * counted".
 */
#ifndef BK_BENCH_SYSCOUNT_H
#define BK_BENCH_SYSCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bk_syscount;

/* Load the built-in BPF program and attach it.  0, or -errno with note filled. */
int bk_syscount_open(struct bk_syscount **out, char *note, size_t notelen);
/* Start counting pid (resets its counter to 0). */
int bk_syscount_watch(struct bk_syscount *s, pid_t pid);
/* Syscalls counted for pid since bk_syscount_watch, or -errno. */
int64_t bk_syscount_read(struct bk_syscount *s, pid_t pid);
void bk_syscount_close(struct bk_syscount *s);

#endif
