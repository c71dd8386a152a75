// SPDX-License-Identifier: MIT
/*
 * stats.c - process figures for STATUS: open fds and RSS from /proc/self.
 */
#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"

uint32_t bkd_stats_open_fds(void)
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

uint64_t bkd_stats_rss_bytes(void)
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
