// SPDX-License-Identifier: MIT
/*
 * broker.c - set-up and teardown of brokerd as one cleanup ladder: init
 * climbs it (inbox, security, registry, offload pool, workers, modules,
 * socket, control loop) and records how far it got; fini walks back down from
 * there, so a start that fails half way unwinds exactly what it built.
 * Teardown order matters: offload threads post into worker inboxes and
 * workers into the control inbox, so each is stopped before what it posts
 * to, and modules are finalised only when no task can run their code.
 */
#include "broker.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "admit.h"
#include "cluster.h"
#include "bk_config.h"
#include "control.h"
#include "creds.h"
#include "fsguard.h"
#include "host_api.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "offload.h"
#include "personality.h"
#include "reload.h"
#include "uring_futex.h"
#include "worker.h"

#define OFFLOAD_THREADS 2
#define OFFLOAD_QUEUE 4096

/* The rungs of the ladder, in the order init climbs them. */
enum {
	UP_NOTHING = 0,
	UP_INBOX,
	UP_SECURITY,
	UP_REGISTRY,
	UP_OFFLOAD,
	UP_WORKERS,
	UP_LISTENER,
	UP_CONTROL,
};

/* Registry (any thread): a retired module drained; the control thread collects it. */
static void registry_notify(void *arg)
{
	struct bkd_broker *b = arg;
	atomic_store_explicit(&b->collect_needed, true, memory_order_release);
	bkd_inbox_kick(&b->ctl_inbox);
}

/* Explicit --module/--module-dir flags, else the built-in modules of this install (reload.h).  A module
 * named on the command line that does not load stops the start, unless --keep-going. */
static int load_modules(struct bkd_broker *b)
{
	struct bkd_reload_counts c;
	bkd_reload_modules(b, &c);
	bool explicit = b->opt.nmodules || b->opt.nmodule_dirs;
	if (!explicit) {
		char def[PATH_MAX];
		bkd_info("%u built-in module(s) from %s", c.loaded, bkd_builtin_module_dir(def, sizeof(def)));
	}
	if (explicit && c.failed && !b->opt.keep_going) {
		bkd_err("not starting: %u module file(s) or folder(s) failed to load (--keep-going serves without them)",
			c.failed);
		return -ENOEXEC;
	}
	return 0;
}

static int start_workers(struct bkd_broker *b)
{
	b->workers = calloc(b->opt.workers, sizeof(*b->workers));
	if (!b->workers) {
		bkd_err("out of memory for %u workers", b->opt.workers);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < b->opt.workers; i++) {
		int r = bkd_worker_start(b, &b->workers[i], i);
		if (r < 0) {
			bkd_err("worker %u: io_uring set-up failed: %s", i, strerror(-r));
			return r;
		}
		b->nworkers++;
	}
	return 0;
}

/* Who brokerd is, the procfs guard, the module rules, the per-uid limits and the personality caches. */
static int security_init(struct bkd_broker *b)
{
	int r;
	if ((r = bkd_creds_init()) < 0) {
		bkd_err("reading brokerd's own credentials: %s", strerror(-r));
		return r;
	}
	if ((r = bkd_fsguard_init()) < 0) {
		bkd_err("reading /proc/self/mountinfo (needed to keep clients out of brokerd's procfs): %s",
			strerror(-r));
		return r;
	}
	if ((r = bkd_access_create(b->opt.module_access, b->opt.nmodule_access, &b->access)) < 0 ||
	    (r = bkd_admit_init(b)) < 0 || (r = bkd_pers_create(b->opt.workers, &b->pers)) < 0) {
		bkd_err("security set-up: %s", strerror(-r));
		return r;
	}
	if (bkd_creds_privileged())
		bkd_info("privileged: every client's I/O runs with that client's uid, gid and groups");
	else if (b->opt.nallow_uid || b->opt.nallow_gid)
		bkd_warn("not privileged (no CAP_SETUID/CAP_SETGID): clients of other users admitted by --allow-uid/"
			 "--allow-gid act with brokerd's rights (docs/SECURITY.md)");
	return 0;
}

static void security_fini(struct bkd_broker *b)
{
	bkd_pers_destroy(b->pers);
	b->pers = NULL;
	bkd_admit_fini(b);
	bkd_access_destroy(b->access);
	b->access = NULL;
	bkd_fsguard_fini();
}

static void identity_init(struct bkd_broker *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->epoch = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 44);
	b->stats.start_ns = bk_now_ns();
	int res = 0, fe = bkd_uring_futex_check(&res);
	if (fe == -EPROTO)
		bkd_dbg("io_uring FUTEX_WAIT mismatch test failed (res %d)", res);
	b->futex_ok = fe == 0;
	b->sq_futex = b->futex_ok && !b->opt.no_futex;
	b->balance = !b->opt.no_balance && b->opt.workers > 1;
	b->host = bkd_host_api_table();
	b->listen_fd = b->sig_fd = b->epfd = b->spare_fd = -1;
}

