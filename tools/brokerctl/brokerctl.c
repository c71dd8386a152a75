// SPDX-License-Identifier: MIT
/*
 * brokerctl.c - inspect and steer a running brokerd:
 *
 *   brokerctl [--socket PATH] [--json] status|modules|clients|load PATH|unload NAME
 *   brokerctl [--socket PATH] stats|top|metrics|trace [ARGS]   (ctl.h: one file each)
 *
 * Speaks the control protocol of wire.h over a BK_HELLO_CONTROL connection.
 * Exit status: 0 success, 1 broker unreachable or request failed, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/client.h"
#include "broker/wire.h"
#include "client_internal.h"
#include "control.h"
#include "cluster_view.h"
#include "ctl.h"
#include "output.h"

/* Subcommands with a file of their own, which parse the arguments after their name. */
static const struct ctl_cmd *const ext_cmds[] = {&ctl_cmd_stats, &ctl_cmd_top, &ctl_cmd_metrics, &ctl_cmd_trace};
#define N_EXT (sizeof(ext_cmds) / sizeof(ext_cmds[0]))

static const struct ctl_cmd *ext_cmd(const char *name)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (!strcmp(ext_cmds[i]->name, name))
			return ext_cmds[i];
	return NULL;
}

static const char usage_main[] =
	"usage: brokerctl [--socket PATH] [--json] COMMAND [ARGS]\n"
	"Inspect and steer a running brokerd.\n"
	"\n"
	"commands:\n"
	"  status        version, uptime, workers, connections, tasks done, errors\n"
	"  modules       loaded modules: name, version, functions, tasks done, in flight\n"
	"  clients       connections: pid, uid, process name, ring depths now, in flight, submitted,\n"
	"                completed, errors (a caller who is not an administrator sees its own uid's only)\n"
	"  cluster       the nodes of brokerd's cluster and what each serves (--cluster)\n"
	"  jobs          durable jobs pending, running or failed on this node (--cluster)\n"
	"  load PATH     load a module .so\n"
	"  unload NAME   unload a module once its tasks have drained\n"
	"%s"
	"\n"
	"options:\n"
	"  --socket PATH  brokerd's socket (default: $BROKER_SOCKET, $XDG_RUNTIME_DIR/broker.sock,\n"
	"                 /run/broker/broker.sock)\n"
	"  --json         machine-readable output\n"
	"  --help         this text; `brokerctl COMMAND --help` describes a command\n"
	"  --version      brokerctl's version\n"
	"\n"
	"exit status: 0 success, 1 brokerd unreachable or the request failed, 2 bad usage\n";

static const char *const usage_cmd[][2] = {
	{"status", "usage: brokerctl [--socket PATH] [--json] status\n"
		   "Print brokerd's version, pid, uptime, workers, connections (now and since start),\n"
		   "modules, tasks done and failed, tasks in flight, protocol violations, open fds and RSS.\n"},
	{"modules", "usage: brokerctl [--socket PATH] [--json] modules\n"
		    "List loaded modules: name, version, state (active/draining), functions,\n"
		    "tasks done, tasks in flight and the file it was loaded from.\n"},
	{"clients", "usage: brokerctl [--socket PATH] [--json] clients\n"
		    "List client connections: id, pid, uid, gid, process name (comm, when it connected), worker,\n"
		    "submission and completion ring depths now (used/size), slots, in flight, submitted,\n"
		    "completed, errors, violations, age.  Root, brokerd's own uid and members of brokerd's\n"
		    "--admin-gid see every client; anyone else sees the clients of their own uid.\n"},
	{"load", "usage: brokerctl [--socket PATH] [--json] load PATH\n"
		 "Load the module at PATH (a .so built against module.h).  A module of the same name\n"
		 "is upgraded: new tasks go to the new version while the old one drains.  Needs root,\n"
		 "brokerd's uid or brokerd's --admin-gid; the file and its folder must be owned by root or\n"
		 "brokerd's uid and not writable by group or others (brokerd checks before it runs any code).\n"},
	{"cluster", "usage: brokerctl [--socket PATH] [--json] cluster\n"
		    "List the nodes of brokerd's cluster (--cluster, docs/CLUSTER.md): name, when last heard of,\n"
		    "remote calls in flight and served, and the functions each serves.\n"},
	{"jobs", "usage: brokerctl [--socket PATH] [--json] jobs\n"
		 "List the durable jobs (docs/CLUSTER.md) this node sent and waits for (pending), runs now\n"
		 "(running), and the last 64 it sent that failed, with their ids, functions and ages.\n"},
	{"unload", "usage: brokerctl [--socket PATH] [--json] unload NAME\n"
		   "Stop routing tasks to module NAME, let its in-flight tasks finish, then unload it.\n"
		   "Needs root, brokerd's uid or brokerd's --admin-gid.\n"},
};

