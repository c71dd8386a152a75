// SPDX-License-Identifier: MIT
/*
 * fake_broker.h - an in-process stand-in for brokerd, for unit tests of
 * libbkclient that need no real daemon: it answers the handshake with a
 * region made by bkd_region_create, serves a few functions from a thread, and
 * can misbehave on purpose (silent, garbage, refusal, hang-up).
 */
#ifndef BK_FAKE_BROKER_H
#define BK_FAKE_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum fake_mode {
	FAKE_SERVE, /* handshake, then serve */
	FAKE_SILENT, /* accept and say nothing */
	FAKE_GARBAGE, /* answer HELLO with junk bytes */
	FAKE_REFUSE, /* answer HELLO with status -EPERM and a message */
	FAKE_BAD_ABI, /* answer with another ABI major */
};

/* Function ids the fake serves. */
#define FAKE_FN_ECHO 1u /* result = argument */
#define FAKE_FN_HOLD 2u /* completes only when cancelled (-ECANCELED) */
#define FAKE_FN_FAIL 3u /* completes with -EIO */

struct fake_broker {
	enum fake_mode mode;
	char dir[128];
	char path[192];
	int lfd;
	pthread_t thr;
	_Atomic int stop; /* ask the thread to finish */
	_Atomic int hangup; /* close the client connection now (a "SIGKILL" of the broker) */
	_Atomic int connected;
	_Atomic uint64_t served;
};

/* Start listening on a fresh temporary socket and serve one client at a time. 0 or -errno. */
int fake_broker_start(struct fake_broker *fb, enum fake_mode mode);
void fake_broker_stop(struct fake_broker *fb);

#endif
