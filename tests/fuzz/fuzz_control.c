// SPDX-License-Identifier: MIT
/*
 * fuzz_control.c - libFuzzer target: brokerd's control-message decoder
 * (broker/requests.c: HELLO, LOOKUP, STATUS, MODULES, CLIENTS, LOAD,
 * UNLOAD) fed a hostile client's datagrams on a real connection object.
 * The input is a flag byte and a list of datagrams (u16 length, bytes);
 * brokerd's code runs on this thread as in tests/broker/test_conn_oom.c:
 * one worker that is only an inbox, a connection whose accepted HELLO goes
 * to that inbox and is taken back at the end.  The peer is made a
 * non-administrator, so LOAD and UNLOAD are refused (a fuzzer must not
 * dlopen whatever path it invents) but still decoded.  Every datagram gets
 * at most one reply; a dropped connection ends the script; freeing the
 * connection must give back every descriptor (LeakSanitizer checks memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/sys.h"
#include "broker/wire.h"
#include "brokerd.h"
#include "conn.h"
#include "creds.h"
#include "fuzz_input.h"
#include "host_api.h"
#include "log.h"
#include "requests.h"
#include "uid_limits.h"
#include "worker.h"

#define PEER_UID 65534u /* allowed to connect (--allow-uid), not an administrator */

static struct bkd_broker b;
static struct bkd_worker w;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	bkd_log_set_level(BK_LOG_ERROR - 1); /* refusals are the normal case here: no log lines */
	b.opt.max_large = 1u << 20;
	b.opt.admin_gid = -1;
	b.opt.allow_uid[0] = PEER_UID;
	b.opt.nallow_uid = 1;
	b.epoch = 42;
	b.sq_futex = true;
	b.workers = &w;
	b.nworkers = 1;
	b.host = bkd_host_api_table();
	FUZZ_ASSERT(bkd_inbox_init(&w.inbox) == 0);
	FUZZ_ASSERT(bkd_registry_create(b.host, NULL, NULL, &b.reg) == 0);
	/* Limits a large geometry can hit: refusals by the per-uid byte budget are decoded too. */
	struct bkd_limits_cfg lim = { .max_conns = 4, .max_slots = 1u << 16, .max_region_bytes = 16u << 20 };
	FUZZ_ASSERT(bkd_limits_create(&lim, geteuid(), &b.limits) == 0);
	return 0;
}

/* Read whatever replies are queued; close descriptors that came with them. */
static int drain(int sock)
{
	static _Alignas(8) uint8_t buf[BK_WIRE_MAX_MSG];
	int n = 0;
	for (;;) {
		int fds[4], nfds = 0;
		ssize_t r = bk_recv_fds(sock, buf, sizeof(buf), fds, 4, &nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (r <= 0)
			return n;
		FUZZ_ASSERT((size_t)r >= sizeof(struct bk_msg_hdr));
		n++;
	}
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 128; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int base = count_fds();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	struct bkd_conn *c = bkd_conn_new(&b, sv[0]);
	FUZZ_ASSERT(c);
	c->caller->uid = PEER_UID;
	c->cred.uid = PEER_UID;
	uint8_t flags = fuzz_u8(&in);
	static _Alignas(8) uint8_t msg[BK_WIRE_MAX_MSG];
	for (int i = 0; i < 16 && in.len > 0; i++) {
		size_t len = fuzz_u16(&in) % 1024;
		fuzz_bytes(&in, msg, len);
		int fds[2], nfds = 0;
		if (flags & (1u << (i % 8))) /* this datagram carries an eventfd, as a HELLO may */
			if ((fds[0] = eventfd(0, EFD_CLOEXEC)) >= 0)
				nfds = 1;
		int r = bkd_request_handle(&b, c, msg, len, fds, nfds);
		FUZZ_ASSERT(drain(sv[1]) <= 1);
		if (r < 0)
			break;
	}
	if (c->state == BKD_CONN_ACTIVE) {
		/* The connection went to the thread-less worker: take it back as the control thread would. */
		struct bkd_inbox_item *it = bkd_inbox_take(&w.inbox);
		FUZZ_ASSERT(it && it->ptr == c && !it->next);
		atomic_store(&w.nconns, 0);
	}
	bkd_conn_free(c);
	close(sv[1]);
	FUZZ_ASSERT(count_fds() == base);
	return 0;
}
