// SPDX-License-Identifier: MIT
/*
 * sys.h - the low-level helpers brokerd, libbkclient, the tests and the tools
 * all need, in one copy: the monotonic clock, datagrams with descriptors
 * (SCM_RIGHTS over SOCK_SEQPACKET), the default socket path and the machine
 * load check of the spin policies.
 *
 * Header-only, like ring.h, so that every part compiles the same code without
 * a shared library between them.  Not installed.
 */
#ifndef BROKER_SYS_H
#define BROKER_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Most descriptors one datagram may carry; the wire protocol uses at most 2. */
#define BK_SYS_MAX_FDS 8

/* Monotonic clock in nanoseconds (vDSO: no syscall; cannot fail for this clock). */
static inline int64_t bk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Send one datagram with nfds (0..BK_SYS_MAX_FDS) descriptors attached.
 * Blocks or not as the socket does (O_NONBLOCK, SO_SNDTIMEO); never raises
 * SIGPIPE.  Returns the bytes sent, or -errno (-EAGAIN from a full
 * non-blocking socket or an expired SO_SNDTIMEO).
 */
static inline ssize_t bk_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * BK_SYS_MAX_FDS)];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds < 0 || nfds > BK_SYS_MAX_FDS || (nfds > 0 && !fds))
		return -EINVAL;
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Receive one datagram that is already queued (MSG_DONTWAIT: wait with poll
 * first, so that every wait has a bound).  Up to maxfds received descriptors
 * are stored in fds (close-on-exec) and counted in *nfds; any beyond maxfds
 * are closed, so a peer cannot leak descriptors into us by sending extra.
 * fds may be NULL with maxfds 0, nfds may be NULL.
 *
 * Returns the datagram's length (0: the peer hung up), -EAGAIN when nothing
 * is queued, -EMSGSIZE when the datagram did not fit in len or carried more
 * than BK_SYS_MAX_FDS descriptors (then every received descriptor is closed
 * and *nfds is 0), or -errno.
 */
static inline ssize_t bk_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	if (nfds)
		*nfds = 0;
	if (maxfds < 0 || (maxfds > 0 && !fds))
		return -EINVAL;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * BK_SYS_MAX_FDS)];
	} u;
	struct msghdr m;
	ssize_t r;
	do {
		m = (struct msghdr){
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
		r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	bool trunc = (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	int got = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (!trunc && got < maxfds)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	if (trunc)
		return -EMSGSIZE;
	if (nfds)
		*nfds = got;
	return r;
}

/*
 * The socket brokerd listens on when none is given: $BROKER_SOCKET, else
 * $XDG_RUNTIME_DIR/broker.sock, else /run/broker/broker.sock.  0, or
 * -ENAMETOOLONG when it does not fit in len.
 */
static inline int bk_default_socket_path(char *buf, size_t len)
{
	const char *s = getenv("BROKER_SOCKET");
	const char *x = getenv("XDG_RUNTIME_DIR");
	const char *head = "/run/broker/broker.sock", *tail = "";
	if (s && *s) {
		head = s;
	} else if (x && *x) {
		head = x;
		tail = "/broker.sock";
	}
	/* strlen + memcpy, not snprintf: inlined with a constant len, snprintf trips -Wformat-truncation. */
	size_t a = strlen(head), b = strlen(tail);
	if (a + b >= len)
		return -ENAMETOOLONG;
	memcpy(buf, head, a);
	memcpy(buf + a, tail, b + 1);
	return 0;
}

/*
 * Threads runnable on the machine right now (the reader included), from the
 * "R/T" field of /proc/loadavg ("0.52 0.58 0.59 3/123 4567"), read with one
 * pread on fd (opened once on /proc/loadavg).  -1 if unreadable.  Both spin
 * policies ask it whether any thread waits for a CPU (docs/ARCHITECTURE.md,
 * "Spinning that pays for itself").
 */
/*
 * Both spin policies read that count at most once per BK_LOAD_CHECK_NS (the
 * pread costs 1.5 us, more than a round trip with a spinning peer), and
 * while threads wait for a CPU they spin politely, yielding at every look,
 * for at most BK_POLITE_SPIN_MAX_NS: a thread that yielded has no wake-up
 * preemption to take the CPU back when its work comes.
 */
#define BK_LOAD_CHECK_NS 1000000LL
#define BK_POLITE_SPIN_MAX_NS 10000LL

static inline int bk_runnable_threads(int fd)
{
	if (fd < 0)
		return -1;
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* Skip the three load averages, then read the runnable count. */
	const char *p = buf;
	for (int field = 0; field < 3; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	char *end;
	long running = strtol(p, &end, 10);
	return end != p && *end == '/' && running >= 0 && running <= INT32_MAX ? (int)running : -1;
}

/*
 * "Does some thread of the machine wait for a CPU?" (the runnable count,
 * which includes the asker, above the online CPUs), answered from the last
 * read while it is younger than BK_LOAD_CHECK_NS.  One copy for both spin
 * policies: a brokerd worker keeps one per worker, a client one shared by
 * its threads.  Relaxed atomics: the answer is a hint, racing refreshes by
 * two threads are harmless, and nothing else is ordered by it.
 */
struct bk_load_check {
	int fd; /* /proc/loadavg; -1: not asked (then never contended) */
	unsigned ncpus;
	_Atomic int64_t checked_ns; /* when the count was read last; 0: never */
	_Atomic int busy; /* then more threads were runnable than CPUs */
};

/* open_it false: the check is off and always answers "not contended". */
static inline void bk_load_check_init(struct bk_load_check *lc, bool open_it)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	lc->ncpus = n > 0 ? (unsigned)n : 1;
	/* Unreadable (no /proc): -1, and the check is skipped as if CPUs were idle. */
	lc->fd = open_it ? open("/proc/loadavg", O_RDONLY | O_CLOEXEC) : -1;
	atomic_init(&lc->checked_ns, 0);
	atomic_init(&lc->busy, 0);
}

static inline void bk_load_check_fini(struct bk_load_check *lc)
{
	if (lc->fd >= 0)
		close(lc->fd);
	lc->fd = -1;
}

static inline bool bk_load_check_busy(struct bk_load_check *lc, int64_t now)
{
	if (lc->fd < 0)
		return false;
	int64_t at = atomic_load_explicit(&lc->checked_ns, memory_order_relaxed);
	if (at && now - at < BK_LOAD_CHECK_NS)
		return atomic_load_explicit(&lc->busy, memory_order_relaxed) != 0;
	atomic_store_explicit(&lc->checked_ns, now, memory_order_relaxed);
	bool busy = bk_runnable_threads(lc->fd) > (int)lc->ncpus;
	atomic_store_explicit(&lc->busy, busy, memory_order_relaxed);
	return busy;
}

#endif /* BROKER_SYS_H */
