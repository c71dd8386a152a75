// SPDX-License-Identifier: MIT
/*
 * test_isolation.c - one client cannot cancel, complete or read another's
 * futures (docs/SECURITY.md, "Threat model").  A victim (uid 65533) keeps a
 * sleep in flight while an attacker (uid 65534), speaking the protocol raw,
 * cancels every slot and generation it can name, calls guessed function
 * ids, replays a finished future's id, and tries to reach the victim's
 * region and brokerd's descriptors through /proc itself and through
 * file.read.  The victim's sleep completes normally and its next call
 * returns its own bytes.  The test needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/ring.h"
#include "mu_util.h"
#include "region_map.h"

#define MS 1000000LL
#define VICTIM_SLEEP_MS "5000"

static const struct mu_ids victim_ids = { .uid = MU_OTHER, .gid = MU_OTHER };
static const struct mu_ids attacker_ids = { .uid = MU_NOBODY, .gid = MU_NOBODY };

struct ctx {
	const char *socket;
	pid_t brokerd, victim;
	int up, down; /* victim -> parent "in flight", parent -> victim "attack over" */
};

/* ---- the victim (public API) ------------------------------------------------------------ */

static int victim(void *arg)
{
	const struct ctx *x = arg;
	bk_client *c;
	char why[256];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 1, "connect: %s", why);
	bk_fn sleep_fn;
	MU_CHECK(bk_lookup(c, "timer.sleep", &sleep_fn) == 0, 2, "lookup");
	bk_future *f;
	MU_CHECK(bk_submit(c, sleep_fn, VICTIM_SLEEP_MS, strlen(VICTIM_SLEEP_MS), &f) == 0, 3, "submit");
	char byte = 1;
	MU_CHECK(write(x->up, &byte, 1) == 1, 4, "sync");
	struct pollfd p = { .fd = x->down, .events = POLLIN };
	MU_CHECK(poll(&p, 1, 20000) == 1 && read(x->down, &byte, 1) == 1, 5, "no word from the parent");
	MU_CHECK(bk_wait(f, 10 * BT_SEC) == 0, 6, "the sleep did not complete");
	int st = bk_result(f, NULL, NULL);
	bk_release(f);
	MU_CHECK(st == 0, 7, "the victim's sleep completed with %d (%s)", st, bk_strerror(st));
	char out[32];
	MU_CHECK(mu_call(c, "echo.echo", "victim-data", out, sizeof(out)) == 0 && strcmp(out, "victim-data") == 0, 8,
		 "echo after the attack: '%s'", out);
	bk_disconnect(c);
	return MU_OK;
}

/* ---- the attacker (raw protocol) ---------------------------------------------------------- */

struct raw {
	int fd, wake_efd;
	struct bk_region_view v;
	struct bk_sq_producer p;
};

static int raw_open(struct raw *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->wake_efd = -1;
	r->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	struct bk_msg_hello h = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO, .len = sizeof(h), .seq = 1 },
				  .abi_major = BK_ABI_MAJOR,
				  .abi_minor = BK_ABI_MINOR,
				  .layout_hash = BK_LAYOUT_HASH,
				  .geo = { .sq_entries = 64, .nslots = 64, .slot_inline = 64 } };
	if (send(r->fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return -EIO;
	struct bk_msg_hello_reply rep;
	int fds[2], nfds = 0;
	struct pollfd pf = { .fd = r->fd, .events = POLLIN };
	if (poll(&pf, 1, 5000) != 1 || bk_recv_fds(r->fd, &rep, sizeof(rep), fds, 2, &nfds) != sizeof(rep) ||
	    rep.status != 0 || nfds < 1)
		return -EPROTO;
	char err[256];
	int rc = bkc_region_map(fds[0], &r->v, err, sizeof(err));
	close(fds[0]);
	if (nfds == 2)
		r->wake_efd = fds[1];
	bk_sq_producer_init(&r->p, r->v.sq_ctl, r->v.sq, r->v.geo.sq_entries);
	return rc;
}

static uint32_t raw_lookup(struct raw *r, const char *name)
{
	struct bk_msg_lookup m = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_LOOKUP, .len = sizeof(m), .seq = 2 } };
	snprintf(m.name, sizeof(m.name), "%s", name);
	struct bk_msg_lookup_reply rep = { .status = -EIO };
	struct pollfd pf = { .fd = r->fd, .events = POLLIN };
	if (send(r->fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m) || poll(&pf, 1, 5000) != 1 ||
	    recv(r->fd, &rep, sizeof(rep), 0) != (ssize_t)sizeof(rep) || rep.status != 0)
		return UINT32_MAX;
	return rep.fn;
}

/* Publish e and wake brokerd; waits (bounded) for room.  false if the ring never drained. */
static bool raw_submit(struct raw *r, const struct bk_sqe *e)
{
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	while (bk_sq_producer_space(&r->p) < 1) {
		if (bk_now_ns() > deadline)
			return false;
		struct timespec ts = { 0, MS }; /* polls a deadline-bounded wait for brokerd to take entries */
		nanosleep(&ts, NULL);
	}
	bk_sq_producer_write(&r->p, 0, e);
	bk_sq_producer_publish(&r->p, 1);
	bk_ring_wake_bump(r->v.sq_ctl);
	bk_futex_wake(&r->v.sq_ctl->wake_seq, INT32_MAX);
	if (r->wake_efd >= 0) {
		uint64_t one = 1;
		if (write(r->wake_efd, &one, sizeof(one)) != sizeof(one))
			return false;
	}
	return true;
}

