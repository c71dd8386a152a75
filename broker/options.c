// SPDX-License-Identifier: MIT
/*
 * options.c - parse and validate brokerd's flags; every bad value is refused
 * with a message naming the flag, never silently clamped.
 */
#include "options.h"
#include "access.h"
#include "spin.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_config.h"
#include "broker/sys.h"
#include "log.h"

enum {
	OPT_SOCKET = 256,
	OPT_WORKERS,
	OPT_MODULE,
	OPT_MODULE_DIR,
	OPT_FOREGROUND,
	OPT_ALLOW_UID,
	OPT_ALLOW_GID,
	OPT_SPIN_US,
	OPT_SPIN_POLICY,
	OPT_GRACE_MS,
	OPT_LATENCY_BUDGET,
	OPT_LOG_LEVEL,
	OPT_NO_FUTEX,
	OPT_NO_BALANCE,
	OPT_MAX_LARGE_MB,
	OPT_ADMIN_GID,
	OPT_MODULE_ACCESS,
	OPT_MAX_CONNS_UID,
	OPT_MAX_INFLIGHT_UID,
	OPT_MAX_INFLIGHT_CONN,
	OPT_MAX_REGION_UID,
	OPT_HANDSHAKE_MS,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_PIDFILE,
	OPT_KEEP_GOING,
	OPT_CLUSTER,
	OPT_NODE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "module-dir", required_argument, NULL, OPT_MODULE_DIR },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
	{ "allow-gid", required_argument, NULL, OPT_ALLOW_GID },
	{ "spin-us", required_argument, NULL, OPT_SPIN_US },
	{ "spin-policy", required_argument, NULL, OPT_SPIN_POLICY },
	{ "grace-ms", required_argument, NULL, OPT_GRACE_MS },
	{ "latency-budget", required_argument, NULL, OPT_LATENCY_BUDGET },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "no-futex", no_argument, NULL, OPT_NO_FUTEX },
	{ "no-balance", no_argument, NULL, OPT_NO_BALANCE },
	{ "max-zero-copy-mb", required_argument, NULL, OPT_MAX_LARGE_MB },
	{ "admin-gid", required_argument, NULL, OPT_ADMIN_GID },
	{ "module-access", required_argument, NULL, OPT_MODULE_ACCESS },
	{ "max-conns-per-uid", required_argument, NULL, OPT_MAX_CONNS_UID },
	{ "max-inflight-per-uid", required_argument, NULL, OPT_MAX_INFLIGHT_UID },
	{ "max-inflight-per-conn", required_argument, NULL, OPT_MAX_INFLIGHT_CONN },
	{ "max-region-bytes-per-uid", required_argument, NULL, OPT_MAX_REGION_UID },
	{ "handshake-timeout-ms", required_argument, NULL, OPT_HANDSHAKE_MS },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "keep-going", no_argument, NULL, OPT_KEEP_GOING },
	{ "cluster", required_argument, NULL, OPT_CLUSTER },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brokerd [OPTIONS]\n"
		"One async runtime for every process: serves task modules to clients over\n"
		"shared-memory rings (see docs/ARCHITECTURE.md).\n"
		"\n"
		"  --socket PATH       listen here (default: $BROKER_SOCKET, else\n"
		"                      $XDG_RUNTIME_DIR/broker.sock, else /run/broker/broker.sock)\n"
		"  --workers N         worker threads, each with its own io_uring (default: online CPUs)\n"
		"  --module PATH       load this module .so (repeatable)\n"
		"  --module-dir DIR    load every *.so in DIR (repeatable)\n"
		"                      without --module/--module-dir the built-in modules are loaded\n"
		"                      ($BROKER_MODULE_DIR, else this install's <libdir>/broker/modules, else %s)\n"
		"  --keep-going        serve even when a --module or --module-dir fails to load\n"
		"                      (default: exit 1 naming the module)\n"
		"  --foreground        stay in the foreground, log to stderr (default: daemonise,\n"
		"                      with descriptors 0-2 on /dev/null and the log in the journal)\n"
		"  --pidfile PATH      write brokerd's pid to PATH once it serves; removed at exit\n"
		"                      Started by systemd (brokerd.service), brokerd takes the socket of\n"
		"                      brokerd.socket, reports readiness and logs to the journal.\n"
		"                      SIGHUP rescans every --module-dir: new files load, changed files\n"
		"                      upgrade, removed files unload once drained.\n"
		"  --allow-uid UID     also accept clients with this uid (repeatable); the socket file's\n"
		"                      mode and group (--socket-mode, --socket-group) must let that user\n"
		"                      connect at all\n"
		"  --allow-gid GID     also accept clients with this gid (repeatable); the socket\n"
		"                      file's group becomes the first one given\n"
		"                      (default policy: same uid as brokerd, or root)\n"
		"  --socket-mode MODE  the socket file's mode, octal (default 0660)\n"
		"  --socket-group GROUP  the socket file's group, a name or a gid\n"
		"                      A brokerd started as root (or with CAP_SETUID and CAP_SETGID) runs every\n"
		"                      client's I/O with that client's uid, gid and groups (docs/SECURITY.md).\n"
		"  --admin-gid GID     members of GID may load and unload modules (besides root and brokerd's uid)\n"
		"  --module-access MODULE=RULE  only these callers may use MODULE (repeatable); RULE is\n"
		"                      all, uid:N or gid:N, comma-separated (default: every module open to all)\n"
		"  --max-conns-per-uid N     connections one uid may hold (default 64)\n"
		"  --max-inflight-per-uid N  task slots one uid may reserve over its connections (default 65536)\n"
		"  --max-inflight-per-conn N tasks one connection may have in flight, offloaded and child work\n"
		"                      included; beyond: -EBUSY (default 16384, 0: its slots; all uids)\n"
		"  --max-region-bytes-per-uid BYTES  shared-region bytes one uid may map (default 1G; K, M, G suffixes)\n"
		"                      (root and brokerd's own uid are not limited)\n"
		"  --handshake-timeout-ms N  drop a connection that sent no HELLO within N ms (default 5000)\n"
		"  --spin-us N         a worker busy-polls at most N microseconds before it sleeps (default 50, 0 = never)\n"
		"  --spin-policy P     adaptive (default): spin only while recent idle periods were shorter than\n"
		"                      --spin-us and some client is awake, yielding the CPU at every turn\n"
		"                      (for at most 10 us) while another thread waits for one;\n"
		"                      always: spin the whole --spin-us every time (benchmarks)\n"
		"  --no-balance        never move a connection to an idle worker when its own is loaded\n"
		"                      (brokerctl status counts the moves)\n"
		"  --grace-ms N        on SIGTERM, let tasks finish for N ms before cancelling (default 5000)\n"
		"  --max-zero-copy-mb N  largest zero-copy area a client may ask for (default 1024)\n"
		"  --latency-budget N  tasks a worker times per millisecond for brokerctl stats; beyond that\n"
		"                      rate it times 1 in 2^k of each function's tasks (default 64, 0: all)\n"
		"  --log-level LEVEL   error, warn, info (default) or debug\n"
		"  --cluster URL       share work with other brokerd nodes over NATS (nats://HOST:PORT, docs/CLUSTER.md)\n"
		"  --node NAME         this node's name in the cluster (default: the host name)\n"
		"  --help              show this help\n"
		"  --version           show the version\n",
		BK_MODULE_DIR);
}

