// SPDX-License-Identifier: MIT
/*
 * fsguard.c - the procfs check of fsguard.h: the set of procfs devices of
 * brokerd's mount namespace, kept under one mutex, refreshed when poll()
 * says the mount table changed; and in front of it, per thread, the
 * verdicts already reached for a (mount, device) pair, so that a worker
 * opening files for a fleet of apps pays one statx per open, not also a
 * poll and a shared mutex (docs/SECURITY.md, "procfs and magic links").
 */
#include "fsguard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8: stx_mnt_id is a 64-bit id never reused until reboot */
#endif

/*
 * The verdicts of this thread, keyed by (unique mount id, device), why they
 * stay true in docs/SECURITY.md ("procfs and magic links"): a procfs file is
 * reached only through a procfs mount (nothing stacks on procfs) and reports
 * that mount's own device, which the mount pins, and a unique id is never
 * given to another mount.  Direct-mapped: a collision only costs the full
 * check.  Older kernels do not report the unique id: no caching.  Entries
 * of an earlier init (or of before a fini) do not count: generation.
 */
#define VERDICTS 64u
struct verdict {
	uint64_t mnt; /* 0: empty (unique ids start far above 0) */
	dev_t dev;
	unsigned gen; /* generation of the table the verdict came from */
	int r; /* 0 or -EACCES */
};
static __thread struct verdict verdicts[VERDICTS];
static _Atomic unsigned generation = 1; /* bumped by init and fini, so that zeroed entries never match */

static struct verdict *verdict_at(uint64_t mnt, dev_t dev)
{
	uint64_t h = (mnt ^ (uint64_t)dev * 0x9e3779b97f4a7c15ull);
	return &verdicts[(h ^ (h >> 29)) & (VERDICTS - 1)];
}

static struct {
	pthread_mutex_t lock;
	int fd; /* /proc/self/mountinfo, -1 before init */
	bool valid; /* the last reload completed: a partial set would let a procfs file through */
	unsigned n, cap;
	dev_t *devs; /* devices of procfs mounts */
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* The whole of /proc/self/mountinfo into a malloc'd, NUL-ended buffer. */
static int read_all(int fd, char **out)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = pread(fd, buf + len, cap - len - 1, (off_t)len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

static int add_dev(dev_t d)
{
	if (g.n == g.cap) {
		unsigned ncap = g.cap ? g.cap * 2 : 8;
		dev_t *nd = realloc(g.devs, ncap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		g.devs = nd;
		g.cap = ncap;
	}
	g.devs[g.n++] = d;
	return 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS". */
static int parse_line(const char *line)
{
	unsigned maj, min;
	if (sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2)
		return 0;
	const char *sep = strstr(line, " - ");
	if (!sep)
		return 0;
	if (strncmp(sep + 3, "proc ", 5) != 0)
		return 0;
	return add_dev(makedev(maj, min));
}

/* g.lock held. */
static int reload(void)
{
	char *buf = NULL;
	int r = read_all(g.fd, &buf);
	if (r < 0)
		return r;
	g.n = 0;
	g.valid = false;
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if ((r = parse_line(line)) < 0 || !nl)
			break;
	}
	free(buf);
	g.valid = r == 0;
	return r;
}

int bkd_fsguard_init(void)
{
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&g.lock);
	atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed); /* the lock orders it with the table */
	g.fd = fd;
	int r = reload();
	unsigned n = g.n;
	pthread_mutex_unlock(&g.lock);
	if (r == 0)
		bkd_dbg("fsguard: %u procfs mount(s)", n);
	return r;
}

void bkd_fsguard_fini(void)
{
	pthread_mutex_lock(&g.lock);
	atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
	if (g.fd >= 0)
		close(g.fd);
	g.fd = -1;
	free(g.devs);
	g.devs = NULL;
	g.n = g.cap = 0;
	pthread_mutex_unlock(&g.lock);
}

static int check_fstatfs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return -errno;
	return sf.f_type == PROC_SUPER_MAGIC ? -EACCES : 0;
}

/* g.lock held: is d a procfs device (reloading the table first if the mounts changed)? */
static int is_proc_dev(dev_t d)
{
	struct pollfd p = { .fd = g.fd, .events = POLLPRI };
	int pr = poll(&p, 1, 0);
	if (pr < 0)
		return -errno;
	if (!g.valid || (pr > 0 && (p.revents & (POLLPRI | POLLERR)))) {
		int r = reload();
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < g.n; i++)
		if (g.devs[i] == d)
			return 1;
	return 0;
}

/*
 * The full check of device d (of fd's file): the mount table, or fstatfs
 * before init.  *from_table: the answer came from the mount table, kept in step
 * with mounts by the poll (the fallback is exact too, but caching it would
 * hide the mount-table path from the tests that run before and after init).
 */
static int check_dev(int fd, dev_t d, bool *from_table)
{
	pthread_mutex_lock(&g.lock);
	int r = g.fd >= 0 ? is_proc_dev(d) : 2;
	pthread_mutex_unlock(&g.lock);
	*from_table = r == 0 || r == 1;
	if (r == 2)
		return check_fstatfs(fd);
	if (r < 0)
		return r;
	return r ? -EACCES : 0;
}

int bkd_fsguard_check_fd(int fd)
{
	struct statx stx;
	/* Only the mount id asked (the VFS fills it), no sync: the inode cache answers, even for FUSE or NFS. */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &stx) < 0)
		return -errno;
	dev_t d = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	struct verdict *v = NULL;
	unsigned gen = atomic_load_explicit(&generation, memory_order_relaxed);
	if ((stx.stx_mask & STATX_MNT_ID_UNIQUE) && stx.stx_mnt_id) {
		v = verdict_at(stx.stx_mnt_id, d);
		if (v->mnt == stx.stx_mnt_id && v->dev == d && v->gen == gen)
			return v->r;
	}
	bool from_table;
	int r = check_dev(fd, d, &from_table);
	if (v && from_table)
		*v = (struct verdict){ .mnt = stx.stx_mnt_id, .dev = d, .gen = gen, .r = r };
	return r;
}
