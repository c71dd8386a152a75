// SPDX-License-Identifier: MIT
/*
 * test_multiuser.c - one brokerd (root) serving several users, each task
 * with its caller's rights (docs/SECURITY.md): nobody's file.read of a
 * root-only file completes -EACCES where root's works, a file of nobody's
 * is nobody's to read, the same through offloaded work (host->open_sync
 * and a raw open in the work function); brokerd's own procfs and magic
 * links are refused for every caller; `clients` shows a caller only its
 * own uid's clients, with their process names; --socket-mode and
 * --socket-group decide who reaches the socket.  Clients of other users
 * are forked children that drop to them; the tests need root.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "mu_util.h"

static const struct mu_ids nobody = { .uid = MU_NOBODY, .gid = MU_NOBODY, .comm = "mu-nobody" };

struct files {
	char dir[64];
	char secret[96]; /* root's, 0600 */
	char mine[96]; /* nobody's, 0600 */
	char link[96]; /* a plain symbolic link to /proc/self/maps */
};

static void write_file(const char *path, const char *text, uid_t owner)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchown(fd, owner, owner), 0);
	close(fd);
}

static void files_make(struct files *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/bk-mu-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0755), 0);
	snprintf(f->secret, sizeof(f->secret), "%s/secret", f->dir);
	snprintf(f->mine, sizeof(f->mine), "%s/mine", f->dir);
	snprintf(f->link, sizeof(f->link), "%s/maps", f->dir);
	write_file(f->secret, "root-secret", 0);
	write_file(f->mine, "nobody-data", MU_NOBODY);
	assert_int_equal(symlink("/proc/self/maps", f->link), 0);
}

static void files_remove(struct files *f)
{
	unlink(f->secret);
	unlink(f->mine);
	unlink(f->link);
	rmdir(f->dir);
}

struct ctx {
	const char *socket;
	const struct files *f;
	pid_t brokerd;
	int sync_rd, sync_wr; /* visibility test: child -> parent "connected", parent -> child "done" */
};

/* file.read of path's first bytes: the status; the text to out. */
static int read_file(bk_client *c, const char *fn, const char *path, char *out, size_t cap)
{
	char arg[160];
	if (strcmp(fn, "file.read") == 0)
		snprintf(arg, sizeof(arg), "0 64 %s", path);
	else
		snprintf(arg, sizeof(arg), "%s", path);
	return mu_call(c, fn, arg, out, cap);
}

static int nobody_files(void *arg)
{
	struct ctx *x = arg;
	bk_client *c;
	char why[256], out[128];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 1, "connect: %s", why);
	const char *fns[] = { "file.read", "cred.oread", "cred.oraw" };
	for (int i = 0; i < 3; i++) {
		int r = read_file(c, fns[i], x->f->secret, out, sizeof(out));
		MU_CHECK(r == -EACCES, 2, "%s of root's 0600 file gave %d, want -EACCES", fns[i], r);
		r = read_file(c, fns[i], x->f->mine, out, sizeof(out));
		MU_CHECK(r == 0 && strcmp(out, "nobody-data") == 0, 3, "%s of nobody's file: %d '%s'", fns[i], r, out);
	}
	MU_CHECK(mu_call(c, "cred.whoami", "", out, sizeof(out)) == 0 && strcmp(out, "65534 65534 0") == 0, 4,
		 "whoami: '%s'", out);
	/* The offload thread itself runs as nobody while the work runs. */
	MU_CHECK(mu_call(c, "cred.oids", "", out, sizeof(out)) == 0 && strcmp(out, "65534 65534") == 0, 5,
		 "offloaded ids: '%s'", out);
	bk_disconnect(c);
	return MU_OK;
}

static void test_file_rights(void **state)
{
	(void)state;
	struct files f;
	files_make(&f);
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", NULL };
	mu_start(&b, extra);
	struct ctx x = { .socket = b.socket, .f = &f };
	assert_int_equal(mu_run_as(&nobody, nobody_files, &x), MU_OK);
	/* Root, brokerd's own uid, keeps every right it has: the same files read. */
	bk_client *c = bt_connect(b.socket);
	char out[128];
	const char *fns[] = { "file.read", "cred.oread", "cred.oraw" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(read_file(c, fns[i], f.secret, out, sizeof(out)), 0);
		assert_string_equal(out, "root-secret");
	}
	assert_int_equal(mu_call(c, "cred.oids", "", out, sizeof(out)), 0);
	assert_string_equal(out, "0 0");
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
	files_remove(&f);
}