/* Every numeric flag refuses a bad value with the same sentence, naming the real range (0 or 1 up). */
static int parse_uint(const char *flag, const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *s == '-' || *s == '+' || errno || *end || v < min || v > max) {
		fprintf(stderr, "brokerd: %s needs a number from %lu to %lu, got '%s'\n", flag, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int add_module(struct bkd_options *o, bool dir, const char *arg)
{
	unsigned *n = dir ? &o->nmodule_dirs : &o->nmodules;
	if (*n >= BKD_OPT_MAX_LIST) {
		fprintf(stderr, "brokerd: at most %d %s flags\n", BKD_OPT_MAX_LIST, dir ? "--module-dir" : "--module");
		return 2;
	}
	(dir ? o->module_dirs : o->modules)[(*n)++] = arg;
	return 0;
}

static int add_allowed(struct bkd_options *o, bool uid, const char *arg)
{
	const char *flag = uid ? "--allow-uid" : "--allow-gid";
	unsigned long v;
	if (parse_uint(flag, arg, 0, UINT32_MAX - 1, &v) < 0)
		return 2;
	unsigned *n = uid ? &o->nallow_uid : &o->nallow_gid;
	if (*n >= BKD_OPT_MAX_LIST) {
		fprintf(stderr, "brokerd: at most %d %s flags\n", BKD_OPT_MAX_LIST, flag);
		return 2;
	}
	if (uid)
		o->allow_uid[(*n)++] = (uid_t)v;
	else
		o->allow_gid[(*n)++] = (gid_t)v;
	return 0;
}

/* The flags that take a number: range-checked, then stored. */
static int set_number(struct bkd_options *o, int c, const char *arg)
{
	unsigned long v;
	switch (c) {
	case OPT_WORKERS:
		if (parse_uint("--workers", arg, 1, 256, &v) < 0)
			return 2;
		o->workers = (unsigned)v;
		return 0;
	case OPT_SPIN_US:
		if (parse_uint("--spin-us", arg, 0, 1000000, &v) < 0)
			return 2;
		o->spin_us = (unsigned)v;
		return 0;
	case OPT_GRACE_MS:
		if (parse_uint("--grace-ms", arg, 0, 3600000, &v) < 0)
			return 2;
		o->grace_ms = (unsigned)v;
		return 0;
	case OPT_LATENCY_BUDGET:
		if (parse_uint("--latency-budget", arg, 0, 1000000, &v) < 0)
			return 2;
		o->latency_budget = (unsigned)v;
		return 0;
	default: /* OPT_MAX_LARGE_MB */
		if (parse_uint("--max-zero-copy-mb", arg, 0, 1023, &v) < 0)
			return 2;
		o->max_large = (uint64_t)v << 20;
		return 0;
	}
}

/* BYTES with an optional K, M, G or T suffix (powers of 1024). */
static int parse_bytes(const char *flag, const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+') {
		fprintf(stderr, "brokerd: %s needs a size in bytes, got '%s'\n", flag, s);
		return -1;
	}
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	if (*end && !end[1]) {
		const char *sfx = strchr("KMGT", *end & ~0x20);
		shift = sfx ? 10u * (unsigned)(sfx - "KMGT" + 1) : 64u;
		end++;
	}
	if (errno || *end || end == s || shift == 64u || v == 0 || v > (UINT64_MAX >> shift)) {
		fprintf(stderr, "brokerd: %s needs a size in bytes above 0 (K, M, G, T suffixes), got '%s'\n", flag, s);
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_group(const char *s, long *out)
{
	unsigned long v;
	if (*s >= '0' && *s <= '9')
		return parse_uint("--socket-group", s, 0, UINT32_MAX - 1, &v) < 0 ? -1 : (*out = (long)v, 0);
	struct group gr, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(s, &gr, buf, sizeof(buf), &res);
	if (r || !res) {
		fprintf(stderr, "brokerd: --socket-group: no group named '%s'%s%s\n", s, r ? ": " : "",
			r ? strerror(r) : "");
		return -1;
	}
	*out = (long)res->gr_gid;
	return 0;
}

/* The multi-user flags (docs/SECURITY.md): 0 or 2 after a message. */
static int set_security(struct bkd_options *o, int c, const char *arg)
{
	unsigned long v;
	char err[160];
	switch (c) {
	case OPT_ADMIN_GID:
		if (parse_uint("--admin-gid", arg, 0, UINT32_MAX - 1, &v) < 0)
			return 2;
		o->admin_gid = (long)v;
		return 0;
	case OPT_MODULE_ACCESS:
		if (bkd_access_check_arg(arg, err, sizeof(err)) < 0) {
			fprintf(stderr, "brokerd: --module-access: %s\n", err);
			return 2;
		}
		if (o->nmodule_access >= BKD_OPT_MAX_LIST) {
			fprintf(stderr, "brokerd: at most %d --module-access flags\n", BKD_OPT_MAX_LIST);
			return 2;
		}
		o->module_access[o->nmodule_access++] = arg;
		return 0;
	case OPT_MAX_CONNS_UID:
		if (parse_uint("--max-conns-per-uid", arg, 0, 1000000, &v) < 0)
			return 2;
		o->max_conns_per_uid = (uint32_t)v;
		return 0;
	case OPT_MAX_INFLIGHT_UID:
		if (parse_uint("--max-inflight-per-uid", arg, 0, 1ul << 32, &v) < 0)
			return 2;
		o->max_inflight_per_uid = v;
		return 0;
	case OPT_MAX_INFLIGHT_CONN:
		if (parse_uint("--max-inflight-per-conn", arg, 0, 1u << 20, &v) < 0)
			return 2;
		o->max_inflight_per_conn = (uint32_t)v;
		return 0;
	case OPT_MAX_REGION_UID:
		return parse_bytes("--max-region-bytes-per-uid", arg, &o->max_region_bytes_per_uid) < 0 ? 2 : 0;
	case OPT_HANDSHAKE_MS:
		if (parse_uint("--handshake-timeout-ms", arg, 1, 3600000, &v) < 0)
			return 2;
		o->handshake_timeout_ms = (unsigned)v;
		return 0;
	case OPT_SOCKET_MODE:
		errno = 0;
		char *end;
		v = strtoul(arg, &end, 8);
		if (!*arg || *arg == '-' || *arg == '+' || errno || *end || v > 0777) {
			fprintf(stderr, "brokerd: --socket-mode needs an octal mode from 0 to 0777, got '%s'\n", arg);
			return 2;
		}
		o->socket_mode = (unsigned)v;
		return 0;
	default: /* OPT_SOCKET_GROUP */
		return parse_group(arg, &o->socket_group) < 0 ? 2 : 0;
	}
}

static int bad_option(int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "brokerd: %s needs a value (see --help)\n", argv[optind - 1]);
	else if (optopt && optopt < 256)
		fprintf(stderr, "brokerd: unknown option '-%c' (see --help)\n", optopt);
	else
		fprintf(stderr, "brokerd: unknown or incomplete option '%s' (see --help)\n", argv[optind - 1]);
	return 2;
}

/* One flag: 0 to go on, 1 to exit 0 (--help, --version), 2 on bad usage (reported). */
static int apply_option(struct bkd_options *o, int c, char **argv, bool *have_socket)
{
	switch (c) {
	case OPT_SOCKET:
		if (!*optarg || strlen(optarg) >= sizeof(o->socket)) {
			fprintf(stderr, "brokerd: --socket path must be 1 to %zu bytes long\n", sizeof(o->socket) - 1);
			return 2;
		}
		strcpy(o->socket, optarg);
		*have_socket = true;
		return 0;
	case OPT_WORKERS:
	case OPT_SPIN_US:
	case OPT_GRACE_MS:
	case OPT_LATENCY_BUDGET:
	case OPT_MAX_LARGE_MB:
		return set_number(o, c, optarg);
	case OPT_MODULE:
	case OPT_MODULE_DIR:
		return add_module(o, c == OPT_MODULE_DIR, optarg);
	case OPT_ALLOW_UID:
	case OPT_ALLOW_GID:
		return add_allowed(o, c == OPT_ALLOW_UID, optarg);
	case OPT_FOREGROUND:
		o->foreground = true;
		return 0;
	case OPT_KEEP_GOING:
		o->keep_going = true;
		return 0;
	case OPT_PIDFILE:
		if (!*optarg) {
			fprintf(stderr, "brokerd: --pidfile needs a path\n");
			return 2;
		}
		o->pidfile = optarg;
		return 0;
	case OPT_LOG_LEVEL:
		o->log_level = bkd_log_parse_level(optarg);
		if (o->log_level < 0) {
			fprintf(stderr, "brokerd: --log-level must be error, warn, info or debug, got '%s'\n", optarg);
			return 2;
		}
		return 0;
	case OPT_NO_FUTEX:
		o->no_futex = true;
		return 0;
	case OPT_NO_BALANCE:
		o->no_balance = true;
		return 0;
	case OPT_SPIN_POLICY:
		if (strcmp(optarg, "adaptive") == 0) {
			o->spin_policy = BKD_SPIN_ADAPTIVE;
		} else if (strcmp(optarg, "always") == 0) {
			o->spin_policy = BKD_SPIN_ALWAYS;
		} else {
			fprintf(stderr, "brokerd: --spin-policy must be adaptive or always, got '%s'\n", optarg);
			return 2;
		}
		return 0;
	case OPT_ADMIN_GID:
	case OPT_MODULE_ACCESS:
	case OPT_MAX_CONNS_UID:
	case OPT_MAX_INFLIGHT_UID:
	case OPT_MAX_INFLIGHT_CONN:
	case OPT_MAX_REGION_UID:
	case OPT_HANDSHAKE_MS:
	case OPT_SOCKET_MODE:
	case OPT_SOCKET_GROUP:
		return set_security(o, c, optarg);
	case OPT_CLUSTER:
	case OPT_NODE:
		return bkd_options_cluster(o, c == OPT_NODE, optarg);
	case OPT_HELP:
		usage(stdout);
		return 1;
	case OPT_VERSION:
		printf("brokerd %s\n", BK_VERSION);
		return 1;
	default:
		return bad_option(c, argv);
	}
}

/*
 * A daemon works in "/" (main.c), so a relative path given on the command line is made absolute
 * against the folder brokerd was started in, before anything uses it.  0, or 2 after a message.
 */
static int absolute(const char **path, const char *cwd)
{
	if (!*path || (*path)[0] == '/')
		return 0;
	char *abs;
	if (asprintf(&abs, "%s/%s", cwd, *path) < 0) {
		fprintf(stderr, "brokerd: out of memory\n");
		return 2;
	}
	*path = abs; /* kept for the process's life, like argv */
	return 0;
}

static int absolute_paths(struct bkd_options *o)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "brokerd: getcwd: %s\n", strerror(errno));
		return 2;
	}
	int r = absolute(&o->pidfile, cwd);
	for (unsigned i = 0; i < o->nmodules && !r; i++)
		r = absolute(&o->modules[i], cwd);
	for (unsigned i = 0; i < o->nmodule_dirs && !r; i++)
		r = absolute(&o->module_dirs[i], cwd);
	if (r || o->socket[0] == '/')
		return r;
	if (strlen(cwd) + 1 + strlen(o->socket) >= sizeof(o->socket)) {
		fprintf(stderr, "brokerd: --socket %s: the absolute path is over %zu bytes\n", o->socket,
			sizeof(o->socket) - 1);
		return 2;
	}
	size_t n = strlen(cwd), m = strlen(o->socket);
	memmove(o->socket + n + 1, o->socket, m + 1); /* fits: checked above */
	memcpy(o->socket, cwd, n);
	o->socket[n] = '/';
	return 0;
}

