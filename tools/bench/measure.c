/* measure.c - the shared round-trip timing loop (see measure.h). */
#include "measure.h"

#include "util.h"

int bk_measure_rtt(bk_roundtrip_fn rt, void *ctx, const struct bk_rtt_cfg *cfg, struct bk_hist *h)
{
	uint64_t seq = 1;
	for (uint64_t i = 0; i < cfg->warmup; i++) {
		int r = rt(ctx, seq++);
		if (r < 0)
			return r;
	}
	int64_t start = bk_now_ns(), last_report = start;
	for (uint64_t i = 0; i < cfg->samples; i++) {
		int64_t t0 = bk_now_ns();
		int r = rt(ctx, seq++);
		int64_t t1 = bk_now_ns();
		if (r < 0)
			return r;
		bk_hist_record(h, (uint64_t)(t1 - t0));
		if (t1 - last_report > 1000000000) {
			last_report = t1;
			bk_progress("  %s: %llu/%llu round trips", cfg->label, (unsigned long long)i + 1,
				    (unsigned long long)cfg->samples);
		}
	}
	return 0;
}
