// SPDX-License-Identifier: MIT
/*
 * cluster_view.h - brokerctl's cluster views (cluster_view.c, docs/CLUSTER.md).
 */
#ifndef BROKERCTL_CLUSTER_VIEW_H
#define BROKERCTL_CLUSTER_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "broker/wire.h"
#include "control.h" /* struct bkc_ctl */

/* `brokerctl cluster [--json]`: 0 or a negative code (err says why). */
int brokerctl_cluster(struct bkc_ctl *k, int json, char *err, size_t errlen);
/* `brokerctl jobs [--json]`: durable jobs this node sent (pending, failed) or runs. */
int brokerctl_jobs(struct bkc_ctl *k, int json, char *err, size_t errlen);
/* Remote functions after `modules`' nlocal local ones (JSON: more array members); the count or <0. */
int brokerctl_remote_modules(struct bkc_ctl *k, int json, uint32_t nlocal, char *err, size_t errlen);

#endif /* BROKERCTL_CLUSTER_VIEW_H */