int bkd_options_parse(int argc, char **argv, struct bkd_options *o)
{
	memset(o, 0, sizeof(*o));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->workers = cpus > 0 ? (unsigned)cpus : 1;
	o->spin_us = 50;
	o->grace_ms = 5000;
	o->latency_budget = BKD_LATENCY_BUDGET_DEFAULT;
	o->log_level = BK_LOG_INFO;
	o->max_large = 1024ull << 20;
	o->admin_gid = -1;
	o->max_conns_per_uid = 64;
	o->max_inflight_per_uid = 65536;
	o->max_inflight_per_conn = 16384;
	o->max_region_bytes_per_uid = 1ull << 30;
	o->handshake_timeout_ms = 5000;
	o->socket_mode = 0660;
	o->socket_group = -1;
	o->listen_fd = -1;
	bool have_socket = false;

	opterr = 0;
	optind = 1;
	for (;;) {
		int c = getopt_long(argc, argv, "", long_opts, NULL);
		if (c == -1)
			break;
		int r = apply_option(o, c, argv, &have_socket);
		if (r)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "brokerd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!have_socket && bk_default_socket_path(o->socket, sizeof(o->socket)) < 0) {
		fprintf(stderr, "brokerd: the default socket path is too long; use --socket\n");
		return 2;
	}
	return absolute_paths(o);
}
