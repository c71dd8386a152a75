// SPDX-License-Identifier: MIT
/*
 * log.h - brokerd's log: one line per message, with a level and an origin
 * ("brokerd" or a module name): on stderr with a timestamp in the
 * foreground, with journald's `<N>` priority prefixes when stderr is the
 * journal, or to the journal itself for a daemon.
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "broker/module.h" /* BK_LOG_* levels */

enum bkd_log_sink {
	BKD_LOG_STDERR, /* timestamped lines (the foreground, the tests) */
	BKD_LOG_STDERR_PRIO, /* "<N>" prefixed lines: stderr is a journal stream (JOURNAL_STREAM) */
	BKD_LOG_JOURNAL, /* sd_journal_send: a daemon whose fds 0-2 are /dev/null */
	BKD_LOG_NONE, /* a daemon built without libsystemd */
};

/* Choose the sink (main thread, before other threads start); daemon: fds 0-2 are /dev/null now. */
enum bkd_log_sink bkd_log_init(bool daemon);

/* Messages above this level are dropped.  Default BK_LOG_INFO. */
void bkd_log_set_level(int level);
int bkd_log_level(void);

/* "error", "warn", "info", "debug" -> level, or -1. */
int bkd_log_parse_level(const char *s);

void bkd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bkd_logv_from(const char *origin, int level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#define bkd_err(...) bkd_log(BK_LOG_ERROR, __VA_ARGS__)
#define bkd_warn(...) bkd_log(BK_LOG_WARN, __VA_ARGS__)
#define bkd_info(...) bkd_log(BK_LOG_INFO, __VA_ARGS__)
#define bkd_dbg(...) bkd_log(BK_LOG_DEBUG, __VA_ARGS__)

#endif /* BROKER_LOG_H */
