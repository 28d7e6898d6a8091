/*
 * fuzz_exit.c - libFuzzer target: a backend's decoding of its native exit
 * records. The backend is $ROOF_KERNEL (default kvm); its decoder comes
 * from the hook table in tests/fuzz/exit_decoders.h. A kernel without a
 * hook yet makes the target exit with status 3 and a message (make fuzz
 * reports it as not covered). Each input is one record: the decoded exit
 * must honour the contract of roof_state.h (roof_exit_record_sane), then it
 * goes through the core's dispatch with no handler registered, which
 * completes it as the API documents (in: all ones into the io buffer, ...)
 * so a buffer that points wrong is written to and ASan sees it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "exit_decoders.h"
#include "roof_core.h"

static struct roof_exit_decoder decoder;
static roof_state state;
static struct roof_vcpu vcpu;

static int no_fetch(struct roof_vcpu *v, uint64_t mask)
{
	(void)v;
	(void)mask;
	return 0;
}

static const struct roof_backend_hot_ops hot = {
	.fetch = no_fetch,
	.writeback = no_fetch,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *k = getenv("ROOF_KERNEL");
	decoder = roof_exit_decoder_of(k && *k ? k : "kvm");
	if (!decoder.decode) {
		fprintf(stderr, "fuzz_exit: kernel %s has no exit-record decoder "
			"hook yet (see tests/fuzz/exit_decoders.h)\n",
			decoder.kernel);
		exit(3);
	}
	fprintf(stderr, "fuzz_exit: decoding %s exit records\n", decoder.kernel);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *mem = NULL;
	size_t mem_size = 0;
	memset(&state, 0, sizeof state);
	if (decoder.decode(data, size, &state, &mem, &mem_size) != 0)
		return 0;
	char why[256];
	if (!roof_exit_record_sane(&state, mem, mem_size, why, sizeof why)) {
		fprintf(stderr, "fuzz_exit[%s]: %s exit: %s\n", decoder.kernel,
			roof_exit_name(state.exit_reason), why);
		abort();
	}
	memset(&vcpu, 0, sizeof vcpu);
	roof_core_init(&vcpu, &state, 0, &hot, NULL, NULL, NULL);
	roof_dispatch_exit(&vcpu);
	return 0;
}
