/*
 * log.h - brokerd's log: one line per message on stderr, with a timestamp,
 * a level and an origin ("brokerd" or a module name).
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stdarg.h>

#include "broker/module.h" /* BK_LOG_* levels */

/* Messages above this level are dropped.  Default BK_LOG_INFO. */
void bk_log_set_level(int level);
int bk_log_level(void);

/* "error", "warn", "info", "debug" -> level, or -1. */
int bk_log_parse_level(const char *s);

void bk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bk_logv_from(const char *origin, int level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#define bk_err(...) bk_log(BK_LOG_ERROR, __VA_ARGS__)
#define bk_warn(...) bk_log(BK_LOG_WARN, __VA_ARGS__)
#define bk_info(...) bk_log(BK_LOG_INFO, __VA_ARGS__)
#define bk_dbg(...) bk_log(BK_LOG_DEBUG, __VA_ARGS__)

#endif /* BROKER_LOG_H */
