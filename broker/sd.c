// SPDX-License-Identifier: MIT
/*
 * sd.c - libsystemd on demand (sd.h).  systemd tells a service it started it
 * through the environment (NOTIFY_SOCKET, LISTEN_FDS, WATCHDOG_USEC,
 * JOURNAL_STREAM); only then is libsystemd.so.0 opened, once, and its five
 * functions looked up.  A brokerd started from a shell maps none of it.
 */
#include "sd.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "bk_config.h"

static struct {
	int (*notify)(int unset_environment, const char *state);
	int (*listen_fds)(int unset_environment);
	int (*is_socket_unix)(int fd, int type, int listening, const char *path, size_t length);
	int (*watchdog_enabled)(int unset_environment, uint64_t *usec);
	int (*journal_send)(const char *format, ...);
} sd;
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

static void sd_load(void)
{
#if BK_HAVE_LIBSYSTEMD
	if (!getenv("NOTIFY_SOCKET") && !getenv("LISTEN_FDS") && !getenv("WATCHDOG_USEC") && !getenv("JOURNAL_STREAM"))
		return;
	void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return; /* not logged: the log may be what asked; brokerd then behaves as started from a shell */
	/* Function pointers from dlsym's void *: the (void **) form dlsym(3) itself shows. */
	*(void **)&sd.notify = dlsym(h, "sd_notify");
	*(void **)&sd.listen_fds = dlsym(h, "sd_listen_fds");
	*(void **)&sd.is_socket_unix = dlsym(h, "sd_is_socket_unix");
	*(void **)&sd.watchdog_enabled = dlsym(h, "sd_watchdog_enabled");
	*(void **)&sd.journal_send = dlsym(h, "sd_journal_send");
#endif
}

static void load(void)
{
	pthread_once(&sd_once, sd_load);
}

int bkd_sd_notify(const char *state)
{
	load();
	return sd.notify ? sd.notify(0, state) : 0;
}

int bkd_sd_listen_fds(void)
{
	load();
	return sd.listen_fds ? sd.listen_fds(1) : 0;
}

int bkd_sd_is_socket_unix(int fd, int type, int listening)
{
	load();
	return sd.is_socket_unix ? sd.is_socket_unix(fd, type, listening, NULL, 0) : -ENOSYS;
}

int bkd_sd_watchdog_enabled(uint64_t *usec)
{
	load();
	return sd.watchdog_enabled ? sd.watchdog_enabled(0, usec) : 0;
}

int bkd_sd_journal_print(int priority, const char *msg)
{
	load();
	if (!sd.journal_send)
		return -ENOSYS;
	return sd.journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority, "SYSLOG_IDENTIFIER=brokerd", NULL);
}
