// SPDX-License-Identifier: MIT
/*
 * service.c - socket activation and readiness notification through
 * libsystemd (service.h).  libsystemd is brokerd's only: libbkclient stays
 * libc-only.  Built without it, brokerd has neither (LISTEN_FDS is ignored).
 */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/sys.h"
#include "log.h"
#include "reload.h"
#include "sd.h"
#include "worker.h"

#if BK_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define STATUS_PERIOD_NS (5 * 1000000000ll)

/* Control thread only. */
static struct {
	bool notify; /* NOTIFY_SOCKET is set: without it no timer runs (an idle brokerd stays asleep) */
	bool ready;
	int64_t watchdog_ns; /* ping period: half of WATCHDOG_USEC; 0 when no watchdog */
	int64_t next_watchdog, next_status;
	uint64_t last_done;
	int64_t last_ns;
} S;

static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
#if BK_HAVE_LIBSYSTEMD
	int r = bkd_sd_notify(msg);
	if (r < 0)
		bkd_dbg("sd_notify: %s", strerror(-r));
#endif
}

int bkd_service_listen_fd(char *name, size_t namelen)
{
#if BK_HAVE_LIBSYSTEMD
	int n = bkd_sd_listen_fds(); /* unsets LISTEN_*: nothing brokerd starts may take the socket */
	if (n == 0)
		return -ENOENT;
	if (n < 0 || n > 1) {
		bkd_err("socket activation: %s", n < 0 ? strerror(-n) : "more than one socket passed; brokerd takes one");
		return n < 0 ? n : -EINVAL;
	}
	int fd = SD_LISTEN_FDS_START;
	if (bkd_sd_is_socket_unix(fd, SOCK_SEQPACKET, 1) <= 0) {
		bkd_err("socket activation: the socket passed is not a listening AF_UNIX SOCK_SEQPACKET socket "
			"(ListenSequentialPacket=)");
		return -EINVAL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		bkd_err("socket activation: fcntl: %s", strerror(errno));
		return -errno;
	}
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || len <= offsetof(struct sockaddr_un, sun_path))
		snprintf(name, namelen, "(socket activation)");
	else
		snprintf(name, namelen, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
	return fd;
#else
	(void)name;
	(void)namelen;
	return -ENOENT;
#endif
}

static void watchdog_init(void)
{
#if BK_HAVE_LIBSYSTEMD
	uint64_t usec = 0;
	if (bkd_sd_watchdog_enabled(&usec) > 0 && usec > 0)
		S.watchdog_ns = (int64_t)(usec * 1000 / 2);
#endif
}

/* "serving N connection(s), X tasks/s" over the time since the last STATUS. */
static void status(struct bkd_broker *b, int64_t now, const char *extra)
{
	uint64_t done = 0;
	bkd_broker_task_totals(b, &done, NULL, NULL);
	double dt = (double)(now - S.last_ns) / 1e9;
	double rate = dt > 0 && done >= S.last_done ? (double)(done - S.last_done) / dt : 0;
	S.last_done = done;
	S.last_ns = now;
	unsigned conns = atomic_load_explicit(&b->stats.connections, memory_order_relaxed);
	notify("STATUS=serving %u connection(s), %.0f tasks/s%s", conns, rate, extra);
	S.next_status = now + STATUS_PERIOD_NS;
}

void bkd_service_ready(struct bkd_broker *b)
{
	int64_t now = bk_now_ns();
	watchdog_init();
	S.notify = getenv("NOTIFY_SOCKET") != NULL;
	S.ready = true;
	S.last_ns = now;
	bkd_broker_task_totals(b, &S.last_done, NULL, NULL);
	notify("READY=1\nMAINPID=%d\nSTATUS=serving, %u worker(s)", (int)getpid(), b->nworkers);
	S.next_status = now + STATUS_PERIOD_NS;
	S.next_watchdog = now; /* the control loop's first turn pings */
}

void bkd_service_stopping(void)
{
	if (S.ready)
		notify("STOPPING=1\nSTATUS=stopping");
	S.ready = false;
}

void bkd_service_reload(struct bkd_broker *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* MONOTONIC_USEC: systemd 253's Type=notify-reload matches it against the reload it asked for. */
	notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=rescanning modules",
	       (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	struct bkd_reload_counts c;
	bkd_reload_modules(b, &c);
	bkd_info("reload: %u loaded or upgraded, %u unchanged, %u removed, %u failed", c.loaded, c.unchanged,
		 c.removed, c.failed);
	char extra[128];
	snprintf(extra, sizeof(extra), "; reload: %u loaded, %u removed, %u failed", c.loaded, c.removed, c.failed);
	notify("READY=1");
	status(b, bk_now_ns(), extra);
}

static int ms_until(int64_t when, int64_t now, int timeout_ms)
{
	int64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
	return timeout_ms < 0 || ms < timeout_ms ? (int)ms : timeout_ms;
}

int bkd_service_tick(struct bkd_broker *b, int timeout_ms)
{
	if (!S.ready || !S.notify)
		return timeout_ms;
	int64_t now = bk_now_ns();
	if (S.watchdog_ns && now >= S.next_watchdog) {
		notify("WATCHDOG=1");
		S.next_watchdog = now + S.watchdog_ns;
	}
	if (now >= S.next_status)
		status(b, now, "");
	if (S.watchdog_ns)
		timeout_ms = ms_until(S.next_watchdog, now, timeout_ms);
	return ms_until(S.next_status, now, timeout_ms);
}
