/* syscount.c - load and read the BPF syscall counter (see syscount.h). */
#include "syscount.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BK_HAVE_LIBBPF
int bk_syscount_open(const char *obj_path, struct bk_syscount **out, char *note, size_t notelen)
{
	(void)obj_path;
	*out = NULL;
	snprintf(note, notelen, "broker-bench was built without libbpf");
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

struct bk_syscount {
	struct bpf_object *obj;
	struct bpf_link *link;
	int map_fd;
};

/* libbpf's own messages would interleave with the table; keep warnings only. */
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int bk_syscount_open(const char *obj_path, struct bk_syscount **out, char *note, size_t notelen)
{
	*out = NULL;
	if (geteuid() != 0) {
		snprintf(note, notelen, "not running as root: syscalls not counted");
		return -EPERM;
	}
	if (!obj_path || access(obj_path, R_OK) != 0) {
		snprintf(note, notelen, "BPF object %s not readable (clang missing at build time?)",
			 obj_path ? obj_path : "(none)");
		return -ENOENT;
	}
	libbpf_set_print(quiet_print);
	struct bk_syscount *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(note, notelen, "out of memory");
		return -ENOMEM;
	}
	int err;
	/* libbpf 1.x returns NULL and sets errno on failure. */
	s->obj = bpf_object__open_file(obj_path, NULL);
	if (!s->obj) {
		err = -errno;
		snprintf(note, notelen, "bpf_object__open_file(%s): %s", obj_path, strerror(-err));
		goto fail;
	}
	err = bpf_object__load(s->obj);
	if (err) {
		snprintf(note, notelen, "loading the BPF program: %s", strerror(-err));
		goto fail;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(s->obj, "bk_count_sys_enter");
	struct bpf_map *map = bpf_object__find_map_by_name(s->obj, "counts");
	if (!prog || !map) {
		err = -ENOENT;
		snprintf(note, notelen, "BPF object %s lacks its program or map", obj_path);
		goto fail;
	}
	s->map_fd = bpf_map__fd(map);
	s->link = bpf_program__attach(prog);
	if (!s->link) {
		err = -errno;
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
	if (s->link)
		bpf_link__destroy(s->link);
	if (s->obj)
		bpf_object__close(s->obj);
	free(s);
}
#endif
