/* brokerd_proc.c - a private brokerd for the tools, and /proc readers (see brokerd_proc.h). */
#include "brokerd_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

int bk_brokerd_init(struct bk_brokerd *b, const char *bin, const char *moddir)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "/tmp/bk-tool.XXXXXX");
	if (!mkdtemp(b->dir))
		return -errno;
	snprintf(b->socket, sizeof(b->socket), "%s/broker.sock", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/brokerd.log", b->dir);
	snprintf(b->bin, sizeof(b->bin), "%s", bin);
	if (moddir)
		snprintf(b->moddir, sizeof(b->moddir), "%s", moddir);
	return 0;
}

int bk_brokerd_arg(struct bk_brokerd *b, const char *arg)
{
	if (b->nextra >= BK_BROKERD_MAX_EXTRA || strlen(arg) >= sizeof(b->extra[0]))
		return -E2BIG;
	snprintf(b->extra[b->nextra++], sizeof(b->extra[0]), "%s", arg);
	return 0;
}

int bk_socket_accepts(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

pid_t bk_socket_peer_pid(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	pid_t r;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		r = -errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		r = -errno;
	else
		r = cr.pid;
	close(fd);
	return r;
}

void bk_brokerd_log_tail(const struct bk_brokerd *b, char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open(b->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t n = pread(fd, buf, len - 1, from);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

int bk_brokerd_start(struct bk_brokerd *b, char *err, size_t errlen)
{
	const char *argv[6 + BK_BROKERD_MAX_EXTRA + 1]; /* fixed flags, --module-dir D, extra, NULL */
	int n = 0;
	argv[n++] = b->bin;
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = b->socket;
	if (b->moddir[0]) {
		argv[n++] = "--module-dir";
		argv[n++] = b->moddir;
	}
	for (int i = 0; i < b->nextra; i++)
		argv[n++] = b->extra[i];
	argv[n] = NULL;
	unlink(b->socket); /* a stale socket from a killed brokerd would look alive to no one */
	int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", b->log, strerror(errno));
		return -errno;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(logfd);
		snprintf(err, errlen, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(126);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		/* Its own process group: a ^C on the tool's terminal must not reach
		 * brokerd before the tool has stopped it in order. */
		setpgid(0, 0);
		if (strchr(b->bin, '/'))
			execv(b->bin, (char *const *)argv);
		else
			execvp(b->bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", b->bin, strerror(errno));
		_exit(127);
	}
	close(logfd);
	b->pid = pid;
	int64_t deadline = bk_now_ns() + 10 * 1000000000LL;
	while (bk_now_ns() < deadline) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			b->pid = 0;
			char tail[512];
			bk_brokerd_log_tail(b, tail, sizeof(tail));
			snprintf(err, errlen, "%s exited (status %d) before accepting connections; its log ends:\n%s",
				 b->bin, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), tail);
			return -ECHILD;
		}
		if (bk_socket_accepts(b->socket))
			return 0;
		usleep(5000);
	}
	bk_brokerd_kill(b);
	snprintf(err, errlen, "%s did not accept connections on %s within 10 s", b->bin, b->socket);
	return -ETIMEDOUT;
}

int bk_brokerd_stop(struct bk_brokerd *b, int timeout_ms)
{
	if (b->pid <= 0)
		return 0;
	if (kill(b->pid, SIGTERM) != 0)
		return -errno;
	int st = bk_reap(b->pid, timeout_ms);
	b->pid = 0;
	if (st < 0)
		return st;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void bk_brokerd_kill(struct bk_brokerd *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
		;
	b->pid = 0;
}

void bk_brokerd_cleanup(struct bk_brokerd *b)
{
	if (b->pid > 0 && bk_brokerd_stop(b, 10000) < 0)
		bk_brokerd_kill(b);
	if (!b->dir[0])
		return;
	unlink(b->socket);
	unlink(b->log);
	rmdir(b->dir);
	b->dir[0] = 0;
}

int bk_proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -EIO;
	buf[n] = 0;
	/* comm (field 2) may hold spaces and parentheses: parse after the last ')'.
	 * Then field 3 is state; utime and stime are fields 14 and 15. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	unsigned long long ut, st;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	*ticks = ut + st;
	return 0;
}

static int add_ctxsw(const char *path, uint64_t *n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1) {
			*n += v;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? 0 : -EIO;
}

int bk_proc_ctxsw(pid_t pid, uint64_t *n)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	/* /proc/<pid>/status counts only the main thread: sum every task. */
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	*n = 0;
	int r = -ESRCH;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[300];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/status", (int)pid, de->d_name);
		if (add_ctxsw(p, n) == 0)
			r = 0; /* a thread that exits while we read is simply skipped */
	}
	closedir(d);
	return r;
}
