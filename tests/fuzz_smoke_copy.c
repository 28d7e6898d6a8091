/*
 * fuzz_smoke_copy.c - make fuzz-smoke: N random (plan, mask, state) cases
 * (default 10^7) of the nasm masked copy against its C reference, in both
 * directions (tests/fuzz/copy_diff.h). Progress on stderr; the figures on
 * stdout, the last line machine-readable for tests/fuzz/results.sh:
 *   RESULT copy cases=N mismatches=M refused=R plans=P descriptors=D
 *          bytes=B seconds=S seed=X
 * (refused: valid random descriptors roof_plan_add did not take; 0)
 * Exit status 1 when any case differs (the first ones are described).
 *
 *   fuzz_smoke_copy [cases [seed]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fuzz/copy_diff.h"

#define CASES_PER_PLAN 1000
#define MAX_REPORTED 5

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	uint64_t cases = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000000ull;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0)
				 : 0x6f6e65726f6f6621ull; /* "oneroof!" */
	if (cases == 0) {
		fprintf(stderr, "usage: %s [cases (> 0) [seed]]\n", argv[0]);
		return 2;
	}
	struct copy_bench b;
	if (!copy_bench_init(&b)) {
		perror("fuzz-smoke: guard-page buffers");
		return 2;
	}
	struct roof_transfer_plan p;
	uint64_t s = seed, mismatches = 0;
	struct copy_run run = {0};
	uint64_t progress = cases / 10 ? cases / 10 : cases;
	double t0 = now_s();
	char why[256];
	fprintf(stderr, "fuzz-smoke: %" PRIu64 " cases, seed 0x%" PRIx64
		", nasm vs C gather and scatter\n", cases, seed);
	for (uint64_t i = 0; i < cases; i++) {
		uint64_t mask = copy_next_case(&b, &p, &s, i, CASES_PER_PLAN, &run);
		if (!copy_diff_case(&b, &p, mask, why, sizeof why)) {
			if (mismatches++ < MAX_REPORTED)
				printf("MISMATCH case %" PRIu64 " (plan %" PRIu64
				       ", mask 0x%" PRIx64 "): %s\n", i, run.plans,
				       mask, why);
			/* both destinations back in step for the next case */
			copy_bench_randomize(&b, &s);
		}
		if ((i + 1) % progress == 0)
			fprintf(stderr, "fuzz-smoke: %" PRIu64 "/%" PRIu64
				" cases, %" PRIu64 " mismatches, %.1f s\n", i + 1,
				cases, mismatches, now_s() - t0);
	}
	double secs = now_s() - t0;
	copy_bench_free(&b);
	printf("fuzz-smoke: %" PRIu64 " random (mask, state) cases over %" PRIu64
	       " plans (%.1f descriptors each), gather and scatter, "
	       "%" PRIu64 " bytes compared: %" PRIu64 " mismatches, "
	       "%" PRIu64 " descriptors refused, %.1f s (%.0f ns/case)\n",
	       cases, run.plans, (double)run.descs / (double)run.plans, b.bytes,
	       mismatches, run.refused, secs, secs * 1e9 / (double)cases);
	printf("RESULT copy cases=%" PRIu64 " mismatches=%" PRIu64
	       " refused=%" PRIu64 " plans=%" PRIu64 " descriptors=%" PRIu64
	       " bytes=%" PRIu64 " seconds=%.1f seed=0x%" PRIx64 "\n",
	       cases, mismatches, run.refused, run.plans, run.descs, b.bytes,
	       secs, seed);
	return mismatches || run.refused ? 1 : 0;
}
