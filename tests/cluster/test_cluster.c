// SPDX-License-Identifier: MIT
/*
 * test_cluster.c - brokerd nodes sharing work over NATS (docs/CLUSTER.md).
 * One private nats-server -js and three nodes: A serves module x, B does
 * not (its clients reach x through the cluster), C serves x from the second
 * test on.  The tests run in order and share the nodes:
 *   byte for byte   B's client gets A's results exactly; a remote deadline is kept
 *   spread          with A and C serving, calls from B reach both
 *   NATS down/up    local calls unaffected, remote ones fail fast, then work again
 *   node death      SIGKILL A during 1,000 remote calls: every call ends within its
 *                   deadline, the idempotent ones all succeed (retried on C)
 *   durable jobs    1,000 jobs, A (their only server) SIGKILLed mid-run and restarted:
 *                   each completes exactly once at B's client; executions >= 1,000
 * Skipped (exit 77) only when no nats-server program exists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../broker/bt_util.h"
#include "broker/wire.h"
#include "control.h"
#include "nats_proc.h"

#define NNODES 3
enum { A, B, C };
static const char *const tags[NNODES] = {"A", "B", "C"};
static struct bkt_nats nats;
static struct bkt_brokerd nodes[NNODES];
static bk_client *cli[NNODES];

static void pause_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static const char *const *node_args(int i, bool with_x)
{
	static const char *extra[16];
	const char *xdir = getenv("BK_XMOD_DIR");
	const char *v[] = {"--cluster", nats.url, "--node", tags[i], "--workers", "2", "--grace-ms", "500", "--log-level", "debug",
			   with_x ? "--module-dir" : NULL, xdir, NULL};
	memcpy(extra, v, sizeof(v));
	return extra;
}

static void start_node(int i, bool with_x)
{
	assert_non_null(getenv("BK_XMOD_DIR"));
	setenv("BK_NODE_TAG", tags[i], 1); /* x.who answers with it; brokerd inherits it at fork */
	bt_start(&nodes[i], node_args(i, with_x));
}

/* Look name up on c until it resolves (the directory learns of other nodes by heartbeat): bounded. */
static bk_fn wait_lookup(bk_client *c, const char *name)
{
	bk_fn fn = 0;
	for (int64_t end = bk_now_ns() + 10 * BT_SEC; bk_now_ns() < end; pause_ms(20))
		if (bk_lookup(c, name, &fn) == 0)
			return fn;
	fail_msg("%s did not resolve within 10 s", name);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	int r = bkt_nats_start(&nats);
	if (r < 0) {
		fprintf(stderr, "nats-server: %s\n", strerror(-r));
		return -1;
	}
	start_node(A, true);
	start_node(B, false);
	start_node(C, false);
	for (int i = 0; i < NNODES; i++)
		cli[i] = bt_connect_slots(nodes[i].socket, 1024);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NNODES; i++) {
		if (cli[i])
			bk_disconnect(cli[i]);
		bk_test_broker_cleanup(&nodes[i]);
	}
	bkt_nats_cleanup(&nats);
	return 0;
}

