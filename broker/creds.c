// SPDX-License-Identifier: MIT
/*
 * creds.c - a caller's credentials from its socket and the per-thread
 * switch to them and back (creds.h).  Every id-changing call is a raw
 * syscall on the calling thread only; glibc's setresuid() and friends would
 * change every thread of brokerd at once (they signal each thread to follow).
 */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* 32-bit ABIs have 16-bit legacy calls under the plain names. */
#ifdef SYS_setresuid32
#define NR_SETRESUID SYS_setresuid32
#define NR_SETRESGID SYS_setresgid32
#define NR_GETRESUID SYS_getresuid32
#define NR_GETRESGID SYS_getresgid32
#define NR_SETGROUPS SYS_setgroups32
#define NR_GETGROUPS SYS_getgroups32
#else
#define NR_SETRESUID SYS_setresuid
#define NR_SETRESGID SYS_setresgid
#define NR_GETRESUID SYS_getresuid
#define NR_GETRESGID SYS_getresgid
#define NR_SETGROUPS SYS_setgroups
#define NR_GETGROUPS SYS_getgroups
#endif

#define KEEP ((unsigned long)-1) /* setres[ug]id: leave this id as it is */

static struct {
	bool privileged;
	uid_t euid;
	gid_t egid;
	uint32_t ngroups;
	gid_t *groups;
} self;

static long sys_ret(long r)
{
	return r < 0 ? -errno : r;
}

static int caps_get(uint32_t eff[2], uint32_t perm[2], uint32_t inh[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		eff[i] = d[i].effective;
		if (perm)
			perm[i] = d[i].permitted;
		if (inh)
			inh[i] = d[i].inheritable;
	}
	return 0;
}

/* This thread's effective capabilities become eff; permitted and inheritable stay. */
static int caps_set_effective(const uint32_t eff[2])
{
	uint32_t cur[2], perm[2], inh[2];
	int r = caps_get(cur, perm, inh);
	if (r < 0)
		return r;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	for (int i = 0; i < 2; i++) {
		d[i].effective = eff[i];
		d[i].permitted = perm[i];
		d[i].inheritable = inh[i];
	}
	return (int)sys_ret(syscall(SYS_capset, &h, d));
}

static bool cap_raised(const uint32_t eff[2], int cap)
{
	return (eff[cap / 32] >> (cap % 32)) & 1u;
}

/* This thread's supplementary groups into a malloc'd array (NULL when there are none). */
static int groups_get(gid_t **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	long k = syscall(NR_GETGROUPS, 0, NULL);
	if (k < 0)
		return -errno;
	if (k == 0)
		return 0;
	gid_t *g = malloc((size_t)k * sizeof(*g));
	if (!g)
		return -ENOMEM;
	long got = syscall(NR_GETGROUPS, k, g);
	if (got < 0) {
		int e = errno;
		free(g);
		return -e;
	}
	*out = g;
	*n = (uint32_t)got;
	return 0;
}

int bkd_creds_init(void)
{
	uint32_t eff[2];
	int r = caps_get(eff, NULL, NULL);
	if (r < 0)
		return r;
	free(self.groups);
	self.euid = geteuid();
	self.egid = getegid();
	r = groups_get(&self.groups, &self.ngroups);
	if (r < 0)
		return r;
	self.privileged = cap_raised(eff, CAP_SETUID) && cap_raised(eff, CAP_SETGID);
	return 0;
}

bool bkd_creds_privileged(void)
{
	return self.privileged;
}

uid_t bkd_creds_self_uid(void)
{
	return self.euid;
}

static uint64_t creds_hash(uid_t uid, gid_t gid, const gid_t *groups, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	const uint32_t words[3] = { (uint32_t)uid, (uint32_t)gid, n };
	for (int i = 0; i < 3; i++)
		h = (h ^ words[i]) * 1099511628211ull;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ (uint32_t)groups[i]) * 1099511628211ull;
	return h;
}

static bool is_self(uid_t uid, gid_t gid, const gid_t *groups, uint32_t n)
{
	return uid == self.euid && gid == self.egid && n == self.ngroups &&
	       (n == 0 || memcmp(groups, self.groups, n * sizeof(*groups)) == 0);
}

int bkd_caller_new(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, uint32_t ngroups,
		   struct bkd_caller **out)
{
	if (ngroups > BKD_CALLER_MAX_GROUPS)
		return -EMSGSIZE;
	struct bkd_caller *c = calloc(1, sizeof(*c) + ngroups * sizeof(gid_t));
	if (!c)
		return -ENOMEM;
	c->uid = uid;
	c->gid = gid;
	c->pid = pid;
	c->ngroups = ngroups;
	if (ngroups)
		memcpy(c->groups, groups, ngroups * sizeof(gid_t));
	c->hash = creds_hash(uid, gid, groups, ngroups);
	c->switch_needed = self.privileged && !is_self(uid, gid, groups, ngroups);
	snprintf(c->comm, sizeof(c->comm), "?");
	*out = c;
	return 0;
}

