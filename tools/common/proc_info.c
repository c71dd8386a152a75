// SPDX-License-Identifier: MIT
/* proc_info.c - /proc readers for tests and tools (see proc_info.h). */
#include "proc_info.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bkt_proc_fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0, self = pid == getpid() ? dirfd(d) : -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !(self >= 0 && (int)strtol(e->d_name, NULL, 10) == self))
			n++;
	closedir(d);
	return n;
}

long bkt_proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	long kib = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int bkt_proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -EIO;
	buf[n] = 0;
	/* comm (field 2) may hold spaces and parentheses: parse after the last ')'.
	 * Then field 3 is state; utime and stime are fields 14 and 15. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	unsigned long long ut, st;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	*ticks = ut + st;
	return 0;
}

static int add_ctxsw(const char *path, uint64_t *n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1) {
			*n += v;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? 0 : -EIO;
}

/* Sum add(/proc/<pid>/task/<tid>/<file>) over every thread of pid: 0 when one was read. */
static int sum_tasks(pid_t pid, const char *file, int (*add)(const char *path, uint64_t *n), uint64_t *n)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	*n = 0;
	int r = -ESRCH;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[300];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/%s", (int)pid, de->d_name, file);
		if (add(p, n) == 0)
			r = 0; /* a thread that exits while we read is simply skipped */
	}
	closedir(d);
	return r;
}

int bkt_proc_ctxsw(pid_t pid, uint64_t *n)
{
	/* /proc/<pid>/status counts only the main thread: sum every task. */
	return sum_tasks(pid, "status", add_ctxsw, n);
}

/* schedstat's first field: the thread's time on a CPU, in ns (se.sum_exec_runtime). */
static int add_run_ns(const char *path, uint64_t *n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	unsigned long long v;
	int ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (!ok)
		return -EIO;
	*n += v;
	return 0;
}

int bkt_proc_cpu_ns(pid_t pid, uint64_t *ns)
{
	return sum_tasks(pid, "schedstat", add_run_ns, ns);
}

int bkt_proc_stat_cpu(uint64_t *idle, uint64_t *steal, unsigned *ncpu)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return -errno;
	unsigned long long v[8] = { 0 };
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		       &v[6], &v[7]);
	/* The cpuN lines after it: one per online CPU, the CPUs whose idle time advances. */
	unsigned cpus = 0;
	char line[512];
	while (n >= 4 && fgets(line, sizeof(line), f)) {
		if (line[0] == 'c' && line[1] == 'p' && line[2] == 'u' && line[3] >= '0' && line[3] <= '9')
			cpus++;
		else if (cpus > 0 && strncmp(line, "cpu", 3) != 0)
			break;
	}
	fclose(f);
	if (n < 4 || cpus == 0)
		return -EIO;
	/* user nice system idle iowait irq softirq steal: idle and iowait are both time with nothing to run */
	*idle = v[3] + v[4];
	*steal = v[7];
	*ncpu = cpus;
	return 0;
}
