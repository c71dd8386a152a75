/*
 * harness.c - start and stop a real brokerd for integration tests.
 * Readiness is a successful connect() on the socket, polled with a deadline;
 * exit is waitpid() polled with a deadline.  Nothing waits unbounded.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_NS (10LL * 1000000000LL)
#define STOP_TIMEOUT_NS (15LL * 1000000000LL)
#define POLL_STEP_NS 2000000L /* 2 ms between checks of a deadline-bounded condition */

static void pause_step(void)
{
	struct timespec ts = {0, POLL_STEP_NS};
	nanosleep(&ts, NULL);
}

static int can_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int spawn(struct bk_test_broker *b, const char *const *extra)
{
	const char *bin = getenv("BK_BROKERD");
	const char *mods = getenv("BK_MODULE_DIR");
	if (!bin || !mods) {
		fprintf(stderr, "harness: BK_BROKERD and BK_MODULE_DIR must be set\n");
		return -EINVAL;
	}
	const char *argv[64];
	int n = 0;
	argv[n++] = bin;
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = b->socket;
	argv[n++] = "--module-dir";
	argv[n++] = mods;
	for (int i = 0; extra && extra[i] && n < 63; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(logfd);
		return -e;
	}
	if (pid == 0) {
		/* A test that dies (crash, failed assertion without teardown) must not leave brokerd behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(127); /* the parent is already gone */
		dup2(logfd, STDERR_FILENO);
		dup2(logfd, STDOUT_FILENO);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(logfd);
	b->pid = pid;

	int64_t deadline = bk_now_ns() + START_TIMEOUT_NS;
	while (bk_now_ns() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			b->pid = 0;
			fprintf(stderr, "harness: brokerd exited during start-up\n");
			bk_test_broker_dump_log(b);
			return -ECHILD;
		}
		if (can_connect(b->socket))
			return 0;
		pause_step();
	}
	fprintf(stderr, "harness: brokerd did not accept connections within 10 s\n");
	bk_test_broker_dump_log(b);
	bk_test_broker_kill(b);
	return -ETIMEDOUT;
}

int bk_test_broker_start(struct bk_test_broker *b, const char *const *extra)
{
	memset(b, 0, sizeof(*b));
	const char *tmp = getenv("TMPDIR");
	snprintf(b->dir, sizeof(b->dir), "%s/bk-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b->dir))
		return -errno;
	snprintf(b->socket, sizeof(b->socket), "%s/broker.sock", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/brokerd.log", b->dir);
	return spawn(b, extra);
}

int bk_test_broker_restart(struct bk_test_broker *b, const char *const *extra)
{
	if (b->pid > 0)
		return -EBUSY;
	return spawn(b, extra);
}

static int reap_until(struct bk_test_broker *b, int64_t deadline)
{
	while (bk_now_ns() < deadline) {
		int st;
		pid_t r = waitpid(b->pid, &st, WNOHANG);
		if (r == b->pid) {
			b->pid = 0;
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			return 128 + WTERMSIG(st);
		}
		if (r < 0)
			return -errno;
		pause_step();
	}
	return -ETIMEDOUT;
}

int bk_test_broker_stop(struct bk_test_broker *b)
{
	if (b->pid <= 0)
		return -ESRCH;
	kill(b->pid, SIGTERM);
	int r = reap_until(b, bk_now_ns() + STOP_TIMEOUT_NS);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "harness: brokerd ignored SIGTERM for 15 s\n");
		bk_test_broker_dump_log(b);
		bk_test_broker_kill(b);
	}
	return r;
}

void bk_test_broker_kill(struct bk_test_broker *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	int st;
	waitpid(b->pid, &st, 0); /* SIGKILL cannot be ignored: this returns */
	b->pid = 0;
}

int bk_test_broker_fd_count(const struct bk_test_broker *b)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)b->pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long bk_test_broker_rss_kib(const struct bk_test_broker *b)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)b->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	long kib = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

void bk_test_broker_dump_log(const struct bk_test_broker *b)
{
	FILE *f = fopen(b->log, "re");
	if (!f)
		return;
	char line[512];
	fprintf(stderr, "---- brokerd log (%s) ----\n", b->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of brokerd log ----\n");
	fclose(f);
}

void bk_test_broker_cleanup(struct bk_test_broker *b)
{
	bk_test_broker_kill(b);
	if (!b->dir[0])
		return;
	unlink(b->socket);
	unlink(b->log);
	rmdir(b->dir);
	b->dir[0] = 0;
}
