// SPDX-License-Identifier: MIT
/*
 * cmd_top.c - `brokerctl top`: a live view of brokerd, refreshed every
 * --interval seconds, drawn with ANSI escapes on the alternate screen (no
 * curses: a handful of escapes is all a table needs) with the terminal in
 * raw mode for single keys; plain frames one after another when stdout is
 * not a terminal.  The layout is top_frame.c's.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "broker/sys.h"
#include "ctl.h"
#include "snapshot.h"
#include "top_frame.h"

static const char usage[] =
	"usage: brokerctl [--socket PATH] top [--interval S] [--once] [--count N] [--sort KEY]\n"
	"A live view of brokerd: uptime, workers, connections, tasks/s and tasks in flight; a table of\n"
	"clients (pid, process name, uid, submitted/s, completed/s, in flight, SQ and CQ depth now, p99\n"
	"of task total latency since it connected) and one of functions (calls/s, errors/s, queue wait\n"
	"p99, run time p50/p99/max since start).  Keys: c completed/s, s submitted/s, i in flight,\n"
	"p p99, n pid (sort keys; --sort takes the same letters or names), q quits.\n"
	"  --interval S  seconds between refreshes (default 1)\n"
	"  --once        print one frame (rates over the first interval) and exit\n"
	"  --count N     exit after N frames\n"
	"When stdout is not a terminal, frames are printed as plain lines, one after another.\n"
	"A caller who is not an administrator sees its own uid's clients only.\n";

struct opts {
	double interval;
	int once;
	long count;
	enum top_sort sort;
};

static volatile sig_atomic_t got_signal, got_winch;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_signal = 1;
}

static int sort_from(const char *s, enum top_sort *out)
{
	for (int i = 0; i < SORT_N; i++) {
		if ((s[0] == top_sort_key[i] && !s[1]) || !strcmp(s, top_sort_name[i])) {
			*out = (enum top_sort)i;
			return 0;
		}
	}
	return -1;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.interval = 1.0, .count = -1, .sort = SORT_COMPLETED};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (!strcmp(a, "--once")) {
			o->once = 1;
		} else if (!strcmp(a, "--interval") && v) {
			o->interval = strtod(v, &end);
			i++;
			if (*end || o->interval < 0.05 || o->interval > 3600) {
				fprintf(stderr, "brokerctl top: --interval wants seconds in [0.05, 3600]\n");
				return 2;
			}
		} else if (!strcmp(a, "--count") && v) {
			o->count = strtol(v, &end, 10);
			i++;
			if (*end || o->count < 1) {
				fprintf(stderr, "brokerctl top: --count wants a positive number\n");
				return 2;
			}
		} else if (!strcmp(a, "--sort") && v) {
			i++;
			if (sort_from(v, &o->sort) < 0) {
				fprintf(stderr, "brokerctl top: unknown sort key '%s' (c s i p n)\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "brokerctl top: unexpected argument '%s'\n%s", a, usage);
			return 2;
		}
	}
	if (o->once)
		o->count = 1;
	return 0;
}

struct term {
	int live; /* drawing on a terminal */
	int keys; /* stdin is a terminal in raw mode */
	struct termios saved;
	int rows, cols;
};

static void term_size(struct term *t)
{
	struct winsize ws;
	t->rows = 24;
	t->cols = 80;
	if (t->live && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

static void term_open(struct term *t, int once)
{
	memset(t, 0, sizeof(*t));
	t->live = !once && isatty(STDOUT_FILENO);
	if (t->live && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		t->keys = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (t->live)
		fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, hide the cursor */
	term_size(t);
}

static void term_close(struct term *t)
{
	if (t->live)
		fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (t->keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

static void draw(const struct term *t, const struct top_frame *f, int first)
{
	if (t->live) {
		fputs("\033[H", stdout);
		for (int i = 0; i < f->nlines; i++)
			printf("%s\033[K%s", f->line[i], i + 1 < f->nlines ? "\r\n" : "");
		fputs("\033[J", stdout);
	} else {
		if (!first)
			putchar('\n');
		for (int i = 0; i < f->nlines; i++)
			printf("%s\n", f->line[i]);
	}
	fflush(stdout);
}

/* Wait until the deadline or a key; 'q' (or a signal) sets *quit, a sort key changes o->sort.  True: redraw. */
static int wait_input(struct term *t, struct opts *o, int64_t deadline, int *quit)
{
	for (;;) {
		int64_t left = deadline - bk_now_ns();
		if (got_signal)
			*quit = 1;
		if (*quit || left <= 0)
			return 0;
		if (got_winch) {
			got_winch = 0;
			term_size(t);
			return 1;
		}
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int n = poll(&p, t->keys ? 1 : 0, (int)(left / 1000000 + 1));
		if (n <= 0 || !(p.revents & POLLIN))
			continue;
		char c;
		if (read(STDIN_FILENO, &c, 1) != 1)
			continue;
		if (c == 'q' || c == 'Q' || c == 3) {
			*quit = 1;
			return 0;
		}
		char k[2] = {c, 0};
		if (sort_from(k, &o->sort) == 0)
			return 1;
	}
}

static int frame(struct term *t, const struct snapshot *now, const struct snapshot *prev, const struct opts *o,
		 int first)
{
	struct top_frame f;
	int r = top_frame_build(&f, now, prev, o->sort, o->interval, t->rows, t->cols);
	if (r < 0)
		return r;
	draw(t, &f, first);
	top_frame_free(&f);
	return 0;
}

static int loop(struct ctx *x, struct term *t, struct opts *o)
{
	struct snapshot prev, now, older = {0}; /* the last two looks: a key redraws the last frame */
	int r = snapshot_take(x, &prev), quit = 0, shown = 0;
	if (r < 0)
		return r;
	if (t->live)
		r = frame(t, &prev, NULL, o, 1); /* something to look at before the first interval ends */
	int64_t next = bk_now_ns() + (int64_t)(o->interval * 1e9);
	while (r == 0 && !quit) {
		if (wait_input(t, o, next, &quit)) {
			r = frame(t, &prev, older.t_ns ? &older : NULL, o, 0);
			continue;
		}
		if (quit)
			break;
		r = snapshot_take(x, &now);
		if (r < 0)
			break;
		r = frame(t, &now, &prev, o, !shown);
		snapshot_free(&older);
		older = prev;
		prev = now;
		next += (int64_t)(o->interval * 1e9);
		if (next < bk_now_ns())
			next = bk_now_ns() + (int64_t)(o->interval * 1e9);
		if (o->count > 0 && ++shown >= o->count)
			break;
	}
	snapshot_free(&older);
	snapshot_free(&prev);
	return r;
}

static int run(struct ctx *x, int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o))
		return 2;
	int r = ctl_connect(x);
	if (r < 0)
		return r;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	struct term t;
	term_open(&t, o.once);
	r = loop(x, &t, &o);
	term_close(&t);
	return r;
}

const struct ctl_cmd ctl_cmd_top = {
	.name = "top",
	.usage = usage,
	.summary = "live view: clients and functions with rates, depths and latency (q quits)",
	.run = run,
};