static void test_byte_for_byte(void **state)
{
	(void)state;
	bk_fn on_a = bt_lookup(cli[A], "x.mix");
	bk_fn on_b = wait_lookup(cli[B], "x.mix");
	assert_true(on_b >= 0x40000000u); /* a remote id: B has no module x */
	uint8_t arg[200], ra[256], rb[256];
	srand(7);
	for (int k = 0; k < 100; k++) {
		size_t len = (size_t)(rand() % (int)sizeof(arg)), na = 0, nb = 0;
		for (size_t i = 0; i < len; i++)
			arg[i] = (uint8_t)rand();
		assert_int_equal(bt_call(cli[A], on_a, arg, len, ra, sizeof(ra), &na), 0);
		assert_int_equal(bt_call(cli[B], on_b, arg, len, rb, sizeof(rb), &nb), 0);
		assert_int_equal(na, len + 8);
		assert_int_equal(nb, na);
		assert_memory_equal(ra, rb, na);
	}
	char who[16];
	size_t n = 0;
	assert_int_equal(bt_call(cli[B], wait_lookup(cli[B], "x.who"), NULL, 0, who, sizeof(who), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(who[0], 'A');
	/* The caller's deadline holds across the cluster: a 2 s call with 300 ms left ends at 300 ms. */
	uint32_t ms = 2000;
	bk_future *f;
	int64_t t0 = bk_now_ns();
	assert_int_equal(bk_submit_opts(cli[B], wait_lookup(cli[B], "x.slow"), &ms, sizeof(ms), 300000000, 0, &f), 0);
	assert_int_equal(bk_wait(f, 5 * BT_SEC), 0);
	int64_t took = bk_now_ns() - t0;
	assert_int_equal(bk_result(f, NULL, NULL), -ETIMEDOUT);
	bk_release(f);
	assert_true(took >= 290000000 && took < 1500000000);
	/* No node serves it: -ENOENT at lookup. */
	bk_fn none;
	assert_int_equal(bk_lookup(cli[B], "x.nothing", &none), -ENOENT);
}

/* Load (or unload) module x on C through the control protocol, as brokerctl load does. */
static void load_x_on_c(bool load)
{
	struct bkc_ctl k;
	char err[256];
	assert_int_equal(bkc_ctl_open(&k, nodes[C].socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_path req = {.h = {.type = load ? BK_MSG_LOAD : BK_MSG_UNLOAD}};
	if (load)
		snprintf(req.path, sizeof(req.path), "%s/x.so", getenv("BK_XMOD_DIR"));
	else
		snprintf(req.path, sizeof(req.path), "x");
	struct bk_msg_result res;
	assert_true(bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_RESULT, &res, sizeof(res), err, sizeof(err)) > 0);
	assert_int_equal(res.status, 0);
	bkc_ctl_close(&k);
}

static void test_spread(void **state)
{
	(void)state;
	load_x_on_c(true);
	bk_fn who = wait_lookup(cli[B], "x.who");
	int seen[NNODES] = {0};
	/* C's subscription reaches the NATS server a moment after the load: rounds until both answered. */
	for (int64_t end = bk_now_ns() + 10 * BT_SEC; (!seen[A] || !seen[C]) && bk_now_ns() < end;) {
		for (int k = 0; k < 50; k++) {
			char w[4];
			size_t n = 0;
			assert_int_equal(bt_call(cli[B], who, NULL, 0, w, sizeof(w), &n), 0);
			assert_int_equal(n, 1);
			assert_true(w[0] == 'A' || w[0] == 'C');
			seen[w[0] == 'A' ? A : C]++;
		}
	}
	fprintf(stderr, "spread: %d calls served by A, %d by C\n", seen[A], seen[C]);
	assert_true(seen[A] > 0 && seen[C] > 0);
}

/* One remote call: its status and how long it took. */
static int timed_call(bk_client *c, bk_fn fn, int64_t *took)
{
	int64_t t0 = bk_now_ns();
	char w[8];
	size_t n;
	int st = bt_call(c, fn, NULL, 0, w, sizeof(w), &n);
	*took = bk_now_ns() - t0;
	return st;
}

static void test_nats_down_up(void **state)
{
	(void)state;
	bk_fn who = wait_lookup(cli[B], "x.who");
	bk_fn echo = bt_lookup(cli[B], "echo.echo");
	assert_int_equal(bkt_nats_stop(&nats), 0);
	int64_t took;
	/* Until B's client library notices the loss, a call may end -ECONNRESET; then -EHOSTUNREACH. */
	int st = -1;
	for (int64_t end = bk_now_ns() + 5 * BT_SEC; st != -EHOSTUNREACH && bk_now_ns() < end;) {
		st = timed_call(cli[B], who, &took);
		assert_true(st == -EHOSTUNREACH || st == -ECONNRESET || st == 0);
		assert_true(took < 2 * BT_SEC);
	}
	assert_int_equal(st, -EHOSTUNREACH);
	for (int k = 0; k < 50; k++) {
		assert_int_equal(timed_call(cli[B], who, &took), -EHOSTUNREACH);
		assert_true(took < 100000000); /* fast: no wait for a timeout */
		char out[8];
		size_t n = 0;
		assert_int_equal(bt_call(cli[B], echo, "local", 5, out, sizeof(out), &n), 0);
		assert_int_equal(n, 5);
		assert_memory_equal(out, "local", 5);
	}
	assert_int_equal(bkt_nats_restart(&nats), 0);
	st = -1;
	for (int64_t end = bk_now_ns() + 15 * BT_SEC; st != 0 && bk_now_ns() < end; pause_ms(20))
		st = timed_call(cli[B], who, &took);
	assert_int_equal(st, 0);
}

/* The self record of node i's cluster view: how many remote calls it serves now. */
static uint64_t serving_now(int i)
{
	struct bkc_ctl k;
	char err[256];
	static uint8_t buf[BK_WIRE_MAX_MSG];
	assert_int_equal(bkc_ctl_open(&k, nodes[i].socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_list req = {.h = {.type = BK_MSG_NODES}};
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_NODES_REPLY, buf, sizeof(buf), err, sizeof(err));
	bkc_ctl_close(&k);
	assert_true(n >= (int)(sizeof(struct bk_msg_list_reply) + sizeof(struct bk_wire_node)));
	const struct bk_wire_node *self = (const void *)(buf + sizeof(struct bk_msg_list_reply));
	assert_int_equal(self->self, 1);
	return self->inflight;
}

/* Does node i's view say that fn is served by node `by` (a tag)? */
static bool served_by(int i, const char *fn, const char *by)
{
	struct bkc_ctl k;
	char err[256];
	static uint8_t buf[BK_WIRE_MAX_MSG];
	assert_int_equal(bkc_ctl_open(&k, nodes[i].socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_list req = {.h = {.type = BK_MSG_REMOTE_FNS}};
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_REMOTE_FNS_REPLY, buf, sizeof(buf), err, sizeof(err));
	bkc_ctl_close(&k);
	assert_true(n >= (int)sizeof(struct bk_msg_list_reply));
	const struct bk_msg_list_reply *lr = (const void *)buf;
	const struct bk_wire_rfn *r = (const void *)(lr + 1);
	for (uint32_t j = 0; j < lr->count; j++) {
		if (strcmp(r[j].name, fn) != 0)
			continue;
		char nodes_s[sizeof(r[j].nodes) + 2];
		snprintf(nodes_s, sizeof(nodes_s), ",%s,", r[j].nodes);
		char want[40];
		snprintf(want, sizeof(want), ",%s,", by);
		return strstr(nodes_s, want) != NULL;
	}
	return false;
}

/* Wait (bounded) until B sees fn served by node `by`: that node is connected and subscribed. */
static void wait_served_by(const char *fn, const char *by)
{
	for (int64_t end = bk_now_ns() + 15 * BT_SEC; !served_by(B, fn, by); pause_ms(20))
		if (bk_now_ns() > end)
			fail_msg("B never saw %s served by %s", fn, by);
}

#define NCALLS 1000

static void test_node_death(void **state)
{
	(void)state;
	/* After the NATS restart each node reconnects on its own schedule: both must serve again. */
	wait_served_by("x.idem", "A");
	wait_served_by("x.idem", "C");
	bk_fn idem = wait_lookup(cli[B], "x.idem"), slow = wait_lookup(cli[B], "x.slow");
	static bk_future *f[NCALLS];
	static uint8_t args[NCALLS][8];
	const int64_t deadline = 8 * BT_SEC;
	int64_t t0 = bk_now_ns();
	for (int i = 0; i < NCALLS; i++) {
		uint32_t ms = 400 + (uint32_t)(i % 200);
		memcpy(args[i], &ms, 4);
		memcpy(args[i] + 4, &i, 4);
		bk_call call = {.fn = i % 2 ? slow : idem, .arg = args[i], .len = 8, .deadline_ns = deadline};
		assert_int_equal(bk_submit_batch(cli[B], &call, 1, &f[i]), 1);
	}
	/* Kill A while it holds calls: watch its own count rather than guess a moment. */
	uint64_t held = 0;
	for (int64_t end = bk_now_ns() + 5 * BT_SEC; held < 50 && bk_now_ns() < end;)
		held = serving_now(A);
	assert_true(held >= 50);
	bk_test_broker_kill(&nodes[A]);
	int ok_idem = 0, ok_slow = 0, reset = 0, timedout = 0;
	for (int i = 0; i < NCALLS; i++) {
		assert_int_equal(bk_wait(f[i], deadline + 2 * BT_SEC - (bk_now_ns() - t0)), 0);
		const void *data;
		size_t n;
		int st = bk_result(f[i], &data, &n);
		if (i % 2 == 0) {
			if (st != 0) {
				fprintf(stderr, "call %d: %s\n", i, bk_strerror(st));
				bk_test_broker_dump_log(&nodes[B]);
				bk_test_broker_dump_log(&nodes[C]);
			}
			assert_int_equal(st, 0); /* idempotent: retried on C */
			ok_idem++;
		} else {
			assert_true(st == 0 || st == -ECONNRESET || st == -ETIMEDOUT);
			ok_slow += st == 0;
			reset += st == -ECONNRESET;
			timedout += st == -ETIMEDOUT;
		}
		if (st == 0) {
			assert_int_equal(n, 8);
			assert_memory_equal(data, args[i], 8);
		}
		bk_release(f[i]);
	}
	int64_t took = bk_now_ns() - t0;
	fprintf(stderr, "node death: %d idempotent ok, non-idempotent: %d ok, %d -ECONNRESET, %d -ETIMEDOUT; %.2f s\n",
		ok_idem, ok_slow, reset, timedout, (double)took / 1e9);
	assert_int_equal(ok_idem, NCALLS / 2);
	assert_true(reset + timedout > 0); /* A held some of them when it died */
	assert_true(took < deadline + BT_SEC);
	assert_true(bt_log_count(&nodes[B], "retrying x.idem") > 0);
}

/* Durable jobs of node i this node sent and still waits for (brokerctl jobs' pending). */
static uint32_t jobs_pending(int i)
{
	struct bkc_ctl k;
	char err[256];
	static uint8_t buf[BK_WIRE_MAX_MSG];
	assert_int_equal(bkc_ctl_open(&k, nodes[i].socket, 5000, err, sizeof(err)), 0);
	struct bk_msg_list req = {.h = {.type = BK_MSG_JOBS}};
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_JOBS_REPLY, buf, sizeof(buf), err, sizeof(err));
	bkc_ctl_close(&k);
	assert_true(n >= (int)sizeof(struct bk_msg_list_reply));
	const struct bk_msg_list_reply *lr = (const void *)buf;
	const struct bk_wire_job *j = (const void *)(lr + 1);
	uint32_t pending = 0;
	for (uint32_t r = 0; r < lr->count; r++)
		pending += j[r].state == BK_JOB_PENDING;
	return pending;
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

#define NJOBS 1000

static void test_durable(void **state)
{
	(void)state;
	char log[160];
	snprintf(log, sizeof(log), "%s/executions", nats.dir);
	setenv("BK_EXEC_LOG", log, 1);
	setenv("BK_NODE_TAG", "A", 1);
	assert_int_equal(bk_test_broker_restart(&nodes[A], node_args(A, true)), 0);
	load_x_on_c(false); /* A alone serves x: its death leaves the jobs to its restart */
	wait_served_by("x.slow", "A");
	for (int64_t end = bk_now_ns() + 15 * BT_SEC; served_by(B, "x.slow", "C"); pause_ms(20))
		if (bk_now_ns() > end)
			fail_msg("B still sees x.slow served by C after its unload");
	bk_fn slow = wait_lookup(cli[B], "x.slow");
	static bk_future *f[NJOBS];
	static uint8_t args[NJOBS][8];
	for (int i = 0; i < NJOBS; i++) {
		uint32_t ms = 300;
		memcpy(args[i], &ms, 4);
		memcpy(args[i] + 4, &i, 4);
		bk_call call = {.fn = slow, .arg = args[i], .len = 8, .flags = BK_CALL_DURABLE};
		assert_int_equal(bk_submit_batch(cli[B], &call, 1, &f[i]), 1);
	}
	/* Kill A once it holds jobs and has started some (their first runs are cut short). */
	uint64_t held = 0;
	for (int64_t end = bk_now_ns() + 20 * BT_SEC; (held < 100 || file_size(log) < 50) && bk_now_ns() < end;)
		held = serving_now(A);
	assert_true(held >= 100 && file_size(log) >= 50);
	bk_test_broker_kill(&nodes[A]);
	long before = file_size(log);
	assert_int_equal(bk_test_broker_restart(&nodes[A], node_args(A, true)), 0);
	int64_t end = bk_now_ns() + 60 * BT_SEC;
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(bk_wait(f[i], end - bk_now_ns()), 0);
		const void *data;
		size_t n;
		assert_int_equal(bk_result(f[i], &data, &n), 0);
		assert_int_equal(n, 8);
		assert_memory_equal(data, args[i], 8);
		bk_release(f[i]);
	}
	assert_int_equal(jobs_pending(B), 0);
	/* The handler reads its job's id; an ordinary call has none. */
	bk_fn jid = wait_lookup(cli[B], "x.jobid");
	char id[64];
	size_t n = 0;
	assert_int_equal(bt_call(cli[B], jid, NULL, 0, id, sizeof(id), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(id, "none", 4);
	bk_call call = {.fn = jid, .flags = BK_CALL_DURABLE};
	bk_future *jf;
	assert_int_equal(bk_submit_batch(cli[B], &call, 1, &jf), 1);
	assert_int_equal(bk_wait(jf, 20 * BT_SEC), 0);
	const void *jd;
	assert_int_equal(bk_result(jf, &jd, &n), 0);
	assert_true(n > 2 && n < sizeof(id));
	assert_memory_equal(jd, "B-", 2); /* <sending node>-<boot>-<n> */
	bk_release(jf);
	long execs = file_size(log);
	fprintf(stderr, "durable: %d jobs, each completed once at the client; %ld executions (%ld before the kill)\n",
		NJOBS, execs, before);
	assert_true(execs >= NJOBS);
	assert_true(execs > before); /* the restarted A ran the jobs the dead one held */
}

int main(void)
{
	char bin[256];
	if (bkt_nats_find(bin, sizeof(bin)) < 0) {
		fprintf(stderr, "SKIP: no nats-server (Debian package nats-server; or set $BK_NATS_SERVER)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_for_byte),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_nats_down_up),
		cmocka_unit_test(test_node_death),
		cmocka_unit_test(test_durable),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