int bkd_caller_from_socket(int sock, struct bkd_caller **out)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	gid_t small[64];
	gid_t *g = small;
	len = sizeof(small);
	int r = getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	if (r < 0 && errno == ERANGE) {
		/* len now says how much is needed. */
		if (len / sizeof(gid_t) > BKD_CALLER_MAX_GROUPS)
			return -EMSGSIZE;
		g = malloc(len ? len : 1);
		if (!g)
			return -ENOMEM;
		r = getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	}
	int e = r < 0 ? -errno : 0;
	if (e == 0)
		e = bkd_caller_new(uc.uid, uc.gid, uc.pid, g, (uint32_t)(len / sizeof(gid_t)), out);
	if (g != small)
		free(g);
	return e;
}

void bkd_caller_free(struct bkd_caller *c)
{
	free(c);
}

void bkd_caller_read_comm(struct bkd_caller *c)
{
	char path[48];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[sizeof(c->comm)];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			buf[i] = 0;
			break;
		}
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?'; /* a name is the client's to choose: no control bytes in our logs */
	}
	memcpy(c->comm, buf, sizeof(buf));
}

bool bkd_caller_in_group(const struct bkd_caller *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

bool bkd_caller_same_creds(const struct bkd_caller *a, const struct bkd_caller *b)
{
	return a->hash == b->hash && a->uid == b->uid && a->gid == b->gid && a->ngroups == b->ngroups &&
	       (a->ngroups == 0 || memcmp(a->groups, b->groups, a->ngroups * sizeof(gid_t)) == 0);
}

/* ---- the per-thread switch ------------------------------------------------------- */

/* An undo step that fails leaves the thread with rights that are neither the caller's nor ours. */
static void must(long r, const char *what)
{
	if (r >= 0)
		return;
	bkd_err("cannot restore this thread's credentials (%s: %s); aborting", what, strerror(errno));
	abort();
}

static void restore_groups(const struct bkd_creds_saved *s)
{
	must(syscall(NR_SETGROUPS, (long)s->ngroups, s->groups), "setgroups");
}

int bkd_creds_enter(const struct bkd_caller *c, struct bkd_creds_saved *s)
{
	memset(s, 0, sizeof(*s));
	if (!c->switch_needed)
		return 0;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (syscall(NR_GETRESUID, &ru, &eu, &su) < 0 || syscall(NR_GETRESGID, &rg, &eg, &sg) < 0)
		return -errno;
	s->euid = eu;
	s->egid = eg;
	int r = caps_get(s->cap_eff, NULL, NULL);
	if (r < 0 || (r = groups_get(&s->groups, &s->ngroups)) < 0)
		return r;
	/* Groups and gid first: changing them needs CAP_SETGID, which the uid change may take away. */
	r = (int)sys_ret(syscall(NR_SETGROUPS, (long)c->ngroups, c->groups));
	if (r < 0)
		goto fail_groups;
	r = (int)sys_ret(syscall(NR_SETRESGID, KEEP, (unsigned long)c->gid, KEEP));
	if (r < 0)
		goto fail_gid;
	r = (int)sys_ret(syscall(NR_SETRESUID, KEEP, (unsigned long)c->uid, KEEP));
	if (r < 0)
		goto fail_uid;
	/* From euid 0 the kernel already cleared them; a non-root brokerd with capabilities keeps them otherwise. */
	static const uint32_t none[2] = { 0, 0 };
	r = caps_set_effective(none);
	if (r < 0)
		goto fail_caps;
	s->switched = true;
	return 0;

fail_caps:
	must(syscall(NR_SETRESUID, KEEP, (unsigned long)s->euid, KEEP), "setresuid");
fail_uid:
	must(syscall(NR_SETRESGID, KEEP, (unsigned long)s->egid, KEEP), "setresgid");
fail_gid:
	restore_groups(s);
fail_groups:
	free(s->groups);
	s->groups = NULL;
	return r;
}

void bkd_creds_leave(struct bkd_creds_saved *s)
{
	if (!s->switched)
		return;
	/* Capabilities first (within the permitted set, which the switch kept), then ids, then groups. */
	must(caps_set_effective(s->cap_eff), "capset");
	must(syscall(NR_SETRESUID, KEEP, (unsigned long)s->euid, KEEP), "setresuid");
	must(syscall(NR_SETRESGID, KEEP, (unsigned long)s->egid, KEEP), "setresgid");
	restore_groups(s);
	free(s->groups);
	s->groups = NULL;
	s->switched = false;
}