/* Slot's completion of generation gen within 5 s: its status, or INT32_MIN. */
static int32_t raw_wait(struct raw *r, uint32_t slot, uint32_t gen)
{
	int64_t deadline = bk_now_ns() + 5 * BT_SEC;
	struct bk_slot *s = &r->v.slots[slot];
	while (atomic_load_explicit(&s->done_gen, memory_order_acquire) != gen) {
		if (bk_now_ns() > deadline)
			return INT32_MIN;
		struct timespec ts = { 0, MS }; /* polls a deadline-bounded wait for the completion */
		nanosleep(&ts, NULL);
	}
	return __atomic_load_n(&s->status, __ATOMIC_RELAXED);
}

static struct bk_sqe call(uint32_t fn, uint32_t slot, uint32_t gen, uint32_t arg_len, uint32_t inl)
{
	return (struct bk_sqe){ .op = BK_OP_CALL, .fn = fn, .slot = slot, .gen = gen, .arg_off = slot * inl,
				.arg_len = arg_len, .res_off = slot * inl, .res_cap = inl };
}

/* Cancel every slot and generation this client can name; call every small function id. */
static int attack_rings(struct raw *r)
{
	for (uint32_t gen = 0; gen < 8; gen++)
		for (uint32_t slot = 0; slot < r->v.geo.nslots + 8; slot++) {
			struct bk_sqe e = { .op = BK_OP_CANCEL, .slot = slot, .gen = gen };
			MU_CHECK(raw_submit(r, &e), 10, "cancel flood: brokerd stopped taking entries");
		}
	uint32_t inl = r->v.geo.slot_inline;
	for (uint32_t fn = 0; fn < 32; fn++) {
		memcpy(r->v.arena + 10 * inl, "0", 1); /* a valid argument for timer.sleep too */
		struct bk_sqe e = call(fn, 10, 100 + fn, 1, inl);
		MU_CHECK(raw_submit(r, &e), 11, "guessed ids: brokerd stopped taking entries");
		MU_CHECK(raw_wait(r, 10, 100 + fn) != INT32_MIN, 12, "guessed id %u never completed", fn);
	}
	/* A finished future's id, replayed: cancel it and call with it again.  Only our own slot is named. */
	uint32_t echo = raw_lookup(r, "echo.echo");
	MU_CHECK(echo != UINT32_MAX, 13, "lookup echo.echo");
	memcpy(r->v.arena + 1 * inl, "mine", 4);
	struct bk_sqe e = call(echo, 1, 5, 4, inl);
	MU_CHECK(raw_submit(r, &e) && raw_wait(r, 1, 5) == 0, 14, "echo");
	struct bk_sqe cancel = { .op = BK_OP_CANCEL, .slot = 1, .gen = 5 };
	MU_CHECK(raw_submit(r, &cancel) && raw_submit(r, &e) && raw_wait(r, 1, 5) == 0, 15, "replay");
	return MU_OK;
}

/* Straight at the kernel: nobody may open brokerd's descriptors or the victim's memory. */
static int attack_proc(const struct ctx *x)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)x->brokerd);
	MU_CHECK(open(path, O_RDONLY | O_CLOEXEC) < 0, 20, "opened %s", path);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)x->victim);
	MU_CHECK(open(path, O_RDONLY | O_CLOEXEC) < 0, 21, "opened %s", path);
	snprintf(path, sizeof(path), "/proc/%d/map_files", (int)x->victim);
	MU_CHECK(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) < 0, 22, "opened %s", path);
	/* And through brokerd, which runs the open with our rights and never into procfs. */
	bk_client *c;
	char why[256], out[64], arg[96];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 23, "connect: %s", why);
	snprintf(arg, sizeof(arg), "0 16 /proc/%d/mem", (int)x->victim);
	int r = mu_call(c, "file.read", arg, out, sizeof(out));
	MU_CHECK(r == -EACCES, 24, "file.read of the victim's memory gave %d", r);
	snprintf(arg, sizeof(arg), "0 16 /proc/%d/fd/0", (int)x->brokerd);
	r = mu_call(c, "file.read", arg, out, sizeof(out));
	MU_CHECK(r == -ELOOP || r == -EACCES, 25, "file.read of brokerd's fd 0 gave %d", r);
	bk_disconnect(c);
	return MU_OK;
}

static int attacker(void *arg)
{
	const struct ctx *x = arg;
	struct raw r;
	MU_CHECK(raw_open(&r, x->socket) == 0, 1, "raw handshake");
	int rc = attack_rings(&r);
	if (rc == MU_OK)
		rc = attack_proc(x);
	bkc_region_unmap(&r.v);
	if (r.wake_efd >= 0)
		close(r.wake_efd);
	close(r.fd);
	return rc;
}

static void test_futures_isolated(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", "--allow-uid", "65533", NULL };
	mu_start(&b, extra);
	int up[2], down[2];
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	struct ctx x = { .socket = b.socket, .brokerd = b.pid, .up = up[1], .down = down[0] };
	x.victim = mu_spawn_as(&victim_ids, victim, &x);
	struct pollfd p = { .fd = up[0], .events = POLLIN };
	char byte;
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(read(up[0], &byte, 1), 1);
	int64_t t0 = bk_now_ns();
	assert_int_equal(mu_run_as(&attacker_ids, attacker, &x), MU_OK);
	/* The attack must be over while the victim's sleep is still in flight, or it proved nothing. */
	assert_true(bk_now_ns() - t0 < 4500 * MS);
	assert_int_equal(write(down[1], &byte, 1), 1);
	assert_int_equal(mu_wait(x.victim), MU_OK);
	/* The flood did reach brokerd: its cancels of slots not in flight were counted as bad entries. */
	assert_true(bt_log_count(&b, "bad submission") >= 1);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_futures_isolated, mu_need_root),
	};
	return cmocka_run_group_tests_name("clients cannot touch each other's futures", tests, NULL, NULL);
}
