// SPDX-License-Identifier: MIT
/*
 * net_http.c - net.http_get: "http://HOST[:PORT][/PATH] [TIMEOUT_MS]" ->
 * the server's whole response (status line, headers, body as sent, chunked
 * framing included) of an HTTP/1.1 GET with "Connection: close".  No TLS.
 * PORT defaults to 80, PATH to "/", TIMEOUT_MS to 10000 (at most an hour).
 * HOST is a name, an IPv4 literal or an IPv6 literal in brackets.  The URL
 * is copied and checked before use: PATH and HOST are printable ASCII with
 * no space, so nothing can be smuggled into the request's header lines.
 * A response that does not start with "HTTP/1.x NNN", has no end of
 * headers, or ends before its Content-Length completes with -EPROTO; one
 * that fills the result buffer with -ENOBUFS (the size needed when
 * Content-Length says it, else the buffer's size + 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net_impl.h"

#define URL_MAX 2048u
#define HTTP_DEFAULT_TIMEOUT_MS 10000u

struct url {
	char authority[NET_NODE_MAX + 8]; /* HOST[:PORT] as given, for the Host header */
	const char *node;
	size_t node_len;
	uint32_t port;
	const char *path;
	size_t path_len;
	uint32_t timeout_ms;
};

static bool printable(char c)
{
	return c > ' ' && c < 0x7f;
}

/* HOST[:PORT] of u (inside buf, NUL-free) into out; *end is where the path or the timeout starts. */
static int parse_authority(char *buf, size_t n, size_t *pos, struct url *u)
{
	size_t i = *pos, start = i;
	if (i < n && buf[i] == '[') {
		while (i < n && buf[i] != ']')
			i++;
		if (i == n)
			return -EINVAL;
		u->node = buf + start + 1;
		u->node_len = i - start - 1;
		i++;
	} else {
		while (i < n && buf[i] != ':' && buf[i] != '/' && buf[i] != ' ')
			i++;
		u->node = buf + start;
		u->node_len = i - start;
	}
	u->port = 80;
	if (i < n && buf[i] == ':') {
		size_t p = ++i;
		while (i < n && buf[i] >= '0' && buf[i] <= '9')
			i++;
		if (net_parse_u32((const uint8_t *)buf + p, i - p, 65535, &u->port) < 0 || u->port == 0)
			return -EINVAL;
	}
	if (i - start >= sizeof(u->authority) || u->node_len == 0)
		return -EINVAL;
	for (size_t k = start; k < i; k++)
		if (!printable(buf[k]))
			return -EINVAL;
	memcpy(u->authority, buf + start, i - start);
	u->authority[i - start] = '\0';
	*pos = i;
	return 0;
}

