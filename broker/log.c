// SPDX-License-Identifier: MIT
/*
 * log.c - stderr logging with level and timestamp.  Each line is formatted
 * into a private buffer and written with a single write() so that lines from
 * different threads never interleave.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = BK_LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void bkd_log_set_level(int level)
{
	atomic_store_explicit(&g_level, level, memory_order_relaxed);
}

int bkd_log_level(void)
{
	return atomic_load_explicit(&g_level, memory_order_relaxed);
}

int bkd_log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void bkd_logv_from(const char *origin, int level, const char *fmt, va_list ap)
{
	if (level > bkd_log_level())
		return;
	if (level < BK_LOG_ERROR)
		level = BK_LOG_ERROR;
	if (level > BK_LOG_DEBUG)
		level = BK_LOG_DEBUG;
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			 level_names[level], origin);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(line) - 1) {
		int m = vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: a log that cannot be written is not worth failing a task for. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void bkd_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bkd_logv_from("brokerd", level, fmt, ap);
	va_end(ap);
}
