// SPDX-License-Identifier: MIT
/*
 * bk-example.c - the smallest useful libbkclient program: connect, call each
 * built-in function once and print what came back.
 *
 *   broker-example [--socket PATH]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_config.h"

#include <broker/client.h>

#define TIMEOUT_NS (10LL * 1000000000LL)

/* Result bytes as C-escaped text, so a file's newline does not break the line. */
static void print_escaped(const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			printf("\\n");
		else if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			printf("\\x%02x", p[i]);
		else
			putchar(p[i]);
	}
}

static int call(bk_client *c, const char *name, const char *arg, size_t len, int hex)
{
	bk_fn fn;
	int r = bk_lookup(c, name, &fn);
	if (r < 0) {
		fprintf(stderr, "%-12s lookup failed: %s\n", name, bk_strerror(r));
		return r;
	}
	bk_future *f;
	r = bk_submit(c, fn, arg, len, &f);
	if (r < 0) {
		fprintf(stderr, "%-12s submit failed: %s\n", name, bk_strerror(r));
		return r;
	}
	r = bk_wait(f, TIMEOUT_NS);
	if (r < 0) {
		fprintf(stderr, "%-12s wait failed: %s\n", name, bk_strerror(r));
		bk_release(f);
		return r;
	}
	const void *data;
	size_t n;
	int status = bk_result(f, &data, &n);
	if (status < 0) {
		printf("%-12s(\"%.*s\") -> error %d: %s\n", name, (int)len, arg, status, bk_strerror(status));
	} else if (hex) {
		printf("%-12s(\"%.*s\") -> ", name, (int)len, arg);
		for (size_t i = 0; i < n; i++)
			printf("%02x", ((const unsigned char *)data)[i]);
		printf("\n");
	} else {
		printf("%-12s(\"%.*s\") -> %zu bytes: \"", name, (int)len, arg, n);
		print_escaped(data, n);
		printf("\"\n");
	}
	bk_release(f);
	return status;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("broker-example %s\n", BK_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: broker-example [--socket PATH]\n"
			       "Connects to brokerd (default socket: $BROKER_SOCKET, $XDG_RUNTIME_DIR/broker.sock,\n"
			       "/run/broker/broker.sock), calls echo.noop, echo.echo, echo.upper, timer.sleep,\n"
			       "file.read and hash.sha256 once each and prints the results.\n");
			return 0;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
		} else {
			fprintf(stderr, "broker-example: unknown argument '%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	bk_client *c;
	char err[512];
	int r = bk_connect_error(sock, NULL, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "broker-example: cannot connect: %s (%s)\n", err, bk_strerror(r));
		return 1;
	}
	int failed = 0;
	failed |= call(c, "echo.noop", "", 0, 0) < 0;
	failed |= call(c, "echo.echo", "hello, broker", 13, 0) < 0;
	failed |= call(c, "echo.upper", "hello, broker", 13, 0) < 0;
	failed |= call(c, "timer.sleep", "100", 3, 0) < 0;
	const char *fr = "0 64 /etc/hostname";
	failed |= call(c, "file.read", fr, strlen(fr), 0) < 0;
	failed |= call(c, "hash.sha256", "abc", 3, 1) < 0;
	bk_disconnect(c);
	printf("%s\n", failed ? "some calls failed" : "all calls completed");
	return failed ? 1 : 0;
}