static const char *cmd_usage(const char *cmd)
{
	for (size_t i = 0; i < sizeof(usage_cmd) / sizeof(usage_cmd[0]); i++)
		if (!strcmp(usage_cmd[i][0], cmd))
			return usage_cmd[i][1];
	return NULL;
}

void fmt_dur(char *buf, size_t n, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;
	if (s >= 86400)
		snprintf(buf, n, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", s / 86400, s / 3600 % 24, s / 60 % 60);
	else if (s >= 3600)
		snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, n, "%.1fs", (double)ns / 1e9);
}

static int cmd_status(struct ctx *x)
{
	struct bk_msg_hdr req = {.type = BK_MSG_STATUS};
	struct bk_msg_status_reply s;
	int n = bkc_ctl_call(&x->k, &req, sizeof(req), BK_MSG_STATUS_REPLY, &s, sizeof(s), x->err, sizeof(x->err));
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(s)) {
		snprintf(x->err, sizeof(x->err), "short STATUS reply (%d bytes)", n);
		return BK_EPROTOCOL;
	}
	s.version[sizeof(s.version) - 1] = 0;
	if (x->json) {
		printf("{\"version\": ");
		json_str(s.version);
		printf(", \"pid\": %u, \"uptime_ns\": %" PRIu64 ", \"uptime_s\": %.3f, \"workers\": %u, "
		       "\"connections\": %u, \"connections_total\": %" PRIu64 ", \"modules\": %u, "
		       "\"tasks_done\": %" PRIu64 ", \"tasks_failed\": %" PRIu64 ", \"errors\": %" PRIu64
		       ", \"inflight\": %" PRIu64 ", \"violations\": %" PRIu64 ", \"migrations\": %u, "
		       "\"open_fds\": %u, \"rss_bytes\": %" PRIu64 ", \"socket\": ",
		       s.pid, s.uptime_ns, (double)s.uptime_ns / 1e9, s.workers, s.connections, s.connections_total,
		       s.modules, s.tasks_done, s.tasks_failed, s.tasks_failed, s.inflight, s.violations,
		       s.migrations, s.open_fds, s.rss_bytes);
		json_str(x->sock);
		printf("}\n");
		return 0;
	}
	char up[32];
	fmt_dur(up, sizeof(up), s.uptime_ns);
	printf("brokerd %s (pid %u) on %s\n", s.version, s.pid, x->sock);
	printf("  uptime        %s\n", up);
	printf("  workers       %u\n", s.workers);
	printf("  connections   %u now, %" PRIu64 " since start\n", s.connections, s.connections_total);
	printf("  modules       %u\n", s.modules);
	printf("  tasks done    %" PRIu64 " (%" PRIu64 " failed)\n", s.tasks_done, s.tasks_failed);
	printf("  in flight     %" PRIu64 "\n", s.inflight);
	printf("  violations    %" PRIu64 "\n", s.violations);
	printf("  migrations    %u (connections moved to another worker)\n", s.migrations);
	printf("  open fds      %u\n", s.open_fds);
	printf("  rss           %.1f MiB\n", (double)s.rss_bytes / (1024.0 * 1024.0));
	return 0;
}

