/*
 * write_seeds.c - writes the seed corpus of the fuzz targets into
 * tests/fuzz/corpus/ (make fuzz runs it first; the files are committed):
 *   copy/         encoded random plans of copy_diff.h, and one shaped like
 *                 a real backend layout (a few registers, a long FPU run)
 *   exit-<k>/     each example record kernel k's hook emits
 *                 (tests/fuzz/exit_decoders.h), named after it
 * Deterministic: the same library writes the same files.
 *
 *   write_seeds <corpus dir> <kernel>...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "copy_diff.h"
#include "exit_decoders.h"

static int write_file(const char *dir, const char *name, const uint8_t *data,
		      size_t size)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.bin", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		fprintf(stderr, "write_seeds: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "write_seeds: mkdir %s: %s\n", path, strerror(errno));
	return -1;
}

static int emit_seed(void *ctx, const char *name, roof_exit want,
		     const uint8_t *data, size_t size)
{
	(void)want;
	return write_file(ctx, name, data, size);
}

static int copy_seeds(const char *dir)
{
	static uint8_t buf[COPY_INPUT_HEADER + ROOF_PLAN_MAX_DESC * COPY_INPUT_DESC];
	struct roof_transfer_plan p;
	uint64_t s = 0xc0feeull;
	char name[32];
	int n = 0;
	/* a layout like a backend's: 4 + 3 registers, a flags word, a
	 * 64-byte run, a 2560-byte FPU image */
	roof_plan_init(&p, 4096);
	for (unsigned i = 0; i < 4; i++)
		roof_plan_add(&p, ROOF_GB_ACDB, 8 * i, 512 + 8 * i, 8);
	for (unsigned i = 0; i < 3; i++)
		roof_plan_add(&p, ROOF_GB_EBSD, 32 + 8 * i, 560 + 8 * i, 8);
	roof_plan_add(&p, ROOF_GB_EFL, 64, 600, 8);
	roof_plan_add(&p, ROOF_GB_R8_R15, 72, 608, 64);
	roof_plan_add(&p, ROOF_GB_FPU, 1024, (uint32_t)sizeof(roof_state) - 2560,
		      2560);
	size_t len = copy_input_encode(&p, ~0ull, 1, buf, sizeof buf);
	if (!len || write_file(dir, "backend-like", buf, len))
		return -1;
	n++;
	for (unsigned i = 0; i < 24; i++) {
		uint32_t native = 64 + rng_below(&s, 4096);
		copy_random_plan(&p, &s, native);
		/* one after the other: argument order is unspecified (C11
		 * 6.5.2.2), so two generator calls in one call made the files
		 * depend on the compiler; this is the order clang used */
		uint64_t mask = copy_random_mask(&s, &p);
		uint64_t seed = rng_next(&s);
		len = copy_input_encode(&p, mask, seed, buf, sizeof buf);
		snprintf(name, sizeof name, "random-%02u", i);
		if (len && write_file(dir, name, buf, len) == 0)
			n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <corpus dir> <kernel>...\n", argv[0]);
		return 2;
	}
	char dir[400];
	int rc = 0;
	snprintf(dir, sizeof dir, "%s/copy", argv[1]);
	int n = make_dir(argv[1]) || make_dir(dir) ? -1 : copy_seeds(dir);
	if (n < 0)
		rc = 1;
	else
		printf("write_seeds: copy: %d seeds\n", n);
	for (int i = 2; i < argc; i++) {
		struct roof_exit_decoder d = roof_exit_decoder_of(argv[i]);
		if (!d.seeds) {
			printf("write_seeds: exit-%s: no hook yet\n", argv[i]);
			continue;
		}
		snprintf(dir, sizeof dir, "%s/exit-%s", argv[1], argv[i]);
		if (make_dir(dir)) {
			rc = 1;
			continue;
		}
		printf("write_seeds: exit-%s: %d seeds\n", argv[i],
		       d.seeds(emit_seed, dir));
	}
	return rc;
}
