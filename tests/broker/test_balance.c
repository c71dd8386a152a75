// SPDX-License-Identifier: MIT
/*
 * test_balance.c - a connection moves to an idle worker when its own worker
 * is busy with another client (docs/ARCHITECTURE.md, "Balance across
 * workers"), its calls stay correct while it moves, and with --no-balance
 * it stays where it is.
 *
 * Three clients on two workers put two of them on one worker; the third is
 * disconnected, so the other worker sleeps.  One of the pair keeps
 * FLOOD_WINDOW echo.noop calls queued, so every round of their worker has
 * its entries (the worker is loaded: tasks merely in flight, such as
 * timers, do not count); the other makes echo.upper calls and reads the
 * workers from CLIENTS after each batch, until the two are apart.  Either
 * may be the one that moves.  STATUS counts the moves (brokerctl status,
 * "migrations").
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bt_util.h"
#include "control.h"

#define FLOOD_WINDOW 64
#define BATCHES 200 /* of CALLS_PER_BATCH calls: the bound on how long the move may take */
#define CALLS_PER_BATCH 50

static _Alignas(8) uint8_t buf[BK_WIRE_MAX_MSG];

/* The worker of every client, in connection order; returns how many. */
static unsigned client_workers(const char *socket, uint32_t *workers, unsigned max)
{
	struct bkc_ctl k;
	char err[256];
	assert_int_equal(bkc_ctl_open(&k, socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_list req = { .h.type = BK_MSG_CLIENTS, .start = 0 };
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_CLIENTS_REPLY, buf, sizeof(buf), err, sizeof(err));
	bkc_ctl_close(&k);
	assert_true(n >= (int)sizeof(struct bk_msg_list_reply));
	const struct bk_msg_list_reply *rep = (const void *)buf;
	const struct bk_wire_client *cl = (const void *)(rep + 1);
	unsigned got = rep->count < max ? rep->count : max;
	for (unsigned i = 0; i < got; i++)
		workers[i] = cl[i].worker;
	return got;
}

struct flood {
	bk_client *c;
	bk_fn fn;
	atomic_bool stop;
	atomic_ulong submitted;
	unsigned long done;
	int error;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;
	bk_future *win[FLOOD_WINDOW] = { 0 };
	unsigned i = 0;
	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		if (win[i]) {
			int r = bk_wait(win[i], 10 * BT_SEC);
			if (r == 0)
				r = bk_result(win[i], NULL, NULL);
			bk_release(win[i]);
			win[i] = NULL;
			if (r != 0) {
				f->error = r;
				break;
			}
			f->done++;
		}
		int r = bk_submit(f->c, f->fn, NULL, 0, &win[i]);
		if (r < 0) {
			f->error = r;
			break;
		}
		atomic_fetch_add(&f->submitted, 1);
		i = (i + 1) % FLOOD_WINDOW;
	}
	for (unsigned k = 0; k < FLOOD_WINDOW; k++) {
		if (win[k]) {
			bk_wait(win[k], 10 * BT_SEC);
			bk_release(win[k]);
		}
	}
	return NULL;
}

/* Runs the scenario; returns whether the flooder and the caller were on different workers within the bound,
 * and in *migrations what STATUS then counted. */
static bool scenario(const char *const *extra, uint32_t *migrations)
{
	struct bkt_brokerd b;
	bt_start(&b, extra);
	bk_client *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = bt_connect(b.socket);
	uint32_t w[3];
	assert_int_equal(client_workers(b.socket, w, 3), 3);
	/* Two of three share a worker; the third goes, leaving its worker idle. */
	int a, s, gone;
	if (w[0] == w[1]) {
		a = 0, s = 1, gone = 2;
	} else if (w[0] == w[2]) {
		a = 0, s = 2, gone = 1;
	} else {
		a = 1, s = 2, gone = 0;
	}
	assert_int_equal(w[a], w[s]);
	bk_disconnect(c[gone]);

	struct flood f = { .c = c[a], .fn = bt_lookup(c[a], "echo.noop") };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flood_main, &f), 0);
	/* Until the flooder's first calls are queued, its worker is not loaded yet. */
	int64_t until = bk_now_ns() + 10 * BT_SEC;
	while (atomic_load(&f.submitted) < FLOOD_WINDOW && bk_now_ns() < until)
		sched_yield();
	assert_true(atomic_load(&f.submitted) >= FLOOD_WINDOW);

	bk_fn upper = bt_lookup(c[s], "echo.upper");
	bool moved = false;
	for (int batch = 0; batch < BATCHES && !moved; batch++) {
		for (int i = 0; i < CALLS_PER_BATCH; i++) {
			char arg[16], out[16];
			size_t len = 0;
			int n = snprintf(arg, sizeof(arg), "call%05d", batch * CALLS_PER_BATCH + i);
			assert_int_equal(bt_call(c[s], upper, arg, (size_t)n, out, sizeof(out), &len), 0);
			for (int k = 0; k < n; k++)
				arg[k] = (char)(arg[k] >= 'a' && arg[k] <= 'z' ? arg[k] - 32 : arg[k]);
			assert_int_equal(len, (size_t)n);
			assert_memory_equal(out, arg, (size_t)n);
		}
		uint32_t now[2];
		assert_int_equal(client_workers(b.socket, now, 2), 2);
		moved = now[0] != now[1]; /* the flooder and the caller, whichever went */
	}
	atomic_store(&f.stop, true);
	pthread_join(t, NULL);
	assert_int_equal(f.error, 0);
	assert_true(f.done > 0);
	bk_disconnect(c[a]);
	bk_disconnect(c[s]);
	struct bk_msg_status_reply st;
	bt_status(b.socket, &st);
	*migrations = st.migrations;
	if (getenv("BT_BALANCE_LOG"))
		bk_test_broker_dump_log(&b);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
	return moved;
}

static void test_moves_to_idle_worker(void **state)
{
	(void)state;
	static const char *const extra[] = { "--workers", "2", NULL };
	uint32_t migrations = 0;
	assert_true(scenario(extra, &migrations));
	assert_true(migrations >= 1); /* the move is counted */
}

static void test_no_balance_stays(void **state)
{
	(void)state;
	static const char *const extra[] = { "--workers", "2", "--no-balance", NULL };
	uint32_t migrations = 1;
	assert_false(scenario(extra, &migrations));
	assert_int_equal(migrations, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_moves_to_idle_worker),
		cmocka_unit_test(test_no_balance_stays),
	};
	return cmocka_run_group_tests_name("balance across workers", tests, NULL, NULL);
}