/* Fetch every page of a MODULES/CLIENTS listing into *out (malloc'd), *count records. */
int fetch_list(struct ctx *x, uint16_t type, uint16_t reply, size_t recsz, void **out, uint32_t *count)
{
	char *buf = malloc(BK_WIRE_MAX_MSG);
	char *all = NULL;
	uint32_t have = 0;
	int r = 0;
	if (!buf)
		return -ENOMEM;
	for (int pages = 0; pages < 100000; pages++) {
		struct bk_msg_list req = {.h = {.type = type}, .start = have};
		int n = bkc_ctl_call(&x->k, &req, sizeof(req), reply, buf, BK_WIRE_MAX_MSG, x->err, sizeof(x->err));
		if (n < 0) {
			r = n;
			break;
		}
		struct bk_msg_list_reply *lr = (struct bk_msg_list_reply *)buf;
		x->reply_flags = lr->h.flags;
		if ((size_t)n < sizeof(*lr) || (size_t)n < sizeof(*lr) + (size_t)lr->count * recsz ||
		    lr->total > 1000000) {
			snprintf(x->err, sizeof(x->err), "malformed listing reply (%d bytes)", n);
			r = BK_EPROTOCOL;
			break;
		}
		if (lr->count) {
			char *na = realloc(all, (size_t)(have + lr->count) * recsz);
			if (!na) {
				r = -ENOMEM;
				break;
			}
			all = na;
			memcpy(all + (size_t)have * recsz, buf + sizeof(*lr), (size_t)lr->count * recsz);
			have += lr->count;
		}
		if (lr->count == 0 || have >= lr->total)
			break; /* the list may shrink while we page: stop at an empty page */
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

#define FIX(a) ((a)[sizeof(a) - 1] = 0)

static int cmd_modules(struct ctx *x)
{
	struct bk_wire_module *m;
	uint32_t n;
	int r = fetch_list(x, BK_MSG_MODULES, BK_MSG_MODULES_REPLY, sizeof(*m), (void **)&m, &n);
	if (r < 0)
		return r;
	if (x->json)
		printf("[");
	struct table t;
	const char *head[] = {"NAME", "VERSION", "STATE", "TASKS", "INFLIGHT", "FUNCTIONS"};
	const int right[] = {0, 0, 0, 1, 1, 0};
	table_init(&t, 6, head, right);
	for (uint32_t i = 0; i < n; i++) {
		struct bk_wire_module *e = &m[i];
		FIX(e->name);
		FIX(e->version);
		FIX(e->path);
		FIX(e->functions);
		const char *state = e->state == BK_MODSTATE_ACTIVE ? "active" : "draining";
		if (x->json) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			json_str(e->name);
			printf(", \"version\": ");
			json_str(e->version);
			printf(", \"state\": \"%s\", \"path\": ", state);
			json_str(e->path);
			printf(", \"nfunctions\": %u, \"functions\": [", e->nfunctions);
			char *save = NULL, *tok = strtok_r(e->functions, ",", &save);
			for (int k = 0; tok; k++, tok = strtok_r(NULL, ",", &save)) {
				printf("%s", k ? ", " : "");
				json_str(tok);
			}
			printf("], \"tasks_done\": %" PRIu64 ", \"inflight\": %" PRIu64 "}", e->tasks_done, e->inflight);
		} else {
			char tasks[24], infl[24];
			snprintf(tasks, sizeof(tasks), "%" PRIu64, e->tasks_done);
			snprintf(infl, sizeof(infl), "%" PRIu64, e->inflight);
			const char *row[] = {e->name, e->version, state, tasks, infl, e->functions};
			table_add(&t, row);
		}
	}
	if (!x->json)
		table_print(&t);
	int nr = brokerctl_remote_modules(&x->k, x->json, n, x->err, sizeof(x->err)); /* --cluster */
	if (x->json)
		printf("%s]\n", n || nr > 0 ? "\n" : "");
	table_free(&t);
	free(m);
	return nr < 0 ? nr : 0;
}

static int cmd_clients(struct ctx *x)
{
	struct bk_wire_client *m;
	uint32_t n;
	int r = fetch_list(x, BK_MSG_CLIENTS, BK_MSG_CLIENTS_REPLY, sizeof(*m), (void **)&m, &n);
	if (r < 0)
		return r;
	if (x->json)
		printf("[");
	struct table t;
	const char *head[] = {"CONN", "PID", "UID", "COMM", "WORKER", "SQ", "CQ",
			      "SLOTS", "INFLIGHT", "SUBMITTED", "COMPLETED", "ERRORS", "VIOLATIONS", "AGE"};
	const int right[] = {1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	table_init(&t, 14, head, right);
	for (uint32_t i = 0; i < n; i++) {
		struct bk_wire_client *e = &m[i];
		FIX(e->comm);
		if (x->json) {
			printf("%s\n  {\"conn_id\": %u, \"pid\": %u, \"uid\": %u, \"gid\": %u, \"comm\": ", i ? "," : "",
			       e->conn_id, e->pid, e->uid, e->gid);
			json_str(e->comm);
			printf(", \"worker\": %u, "
			       "\"sq_depth\": %u, \"sq_entries\": %u, \"cq_depth\": %u, \"cq_entries\": %u, \"nslots\": %u, "
			       "\"inflight\": %" PRIu64 ", \"submitted\": %" PRIu64 ", \"completed\": %" PRIu64
			       ", \"errors\": %" PRIu64 ", \"violations\": %" PRIu64 ", \"connected_ns\": %" PRIu64 "}",
			       e->worker, e->sq_depth, e->sq_entries, e->cq_depth, e->cq_entries, e->nslots, e->inflight,
			       e->submitted, e->completed, e->errors, e->violations, e->connected_ns);
			continue;
		}
		char v[13][32];
		snprintf(v[0], 32, "%u", e->conn_id);
		snprintf(v[1], 32, "%u", e->pid);
		snprintf(v[2], 32, "%u", e->uid);
		snprintf(v[3], 32, "%u", e->worker);
		snprintf(v[4], 32, "%u/%u", e->sq_depth, e->sq_entries);
		snprintf(v[5], 32, "%u/%u", e->cq_depth, e->cq_entries);
		snprintf(v[6], 32, "%u", e->nslots);
		snprintf(v[7], 32, "%" PRIu64, e->inflight);
		snprintf(v[8], 32, "%" PRIu64, e->submitted);
		snprintf(v[9], 32, "%" PRIu64, e->completed);
		snprintf(v[10], 32, "%" PRIu64, e->errors);
		snprintf(v[11], 32, "%" PRIu64, e->violations);
		fmt_dur(v[12], 32, e->connected_ns);
		const char *row[14] = {v[0], v[1], v[2], e->comm};
		for (int k = 3; k < 13; k++)
			row[k + 1] = v[k];
		table_add(&t, row);
	}
	if (x->json)
		printf("%s]\n", n ? "\n" : "");
	else if (n == 0)
		printf("no client connections\n");
	else
		table_print(&t);
	table_free(&t);
	free(m);
	return 0;
}

static int cmd_load_unload(struct ctx *x, const char *cmd, const char *arg)
{
	struct bk_msg_path req = {.h = {.type = !strcmp(cmd, "load") ? BK_MSG_LOAD : BK_MSG_UNLOAD}};
	char abs[sizeof(req.path) + 1], cwd[sizeof(req.path)];
	/* A relative path names a file where brokerctl runs, not in brokerd's folder. */
	if (req.h.type == BK_MSG_LOAD && arg[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
	    snprintf(abs, sizeof(abs), "%s/%s", cwd, arg) < (int)sizeof(abs))
		arg = abs;
	if (strlen(arg) >= sizeof(req.path)) {
		snprintf(x->err, sizeof(x->err), "argument longer than %zu bytes", sizeof(req.path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(req.path, arg);
	struct bk_msg_result res;
	int n = bkc_ctl_call(&x->k, &req, sizeof(req), BK_MSG_RESULT, &res, sizeof(res), x->err, sizeof(x->err));
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(res)) {
		snprintf(x->err, sizeof(x->err), "short RESULT reply");
		return BK_EPROTOCOL;
	}
	FIX(res.message);
	if (x->json) {
		printf("{\"command\": \"%s\", \"argument\": ", cmd);
		json_str(arg);
		printf(", \"status\": %d, \"message\": ", res.status);
		json_str(res.message);
		printf("}\n");
	} else if (res.status == 0) {
		printf("%s %s: %s\n", cmd, arg, res.message[0] ? res.message : "ok");
	}
	if (res.status < 0) {
		snprintf(x->err, sizeof(x->err), "%s %s: %s", cmd, arg, res.message[0] ? res.message : bk_strerror(res.status));
		return res.status;
	}
	return 0;
}

static void print_usage(FILE *f)
{
	char ext[1024] = "";
	size_t n = 0;
	for (size_t i = 0; i < N_EXT && n < sizeof(ext); i++)
		n += (size_t)snprintf(ext + n, sizeof(ext) - n, "  %-12s  %s\n", ext_cmds[i]->name, ext_cmds[i]->summary);
	fprintf(f, usage_main, ext);
}

int ctl_connect(struct ctx *x)
{
	int r = bkc_ctl_open(&x->k, x->sock, 5000, x->err, sizeof(x->err));
	if (r < 0) {
		char why[200];
		snprintf(why, sizeof(why), "%.199s", x->err[0] ? x->err : bk_strerror(r));
		snprintf(x->err, sizeof(x->err), "no brokerd at %.280s: %s", x->sock, why);
	}
	return r;
}

static int run_ext(struct ctx *x, const struct ctl_cmd *e, int argc, char **argv, int help, char *defpath,
		   size_t deflen)
{
	for (int i = 1; i < argc; i++)
		help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
	if (help) {
		fputs(e->usage, stdout);
		return 0;
	}
	if (!x->sock) {
		if (bk_default_socket_path(defpath, deflen) < 0) {
			fprintf(stderr, "brokerctl: default socket path too long\n");
			return 2;
		}
		x->sock = defpath;
	}
	x->k.fd = -1;
	int r = e->run(x, argc, argv);
	if (x->k.fd >= 0)
		bkc_ctl_close(&x->k);
	if (r == 2)
		return 2;
	if (r < 0) {
		fprintf(stderr, "brokerctl %s: %s\n", e->name, x->err[0] ? x->err : bk_strerror(r));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx x = {.json = 0};
	const char *cmd = NULL, *arg = NULL;
	int help = 0;
	char defpath[256];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--version")) {
			printf("brokerctl %s\n", BK_VERSION);
			return 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			help = 1;
		} else if (!strcmp(a, "--json")) {
			x.json = 1;
		} else if (!strcmp(a, "--socket")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "brokerctl: --socket needs a PATH\n");
				return 2;
			}
			x.sock = argv[++i];
		} else if (!strncmp(a, "--socket=", 9)) {
			x.sock = a + 9;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "brokerctl: unknown option '%s'\n", a);
			print_usage(stderr);
			return 2;
		} else if (!cmd) {
			cmd = a;
			const struct ctl_cmd *e = ext_cmd(cmd);
			if (e)
				return run_ext(&x, e, argc - i, argv + i, help, defpath, sizeof(defpath));
		} else if (!arg) {
			arg = a;
		} else {
			fprintf(stderr, "brokerctl: unexpected argument '%s'\n", a);
			return 2;
		}
	}
	if (!cmd) {
		print_usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	const char *u = cmd_usage(cmd);
	if (!u) {
		fprintf(stderr, "brokerctl: unknown command '%s'\n", cmd);
		print_usage(stderr);
		return 2;
	}
	if (help) {
		fputs(u, stdout);
		return 0;
	}
	int needs_arg = !strcmp(cmd, "load") || !strcmp(cmd, "unload");
	if (needs_arg != (arg != NULL)) {
		fprintf(stderr, "brokerctl: %s %s\n%s", cmd, needs_arg ? "needs an argument" : "takes no argument", u);
		return 2;
	}
	if (!x.sock) {
		if (bk_default_socket_path(defpath, sizeof(defpath)) < 0) {
			fprintf(stderr, "brokerctl: default socket path too long\n");
			return 2;
		}
		x.sock = defpath;
	}
	int r = bkc_ctl_open(&x.k, x.sock, 5000, x.err, sizeof(x.err));
	if (r < 0) {
		fprintf(stderr, "brokerctl: no brokerd at %s: %s\n", x.sock, x.err[0] ? x.err : bk_strerror(r));
		return 1;
	}
	if (!strcmp(cmd, "status"))
		r = cmd_status(&x);
	else if (!strcmp(cmd, "modules"))
		r = cmd_modules(&x);
	else if (!strcmp(cmd, "clients"))
		r = cmd_clients(&x);
	else if (!strcmp(cmd, "cluster"))
		r = brokerctl_cluster(&x.k, x.json, x.err, sizeof(x.err));
	else if (!strcmp(cmd, "jobs"))
		r = brokerctl_jobs(&x.k, x.json, x.err, sizeof(x.err));
	else
		r = cmd_load_unload(&x, cmd, arg);
	bkc_ctl_close(&x.k);
	if (r < 0) {
		fprintf(stderr, "brokerctl %s: %s\n", cmd, x.err[0] ? x.err : bk_strerror(r));
		return 1;
	}
	return 0;
}
