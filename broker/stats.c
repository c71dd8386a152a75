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

/* A figure and when it was read (0: read it again). */
struct cached {
	uint64_t value;
	int64_t at;
};
static struct cached fds_cache, rss_cache;

static uint64_t cached_read(struct cached *c, int64_t ttl_ns, uint64_t (*read)(void))
{
	int64_t now = bk_now_ns();
	if (!c->at || now - c->at >= ttl_ns) {
		c->value = read();
		c->at = now;
	}
	return c->value;
}

static uint64_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	uint64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not counting the directory fd used for the count */
}

void bkd_stats_fds_changed(void)
{
	fds_cache.at = 0;
}

uint32_t bkd_stats_open_fds(void)
{
	return (uint32_t)cached_read(&fds_cache, FDS_TTL_NS, count_fds);
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
	return cached_read(&rss_cache, RSS_TTL_NS, read_rss);
}
