// SPDX-License-Identifier: MIT
/*
 * fuzz_client_hostile.c - libFuzzer target: a real libbkclient connection
 * (client-lib: connect, submit, poll, wait, dispatch, result, cancel,
 * release) against a hostile broker.  A thread plays brokerd's handshake
 * with a region from broker/region.c whose header the input patches and a
 * reply whose size and features the input picks; then the input drives both
 * sides: the "broker" writes completions (honest ones for entries it read
 * off the SQ, and arbitrary ones), moves the CQ tail anywhere, rewrites
 * slots and broker_state and hangs up, while the client polls, waits,
 * dispatches, reads results, cancels, releases and submits.  A hostile
 * broker may make calls fail, never crash the client or make it hand out a
 * result outside its future's buffer (docs/ARCHITECTURE.md, "The shared
 * region").
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/client.h"
#include "broker/ring.h"
#include "broker/sys.h"
#include "broker/wire.h"
#include "fuzz_input.h"
#include "region.h"

#define NFUT 8

static char sock_path[108];
static int lfd = -1;

struct hostile {
	struct fuzz_in *in; /* read by the thread only before the handshake reply, then by main */
	struct bkd_region r;
	int sock; /* the broker's end, -1 once hung up */
	int ok; /* a region was sent */
	uint32_t sq_head; /* the broker's private SQ cursor */
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/bk-fuzz-client.XXXXXX";
	FUZZ_ASSERT(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0);
	return 0;
}

