/*
 * roof_soak.c - make soak: the soak of tests/soak/soak.h, long, on one
 * backend ($ROOF_KERNEL), with progress on stderr and the figures as a
 * RESULT line on stdout (tests/soak/run.sh collects them for RESULTS.md).
 *
 *   roof-soak --list            the backends this build has, one per line
 *   roof-soak <exits> [exits per VM [seed]]
 *
 * Exit status 0 only with 0 corrupted registers, 0 lost exits and every
 * exit's info as the guest made it.
 */
#include <stdlib.h>
#include <string.h>

#include "roof_host.h"
#include "soak/soak.h"

static struct soak_opts opts = {
	.exits = 1000000,
	.exits_per_vm = 100000,
	.seed = 0x6f6e65726f6f6621ull,
	.progress = true,
};

static void test_soak(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct soak_result r;
	fprintf(stderr, "soak[%s]: %llu exits, a new VM every %llu, seed 0x%llx\n",
		roof_test_kernel(), (unsigned long long)opts.exits,
		(unsigned long long)opts.exits_per_vm,
		(unsigned long long)opts.seed);
	soak_run(&opts, &r);
	soak_print_result(stdout, &r);
	fflush(stdout);
	soak_assert_clean(&opts, &r);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		char names[256];
		snprintf(names, sizeof names, "%s", roof_backend_names());
		for (char *t = strtok(names, ", "); t; t = strtok(NULL, ", "))
			puts(t);
		return 0;
	}
	if (argc > 1)
		opts.exits = strtoull(argv[1], NULL, 0);
	if (argc > 2)
		opts.exits_per_vm = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		opts.seed = strtoull(argv[3], NULL, 0);
	if (!opts.exits || !opts.exits_per_vm) {
		fprintf(stderr, "usage: %s --list | <exits> [exits per VM [seed]]\n",
			argv[0]);
		return 2;
	}
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_soak)};
	char name[64];
	snprintf(name, sizeof name, "soak[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
