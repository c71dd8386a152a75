// SPDX-License-Identifier: MIT
/*
 * module.h - the versioned C ABI between brokerd and task modules.
 *
 * A module is a shared object built with -fvisibility=hidden that exports
 * exactly one symbol, BK_MODULE_ENTRY_NAME, returning a descriptor.  brokerd
 * loads it with dlopen(RTLD_NOW | RTLD_LOCAL), checks abi_version and the
 * descriptor's size, and calls init with the host API: a size-prefixed table
 * of function pointers.  Modules never link against brokerd's symbols, so no
 * global state is duplicated or interposed (docs/ARCHITECTURE.md, "Modules").
 *
 * Threading: a handler and every callback of one task run on the worker
 * thread that owns the task, except offloaded work functions, which run on
 * the offload pool.  Several workers may run handlers of one module at once.
 *
 * Rights (docs/SECURITY.md): brokerd may serve many users at once.  A
 * handler must do file-system and network access through host operations
 * (openat, read, write, close; open_sync in offloaded work), never through
 * raw syscalls: a privileged brokerd runs every host operation with the
 * calling client's credentials (an io_uring personality) and offloaded work
 * on a thread switched to them, while a raw syscall in a handler has
 * brokerd's own rights and can reach brokerd's own /proc/self, which maps
 * every client's memory.  host->caller tells a module who it works for.
 */
#ifndef BROKER_MODULE_H
#define BROKER_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BK_MODULE_ABI_VERSION 1u
/*
 * Additions within ABI 1, at the end of bk_host_api (check host->size, or
 * BK_HOST_HAS in modules/bk_mod.h, before using one): 1.1 caller and
 * open_sync; 1.2 the network operations, link_timeout, resolve and call.
 */
#define BK_MODULE_ABI_MINOR 2u
#define BK_MODULE_ENTRY bk_module_entry_v1
#define BK_MODULE_ENTRY_NAME "bk_module_entry_v1"

/* Handler return values (besides a negative errno, which completes the task with it). */
#define BK_TASK_DONE 0 /* the handler called host->complete() */
#define BK_TASK_PENDING 1 /* async work started; host->complete() will be called later */

/* Log levels for host->log. */
#define BK_LOG_ERROR 0
#define BK_LOG_WARN 1
#define BK_LOG_INFO 2
#define BK_LOG_DEBUG 3

typedef struct bk_task bk_task; /* opaque; owned by brokerd */

/* One address from host->resolve (module ABI 1.2): what socket() and connect() take. */
typedef struct bk_addr {
	int32_t family; /* AF_INET, AF_INET6 */
	int32_t socktype; /* SOCK_STREAM, SOCK_DGRAM */
	int32_t protocol;
	uint32_t len; /* bytes of addr used */
	_Alignas(8) unsigned char addr[128]; /* a struct sockaddr (sockaddr_storage's size) */
} bk_addr;
typedef struct bk_host_api bk_host_api;

/* The client a task runs for, as its socket reported it at connect (host->caller). */
typedef struct bk_caller {
	uint32_t size; /* set by the module to sizeof(bk_caller) as it was built; nothing past it is written */
	uint32_t uid;
	uint32_t gid;
	int32_t pid; /* at connect time; the process may be gone and the pid reused */
	uint32_t ngroups; /* supplementary groups */
	uint32_t rsvd;
	const uint32_t *groups; /* ngroups entries, valid while the task is alive */
} bk_caller;

/* Completion of a host operation: res is what io_uring returned (>= 0 or -errno), on the task's worker. */
typedef void (*bk_io_cb)(bk_task *task, int res, void *user_data);
/* Offloaded blocking work; runs on an offload thread. Its return value is passed to the bk_io_cb. */
typedef int (*bk_work_fn)(bk_task *task, void *user_data);

/*
 * A task handler.  Return BK_TASK_DONE after calling host->complete(),
 * BK_TASK_PENDING after starting asynchronous work that will complete the
 * task later, or a negative errno to complete it with that status.
 */
