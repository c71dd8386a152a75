// SPDX-License-Identifier: MIT
/*
 * stress.h - broker-stress's pieces: the operations a stress client mixes
 * (ops.c), the client process (client.c) and the counts it reports to the
 * parent (main.c) through a shared pipe.
 */
#ifndef BK_STRESS_H
#define BK_STRESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <broker/client.h>

/* ---- operations (ops.c) ---- */

enum stress_op_kind { OP_ECHO, OP_UPPER, OP_SLEEP, OP_SHA256, OP_CANCEL_SLEEP, OP_NKINDS };

#define OP_ARG_MAX 256 /* the default inline size: the largest inline argument */

struct stress_op {
	enum stress_op_kind kind;
	uint8_t arg[OP_ARG_MAX];
	size_t len;
	uint8_t expect[OP_ARG_MAX]; /* the result the task must produce */
	size_t expect_len;
	int64_t min_ns; /* timer.sleep: it may not complete sooner than this */
};

extern const char *const stress_op_fn_names[OP_NKINDS]; /* "echo.echo", ... */

/* xorshift64*: every client seeds its own. */
uint64_t stress_rand(uint64_t *state);
/* Build a random operation and its expected result.  0 or -errno. */
int stress_op_make(struct stress_op *op, uint64_t *rng, uint64_t seq);
/*
 * Check a completed task: its status and result against op.  elapsed_ns is
 * the time from submission to seeing the completion.  0 when right, else
 * -EPROTO with a description in why.
 */
int stress_op_check(const struct stress_op *op, int status, const void *data, size_t len, int64_t elapsed_ns, char *why,
		size_t whylen);

/* ---- reports (client -> parent) ---- */

enum { MSG_DELTA = 1, MSG_FINAL = 2 };

/* Written whole (smaller than PIPE_BUF, so atomic on the shared pipe). */
struct bk_stress_msg {
	int32_t pid;
	uint32_t kind;
	uint64_t passed; /* completed once, with the right result */
	uint64_t failed; /* wrong result, no ending in time, ended twice, answers against client.h, unexpected error */
	uint64_t gone; /* lost with its broker (BK_EGONE) while brokerd was being restarted: neither pass nor failure */
	uint64_t cancelled; /* a cancelled timer.sleep that ended with -ECANCELED (what was asked: a pass) */
	uint64_t reconnects;
	uint64_t lost; /* of failed: no ending within the wait, or a callback that ran twice (exactly once broken) */
	uint64_t hostile_conns; /* hostile clients: connections made */
};

struct bk_stress_client_cfg {
	const char *socket;
	int64_t deadline_ns; /* CLOCK_MONOTONIC: stop submitting then */
	uint64_t seed;
	int restarts; /* brokerd may be restarted under us: BK_EGONE is expected */
	int report_fd;
};

/* The client process's body; never returns. */
void bk_stress_client(const struct bk_stress_client_cfg *cfg) __attribute__((noreturn));

/* ---- hostile clients (hostile.c) ---- */

enum stress_hostile_kind { HOSTILE_GARBAGE, HOSTILE_FLOOD, HOSTILE_SLOW, HOSTILE_NKINDS };
extern const char *const stress_hostile_names[HOSTILE_NKINDS];

/* A hostile client's body until the deadline (reports hostile_conns); never returns. */
void bk_stress_hostile(const struct bk_stress_client_cfg *cfg, enum stress_hostile_kind kind) __attribute__((noreturn));

/* ---- module upgrades under load (upgrade.c) ---- */

struct bk_stress_upgrader {
	char src[4096]; /* the module file whose fresh copies are loaded */
	char dir[4096]; /* where the copies go (brokerd's private folder: checked like any module folder) */
	char brokerctl[4096];
	unsigned n;
};

/* Find brokerctl (path given, else beside this executable, else in the build tree's tools/). 0 or -ENOENT. */
int bk_stress_upgrader_init(struct bk_stress_upgrader *u, const char *src, const char *dir, const char *brokerctl);
/* Copy the module afresh and `brokerctl load` it into the brokerd at socket (bounded).  0, or -1 with why. */
int bk_stress_upgrade(struct bk_stress_upgrader *u, const char *socket, char *why, size_t whylen);

#endif
