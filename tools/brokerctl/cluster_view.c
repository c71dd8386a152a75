// SPDX-License-Identifier: MIT
/*
 * cluster_view.c - brokerctl's views of a --cluster node (docs/CLUSTER.md):
 * `brokerctl cluster` (nodes, their functions, calls in flight, last seen)
 * and the remote functions `brokerctl modules` lists after the local ones.
 * A brokerd without --cluster answers both with empty listings.
 */
#include "cluster_view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/client.h"
#include "broker/module.h"
#include "output.h"

/* Every page of a listing of type (records of recsz bytes) into *out (malloc'd). */
static int fetch(struct bkc_ctl *k, uint16_t type, size_t recsz, void **out, uint32_t *count, char *err,
		 size_t errlen)
{
	char *buf = malloc(BK_WIRE_MAX_MSG), *all = NULL;
	uint32_t have = 0;
	int r = buf ? 0 : -ENOMEM;
	for (int pages = 0; r == 0 && pages < 10000; pages++) {
		struct bk_msg_list req = {.h = {.type = type}, .start = have};
		int n = bkc_ctl_call(k, &req, sizeof(req), (uint16_t)(type + 1), buf, BK_WIRE_MAX_MSG, err, errlen);
		if (n < 0) {
			r = n;
			break;
		}
		struct bk_msg_list_reply *lr = (struct bk_msg_list_reply *)buf;
		if ((size_t)n < sizeof(*lr) + (size_t)lr->count * recsz) {
			snprintf(err, errlen, "malformed listing reply (%d bytes)", n);
			r = BK_EPROTOCOL;
			break;
		}
		char *na = lr->count ? realloc(all, (size_t)(have + lr->count) * recsz) : all;
		if (lr->count && !na) {
			r = -ENOMEM;
			break;
		}
		all = na;
		if (lr->count)
			memcpy(all + (size_t)have * recsz, buf + sizeof(*lr), (size_t)lr->count * recsz);
		have += lr->count;
		if (lr->count == 0 || have >= lr->total)
			break;
	}
	free(buf);
	if (r < 0) {
		free(all);
		return r;
	}
	*out = all;
	*count = have;
	return 0;
}

/* Comma-separated names as a JSON array. */
static void json_list(char *s)
{
	printf("[");
	char *save = NULL;
	int k = 0;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		printf("%s", k++ ? ", " : ""), json_str(tok);
	printf("]");
}

int brokerctl_remote_modules(struct bkc_ctl *k, int json, uint32_t nlocal, char *err, size_t errlen)
{
	struct bk_wire_rfn *f;
	uint32_t n;
	int r = fetch(k, BK_MSG_REMOTE_FNS, sizeof(*f), (void **)&f, &n, err, errlen);
	if (r < 0)
		return r;
	struct table t;
	const char *head[] = {"REMOTE FUNCTION", "IDEMPOTENT", "NODES"};
	const int right[] = {0, 0, 0};
	table_init(&t, 3, head, right);
	for (uint32_t i = 0; i < n; i++) {
		f[i].name[sizeof(f[i].name) - 1] = f[i].nodes[sizeof(f[i].nodes) - 1] = 0;
		const char *idem = (f[i].flags & BK_FN_IDEMPOTENT) ? "yes" : "no";
		if (json) {
			printf("%s\n  {\"name\": ", nlocal + i ? "," : "");
			json_str(f[i].name);
			printf(", \"remote\": true, \"idempotent\": %s, \"nodes\": ", (f[i].flags & BK_FN_IDEMPOTENT) ? "true" : "false");
			json_list(f[i].nodes);
			printf("}");
		} else {
			const char *row[] = {f[i].name, idem, f[i].nodes};
			table_add(&t, row);
		}
	}
	if (!json && n) {
		printf("\n");
		table_print(&t);
	}
	table_free(&t);
	free(f);
	return (int)n;
}

static void fmt_ago(char *buf, size_t len, const struct bk_wire_node *e)
{
	if (e->self)
		snprintf(buf, len, "self");
	else
		snprintf(buf, len, "%.1fs ago", (double)e->last_seen_ns / 1e9);
}

int brokerctl_cluster(struct bkc_ctl *k, int json, char *err, size_t errlen)
{
	struct bk_wire_node *m;
	uint32_t n;
	int r = fetch(k, BK_MSG_NODES, sizeof(*m), (void **)&m, &n, err, errlen);
	if (r < 0)
		return r;
	if (n == 0 && !json)
		printf("not in a cluster (brokerd runs without --cluster)\n");
	struct table t;
	const char *head[] = {"NODE", "LAST SEEN", "INFLIGHT", "SERVED", "FUNCTIONS"};
	const int right[] = {0, 1, 1, 1, 0};
	table_init(&t, 5, head, right);
	if (json)
		printf("[");
	for (uint32_t i = 0; i < n; i++) {
		struct bk_wire_node *e = &m[i];
		e->name[sizeof(e->name) - 1] = e->functions[sizeof(e->functions) - 1] = 0;
		if (json) {
			printf("%s\n  {\"node\": ", i ? "," : "");
			json_str(e->name);
			printf(", \"self\": %s, \"last_seen_ns\": %" PRIu64 ", \"inflight\": %" PRIu64 ", \"served\": %" PRIu64
			       ", \"nfunctions\": %u, \"functions\": ",
			       e->self ? "true" : "false", e->last_seen_ns, e->inflight, e->served, e->nfunctions);
			json_list(e->functions);
			printf("}");
			continue;
		}
		char ago[32], infl[24], served[24];
		fmt_ago(ago, sizeof(ago), e);
		snprintf(infl, sizeof(infl), "%" PRIu64, e->inflight);
		snprintf(served, sizeof(served), "%" PRIu64, e->served);
		const char *row[] = {e->name, ago, infl, served, e->functions};
		table_add(&t, row);
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	else if (n)
		table_print(&t);
	table_free(&t);
	free(m);
	return 0;
}

int brokerctl_jobs(struct bkc_ctl *k, int json, char *err, size_t errlen)
{
	struct bk_wire_job *m;
	uint32_t n;
	int r = fetch(k, BK_MSG_JOBS, sizeof(*m), (void **)&m, &n, err, errlen);
	if (r < 0)
		return r;
	static const char *const states[] = {"pending", "running", "failed"};
	struct table t;
	const char *head[] = {"JOB", "FUNCTION", "STATE", "AGE", "STATUS"};
	const int right[] = {0, 0, 0, 1, 0};
	table_init(&t, 5, head, right);
	if (json)
		printf("[");
	for (uint32_t i = 0; i < n; i++) {
		struct bk_wire_job *e = &m[i];
		e->id[sizeof(e->id) - 1] = e->name[sizeof(e->name) - 1] = 0;
		const char *st = e->state < 3 ? states[e->state] : "?";
		if (json) {
			printf("%s\n  {\"id\": ", i ? "," : "");
			json_str(e->id);
			printf(", \"function\": ");
			json_str(e->name);
			printf(", \"state\": \"%s\", \"age_ns\": %" PRIu64 ", \"status\": %d}", st, e->age_ns, e->status);
			continue;
		}
		char age[32];
		snprintf(age, sizeof(age), "%.1fs", (double)e->age_ns / 1e9);
		const char *row[] = {e->id, e->name, st, age, e->state == BK_JOB_FAILED ? bk_strerror(e->status) : ""};
		table_add(&t, row);
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	else if (n)
		table_print(&t);
	else
		printf("no durable jobs pending, running or failed here\n");
	table_free(&t);
	free(m);
	return 0;
}
