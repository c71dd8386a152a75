// SPDX-License-Identifier: MIT
/*
 * ratelimit.c - the token buckets of ratelimit.h and the rate-limited
 * warning that a client's own bad input may trigger.
 */
#include "ratelimit.h"

#include <stdarg.h>
#include <stdio.h>

#include "broker/sys.h"
#include "log.h"

struct bkd_ratelimit bkd_drops_rl;

bool bkd_ratelimit_take(struct bkd_ratelimit *rl, int64_t now_ns, uint32_t burst, int64_t period_ns,
			uint64_t *suppressed)
{
	if (rl->last_ns == 0 || now_ns - rl->last_ns >= (int64_t)burst * period_ns) {
		rl->tokens = burst;
		rl->last_ns = now_ns;
	} else if (now_ns > rl->last_ns) {
		int64_t add = (now_ns - rl->last_ns) / period_ns;
		/* Only whole periods are spent, so a slow trickle still earns its tokens. */
		rl->last_ns += add * period_ns;
		rl->tokens = rl->tokens + (uint32_t)add > burst ? burst : rl->tokens + (uint32_t)add;
	}
	if (!rl->tokens) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

void bkd_warn_limited(struct bkd_ratelimit *rl, const char *fmt, ...)
{
	uint64_t n = 0;
	if (bkd_log_level() < BK_LOG_WARN ||
	    !bkd_ratelimit_take(rl, bk_now_ns(), BKD_WARN_BURST, BKD_WARN_PERIOD_NS, &n))
		return;
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n)
		bkd_warn("%s (%llu suppressed)", line, (unsigned long long)n);
	else
		bkd_warn("%s", line);
}