/* Every path that leads into brokerd's procfs, for one caller: refused, whatever its rights. */
static int procfs_refused(bk_client *c, const struct ctx *x, bool root)
{
	char mem[64], out[128];
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)x->brokerd);
	const char *paths[] = { "/proc/self/mem", "/proc/self/maps", mem, "/proc/thread-self/maps", x->f->link };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int r = read_file(c, "file.read", paths[i], out, sizeof(out));
		MU_CHECK(r == -EACCES, 10 + (int)i, "file.read %s gave %d (%s), want -EACCES", paths[i], r, bk_strerror(r));
		r = read_file(c, "cred.oread", paths[i], out, sizeof(out));
		MU_CHECK(r == -EACCES, 20 + (int)i, "cred.oread %s gave %d, want -EACCES", paths[i], r);
	}
	/* A magic link is not followed at all.  (brokerd's own /proc/self/fd is searchable by any of its threads,
	 * whatever their credentials: the kernel lets a process into its own procfs, hence the guard.) */
	(void)root;
	int r = read_file(c, "file.read", "/dev/fd/0", out, sizeof(out));
	MU_CHECK(r == -ELOOP, 30, "file.read /dev/fd/0 gave %d", r);
	r = read_file(c, "file.read", "/proc/self/root/etc/hostname", out, sizeof(out));
	MU_CHECK(r == -ELOOP, 31, "file.read through /proc/self/root gave %d", r);
	return MU_OK;
}

static int nobody_procfs(void *arg)
{
	struct ctx *x = arg;
	bk_client *c;
	char why[256];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 1, "connect: %s", why);
	int rc = procfs_refused(c, x, false);
	bk_disconnect(c);
	return rc;
}

static void test_procfs_refused(void **state)
{
	(void)state;
	struct files f;
	files_make(&f);
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", NULL };
	mu_start(&b, extra);
	struct ctx x = { .socket = b.socket, .f = &f, .brokerd = b.pid };
	assert_int_equal(mu_run_as(&nobody, nobody_procfs, &x), MU_OK);
	bk_client *c = bt_connect(b.socket);
	assert_int_equal(procfs_refused(c, &x, true), MU_OK);
	/* Ordinary files still open, through a link too. */
	char out[128];
	assert_int_equal(read_file(c, "file.read", f.secret, out, sizeof(out)), 0);
	bk_disconnect(c);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
	files_remove(&f);
}

static _Alignas(8) uint8_t list_buf[BK_WIRE_MAX_MSG];

/* CLIENTS as whoever calls: the number of records, how many are of uid and whether one is named comm. */
static int list_clients(const char *socket, uid_t uid, unsigned *of_uid, bool *named, const char *comm)
{
	struct bkc_ctl k;
	char err[256];
	int r = bkc_ctl_open(&k, socket, 5000, err, sizeof(err));
	if (r < 0)
		return r;
	struct bk_msg_list req = { .h.type = BK_MSG_CLIENTS, .start = 0 };
	int n = bkc_ctl_call(&k, &req, sizeof(req), BK_MSG_CLIENTS_REPLY, list_buf, sizeof(list_buf), err, sizeof(err));
	bkc_ctl_close(&k);
	if (n < (int)sizeof(struct bk_msg_list_reply))
		return n < 0 ? n : -EPROTO;
	const struct bk_msg_list_reply *rep = (const void *)list_buf;
	const struct bk_wire_client *cl = (const void *)(rep + 1);
	*of_uid = 0;
	*named = false;
	for (uint32_t i = 0; i < rep->count; i++) {
		if (cl[i].uid == uid)
			(*of_uid)++;
		if (strncmp(cl[i].comm, comm, sizeof(cl[i].comm)) == 0 && cl[i].uid == uid)
			*named = true;
	}
	return (int)rep->count;
}