int bkd_broker_init(struct bkd_broker *b)
{
	int r;
	identity_init(b);
	if ((r = bkd_inbox_init(&b->ctl_inbox)) < 0) {
		bkd_err("control inbox: %s", strerror(-r));
		return r;
	}
	b->up = UP_INBOX;
	r = security_init(b);
	b->up = UP_SECURITY; /* also after a failure: what was made is freed */
	if (r < 0)
		return r;
	if ((r = bkd_registry_create(b->host, registry_notify, b, &b->reg)) < 0) {
		bkd_err("module registry: %s", strerror(-r));
		return r;
	}
	bkd_registry_set_access(b->reg, b->access);
	b->up = UP_REGISTRY;
	if ((r = bkd_offload_create(OFFLOAD_THREADS, OFFLOAD_QUEUE, &b->offload)) < 0) {
		bkd_err("offload pool: %s", strerror(-r));
		return r;
	}
	b->up = UP_OFFLOAD;
	r = start_workers(b);
	b->up = UP_WORKERS; /* also after a failure: the workers that did start must be joined */
	if (r < 0)
		return r;
	if ((r = load_modules(b)) < 0)
		return r;
	long group = b->opt.socket_group >= 0 ? b->opt.socket_group : b->opt.nallow_gid ? (long)b->opt.allow_gid[0] : -1;
	/* A socket from socket activation belongs to its unit: its mode, group and path are the unit's. */
	b->listen_fd = b->opt.listen_fd >= 0 ? b->opt.listen_fd
					     : bkd_listener_open(b->opt.socket, b->opt.socket_mode, group);
	if (b->listen_fd < 0)
		return b->listen_fd;
	b->up = UP_LISTENER;
	if ((r = bkd_control_init(b)) < 0) {
		bkd_err("control loop set-up: %s", strerror(-r));
		return r;
	}
	b->up = UP_CONTROL;
	if ((r = bkd_cluster_start(b)) < 0)
		return r;
	bkd_info("brokerd %s serving %s%s: %u worker(s) (io_uring flags %#x), wake-ups by %s, pid %d", BK_VERSION,
		 b->opt.listen_fd >= 0 ? b->opt.activated_name : b->opt.socket,
		 b->opt.listen_fd >= 0 ? " (socket activation)" : "", b->nworkers, b->workers[0].ring_flags, b->sq_futex ? "futex" : "eventfd",
		 (int)getpid());
	return 0;
}

int bkd_broker_run(struct bkd_broker *b)
{
	return bkd_control_run(b);
}

static void close_listener(struct bkd_broker *b)
{
	if (b->listen_fd < 0)
		return; /* already closed when shutdown began */
	close(b->listen_fd);
	b->listen_fd = -1;
	b->opt.listen_fd = -1;
	if (b->opt.socket[0] && unlink(b->opt.socket) < 0 && errno != ENOENT)
		bkd_warn("unlink %s: %s", b->opt.socket, strerror(errno));
}

int bkd_broker_fini(struct bkd_broker *b)
{
	int rc = 0;
	uint64_t left = 0;
	bkd_cluster_stop(b); /* before the workers go: it may still post remote results to them */
	if (b->up >= UP_CONTROL)
		bkd_control_fini(b);
	if (b->up >= UP_LISTENER)
		close_listener(b);
	if (b->up >= UP_WORKERS)
		bkd_broker_task_totals(b, NULL, NULL, &left);
	/* Offload threads may still post results to workers: stop them first. */
	if (b->up >= UP_OFFLOAD) {
		bkd_offload_destroy(b->offload);
		b->offload = NULL;
	}
	if (b->up >= UP_WORKERS) {
		bkd_workers_join(b->workers, b->nworkers);
		bkd_control_free_conns(b);
		free(b->workers);
		b->workers = NULL;
		b->nworkers = 0;
	}
	if (b->up >= UP_REGISTRY) {
		if (left) {
			bkd_err("%llu task(s) did not finish after cancellation; modules are not unloaded",
				(unsigned long long)left);
			rc = 1;
		} else {
			bkd_registry_destroy(b->reg);
		}
		b->reg = NULL;
	}
	if (b->up >= UP_SECURITY)
		security_fini(b);
	if (b->up >= UP_INBOX)
		bkd_inbox_fini(&b->ctl_inbox);
	if (b->up == UP_CONTROL)
		bkd_info("stopped");
	b->up = UP_NOTHING;
	return rc;
}
