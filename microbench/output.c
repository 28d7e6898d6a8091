/*
 * output.c - records as a table (people), CSV or JSON (tools), and the
 * sorted round-trip samples for the CDF plots.
 *
 * Measured time (round trip, VMM handling) and counted operations
 * (crossings, bytes, hops per exit) are separate column groups.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

static const char *const columns[] = {
	"kernel", "exit", "policy", "iters", "p50_ns", "p90_ns", "p99_ns",
	"max_ns", "handler_p50_ns", "handler_p99_ns", "crossings_per_exit",
	"bytes_per_exit", "hops_per_exit", "ratio_to_bare",
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

/* A number, or the format's "no value" (NAN: not measured / no base). */
static void num(FILE *f, enum format fmt, double v, int decimals)
{
	if (isnan(v))
		fputs(fmt == F_JSON ? "null" : "", f);
	else
		fprintf(f, "%.*f", decimals, v);
}

static void values(FILE *f, enum format fmt, const struct record *r)
{
	const char *sep = fmt == F_JSON ? ", " : ",";
	const double v[] = {r->p50, r->p90, r->p99, r->max, r->h50, r->h99,
			    r->crossings, r->bytes, r->hops, r->ratio};
	const int dec[] = {1, 1, 1, 1, 1, 1, 3, 1, 3, 4};
	fprintf(f, "%llu", (unsigned long long)r->iters);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		fputs(sep, f);
		if (fmt == F_JSON)
			fprintf(f, "\"%s\": ", columns[4 + i]);
		num(f, fmt, v[i], dec[i]);
	}
}

static void cell(FILE *f, double v, int width, int decimals)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, decimals, v);
}

static void table(FILE *f, const struct record *r, size_t n)
{
	fprintf(f, "%-7s %-13s %-10s %7s | %-35s | %-15s | %-26s | %s\n", "", "",
		"", "", "round trip, measured (ns)", "VMM handling",
		"counted per exit", "ratio");
	fprintf(f, "%-7s %-13s %-10s %7s | %8s %8s %8s %8s | %7s %7s | "
		   "%9s %8s %7s | %7s\n",
		"kernel", "exit", "policy", "iters", "p50", "p90", "p99", "max",
		"p50", "p99", "crossings", "bytes", "hops", "to bare");
	for (size_t i = 0; i < n; i++) {
		const struct record *x = &r[i];
		fprintf(f, "%-7s %-13s %-10s %7llu |", x->kernel, x->exit,
			x->policy, (unsigned long long)x->iters);
		cell(f, x->p50, 8, 0);
		cell(f, x->p90, 8, 0);
		cell(f, x->p99, 8, 0);
		cell(f, x->max, 8, 0);
		fputs(" |", f);
		cell(f, x->h50, 7, 0);
		cell(f, x->h99, 7, 0);
		fputs(" |", f);
		cell(f, x->crossings, 9, 2);
		cell(f, x->bytes, 8, 0);
		cell(f, x->hops, 7, 2);
		fputs(" |", f);
		cell(f, x->ratio, 7, 3);
		fputs(x->derived ? "  (per cpuid, by slope)\n" : "\n", f);
	}
}

void output_records(FILE *f, enum format fmt, const struct record *r,
		    size_t n)
{
	if (fmt == F_TABLE) {
		table(f, r, n);
		return;
	}
	if (fmt == F_CSV) {
		for (size_t i = 0; i < NCOLUMNS; i++)
			fprintf(f, "%s%s", i ? "," : "", columns[i]);
		fputc('\n', f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s,%s,%s,", r[i].kernel, r[i].exit,
				r[i].policy);
			values(f, fmt, &r[i]);
			fputc('\n', f);
		}
		return;
	}
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  {\"kernel\": \"%s\", \"exit\": \"%s\", "
			   "\"policy\": \"%s\", \"iters\": ",
			r[i].kernel, r[i].exit, r[i].policy);
		values(f, fmt, &r[i]);
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fputs("]\n", f);
}

/* <dir>/<kernel>_<exit>_<policy>.cdf: "ns fraction" at up to 1000 evenly
 * spaced ranks of the sorted round trips. */
int output_samples(const char *dir, const struct record *r, size_t n)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		note("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct samples *s = r[i].rtt;
		if (!s || !s->n)
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s_%s_%s.cdf", dir, r[i].kernel,
			 r[i].exit, r[i].policy);
		FILE *f = fopen(path, "w");
		if (!f) {
			note("cannot write %s: %s", path, strerror(errno));
			return -1;
		}
		size_t points = s->n < 1000 ? s->n : 1000;
		for (size_t k = 1; k <= points; k++) {
			size_t rank = (size_t)ceil((double)k * (double)s->n /
						   (double)points);
			fprintf(f, "%.1f %.6f\n",
				(double)s->v[rank - 1] * r[i].ns_per_tick,
				(double)rank / (double)s->n);
		}
		if (fclose(f) != 0) {
			note("writing %s failed: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The model kernels' own counts per exit, beside bench.json's records
 * (which keep exactly their fixed keys): DIR/ops.json. */
int output_ops(const char *path, const struct record *r, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "[\n");
	for (size_t i = 0; i < n; i++) {
		const struct record *x = &r[i];
		fprintf(f, "  {\"kernel\": \"%s\", \"exit\": \"%s\", "
			   "\"policy\": \"%s\"", x->kernel, x->exit, x->policy);
		const struct { const char *key; double v; } v[] = {
			{"vmcs_reads_per_exit", x->vmcs_reads},
			{"vmcs_writes_per_exit", x->vmcs_writes},
			{"fpu_ops_per_exit", x->fpu_ops},
			{"substrate_ioctls_per_exit", x->substrate_ioctls},
		};
		for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
			if (isnan(v[k].v))
				fprintf(f, ", \"%s\": null", v[k].key);
			else
				fprintf(f, ", \"%s\": %.4f", v[k].key, v[k].v);
		}
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "]\n");
	return fclose(f) == 0 ? 0 : -1;
}