static int nobody_lists(void *arg)
{
	struct ctx *x = arg;
	bk_client *c;
	char why[256];
	MU_CHECK(mu_connect(x->socket, &c, why, sizeof(why)) == 0, 1, "connect: %s", why);
	unsigned mine;
	bool named;
	int n = list_clients(x->socket, MU_NOBODY, &mine, &named, "mu-nobody");
	/* Root's client is connected too, but not nobody's to see. */
	MU_CHECK(n == 1 && mine == 1 && named, 2, "nobody sees %d clients, %u its own, named %d", n, mine, named);
	char byte = 1;
	MU_CHECK(write(x->sync_wr, &byte, 1) == 1, 3, "sync write");
	struct pollfd p = { .fd = x->sync_rd, .events = POLLIN };
	MU_CHECK(poll(&p, 1, 10000) == 1 && read(x->sync_rd, &byte, 1) == 1, 4, "no word from the parent in 10 s");
	bk_disconnect(c);
	return MU_OK;
}

static void test_clients_visibility(void **state)
{
	(void)state;
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", NULL };
	mu_start(&b, extra);
	bk_client *mine = bt_connect(b.socket);
	int up[2], down[2];
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	struct ctx x = { .socket = b.socket, .sync_rd = down[0], .sync_wr = up[1] };
	pid_t child = mu_spawn_as(&nobody, nobody_lists, &x);
	struct pollfd p = { .fd = up[0], .events = POLLIN };
	char byte;
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(read(up[0], &byte, 1), 1);
	/* Root sees both, the child by its uid and process name. */
	unsigned of_nobody;
	bool named;
	assert_int_equal(list_clients(b.socket, MU_NOBODY, &of_nobody, &named, "mu-nobody"), 2);
	assert_int_equal(of_nobody, 1);
	assert_true(named);
	assert_int_equal(write(down[1], &byte, 1), 1);
	assert_int_equal(mu_wait(child), MU_OK);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	bk_disconnect(mine);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

struct want {
	const char *socket;
	int code;
};

static int connect_gives(void *arg)
{
	const struct want *w = arg;
	bk_client *c;
	char why[256];
	int r = mu_connect(w->socket, &c, why, sizeof(why));
	MU_CHECK(r == w->code, 1, "connect gave %d (%s: %s), want %d", r, bk_strerror(r), why, w->code);
	if (c)
		bk_disconnect(c);
	return MU_OK;
}

/* brokerd with mode and group flags: the socket's mode/group, and what nobody's connect gives. */
static void socket_case(const char *mode, const char *group, unsigned want_mode, int want_code)
{
	struct bkt_brokerd b;
	const char *const extra[] = { "--allow-uid", "65534", "--socket-mode", mode, group ? "--socket-group" : NULL,
				      group, NULL };
	mu_start(&b, extra); /* its --socket-mode 0666 comes first; ours is the one that counts */
	struct stat st;
	assert_int_equal(stat(b.socket, &st), 0);
	assert_int_equal(st.st_mode & 0777, want_mode);
	if (group)
		assert_int_equal(st.st_gid, (gid_t)atoi(group));
	struct want w = { .socket = b.socket, .code = want_code };
	assert_int_equal(mu_run_as(&nobody, connect_gives, &w), MU_OK);
	assert_int_equal(bk_test_broker_stop(&b), 0);
	bk_test_broker_cleanup(&b);
}

static void test_socket_mode_group(void **state)
{
	(void)state;
	socket_case("0600", NULL, 0600, -EACCES);
	socket_case("0640", "65534", 0640, -EACCES); /* connect needs write permission */
	socket_case("0660", "65534", 0660, 0);
	socket_case("0666", NULL, 0666, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_file_rights, mu_need_root),
		cmocka_unit_test_setup(test_procfs_refused, mu_need_root),
		cmocka_unit_test_setup(test_clients_visibility, mu_need_root),
		cmocka_unit_test_setup(test_socket_mode_group, mu_need_root),
	};
	return cmocka_run_group_tests_name("brokerd serving several users", tests, NULL, NULL);
}
