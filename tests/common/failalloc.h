// SPDX-License-Identifier: MIT
/*
 * failalloc.h - fault injection for tests: make the allocations (and, on
 * request, the fd and mapping creations) of the code under test fail after
 * N successful ones, and count what it still holds afterwards.  The idea of
 * libuv's test-loop-oom and SQLite's fault injector: sweep N = 0, 1, 2, ...
 * until the operation succeeds, and check that every failure point returns
 * a clean error and leaks nothing.
 *
 * How it hooks in: the test executable is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,... (meson: add `failalloc_dep` from
 * tests/meson.build, which also lists the wrapped symbols).  The linker then
 * sends every call of those functions made by the executable's own objects
 * and by the STATIC libraries linked into it (client_core = libbkclient's
 * objects, broker_core = brokerd's) to __wrap_X here, which either fails or
 * calls __real_X, the real function.  Under ASan __real_malloc resolves to
 * ASan's interceptor, so sanitizer builds keep working and LeakSanitizer
 * still sees every allocation.  Not affected: calls made inside shared
 * libraries (libc's own internal allocations, liburing's io_uring_queue_init
 * mmaps, libcrypto, cmocka), and anything in another process.
 *
 * Wrapped (see failalloc_symbols in tests/meson.build):
 *   FAILALLOC_MEM  malloc calloc realloc reallocarray strdup strndup
 *                  posix_memalign aligned_alloc (fail with ENOMEM / NULL)
 *   FAILALLOC_FD   socket accept4 eventfd epoll_create1 memfd_create
 *                  (fail with -1, errno EMFILE)
 *   FAILALLOC_MAP  mmap mmap64 (fail with MAP_FAILED, errno ENOMEM)
 *   free and munmap are wrapped only to track what is still held.
 *
 * Scope: by default only the thread that called failalloc_arm() is affected
 * (a test's helper threads, an in-process fake server, keep working).  With
 * FAILALLOC_ALL_THREADS every thread is, for code under test that runs on a
 * thread of its own; the counts are then exact once those threads are idle.
 *
 * Tracking: while armed, every allocation and mapping the affected threads
 * make successfully is remembered until it is freed/unmapped (from any
 * thread, armed or not).  failalloc_live_allocs() after a failed call must
 * be 0; after a successful call and its teardown, too.  A pointer freed
 * inside a shared library (say, passed to getline, which reallocs it) stays
 * counted: do not arm around such code.  Partial munmaps are not followed.
 * With FAILALLOC_ALL_THREADS a block that realloc moved can, for an instant,
 * share its old address with another thread's new allocation, which then
 * goes untracked (LeakSanitizer still sees it).
 *
 * Reusing it for brokerd's connection setup (a test linking broker_core):
 * link the test with failalloc_dep; in the test thread, for n = 0, 1, ...:
 *	failalloc_arm(FAILALLOC_MEM | FAILALLOC_FD | FAILALLOC_MAP, n);
 *	r = <the setup step, called directly: hello handling, conn and ring init>;
 *	failalloc_disarm(&st);
 *	if (r == 0) { check st.failed == 0; tear the connection down; stop; }
 *	check r < 0, failalloc_live_allocs() == 0, failalloc_live_maps() == 0,
 *	and bkt_proc_fd_count(getpid()) back at its value before the call.
 * If the step only runs on a worker thread, arm with FAILALLOC_ALL_THREADS
 * while the other threads are idle.  io_uring setup inside liburing cannot be
 * failed this way (a shared library); its result codes must be tested apart.
 */
#ifndef BK_TEST_FAILALLOC_H
#define BK_TEST_FAILALLOC_H

/* What to fail (any combination). */
#define FAILALLOC_MEM 0x1u
#define FAILALLOC_FD 0x2u
#define FAILALLOC_MAP 0x4u
#define FAILALLOC_EVERYTHING (FAILALLOC_MEM | FAILALLOC_FD | FAILALLOC_MAP)
/* How (or-ed into the same argument). */
#define FAILALLOC_ONCE 0x100u        /* fail only call number `after`; let the later ones succeed again */
#define FAILALLOC_ALL_THREADS 0x200u /* every thread, not only the arming one */

struct failalloc_stats {
	unsigned long calls;  /* calls of the armed kinds seen (failed ones included) */
	unsigned long failed; /* of those, how many were made to fail */
};

/*
 * Let the next `after` calls of the armed kinds succeed and fail the ones
 * after them (only the one after them with FAILALLOC_ONCE).  Forgets what
 * earlier armings tracked.  Arm and disarm from the same thread.
 */
void failalloc_arm(unsigned what, unsigned long after);

/* Stop failing; everything passes through again.  Fills *st if not NULL. */
void failalloc_disarm(struct failalloc_stats *st);

/* Allocations / mappings made while armed and not released since; -EOVERFLOW if too many to track. */
long failalloc_live_allocs(void);
long failalloc_live_maps(void);

#endif /* BK_TEST_FAILALLOC_H */
