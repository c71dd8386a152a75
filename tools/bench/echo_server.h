// SPDX-License-Identifier: MIT
/*
 * echo_server.h - a small TCP server on 127.0.0.1 for net module tests and
 * broker-bench's net mode, on its own thread with epoll: ECHO sends back
 * every byte it receives and closes once the peer has half-closed and all
 * was sent; SILENT accepts and holds connections, never reading or
 * writing (a server that never answers), until bkt_echo_stop.
 */
#ifndef BKT_ECHO_SERVER_H
#define BKT_ECHO_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct econn;

enum bkt_echo_mode { BKT_ECHO, BKT_SILENT };

struct bkt_echo {
	int lfd, epfd, stopfd;
	uint16_t port;
	enum bkt_echo_mode mode;
	pthread_t thread;
	struct econn *conns; /* the server thread's, then bkt_echo_stop's */
	_Atomic uint64_t accepted; /* connections accepted so far */
	_Atomic uint64_t open; /* connections accepted and not yet closed by the server */
};

/* Listen on 127.0.0.1 (an ephemeral port, e->port) and start the thread.  0 or -errno. */
int bkt_echo_start(struct bkt_echo *e, enum bkt_echo_mode mode);
/* Stop the thread and close every socket. */
void bkt_echo_stop(struct bkt_echo *e);

#endif /* BKT_ECHO_SERVER_H */
