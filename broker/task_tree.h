// SPDX-License-Identifier: MIT
/*
 * task_tree.h - child tasks (host->call, module.h): a handler of the
 * calling module run as a task inside brokerd, without a round trip to the
 * client (docs/ARCHITECTURE.md, "Tasks that call tasks").
 */
#ifndef BROKER_TASK_TREE_H
#define BROKER_TASK_TREE_H

#include <stddef.h>

#include "broker/module.h"

/*
 * Live child tasks one connection may have at once.  A stand-in for the
 * per-connection in-flight cap (which counts a connection's slots): a
 * connection's children count here, so recursion or a wide fan-out cannot
 * exhaust brokerd.
 */
#define BKD_CHILDREN_PER_CONN 16384u

/* host->call. */
int bkd_task_call(bk_task *parent, bk_handler_fn fn, const void *arg, size_t len, void *res, size_t cap,
		  bk_io_cb cb, void *ud);

#endif /* BROKER_TASK_TREE_H */