typedef int (*bk_handler_fn)(bk_task *task, const bk_host_api *host, void *module_state);

struct bk_host_api {
	uint32_t size; /* sizeof(bk_host_api) as brokerd was built: check before using later fields */
	uint32_t abi_version; /* BK_MODULE_ABI_VERSION */

	/*
	 * The argument bytes.  Small arguments are a private copy; large
	 * (zero-copy) ones are a read-only view of client memory that the client
	 * may change at any time: treat it as untrusted input.
	 */
	const void *(*arg)(bk_task *task, size_t *len);
	/* The result buffer (client memory, write-only for the module): at most *cap bytes. */
	void *(*result)(bk_task *task, size_t *cap);
	/*
	 * Complete the task with status (0 or -errno) and len result bytes.
	 * Exactly once per task.  len > cap completes with -ENOBUFS and reports
	 * len as the size needed.
	 */
	void (*complete)(bk_task *task, int status, size_t len);
	/* Nonzero once the client cancelled the task or went away. */
	int (*cancelled)(bk_task *task);

	/*
	 * io_uring operations on the worker's ring.  cb runs on the same worker
	 * with the result.  When the task is cancelled, pending operations are
	 * cancelled and their callbacks get -ECANCELED.  Buffers must stay valid
	 * until cb runs.  Return 0 or -errno (then cb is not called).
	 * They run with the client's credentials when brokerd is privileged.
	 * openat resolves no magic link (-ELOOP, as openat2's
	 * RESOLVE_NO_MAGICLINKS) and never opens a procfs file (-EACCES), so no
	 * client reaches brokerd's /proc/self; the file is close-on-exec.
	 */
	int (*read)(bk_task *task, int fd, void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud);
	int (*write)(bk_task *task, int fd, const void *buf, uint32_t len, uint64_t offset, bk_io_cb cb, void *ud);
	int (*openat)(bk_task *task, int dfd, const char *path, int flags, uint32_t mode, bk_io_cb cb, void *ud);
	int (*close)(bk_task *task, int fd, bk_io_cb cb, void *ud);
	/* A timer: cb gets 0 when it expires, -ECANCELED when cancelled. */
	int (*timeout)(bk_task *task, uint64_t ns, bk_io_cb cb, void *ud);

	/* Run work(task, ud) on the offload pool, then cb(task, work's return, ud) on the worker. */
	int (*offload)(bk_task *task, bk_work_fn work, bk_io_cb cb, void *ud);