/* The handshake, as a hostile brokerd would answer it. */
static void *broker_side(void *arg)
{
	struct hostile *h = arg;
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	h->sock = -1;
	if (poll(&p, 1, 2000) != 1 || (h->sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return NULL;
	struct bk_msg_hello m;
	p = (struct pollfd){ .fd = h->sock, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1 || bk_recv_fds(h->sock, &m, sizeof(m), NULL, 0, NULL) != (ssize_t)sizeof(m)) {
		shutdown(h->sock, SHUT_RDWR); /* the client must not wait out its handshake timeout */
		return NULL;
	}
	struct bk_msg_hello_reply rep = { .h = { .magic = BK_WIRE_MAGIC, .type = BK_MSG_HELLO_REPLY,
						 .len = sizeof(rep), .seq = m.h.seq },
					  .abi_major = BK_ABI_MAJOR, .abi_minor = BK_ABI_MINOR,
					  .layout_hash = BK_LAYOUT_HASH, .features = BK_FEAT_SQ_FUTEX };
	struct bkd_region_params rp = { .max_large = 1u << 20, .ring_start = fuzz_u32(h->in), .conn_id = 3 };
	char err[256];
	if (bkd_region_create(&m.geo, &rp, &h->r, err, sizeof(err)) < 0) {
		rep.status = -EINVAL;
		(void)bk_send_fds(h->sock, &rep, sizeof(rep), NULL, 0);
		return NULL;
	}
	unsigned npatch = fuzz_u8(h->in) % 8; /* header bytes a hostile broker gets wrong */
	for (unsigned i = 0; i < npatch; i++) {
		uint8_t off = fuzz_u8(h->in);
		((uint8_t *)h->r.v.base)[off % sizeof(struct bk_region_hdr)] = fuzz_u8(h->in);
	}
	uint8_t lie = fuzz_u8(h->in);
	rep.region_size = h->r.v.size + (lie & 1 ? BK_PAGE : 0);
	if (lie & 2)
		rep.features = BK_FEAT_SQ_EVENTFD; /* promises a second descriptor it does not send */
	if (lie & 4)
		rep.conn_id = fuzz_u32(h->in);
	h->ok = bk_send_fds(h->sock, &rep, sizeof(rep), &h->r.fd, 1) > 0;
	h->sq_head = rp.ring_start;
	return NULL;
}

/* An honest completion of the next entry on the SQ, with a status and length from the input. */
static void complete_next(struct hostile *h)
{
	struct bk_region_view *v = &h->r.v;
	uint32_t tail = atomic_load_explicit(&v->sq_ctl->tail, memory_order_acquire);
	if (tail == h->sq_head || tail - h->sq_head > v->geo.sq_entries)
		return;
	struct bk_sqe e;
	bk_shm_read_words(&e, &v->sq[h->sq_head & (v->geo.sq_entries - 1)], sizeof(e) / 4);
	atomic_store_explicit(&v->sq_ctl->head, ++h->sq_head, memory_order_release);
	struct bk_cqe c = { .slot = e.slot, .gen = e.gen, .status = (int8_t)fuzz_u8(h->in), .res_len = fuzz_u16(h->in) };
	if (e.slot < v->geo.nslots) {
		struct bk_slot *s = &v->slots[e.slot];
		s->status = c.status;
		s->res_len = c.res_len;
		atomic_store_explicit(&s->done_gen, e.gen, memory_order_release);
	}
	uint32_t ct = atomic_load_explicit(&v->cq_ctl->tail, memory_order_relaxed);
	v->cq[ct & (v->geo.cq_entries - 1)] = c;
	atomic_store_explicit(&v->cq_ctl->tail, ct + 1, memory_order_release);
}

/* The result must lie inside the region's arena (inline area or zero-copy buffer). */
static void check_result(struct hostile *h, bk_future *f)
{
	const void *data = NULL;
	size_t len = 0;
	int st = bk_result(f, &data, &len);
	if (st == 0 && len) {
		/* The client's own mapping differs from ours: compare lengths against the arena. */
		FUZZ_ASSERT(data != NULL && len <= h->r.v.layout.arena_size);
		(void)*(const volatile uint8_t *)data;
		(void)*((const volatile uint8_t *)data + len - 1);
	}
}

static void script(struct hostile *h, bk_client *c)
{
	bk_future *f[NFUT] = { 0 };
	struct bk_region_view *v = &h->r.v;
	for (int steps = 0; steps < 64 && h->in->len > 0; steps++) {
		uint8_t op = fuzz_u8(h->in);
		bk_future **k = &f[(op >> 4) % NFUT];
		switch (op % 12) {
		case 0:
			if (!*k)
				(void)bk_submit(c, 1 + (op >> 4) % 3, "hostile", 7, k);
			break;
		case 1: complete_next(h); break;
		case 2: { /* an arbitrary completion */
			struct bk_cqe e;
			fuzz_bytes(h->in, &e, sizeof(e));
			uint32_t ct = atomic_load_explicit(&v->cq_ctl->tail, memory_order_relaxed);
			v->cq[ct & (v->geo.cq_entries - 1)] = e;
			atomic_store_explicit(&v->cq_ctl->tail, ct + 1, memory_order_release);
			break;
		}
		case 3: atomic_store_explicit(&v->cq_ctl->tail, fuzz_u32(h->in), memory_order_release); break;
		case 4: {
			struct bk_slot *s = &v->slots[fuzz_u16(h->in) % v->geo.nslots];
			s->status = (int32_t)fuzz_u32(h->in);
			s->res_len = fuzz_u32(h->in);
			atomic_store_explicit(&s->done_gen, fuzz_u32(h->in), memory_order_release);
			break;
		}
		case 5:
			atomic_store_explicit(&v->hdr->broker_state, fuzz_u8(h->in) % 4, memory_order_release);
			break;
		case 6:
			if (*k)
				(void)bk_poll(*k);
			break;
		case 7: (void)bk_dispatch(c); break;
		case 8:
			if (*k)
				(void)bk_wait(*k, 1000);
			break;
		case 9:
			if (*k)
				check_result(h, *k);
			break;
		case 10:
			if (*k) {
				if (op & 0x80)
					(void)bk_cancel(*k);
				else {
					bk_release(*k);
					*k = NULL;
				}
			}
			break;
		default:
			if (h->sock >= 0 && (op & 0x80)) { /* the broker "dies" */
				close(h->sock);
				h->sock = -1;
			}
			break;
		}
	}
	for (int i = 0; i < NFUT; i++)
		if (f[i])
			bk_release(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	bk_options o;
	bk_options_init(&o);
	o.max_inflight = 8 + fuzz_u8(&in) % 64;
	o.sq_entries = 8 + fuzz_u8(&in) % 64;
	o.inline_size = 64;
	o.zero_copy_size = 4096;
	o.spin_ns = 0;
	struct hostile h = { .in = &in, .sock = -1 };
	h.r.fd = -1;
	pthread_t t;
	FUZZ_ASSERT(pthread_create(&t, NULL, broker_side, &h) == 0);
	bk_client *c = NULL;
	char err[256];
	int r = bk_connect_error(sock_path, &o, &c, err, sizeof(err));
	FUZZ_ASSERT(pthread_join(t, NULL) == 0);
	if (r == 0) {
		FUZZ_ASSERT(h.ok);
		script(&h, c);
		bk_disconnect(c);
	} else {
		FUZZ_ASSERT(c == NULL && err[0] != 0);
	}
	if (h.sock >= 0)
		close(h.sock);
	bkd_region_destroy(&h.r);
	return 0;
}
