// SPDX-License-Identifier: MIT
/*
 * host_net.h - the network operations of the host API (module.h, ABI 1.2):
 * socket, connect, accept, send, recv, shutdown, poll, a linked timeout for
 * the next operation, and name resolution on the offload pool.
 */
#ifndef BROKER_HOST_NET_H
#define BROKER_HOST_NET_H

#include "broker/module.h"

int bkd_hnet_socket(bk_task *t, int domain, int type, int protocol, bk_io_cb cb, void *ud);
int bkd_hnet_connect(bk_task *t, int fd, const void *addr, uint32_t addrlen, bk_io_cb cb, void *ud);
int bkd_hnet_accept(bk_task *t, int fd, bk_io_cb cb, void *ud);
int bkd_hnet_send(bk_task *t, int fd, const void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud);
int bkd_hnet_recv(bk_task *t, int fd, void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud);
int bkd_hnet_shutdown(bk_task *t, int fd, int how, bk_io_cb cb, void *ud);
int bkd_hnet_poll(bk_task *t, int fd, uint32_t events, bk_io_cb cb, void *ud);
int bkd_hnet_link_timeout(bk_task *t, uint64_t ns);
int bkd_hnet_resolve(bk_task *t, const char *node, const char *service, int socktype, bk_addr *out, uint32_t max,
		     bk_io_cb cb, void *ud);

#endif /* BROKER_HOST_NET_H */
