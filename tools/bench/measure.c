// SPDX-License-Identifier: MIT
/* measure.c - the shared round-trip timing loop (see measure.h). */
#include "measure.h"

#include <errno.h>
#include <stdlib.h>

#include "util.h"

/* n recorded round trips of one source (into also too, when not NULL); progress at most once a second. */
static int chunk(struct bk_rtt_source *s, struct bk_hist *also, uint64_t n, uint64_t done_before, uint64_t total,
		 int64_t *last_report)
{
	for (uint64_t i = 0; i < n; i++) {
		int64_t t0 = bk_now_ns();
		int r = s->rt(s->ctx, s->seq++);
		int64_t t1 = bk_now_ns();
		if (r < 0)
			return r;
		bk_hist_record(s->h, (uint64_t)(t1 - t0));
		if (also)
			bk_hist_record(also, (uint64_t)(t1 - t0));
		if (t1 - *last_report > 1000000000) {
			*last_report = t1;
			bk_progress("  %s: %llu/%llu round trips", s->label, (unsigned long long)(done_before + i + 1),
				    (unsigned long long)total);
		}
	}
	return 0;
}

static int warm(struct bk_rtt_source *s, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int r = s->rt(s->ctx, s->seq++);
		if (r < 0)
			return r;
	}
	return 0;
}

int bk_measure_rtt(bk_roundtrip_fn rt, void *ctx, const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	struct bk_rtt_source s = { .rt = rt, .ctx = ctx, .h = h, .label = cfg->label, .seq = 1 };
	int r = warm(&s, cfg->warmup);
	int64_t last = bk_now_ns();
	return r < 0 ? r : chunk(&s, NULL, cfg->samples, 0, cfg->samples, &last);
}

int bk_measure_rtt_interleaved(struct bk_rtt_source *src, unsigned n, const struct bk_rtt_cfg *cfg, unsigned rounds,
			       int *failed)
{
	if (rounds == 0)
		rounds = 1;
	for (unsigned k = 0; k < n; k++) {
		src[k].seq = 1;
		int r = warm(&src[k], cfg->warmup);
		if (r < 0) {
			*failed = (int)k;
			return r;
		}
	}
	struct bk_hist *round_h = NULL; /* one round's chunk of one source, for its round_p50 */
	for (unsigned k = 0; k < n && !round_h; k++)
		if (src[k].round_p50 && !(round_h = malloc(sizeof(*round_h)))) {
			*failed = 0;
			return -ENOMEM;
		}
	int64_t last = bk_now_ns();
	int r = 0;
	for (unsigned round = 0; round < rounds && r == 0; round++) {
		/* Split samples over the rounds; the last one takes the remainder. */
		uint64_t per = cfg->samples / rounds;
		uint64_t this_round = round + 1 == rounds ? cfg->samples - per * (rounds - 1) : per;
		for (unsigned k = 0; k < n && r == 0; k++) {
			struct bk_hist *also = src[k].round_p50 ? round_h : NULL;
			if (also)
				bk_hist_init(also);
			r = chunk(&src[k], also, this_round, per * round, cfg->samples, &last);
			if (r < 0)
				*failed = (int)k;
			else if (also)
				src[k].round_p50[round] = bk_hist_quantile(also, 0.5);
		}
	}
	free(round_h);
	return r;
}
