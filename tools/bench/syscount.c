// SPDX-License-Identifier: MIT
/*
 * syscount.c - load and read the BPF syscall counter (see syscount.h).  The
 * BPF object is built into broker-bench as a libbpf skeleton
 * (syscount.skel.h, made by `bpftool gen skeleton` at build time), so the
 * installed bench needs no file beside it.
 */
#include "syscount.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BK_HAVE_LIBBPF
int bk_syscount_open(struct bk_syscount **out, char *note, size_t notelen)
{
	*out = NULL;
	snprintf(note, notelen, "broker-bench was built without libbpf, clang or bpftool");
	return -ENOTSUP;
}
int bk_syscount_watch(struct bk_syscount *s, pid_t pid)
{
	(void)s;
	(void)pid;
	return -ENOTSUP;
}
int64_t bk_syscount_read(struct bk_syscount *s, pid_t pid)
{
	(void)s;
	(void)pid;
	return -ENOTSUP;
}
void bk_syscount_close(struct bk_syscount *s)
{
	(void)s;
}
#else
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "syscount.skel.h"

struct bk_syscount {
	struct syscount_bpf *skel;
	int map_fd;
};

/* libbpf's own messages would interleave with the table; keep warnings only. */
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int bk_syscount_open(struct bk_syscount **out, char *note, size_t notelen)
{
	*out = NULL;
	if (geteuid() != 0) {
		snprintf(note, notelen, "not running as root: syscalls not counted");
		return -EPERM;
	}
	libbpf_set_print(quiet_print);
	struct bk_syscount *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(note, notelen, "out of memory");
		return -ENOMEM;
	}
	int err;
	/* libbpf 1.x returns NULL and sets errno on failure. */
	s->skel = syscount_bpf__open_and_load();
	if (!s->skel) {
		err = -errno;
		snprintf(note, notelen, "loading the BPF program: %s", strerror(-err));
		goto fail;
	}
	s->map_fd = bpf_map__fd(s->skel->maps.counts);
	err = syscount_bpf__attach(s->skel);
	if (err) {
		snprintf(note, notelen, "attaching to raw tracepoint sys_enter: %s", strerror(-err));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	bk_syscount_close(s);
	return err < 0 ? err : -EIO;
}

int bk_syscount_watch(struct bk_syscount *s, pid_t pid)
{
	uint32_t key = (uint32_t)pid;
	uint64_t zero = 0;
	if (bpf_map_update_elem(s->map_fd, &key, &zero, BPF_ANY) != 0)
		return -errno;
	return 0;
}

int64_t bk_syscount_read(struct bk_syscount *s, pid_t pid)
{
	uint32_t key = (uint32_t)pid;
	uint64_t v = 0;
	if (bpf_map_lookup_elem(s->map_fd, &key, &v) != 0)
		return -errno;
	return (int64_t)v;
}

void bk_syscount_close(struct bk_syscount *s)
{
	if (!s)
		return;
	syscount_bpf__destroy(s->skel); /* detaches too; NULL is fine */
	free(s);
}
#endif
