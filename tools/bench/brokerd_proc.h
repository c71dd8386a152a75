/*
 * brokerd_proc.h - start and stop a private brokerd on a socket in a fresh
 * temporary folder (used by broker-bench and broker-stress), and read a
 * process's CPU time and context switches from /proc.  Every wait is bounded.
 */
#ifndef BK_BENCH_BROKERD_PROC_H
#define BK_BENCH_BROKERD_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BK_BROKERD_MAX_EXTRA 8 /* broker-bench's spin mode passes 6 */

struct bk_brokerd {
	pid_t pid; /* 0 when not running */
	char dir[128]; /* temporary folder, removed by bk_brokerd_cleanup */
	char socket[192]; /* <dir>/broker.sock */
	char log[192]; /* <dir>/brokerd.log: brokerd's stdout and stderr */
	char bin[512];
	char moddir[512];
	char extra[BK_BROKERD_MAX_EXTRA][32]; /* extra flags, e.g. "--spin-us" "0" */
	int nextra;
};

/*
 * Prepare b (temporary folder) without starting anything.  bin: brokerd's
 * path (a name without '/' is looked up on PATH); moddir may be NULL.
 */
int bk_brokerd_init(struct bk_brokerd *b, const char *bin, const char *moddir);
/* Add one extra argument (at most BK_BROKERD_MAX_EXTRA). */
int bk_brokerd_arg(struct bk_brokerd *b, const char *arg);
/*
 * Start brokerd --foreground --socket <socket> [--module-dir D] [extra] and
 * wait (at most 10 s) until its socket accepts connections.  0, or -errno
 * with a reason in err (including the tail of brokerd's log).
 */
int bk_brokerd_start(struct bk_brokerd *b, char *err, size_t errlen);
/* SIGTERM, wait up to timeout_ms, then SIGKILL.  Returns the exit status (0-255), 128+signal, or -errno. */
int bk_brokerd_stop(struct bk_brokerd *b, int timeout_ms);
/* SIGKILL and reap. */
void bk_brokerd_kill(struct bk_brokerd *b);
/* Stop if running and remove the temporary folder. */
void bk_brokerd_cleanup(struct bk_brokerd *b);
/* Copy the last bytes of brokerd's log into buf (for error messages). */
void bk_brokerd_log_tail(const struct bk_brokerd *b, char *buf, size_t len);

/* Does a SOCK_SEQPACKET connect() to path succeed?  (The readiness check.) */
int bk_socket_accepts(const char *path);
/* The pid of the process serving the Unix socket at path (SO_PEERCRED), or -errno. */
pid_t bk_socket_peer_pid(const char *path);

/* utime+stime of pid in clock ticks (sysconf(_SC_CLK_TCK) per second), from /proc/<pid>/stat. */
int bk_proc_cpu_ticks(pid_t pid, uint64_t *ticks);
/* Voluntary + involuntary context switches summed over every thread of pid. */
int bk_proc_ctxsw(pid_t pid, uint64_t *n);

#endif
