/*
 * fuzz_copy.c - libFuzzer target: transfer plans and the masked copy.
 * Input format: tests/fuzz/copy_diff.h (copy_input_parse). Each input
 * builds a plan descriptor by descriptor (roof_plan_add must take exactly
 * the ones transfer_plan.h allows), then runs gather and scatter with the
 * nasm and the C routines on guard-paged buffers filled from the input's
 * seed; any difference aborts with a description (libFuzzer keeps the
 * input). Built and run by make fuzz (tests/fuzz/run.sh).
 */
#include <stdio.h>
#include <stdlib.h>

#include "copy_diff.h"

static struct copy_bench bench;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!copy_bench_init(&bench)) {
		perror("fuzz_copy: guard-page buffers");
		exit(2);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct copy_input in;
	if (!copy_input_parse(data, size, &in))
		return 0;
	struct roof_transfer_plan p;
	roof_plan_init(&p, in.native_size);
	int last = -1;
	for (size_t i = 0; i < in.ndesc; i++) {
		const uint8_t *d = in.desc + i * COPY_INPUT_DESC;
		unsigned g = d[0];
		uint32_t noff = (uint32_t)copy_le(d + 1, 2);
		uint32_t soff = (uint32_t)copy_le(d + 3, 2);
		uint32_t len = (uint32_t)copy_le(d + 5, 2);
		bool want = copy_plan_should_take(&p, last, g, noff, soff, len);
		bool took = roof_plan_add(&p, g, noff, soff, len) == 0;
		if (took != want) {
			fprintf(stderr, "fuzz_copy: roof_plan_add %s descriptor %zu "
				"{group %u, native %u, state %u, len %u}\n",
				took ? "took" : "refused", i, g, noff, soff, len);
			abort();
		}
		if (took)
			last = (int)g;
	}
	copy_bench_native(&bench, in.native_size);
	uint64_t s = in.seed;
	copy_bench_randomize(&bench, &s);
	char why[256];
	if (!copy_diff_case(&bench, &p, in.mask, why, sizeof why)) {
		fprintf(stderr, "fuzz_copy: mask 0x%llx: %s\n",
			(unsigned long long)in.mask, why);
		abort();
	}
	return 0;
}
