// SPDX-License-Identifier: MIT
/*
 * conn_rings.h - brokerd's side of one connection's rings: validated
 * consumption of the submission ring and posting of completions, with
 * broker-private cursors and in-flight tracking (docs/ARCHITECTURE.md, "Rings").
 *
 * Not thread-safe: the worker that owns the connection makes every call.
 * Nothing here ever waits on a value the client controls, and nothing the
 * broker wrote to shared memory is read back to make a decision.
 */
#ifndef BROKER_CONN_RINGS_H
#define BROKER_CONN_RINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/proto.h"
#include "broker/ring.h"

/* Arguments up to this size are copied into worker-private memory before a module sees them. */
#define BKD_ARG_COPY_MAX 4096u

/* bkd_conn_rings_flush() result bits. */
#define BKD_FLUSH_WAKE_FUTEX 0x1 /* client threads sleep on cq wake_seq: FUTEX_WAKE it (already bumped) */
#define BKD_FLUSH_NOTIFY_FD 0x2 /* client armed its eventfd: write 1 to it */

struct bkd_conn_rings {
	struct bk_region_view v; /* the broker's own mapping */
	struct bk_sq_consumer sq;
	struct bk_cq_producer cq;
	uint32_t *gen; /* private: generation of each in-flight slot */
	uint64_t *inflight_bits; /* private: one bit per slot */
	struct bk_cqe *pending; /* completions not yet in the CQ (<= nslots): a ring of pending_mask + 1 */
	uint32_t pending_head, pending_mask; /* free-running index of the oldest; capacity - 1 (power of two) */
	uint32_t npending;
	uint32_t cq_written; /* written into the CQ, not yet published */
	uint32_t inflight;
	uint64_t submitted; /* valid CALL entries accepted */
	uint64_t completed;
	uint64_t violations;
	char last_violation[160];
};

/*
 * Bind to a region the broker created with ring counters starting at
 * ring_start.  Allocates the private tables.  Returns 0 or -ENOMEM.
 */
int bkd_conn_rings_init(struct bkd_conn_rings *cr, const struct bk_region_view *v, uint32_t ring_start);
void bkd_conn_rings_fini(struct bkd_conn_rings *cr);

/*
 * Take up to max submissions off the SQ into out[] (private copies).
 *  - BK_OP_CALL entries must have slot < nslots, the slot not in flight, and
 *    arg and res ranges inside the arena; the slot then becomes in flight.
 *  - BK_OP_CANCEL entries are returned only when slot/gen is in flight
 *    (a cancel that raced with its completion is silently dropped).
 * A bad entry is never returned: it counts in cr->violations with the reason
 * in cr->last_violation, and when its slot is in range and free it completes
 * at once with -EINVAL (so the client's future does not hang).
 * Returns how many entries were put in out[], or -EPROTO when the SQ indices
 * are impossible: the connection must then be dropped.
 */
int bkd_conn_rings_fetch(struct bkd_conn_rings *cr, struct bk_sqe *out, unsigned max);
/* The same, also stopping after the entry whose argument + result bytes make the total reach max_bytes
 * (so one huge entry is a turn of its own: docs/ARCHITECTURE.md, "Only connections with work"). */
int bkd_conn_rings_fetch_bytes(struct bkd_conn_rings *cr, struct bk_sqe *out, unsigned max, uint64_t max_bytes);

/* True when the SQ has entries (or impossible indices that fetch will report). */
bool bkd_conn_rings_sq_pending(struct bkd_conn_rings *cr);

/* The deadline the client stored in slot (validated: slot < nslots), BK_SQE_F_DEADLINE. */
uint64_t bkd_conn_rings_deadline(const struct bkd_conn_rings *cr, uint32_t slot);
/* slot/gen is in flight. */
bool bkd_conn_rings_inflight(const struct bkd_conn_rings *cr, uint32_t slot, uint32_t gen);

/*
 * Complete the in-flight task in slot: write status and res_len into the
 * slot, then done_gen (release), and queue the cqe; the slot is free again
 * for the client.  The cqe becomes visible at the next flush.
 * Returns 0, or -EINVAL when slot is not in flight (a broker bug).
 */
int bkd_conn_rings_complete(struct bkd_conn_rings *cr, uint32_t slot, int32_t status, uint32_t res_len);

/*
 * Publish queued completions (as far as the CQ has room; the rest stays
 * queued for the next flush).  Returns BK_FLUSH_* bits telling the caller
 * which wake-ups to issue, or -EPROTO when the client's CQ head is
 * impossible (drop the connection).
 */
int bkd_conn_rings_flush(struct bkd_conn_rings *cr);

/* Completions queued but not yet in the CQ (the client is not reaping). */
static inline uint32_t bkd_conn_rings_backlog(const struct bkd_conn_rings *cr)
{
	return cr->npending;
}

/*
 * Sleep support for the owning worker.  prepare raises the SQ need_wakeup
 * flag and returns the SQ wake_seq to arm a FUTEX_WAIT on; the worker must
 * re-check bkd_conn_rings_sq_pending() afterwards.  finish lowers the flag.
 */
uint32_t bkd_conn_rings_sleep_prepare(struct bkd_conn_rings *cr);
void bkd_conn_rings_sleep_finish(struct bkd_conn_rings *cr);

/* For statistics: entries waiting in the SQ and completions the client has not reaped (single reads, clamped). */
uint32_t bkd_conn_rings_sq_depth(const struct bkd_conn_rings *cr);
uint32_t bkd_conn_rings_cq_depth(const struct bkd_conn_rings *cr);

/* Arena pointer for a range fetch() validated. */
static inline uint8_t *bkd_conn_rings_arena(const struct bkd_conn_rings *cr, uint32_t off)
{
	return cr->v.arena + off;
}

#endif /* BROKER_CONN_RINGS_H */
