// SPDX-License-Identifier: MIT
/*
 * sd.h - the libsystemd functions brokerd uses, loaded with dlopen only when
 * systemd started it (docs/ARCHITECTURE.md, "Running as a service"): linked
 * in, libsystemd and what it pulls in cost every brokerd about 1 MiB of PSS.
 * Each returns what its sd_* namesake does, or the answer "not under
 * systemd" when the library is not loaded.  Any thread.
 */
#ifndef BROKER_SD_H
#define BROKER_SD_H

#include <stddef.h>
#include <stdint.h>

int bkd_sd_notify(const char *state); /* sd_notify(0, state); 0 when not loaded */
int bkd_sd_listen_fds(void); /* sd_listen_fds(1); 0 when not loaded */
int bkd_sd_is_socket_unix(int fd, int type, int listening); /* sd_is_socket_unix(fd, type, listening, NULL, 0) */
int bkd_sd_watchdog_enabled(uint64_t *usec); /* sd_watchdog_enabled(0, usec); 0 when not loaded */
/* sd_journal_send of one message at a syslog priority; -ENOSYS when not loaded (log to stderr then). */
int bkd_sd_journal_print(int priority, const char *msg);

#endif
