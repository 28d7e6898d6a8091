/* list_kernels.c - prints the backends this build has, one per line, for
 * tests/run-tests.sh (which runs the per-kernel suites once per backend). */
#include <stdio.h>
#include <string.h>

#include "roof_host.h"

int main(void)
{
	char names[256];
	snprintf(names, sizeof names, "%s", roof_backend_names());
	for (char *tok = strtok(names, ", "); tok; tok = strtok(NULL, ", "))
		puts(tok);
	return 0;
}
