// SPDX-License-Identifier: MIT
/*
 * log.c - brokerd's log.  Each line is formatted into a private buffer and
 * written with a single write() so that lines from different threads never
 * interleave.  Three sinks (docs/ARCHITECTURE.md, "Running as a service"):
 * stderr with a timestamp in the foreground; stderr with `<N>` syslog
 * priority prefixes when stderr is the journal's stream (JOURNAL_STREAM
 * names it, as systemd sets it); the journal's own socket once a daemon has
 * put /dev/null on its fds 0-2.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bk_config.h"
#include "sd.h"

static _Atomic int g_level = BK_LOG_INFO;
/* Set by the main thread; a daemon switches to the journal after its workers started (relaxed: a line
 * written to either sink during the switch is fine). */
static _Atomic int g_sink = BKD_LOG_STDERR;
/* syslog priorities of error, warn, info, debug (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG) */
static const int level_prio[] = { 3, 4, 6, 7 };
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

/* Is fd 2 the stream JOURNAL_STREAM ("DEV:INODE") names?  A child of brokerd's shell inherits the
 * variable but not the stream, so the pair is compared, as sd_journal_stream_fd(3) advises. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

enum bkd_log_sink bkd_log_init(bool daemon)
{
	int sink = BKD_LOG_STDERR;
	if (stderr_is_journal())
		sink = BKD_LOG_STDERR_PRIO;
	else if (daemon)
		sink = BK_HAVE_LIBSYSTEMD ? BKD_LOG_JOURNAL : BKD_LOG_NONE;
	atomic_store_explicit(&g_sink, sink, memory_order_relaxed);
	return (enum bkd_log_sink)sink;
}

/* The line's head: a timestamp for a terminal or file, a priority for journald. */
static int line_head(char *line, size_t size, int sink, int level, const char *origin)
{
	if (sink != BKD_LOG_STDERR)
		return snprintf(line, size, "<%d>%s: ", level_prio[level], origin);
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	return snprintf(line, size, "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_year + 1900, tm.tm_mon + 1,
			tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], origin);
}

void bkd_logv_from(const char *origin, int level, const char *fmt, va_list ap)
{
	int sink = atomic_load_explicit(&g_sink, memory_order_relaxed);
	if (level > bkd_log_level() || sink == BKD_LOG_NONE)
		return;
	if (level < BK_LOG_ERROR)
		level = BK_LOG_ERROR;
	if (level > BK_LOG_DEBUG)
		level = BK_LOG_DEBUG;
	char line[1024];
	int n = line_head(line, sizeof(line), sink, level, origin);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(line) - 1) {
		int m = vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
#if BK_HAVE_LIBSYSTEMD
	if (sink == BKD_LOG_JOURNAL) {
		/* The "<N>" head is for stream readers; the journal takes the priority as a field. */
		const char *msg = strchr(line, '>') + 1;
		line[n] = 0;
		if (bkd_sd_journal_print(level_prio[level], msg) >= 0)
			return;
		/* libsystemd could not be opened: the "<N>" line on stderr reaches the journal all the same. */
	}
#endif
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