static int parse_url(char *buf, size_t n, struct url *u)
{
	static const char scheme[] = "http://";
	size_t pos = sizeof(scheme) - 1;
	memset(u, 0, sizeof(*u));
	if (n < pos || memcmp(buf, scheme, pos) != 0)
		return -EINVAL;
	int r = parse_authority(buf, n, &pos, u);
	if (r < 0)
		return r;
	u->path = "/";
	u->path_len = 1;
	if (pos < n && buf[pos] == '/') {
		size_t p = pos;
		while (pos < n && buf[pos] != ' ') {
			if (!printable(buf[pos]))
				return -EINVAL;
			pos++;
		}
		u->path = buf + p;
		u->path_len = pos - p;
	}
	u->timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
	if (pos < n) {
		if (buf[pos] != ' ' ||
		    net_parse_u32((const uint8_t *)buf + pos + 1, n - pos - 1, NET_TIMEOUT_MAX_MS, &u->timeout_ms) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The Content-Length of headers h[0..n) (each line ends in CRLF), or -1 when there is none or it is bad. */
static long long content_length(const char *h, size_t n)
{
	static const char name[] = "content-length:";
	const size_t nl = sizeof(name) - 1;
	for (size_t i = 0; i + nl < n; i++) {
		if ((i == 0 || h[i - 1] == '\n') && strncasecmp(h + i, name, nl) == 0) {
			size_t k = i + nl;
			long long v = 0;
			while (k < n && (h[k] == ' ' || h[k] == '\t'))
				k++;
			size_t d = k;
			while (k < n && h[k] >= '0' && h[k] <= '9' && v < (1LL << 40))
				v = v * 10 + (h[k++] - '0');
			return k == d || v >= (1LL << 40) ? -1 : v;
		}
	}
	return -1;
}

/* Is buf[0..got) one whole response?  0, -EPROTO, or -ENOBUFS with *need. */
static int check_response(const uint8_t *buf, size_t got, size_t cap, size_t *need)
{
	const char *s = (const char *)buf;
	*need = cap + 1;
	if (got < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' || s[9] < '1' ||
	    s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    (got > 12 && s[12] != ' ' && s[12] != '\r'))
		return got == cap && got < 12 ? -ENOBUFS : -EPROTO;
	const char *end = memmem(s, got, "\r\n\r\n", 4);
	if (!end)
		return got == cap ? -ENOBUFS : -EPROTO;
	size_t hlen = (size_t)(end - s) + 4;
	long long cl = content_length(s, hlen);
	if (cl >= 0) {
		if (got - hlen == (unsigned long long)cl)
			return 0;
		if (got - hlen > (unsigned long long)cl)
			return -EPROTO;
		*need = hlen + (size_t)cl;
		return got == cap ? -ENOBUFS : -EPROTO;
	}
	return got == cap ? -ENOBUFS : 0;
}

static void http_finish(bk_task *task, struct net_req *rq)
{
	const bk_host_api *host = rq->host;
	int status = rq->status;
	size_t len = rq->got, need = 0;
	if (status == 0) {
		status = check_response(rq->buf, rq->got, rq->cap, &need);
		if (status == -ENOBUFS) {
			status = 0;
			len = need; /* more than cap: the host completes with -ENOBUFS and this size */
		}
	}
	net_req_free(rq);
	host->complete(task, status, status < 0 ? 0 : len);
}

static int build_request(struct net_req *rq, const struct url *u)
{
	static const char fmt[] = "GET %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: brokerd-net/1.0\r\n"
				  "Accept: */*\r\nConnection: close\r\n\r\n";
	size_t max = sizeof(fmt) + u->path_len + sizeof(u->authority);
	rq->owned = malloc(max);
	if (!rq->owned)
		return -ENOMEM;
	int n = snprintf((char *)rq->owned, max, fmt, (int)u->path_len, u->path, u->authority);
	if (n < 0 || (size_t)n >= max)
		return -EINVAL;
	rq->out = rq->owned;
	rq->out_len = (size_t)n;
	return 0;
}

int net_http_get(bk_task *task, const bk_host_api *host, void *state)
{
	(void)state;
	size_t len = 0, cap = 0;
	const char *arg = host->arg(task, &len);
	if (len == 0 || len > URL_MAX)
		return -EINVAL;
	char buf[URL_MAX];
	memcpy(buf, arg, len); /* one read of the argument, which may be live client memory */
	struct url u;
	int r = parse_url(buf, len, &u);
	if (r < 0)
		return r;
	struct net_req *rq;
	r = net_req_new(host, u.node, u.node_len, u.port, u.timeout_ms, &rq);
	if (r < 0)
		return r;
	r = build_request(rq, &u);
	if (r == 0) {
		rq->buf = host->result(task, &cap);
		rq->cap = cap;
		rq->finish = http_finish;
		rq->half_close = true; /* after the request: a server that waits for more sees there is none */
		r = net_req_start(task, rq);
	}
	if (r < 0) {
		net_req_free(rq);
		return r;
	}
	return BK_TASK_PENDING;
}
