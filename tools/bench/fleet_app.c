// SPDX-License-Identifier: MIT
/*
 * fleet_app.c - main and tick loop of the fleet apps (see fleet_app.h):
 * set up the backend, report ready, wait for the start time, run the
 * ticks on absolute CLOCK_MONOTONIC deadlines, report the tick latencies,
 * and exit once the orchestrator closes its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_app.h"
#include "util.h"

#define WARMUP_TICKS 3 /* first calls fault pages in and load code: not part of the figures */

static int sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
	int e;
	while ((e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
		;
	return -e;
}

static int read_block(const char *file, unsigned char *block, char *err, size_t errlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "open %s: %s", file, strerror(errno));
		return -errno;
	}
	ssize_t n = pread(fd, block, BK_FLEET_BLOCK, 0);
	int e = n < 0 ? errno : EIO;
	close(fd);
	if (n != BK_FLEET_BLOCK) {
		snprintf(err, errlen, "%s: cannot read %d bytes (%s)", file, BK_FLEET_BLOCK, strerror(e));
		return -e;
	}
	return 0;
}

/* Ticks k = 0..ticks-1 are due at start + k * period; a late tick runs at once (no tick is skipped). */
static int run_ticks(struct bk_fleet_backend *b, int64_t start, uint64_t ticks, int64_t period,
		     struct bk_fleet_done *d)
{
	for (uint64_t k = 0; k < ticks; k++) {
		int64_t due = start + (int64_t)k * period;
		int e = sleep_until(due);
		if (e < 0) {
			snprintf(d->err, sizeof(d->err), "clock_nanosleep: %s", strerror(-e));
			return e;
		}
		if (bk_now_ns() - due > period)
			d->late++;
		e = bk_fleet_backend_tick(b, d->err, sizeof(d->err));
		if (e < 0)
			return e;
		bk_hist_record(&d->hist, (uint64_t)(bk_now_ns() - due));
		d->ticks++;
	}
	return 0;
}

static int parse_args(int argc, char **argv, uint64_t *ticks, int64_t *period)
{
	if (argc != 4 && argc != 5)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long t = strtoull(argv[2], &end, 10);
	if (errno || *end || t == 0 || t > 100000000)
		return -EINVAL;
	long long p = strtoll(argv[3], &end, 10);
	if (errno || *end || p < 100000 || p > 10000000000LL)
		return -EINVAL;
	*ticks = t;
	*period = p;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t ticks;
	int64_t period;
	if (parse_args(argc, argv, &ticks, &period) < 0) {
		fprintf(stderr, "usage: %s FILE TICKS PERIOD_NS [SOCKET] (started by broker-bench --fleet)\n", argv[0]);
		return 2;
	}
	static struct bk_fleet_ready rd = { .magic = BK_FLEET_MAGIC };
	static struct bk_fleet_done d = { .magic = BK_FLEET_MAGIC };
	static unsigned char block[BK_FLEET_BLOCK];
	struct bk_fleet_backend *b = NULL;
	rd.status = read_block(argv[1], block, rd.err, sizeof(rd.err));
	if (rd.status == 0)
		rd.status = bk_fleet_backend_open(argv[1], block, argc == 5 ? argv[4] : NULL, &b, rd.err, sizeof(rd.err));
	for (int i = 0; rd.status == 0 && i < WARMUP_TICKS; i++)
		rd.status = bk_fleet_backend_tick(b, rd.err, sizeof(rd.err));
	if (bk_write_full(BK_FLEET_CTL_FD, &rd, sizeof(rd)) < 0 || rd.status < 0) {
		bk_fleet_backend_close(b);
		return 1;
	}
	struct bk_fleet_start st;
	if (bk_read_full(BK_FLEET_CTL_FD, &st, sizeof(st)) < 0 || st.magic != BK_FLEET_MAGIC) {
		bk_fleet_backend_close(b);
		return 1; /* the orchestrator gave up on this run */
	}
	bk_hist_init(&d.hist);
	d.status = run_ticks(b, st.start_ns, ticks, period, &d);
	int r = bk_write_full(BK_FLEET_CTL_FD, &d, sizeof(d));
	/* Stay alive (and idle) until the orchestrator has read our memory and threads. */
	char c;
	while (r == 0 && read(BK_FLEET_CTL_FD, &c, 1) < 0 && errno == EINTR)
		;
	bk_fleet_backend_close(b);
	return r < 0 || d.status < 0 ? 1 : 0;
}
