/*
 * conn.c - allocation and release of connections.  bkd_conn_free is the one
 * place that gives back a connection's fds and memory, so the fd count of a
 * long-running brokerd returns to its start value whatever path a
 * connection took (refused, control-only, served, dropped).
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct bkd_conn *bkd_conn_new(struct bkd_broker *b, int sock)
{
	struct bkd_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	socklen_t len = sizeof(c->cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		bkd_warn("SO_PEERCRED: %s", strerror(errno));
		free(c);
		return NULL;
	}
	c->sock = sock;
	c->id = ++b->next_conn_id;
	c->connected_ns = bk_now_ns();
	c->client_efd = -1;
	c->wake_efd = -1;
	c->region.fd = -1;
	c->wait_ud.kind = BKD_UD_CONN_WAIT;
	return c;
}

void bkd_conn_free(struct bkd_conn *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	if (c->client_efd >= 0)
		close(c->client_efd);
	if (c->wake_efd >= 0)
		close(c->wake_efd);
	if (c->cr.gen)
		bkd_conn_rings_fini(&c->cr);
	bkd_region_destroy(&c->region);
	free(c->tasks);
	free(c);
}