	/* Log through brokerd (stderr, with level and module name). */
	void (*log)(bk_task *task, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* Added after the first release: check host->size (BK_HOST_HAS in modules/bk_mod.h) before use. */

	/* Who the task runs for; out->size must be set first.  0, or -EINVAL for a bad size.  Any thread. */
	int (*caller)(bk_task *task, bk_caller *out);
	/*
	 * For offloaded work (it blocks): open as openat does, with the same
	 * rules and the client's credentials.  Returns the descriptor or -errno.
	 */
	int (*open_sync)(bk_task *task, int dfd, const char *path, int flags, uint32_t mode);

	/*
	 * Module ABI 1.2, network (docs/modules.md, "Network and child tasks"): io_uring
	 * operations as read/write above (worker thread, cb on the worker,
	 * cancelled with the task, the caller's credentials).  cb's res is what
	 * the syscall returns: socket and accept a descriptor, send/recv a byte
	 * count, poll the ready events (POLLIN...), the others 0; or -errno.
	 * Descriptors from socket and accept belong to the task: close them with
	 * host->close (never close(2), which could close another task's reused
	 * number); whatever is still open when the task ends is closed by
	 * brokerd, so cancellation or a dying client leaks nothing.  Every
	 * socket is close-on-exec.
	 */
	int (*socket)(bk_task *task, int domain, int type, int protocol, bk_io_cb cb, void *ud);
	int (*connect)(bk_task *task, int fd, const void *addr, uint32_t addrlen, bk_io_cb cb, void *ud);
	int (*accept)(bk_task *task, int fd, bk_io_cb cb, void *ud);
	int (*send)(bk_task *task, int fd, const void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud);
	int (*recv)(bk_task *task, int fd, void *buf, uint32_t len, int flags, bk_io_cb cb, void *ud);
	int (*shutdown)(bk_task *task, int fd, int how, bk_io_cb cb, void *ud);
	int (*poll)(bk_task *task, int fd, uint32_t events, bk_io_cb cb, void *ud);
	/*
	 * A deadline for the next io_uring operation this task starts (read,
	 * write, openat, close or a network one; IOSQE_IO_LINK with
	 * IORING_OP_LINK_TIMEOUT): ns after it starts it is cancelled and its cb
	 * gets -ETIMEDOUT.  One operation only; 0 clears it.  Worker thread.
	 */
	int (*link_timeout)(bk_task *task, uint64_t ns);
	/*
	 * getaddrinfo(node, service) with the given socktype (0: any) on the
	 * offload pool, with the caller's credentials; up to max addresses into
	 * out (valid until cb).  cb's res: the number stored (>= 1), or -ENOENT
	 * (no such name), -EAGAIN (temporary failure), -EINVAL, -ENOMEM, -EIO.
	 */
	int (*resolve)(bk_task *task, const char *node, const char *service, int socktype, bk_addr *out,
		       uint32_t max, bk_io_cb cb, void *ud);
	/*
	 * Start fn (a handler of the calling module) as a child task of task,
	 * inside brokerd: its argument is a private copy of arg[0..len), its
	 * result goes to res[0..cap) (module memory that must stay valid until
	 * cb).  cb(task, res, ud) runs on the worker once the child has completed
	 * and all its operations have finished; res is the child's result length
	 * or its -errno.  task cannot complete before the callbacks of all its
	 * children have run (it may complete from one of them).  Cancelling
	 * task, or its client going away, cancels its children and their
	 * pending I/O.  -ECANCELED (task cancelled), -ELOOP (16 levels of
	 * children already), -EAGAIN (the client's in-flight cap counts
	 * children and is reached), -EINVAL, -ENOMEM; then cb is not called.
	 */
	int (*call)(bk_task *task, bk_handler_fn fn, const void *arg, size_t len, void *res, size_t cap,
		    bk_io_cb cb, void *ud);

	/*
	 * The id of the durable job the task runs (docs/CLUSTER.md, "Durable
	 * jobs"), NUL-terminated and valid while the task lives, or NULL for an
	 * ordinary call.  A job runs at least once: a handler with effects keys
	 * them on this id.  Any thread.
	 */
	const char *(*job_id)(bk_task *task);
};

typedef struct bk_function_desc {
	const char *name; /* short name: clients call "<module>.<name>" */
	bk_handler_fn handler;
	uint32_t flags; /* BK_FN_* */
} bk_function_desc;

/*
 * bk_function_desc.flags.  BK_FN_IDEMPOTENT: running the function twice on
 * the same argument does no harm, so a brokerd cluster retries a remote call
 * of it once on another node when the serving node dies mid-call
 * (docs/CLUSTER.md).  Other bits are reserved, 0.
 */
#define BK_FN_IDEMPOTENT 0x1u

typedef struct bk_module_desc {
	uint32_t size; /* sizeof(bk_module_desc) as the module was built */
	uint32_t abi_version; /* BK_MODULE_ABI_VERSION the module was built against */
	const char *name; /* [a-z0-9_]+, unique among loaded modules */
	const char *version; /* free text, e.g. "1.0.0" */
	const bk_function_desc *functions;
	uint32_t nfunctions;
	uint32_t flags; /* reserved, 0 */
	/* Optional.  Nonzero (a -errno) refuses the load.  *state is passed to handlers and fini. */
	int (*init)(const bk_host_api *host, void **state);
	/* Optional.  Called once no task of the module is in flight, before dlclose. */
	void (*fini)(void *state);
} bk_module_desc;

/* The one symbol a module exports. */
typedef const bk_module_desc *(*bk_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* BROKER_MODULE_H */
