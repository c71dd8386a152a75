// SPDX-License-Identifier: MIT
/*
 * stats.c - process figures for STATUS: open fds and RSS from /proc/self.
 * Counting /proc/self/fd costs a directory walk over every descriptor, so a
 * STATUS flood must not pay it per request: the count is kept until the
 * control thread opens or closes a connection's descriptors (which calls
 * bkd_stats_fds_changed) or FDS_TTL_NS passes (what modules open and
 * close), and RSS for RSS_TTL_NS.  Control thread only.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"

#define FDS_TTL_NS 1000000000LL
#define RSS_TTL_NS 10000000LL

static uint32_t fds_cached;
static int64_t fds_at; /* 0: count again */
static uint64_t rss_cached;
static int64_t rss_at;

static uint32_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	uint32_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not counting the directory fd used for the count */
}

void bkd_stats_fds_changed(void)
{
	fds_at = 0;
}

uint32_t bkd_stats_open_fds(void)
{
	int64_t now = bk_now_ns();
	if (!fds_at || now - fds_at >= FDS_TTL_NS) {
		fds_cached = count_fds();
		fds_at = now;
	}
	return fds_cached;
}

static uint64_t read_rss(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	unsigned long size = 0, rss = 0;
	int n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	if (n != 2)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	return (uint64_t)rss * (uint64_t)(page > 0 ? page : 4096);
}

uint64_t bkd_stats_rss_bytes(void)
{
	int64_t now = bk_now_ns();
	if (!rss_at || now - rss_at >= RSS_TTL_NS) {
		rss_cached = read_rss();
		rss_at = now;
	}
	return rss_cached;
}
