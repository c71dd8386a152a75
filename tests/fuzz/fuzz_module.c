// SPDX-License-Identifier: MIT
/*
 * fuzz_module.c - libFuzzer target for one built-in module (built once per
 * module, with that module's source linked in): its functions' argument
 * parsers and callback chains.  The handler runs through the recording host
 * of tests/modules/test_host.h; instead of real I/O every queued operation
 * is answered from the input (a short read, an error, a cancellation on the
 * way), so a file.read never touches the file system.  Whatever the input,
 * the task must end with exactly one completion, a result length within the
 * result buffer unless it says -ENOBUFS, and no descriptor left open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/module.h"
#include "fuzz_input.h"
#include "test_host.h"

const bk_module_desc *bk_module_entry_v1(void);

static const bk_module_desc *desc;
static void *state;

/* Descriptors handed to the module by answered openats; each must be closed by the end. */
static int opened[TH_MAX_OPS * 4];
static int nopened;

/* Answer the oldest queued operation from the input, as the worker's completion loop would. */
static void answer(struct fuzz_in *in, struct bk_task *t)
{
	struct th_op op = t->ops[0];
	memmove(&t->ops[0], &t->ops[1], (size_t)(t->nops - 1) * sizeof(t->ops[0]));
	t->nops--;
	uint8_t how = fuzz_u8(in);
	int res;
	if (how == 0xff) /* a client cancel arrives while the operation is in flight */
		th_cancel(t);
	if (op.kind == TH_CLOSE || op.kind == TH_OFFLOAD) {
		res = op.res; /* test_host did it at submission */
	} else if (t->cancelled) {
		res = -ECANCELED;
	} else if (how >= 0xf0) {
		res = -(int)(1 + how % 40); /* some errno */
	} else if (op.kind == TH_OPENAT) {
		res = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a real descriptor: the module must close it */
		if (res < 0)
			res = -errno;
		else if (nopened < (int)(sizeof(opened) / sizeof(opened[0])))
			opened[nopened++] = res;
	} else if (op.kind == TH_READ || op.kind == TH_WRITE) {
		uint32_t n = op.len ? fuzz_u32(in) % (op.len + 1) : 0; /* short, full or end of file */
		if (op.kind == TH_READ && n)
			memset(op.buf, 'x', n); /* ASan: the module's buffer must hold what it asked for */
		res = (int)n;
	} else {
		res = 0; /* a timeout expires */
	}
	op.cb(t, res, op.ud);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	desc = bk_module_entry_v1();
	FUZZ_ASSERT(desc && desc->nfunctions > 0);
	FUZZ_ASSERT(!desc->init || desc->init(&th_host, &state) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const bk_function_desc *fn = &desc->functions[fuzz_u8(&in) % desc->nfunctions];
	size_t cap = fuzz_u16(&in) % 4097;
	size_t arglen = fuzz_u16(&in);
	if (arglen > in.len)
		arglen = in.len;
	/* Private copies sized exactly, so that ASan sees any access past the argument or the result. */
	uint8_t *arg = malloc(arglen ? arglen : 1);
	uint8_t *res = malloc(cap ? cap : 1);
	static struct bk_task t; /* large (its op queue): not on the stack */
	if (!arg || !res) {
		free(arg);
		free(res);
		return 0;
	}
	fuzz_bytes(&in, arg, arglen);
	nopened = 0;
	th_task_init(&t, arg, arglen, res, cap);
	int rc = fn->handler(&t, &th_host, state);
	if (rc == BK_TASK_PENDING) {
		for (int i = 0; i < 4 * TH_MAX_OPS && t.nops > 0; i++)
			answer(&in, &t);
		FUZZ_ASSERT(t.nops == 0); /* a chain that never ends would hang the task */
	} else if (rc < 0) {
		FUZZ_ASSERT(t.completions == 0); /* the host completes it with rc */
		t.completions = 1;
	} else {
		FUZZ_ASSERT(rc == BK_TASK_DONE);
	}
	FUZZ_ASSERT(t.completions == 1);
	FUZZ_ASSERT(t.status != 0 || t.len <= cap);
	for (int i = 0; i < nopened; i++)
		FUZZ_ASSERT(fcntl(opened[i], F_GETFD) < 0);
	free(arg);
	free(res);
	return 0;
}
