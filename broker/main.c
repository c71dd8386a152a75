/*
 * main.c - brokerd: parse flags, bind the socket (refusing a live one),
 * daemonise unless --foreground, load modules, start the workers and run the
 * control loop until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bk_config.h"
#include "brokerd.h"
#include "control.h"
#include "host_api.h"
#include "listener.h"
#include "log.h"
#include "offload.h"
#include "uring_futex.h"
#include "worker.h"

#define OFFLOAD_THREADS 2
#define OFFLOAD_QUEUE 4096

static void registry_notify(void *arg)
{
	struct bkd_broker *b = arg;
	atomic_store_explicit(&b->collect_needed, true, memory_order_release);
	uint64_t one = 1;
	if (write(b->ctl_efd, &one, sizeof(one)) != sizeof(one))
		bkd_err("control eventfd write failed: %s", strerror(errno));
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Explicit --module/--module-dir flags, else the built-in modules (installed, else the build tree). */
static int load_modules(struct bkd_broker *b)
{
	int loaded = 0;
	for (unsigned i = 0; i < b->opt.nmodules; i++) {
		char err[256] = "";
		if (bkd_registry_load(b->reg, b->opt.modules[i], err, sizeof(err)) < 0)
			bkd_err("module refused: %s", err);
		else
			loaded++;
	}
	for (unsigned i = 0; i < b->opt.nmodule_dirs; i++) {
		int n = bkd_registry_load_dir(b->reg, b->opt.module_dirs[i]);
		if (n < 0)
			bkd_err("module folder %s: %s", b->opt.module_dirs[i], strerror(-n));
		else
			loaded += n;
	}
	if (b->opt.nmodules || b->opt.nmodule_dirs)
		return loaded;
	const char *env = getenv("BROKER_MODULE_DIR");
	const char *dir = env && *env ? env : is_dir(BK_MODULE_DIR) ? BK_MODULE_DIR : BK_BUILD_MODULE_DIR;
	int n = bkd_registry_load_dir(b->reg, dir);
	if (n < 0) {
		bkd_err("built-in module folder %s: %s", dir, strerror(-n));
		return 0;
	}
	bkd_info("%d built-in module(s) from %s", n, dir);
	return n;
}

/*
 * Classic double fork.  The parent waits for a byte on a pipe that the
 * daemon writes once it serves, so `brokerd && client` works without races
 * and a start-up failure still gives a non-zero exit status.
 */
static int daemonise(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		char c = 1;
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -errno;
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		close(nul);
	}
	*ready_fd = p[1];
	return 0;
}

static void ready(int *fd, char status)
{
	if (*fd < 0)
		return;
	if (write(*fd, &status, 1) != 1)
		bkd_dbg("readiness pipe: %s", strerror(errno));
	close(*fd);
	*fd = -1;
}

int main(int argc, char **argv)
{
	static struct bkd_broker broker;
	struct bkd_broker *b = &broker;
	int r = bkd_options_parse(argc, argv, &b->opt);
	if (r == 1)
		return 0;
	if (r)
		return 2;
	bkd_log_set_level(b->opt.log_level);
	b->listen_fd = b->sig_fd = b->epfd = b->ctl_efd = -1;

	/* Blocked in every thread (they inherit the mask); only the signalfd sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		bkd_err("cannot block signals");
		return 1;
	}

	/* Refuse a live socket before doing anything else; the socket itself is bound once modules are loaded,
	 * so a client that can connect always finds them. */
	if (bkd_listener_probe(b->opt.socket) < 0)
		return 1;

	int ready_fd = -1;
	if (!b->opt.foreground && (r = daemonise(&ready_fd)) < 0) {
		bkd_err("daemonise: %s", strerror(-r));
		return 1;
	}

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->epoch = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 44);
	b->stats.start_ns = bk_now_ns();
	b->futex_ok = bkd_uring_futex_works();
	b->sq_futex = b->futex_ok && !b->opt.no_futex;

	b->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->ctl_efd < 0) {
		bkd_err("eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = bkd_registry_create(bkd_host_api_table(), registry_notify, b, &b->reg)) < 0) {
		bkd_err("module registry: %s", strerror(-r));
		goto fail;
	}
	if ((r = bkd_offload_create(OFFLOAD_THREADS, OFFLOAD_QUEUE, &b->offload)) < 0) {
		bkd_err("offload pool: %s", strerror(-r));
		goto fail;
	}
	b->workers = calloc(b->opt.workers, sizeof(*b->workers));
	if (!b->workers) {
		bkd_err("out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < b->opt.workers; i++) {
		r = bkd_worker_start(b, &b->workers[i], i);
		if (r < 0) {
			bkd_err("worker %u: io_uring set-up failed: %s", i, strerror(-r));
			goto fail;
		}
		b->nworkers++;
	}
	load_modules(b);
	b->listen_fd = bkd_listener_open(b->opt.socket, b->opt.nallow_gid ? (long)b->opt.allow_gid[0] : -1);
	if (b->listen_fd < 0)
		goto fail;
	if ((r = bkd_control_init(b)) < 0) {
		bkd_err("control loop set-up: %s", strerror(-r));
		goto fail;
	}
	bkd_info("brokerd %s serving %s: %u worker(s) (io_uring flags %#x), wake-ups by %s, pid %d", BK_VERSION,
		b->opt.socket, b->nworkers, b->workers[0].ring_flags, b->sq_futex ? "futex" : "eventfd",
		(int)getpid());
	ready(&ready_fd, 0);
	r = bkd_control_run(b);
	close(b->sig_fd);
	close(b->ctl_efd);
	close(b->epfd);
	free(b->workers);
	return r;

fail:
	ready(&ready_fd, 1);
	if (b->listen_fd >= 0) {
		close(b->listen_fd);
		unlink(b->opt.socket);
	}
	/* Threads may be running: leave without running module destructors under their feet. */
	_exit(1);
}
