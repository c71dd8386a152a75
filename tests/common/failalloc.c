// SPDX-License-Identifier: MIT
/*
 * failalloc.c - the --wrap targets of failalloc.h: decide per call whether
 * to fail, pass the others to __real_X, and track what armed threads got.
 *
 * Arming publishes its settings with a release store of `active`; every
 * wrapped call loads `active` with acquire, so a thread that sees it armed
 * also sees the settings of that arming.  The counters are statistics read
 * after the code under test returned: relaxed.  The tracking table is a
 * small open-addressing hash under a mutex (taken only while armed, or on
 * free/munmap while something is tracked).
 */
#include "failalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The real functions (the linker binds __real_X to X) and our replacements. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_reallocarray(void *p, size_t k, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_socket(int domain, int type, int proto);
int __real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __real_eventfd(unsigned int init, int flags);
int __real_epoll_create1(int flags);
int __real_memfd_create(const char *name, unsigned int flags);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
int __real_munmap(void *addr, size_t len);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_reallocarray(void *p, size_t k, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_posix_memalign(void **out, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_socket(int domain, int type, int proto);
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __wrap_eventfd(unsigned int init, int flags);
int __wrap_epoll_create1(int flags);
int __wrap_memfd_create(const char *name, unsigned int flags);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
int __wrap_munmap(void *addr, size_t len);

enum kind { KIND_ALLOC, KIND_MAP };

static struct {
	_Atomic bool active;
	_Atomic unsigned what; /* FAILALLOC_* bits of the current arming */
	_Atomic unsigned long after;
	_Atomic unsigned long calls, failed;
} g;

static _Thread_local bool tl_armer; /* this thread called failalloc_arm() */

#define TABLE_SIZE 4096u /* power of two; filled to at most 3/4 */

static struct {
	pthread_mutex_t lock;
	uintptr_t key[TABLE_SIZE]; /* hide(pointer); 0 = empty */
	unsigned char kind[TABLE_SIZE];
	long live[2]; /* per kind */
	unsigned used;
	bool overflow;
	_Atomic unsigned ntracked; /* lets free() skip the lock when nothing is tracked */
} t = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * Keys are stored complemented: LeakSanitizer scans globals for values that
 * point into the heap, and a plain copy here would make every leak we track
 * look reachable.
 */
static uintptr_t hide(const void *p)
{
	return ~(uintptr_t)p;
}

/* Armed for the calling thread?  Loads the settings of that arming into *what. */
static bool armed_here(unsigned *what)
{
	if (!atomic_load_explicit(&g.active, memory_order_acquire))
		return false;
	*what = atomic_load_explicit(&g.what, memory_order_relaxed);
	return (*what & FAILALLOC_ALL_THREADS) || tl_armer;
}

/* Should this call of class cls fail? */
static bool inject(unsigned cls)
{
	unsigned what;
	if (!armed_here(&what) || !(what & cls))
		return false;
	unsigned long k = atomic_fetch_add_explicit(&g.calls, 1, memory_order_relaxed);
	unsigned long after = atomic_load_explicit(&g.after, memory_order_relaxed);
	bool fail = (what & FAILALLOC_ONCE) ? k == after : k >= after;
	if (fail)
		atomic_fetch_add_explicit(&g.failed, 1, memory_order_relaxed);
	return fail;
}

static unsigned slot_of(uintptr_t key)
{
	return (unsigned)(((uint64_t)key >> 4) * 0x9E3779B97F4A7C15ull >> 40) & (TABLE_SIZE - 1);
}

/* Under t.lock.  Returns the index of key, or -1. */
static int table_find(uintptr_t key)
{
	for (unsigned i = slot_of(key);; i = (i + 1) & (TABLE_SIZE - 1)) {
		if (t.key[i] == key)
			return (int)i;
		if (!t.key[i])
			return -1;
	}
}

static void table_add(uintptr_t key, enum kind kind)
{
	pthread_mutex_lock(&t.lock);
	if (table_find(key) < 0) {
		if (t.used >= TABLE_SIZE / 4 * 3) {
			t.overflow = true;
		} else {
			unsigned i = slot_of(key);
			while (t.key[i])
				i = (i + 1) & (TABLE_SIZE - 1);
			t.key[i] = key;
			t.kind[i] = (unsigned char)kind;
			t.used++;
			t.live[kind]++;
			atomic_store_explicit(&t.ntracked, t.used, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&t.lock);
}

/* Under t.lock: remove entry i, moving later entries of its probe run back (no tombstones). */
static void table_del_at(unsigned i)
{
	t.live[t.kind[i]]--;
	t.used--;
	for (unsigned j = i;;) {
		j = (j + 1) & (TABLE_SIZE - 1);
		if (!t.key[j])
			break;
		unsigned home = slot_of(t.key[j]);
		/* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		t.key[i] = t.key[j];
		t.kind[i] = t.kind[j];
		i = j;
	}
	t.key[i] = 0;
	atomic_store_explicit(&t.ntracked, t.used, memory_order_relaxed);
}

/* Forget key if tracked; true when it was. */
static bool table_forget(uintptr_t key)
{
	/* Relaxed is enough: an entry this thread could be freeing was added by
	 * an allocation that happened-before the free (the program's own order). */
	if (key == hide(NULL) || atomic_load_explicit(&t.ntracked, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&t.lock);
	int i = table_find(key);
	if (i >= 0)
		table_del_at((unsigned)i);
	pthread_mutex_unlock(&t.lock);
	return i >= 0;
}

/* Track a successful result when the calling thread is armed. */
static void *got(void *p, enum kind kind)
{
	unsigned what;
	if (p && p != MAP_FAILED && armed_here(&what))
		table_add(hide(p), kind);
	return p;
}

static void *no_mem(void)
{
	errno = ENOMEM;
	return NULL;
}

void failalloc_arm(unsigned what, unsigned long after)
{
	atomic_store_explicit(&g.active, false, memory_order_relaxed);
	pthread_mutex_lock(&t.lock);
	for (unsigned i = 0; i < TABLE_SIZE; i++)
		t.key[i] = 0;
	t.live[KIND_ALLOC] = t.live[KIND_MAP] = 0;
	t.used = 0;
	t.overflow = false;
	atomic_store_explicit(&t.ntracked, 0, memory_order_relaxed);
	pthread_mutex_unlock(&t.lock);
	atomic_store_explicit(&g.what, what, memory_order_relaxed);
	atomic_store_explicit(&g.after, after, memory_order_relaxed);
	atomic_store_explicit(&g.calls, 0, memory_order_relaxed);
	atomic_store_explicit(&g.failed, 0, memory_order_relaxed);
	tl_armer = true;
	/* Release: a thread that sees active also sees the settings above. */
	atomic_store_explicit(&g.active, true, memory_order_release);
}

void failalloc_disarm(struct failalloc_stats *st)
{
	atomic_store_explicit(&g.active, false, memory_order_release);
	tl_armer = false;
	if (st) {
		st->calls = atomic_load_explicit(&g.calls, memory_order_relaxed);
		st->failed = atomic_load_explicit(&g.failed, memory_order_relaxed);
	}
}

static long live(enum kind kind)
{
	pthread_mutex_lock(&t.lock);
	long n = t.overflow ? -EOVERFLOW : t.live[kind];
	pthread_mutex_unlock(&t.lock);
	return n;
}

long failalloc_live_allocs(void)
{
	return live(KIND_ALLOC);
}

long failalloc_live_maps(void)
{
	return live(KIND_MAP);
}

/* ---- the wrappers ---- */

void *__wrap_malloc(size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : got(__real_malloc(n), KIND_ALLOC);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : got(__real_calloc(k, n), KIND_ALLOC);
}

/* After realloc(old, ...) returned p; zero: the new size was 0. */
static void *moved(void *old, void *p, bool zero)
{
	if (!p) {
		if (old && zero)
			table_forget(hide(old)); /* realloc(old, 0) freed old */
		return NULL;
	}
	if (old && table_forget(hide(old))) {
		/* A tracked block stays tracked under its new address, armed or not. */
		table_add(hide(p), KIND_ALLOC);
		return p;
	}
	/* realloc(NULL, n) is a fresh allocation; an untracked block stays untracked. */
	return old ? p : got(p, KIND_ALLOC);
}

void *__wrap_realloc(void *p, size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : moved(p, __real_realloc(p, n), n == 0);
}

void *__wrap_reallocarray(void *p, size_t k, size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : moved(p, __real_reallocarray(p, k, n), k == 0 || n == 0);
}

void __wrap_free(void *p)
{
	table_forget(hide(p));
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	return inject(FAILALLOC_MEM) ? no_mem() : got(__real_strdup(s), KIND_ALLOC);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : got(__real_strndup(s, n), KIND_ALLOC);
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
	if (inject(FAILALLOC_MEM))
		return ENOMEM;
	int r = __real_posix_memalign(out, align, n);
	if (r == 0)
		got(*out, KIND_ALLOC);
	return r;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return inject(FAILALLOC_MEM) ? no_mem() : got(__real_aligned_alloc(align, n), KIND_ALLOC);
}

static int no_fd(void)
{
	errno = EMFILE;
	return -1;
}

int __wrap_socket(int domain, int type, int proto)
{
	return inject(FAILALLOC_FD) ? no_fd() : __real_socket(domain, type, proto);
}

int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	return inject(FAILALLOC_FD) ? no_fd() : __real_accept4(fd, sa, len, flags);
}

int __wrap_eventfd(unsigned int init, int flags)
{
	return inject(FAILALLOC_FD) ? no_fd() : __real_eventfd(init, flags);
}

int __wrap_epoll_create1(int flags)
{
	return inject(FAILALLOC_FD) ? no_fd() : __real_epoll_create1(flags);
}

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	return inject(FAILALLOC_FD) ? no_fd() : __real_memfd_create(name, flags);
}

static void *no_map(void)
{
	errno = ENOMEM;
	return MAP_FAILED;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return inject(FAILALLOC_MAP) ? no_map() : got(__real_mmap(addr, len, prot, flags, fd, off), KIND_MAP);
}

/* With _FILE_OFFSET_BITS=64 (meson's default) glibc's headers turn mmap calls into mmap64. */
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return inject(FAILALLOC_MAP) ? no_map() : got(__real_mmap64(addr, len, prot, flags, fd, off), KIND_MAP);
}

int __wrap_munmap(void *addr, size_t len)
{
	int r = __real_munmap(addr, len);
	if (r == 0)
		table_forget(hide(addr));
	return r;
}
