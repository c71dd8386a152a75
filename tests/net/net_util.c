// SPDX-License-Identifier: MIT
/* net_util.c - the net tests' shared helpers (net_util.h). */
#include "net_util.h"

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC 1000000000LL
#define INLINE_ARG 200u /* below the default inline size (256): plain copies */

void nt_submit(bk_client *c, bk_fn fn, const void *arg, size_t len, size_t res_cap, struct nt_call *out)
{
	memset(out, 0, sizeof(*out));
	out->c = c;
	bk_call call = {.fn = fn, .arg = arg, .len = len};
	if (len > INLINE_ARG) {
		out->arg_buf = bk_buf_alloc(c, len);
		assert_non_null(out->arg_buf);
		memcpy(out->arg_buf, arg, len);
		call.arg = out->arg_buf;
	}
	if (res_cap) { /* a buffer of exactly res_cap bytes, not the inline one */
		out->res_buf = bk_buf_alloc(c, res_cap);
		assert_non_null(out->res_buf);
		call.result = out->res_buf;
		call.result_cap = res_cap;
	}
	int r = bk_submit_batch(c, &call, 1, &out->f);
	if (r != 1)
		fail_msg("bk_submit_batch: %s", bk_strerror(r));
}

int nt_finish(struct nt_call *call, int64_t timeout_ns, char **out, size_t *out_len)
{
	int r = bk_wait(call->f, timeout_ns);
	if (r < 0)
		fail_msg("bk_wait: %s", bk_strerror(r));
	const void *data = NULL;
	size_t n = 0;
	int st = bk_result(call->f, &data, &n);
	if (out) {
		*out = malloc(n + 1);
		assert_non_null(*out);
		if (n && data)
			memcpy(*out, data, n);
		(*out)[st == -ENOBUFS ? 0 : n] = '\0';
	}
	if (out_len)
		*out_len = n;
	bk_release(call->f);
	bk_buf_free(call->c, call->arg_buf);
	bk_buf_free(call->c, call->res_buf);
	return st;
}

int nt_call(bk_client *c, bk_fn fn, const void *arg, size_t len, size_t res_cap, char **out, size_t *out_len)
{
	struct nt_call call;
	nt_submit(c, fn, arg, len, res_cap, &call);
	return nt_finish(&call, 10 * SEC, out, out_len);
}

bool nt_wait_for(bool (*pred)(void *arg), void *arg, int64_t timeout_ns)
{
	int64_t deadline = bk_now_ns() + timeout_ns;
	for (;;) {
		if (pred(arg))
			return true;
		if (bk_now_ns() >= deadline)
			return false;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

struct fds_at {
	const struct bkt_brokerd *b;
	int base, last;
};

static bool fds_back(void *arg)
{
	struct fds_at *f = arg;
	f->last = bk_test_broker_fd_count(f->b);
	return f->last == f->base;
}

void nt_expect_fds(const struct bkt_brokerd *b, int base)
{
	struct fds_at f = {.b = b, .base = base};
	if (!nt_wait_for(fds_back, &f, 10 * SEC))
		fail_msg("brokerd has %d descriptors open, %d before: a leak", f.last, base);
}

uint16_t nt_closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd); /* bound, never listening: nothing accepts on it now */
	return ntohs(a.sin_port);
}
