/*
 * stats.c - TSC calibration, sample sets and percentiles, and the record of
 * one arm (kernel, exit, policy).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

double g_ns_per_tick = 1.0;

/* ns per TSC tick: TSC against CLOCK_MONOTONIC_RAW over ms milliseconds,
 * both read back to back so that the bracketing error stays small. */
double tsc_calibrate(unsigned ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	uint64_t t0 = roof_rdtsc();
	struct timespec want = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&want, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	uint64_t t1 = roof_rdtsc();
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 +
		    (double)(b.tv_nsec - a.tv_nsec);
	return t1 > t0 ? ns / (double)(t1 - t0) : 1.0;
}

double ticks_to_ns(double ticks)
{
	return ticks * g_ns_per_tick;
}

int samples_reserve(struct samples *s, size_t cap)
{
	if (cap <= s->cap)
		return 0;
	uint64_t *v = realloc(s->v, cap * sizeof *v);
	if (!v)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

void samples_push(struct samples *s, uint64_t ticks)
{
	if (s->n == s->cap &&
	    samples_reserve(s, s->cap ? s->cap * 2 : 1024) != 0)
		return; /* out of memory: the sample is dropped */
	s->v[s->n++] = ticks;
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double samples_quantile(struct samples *s, double q)
{
	if (!s->n)
		return NAN;
	qsort(s->v, s->n, sizeof *s->v, cmp_u64);
	size_t rank = (size_t)ceil(q * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->v[rank - 1];
}

/* ---- records ----------------------------------------------------------------- */
static void per_exit_ops(struct record *r, const struct arm *a,
			 const struct instance *in, double *crossings,
			 double *bytes, double *hops)
{
	(void)r;
	if (a->raw) {
		double n = (double)in->raw_counts.exits;
		*crossings = n ? (double)in->raw_counts.crossings / n : NAN;
		*bytes = n ? (double)in->raw_counts.bytes / n : NAN;
		*hops = n ? 0.0 : NAN;
	} else {
		double n = (double)in->stats.exits;
		*crossings = n ? (double)in->stats.crossings / n : NAN;
		*bytes = n ? (double)in->stats.bytes / n : NAN;
		*hops = n ? (double)in->stats.hops / n : NAN;
	}
}

static void quantiles(struct samples *s, double *p50, double *p90,
		      double *p99, double *max)
{
	*p50 = ticks_to_ns(samples_quantile(s, 0.50));
	*p90 = ticks_to_ns(samples_quantile(s, 0.90));
	*p99 = ticks_to_ns(samples_quantile(s, 0.99));
	*max = ticks_to_ns(samples_quantile(s, 1.0));
}

/*
 * cpuid never leaves KVM, so it has no round trip of its own. The guest
 * runs the io loop with SLOPE_BLOCKS_LOW and SLOPE_BLOCKS_HIGH blocks of
 * cpuids per io exit; one cpuid costs (period_high - period_low) / cpuids.
 * Per sample: (each high-variant period - the low variant's median) / the
 * extra cpuids, so p50 is the slope of the medians and the tail is the
 * high variant's tail spread over its cpuids. Counted operations likewise:
 * (ops per period high - ops per period low) / the extra cpuids.
 */
static void slope_record(struct record *r, struct arm *a)
{
	struct instance *lo = &a->inst[0], *hi = &a->inst[1];
	double k = (double)(SLOPE_BLOCKS_HIGH - SLOPE_BLOCKS_LOW) *
		   GUEST_CPUIDS_PER_BLOCK;
	double base = samples_quantile(&lo->rtt, 0.5);
	double hbase = samples_quantile(&lo->handle, 0.5);
	struct samples per = {0}, hper = {0};
	samples_reserve(&per, hi->rtt.n);
	samples_reserve(&hper, hi->handle.n);
	for (size_t i = 0; i < hi->rtt.n; i++) {
		double d = ((double)hi->rtt.v[i] - base) / k;
		samples_push(&per, d > 0 ? (uint64_t)llround(d) : 0);
	}
	for (size_t i = 0; i < hi->handle.n; i++) {
		double d = ((double)hi->handle.v[i] - hbase) / k;
		samples_push(&hper, d > 0 ? (uint64_t)llround(d) : 0);
	}
	/* the per-cpuid samples replace the high variant's periods */
	samples_free(&hi->rtt);
	hi->rtt = per;
	double h50 = samples_quantile(&hper, 0.5);
	double h99 = samples_quantile(&hper, 0.99);
	samples_free(&hper);
	quantiles(&hi->rtt, &r->p50, &r->p90, &r->p99, &r->max);
	r->h50 = isnan(hbase) ? NAN : ticks_to_ns(h50);
	r->h99 = isnan(hbase) ? NAN : ticks_to_ns(h99);
	r->iters = hi->rtt.n;
	r->rtt = &hi->rtt;
	double c[2], b[2], h[2];
	per_exit_ops(r, a, lo, &c[0], &b[0], &h[0]);
	per_exit_ops(r, a, hi, &c[1], &b[1], &h[1]);
	r->crossings = (c[1] - c[0]) / k;
	r->bytes = (b[1] - b[0]) / k;
	r->hops = (h[1] - h[0]) / k;
	r->derived = true;
}

void record_from_arm(struct record *r, struct arm *a)
{
	memset(r, 0, sizeof *r);
	r->vmcs_reads = r->vmcs_writes = r->fpu_ops = r->substrate_ioctls = NAN;
	r->kernel = a->kernel;
	r->exit = exit_defs[a->exit].name;
	r->policy = policy_name[a->policy];
	r->ratio = NAN;
	r->ns_per_tick = g_ns_per_tick;
	if (exit_defs[a->exit].method == M_SLOPE) {
		slope_record(r, a);
		return;
	}
	struct instance *in = &a->inst[0];
	quantiles(&in->rtt, &r->p50, &r->p90, &r->p99, &r->max);
	r->h50 = ticks_to_ns(samples_quantile(&in->handle, 0.50));
	r->h99 = ticks_to_ns(samples_quantile(&in->handle, 0.99));
	r->iters = in->rtt.n;
	r->rtt = &in->rtt;
	per_exit_ops(r, a, in, &r->crossings, &r->bytes, &r->hops);
	double n = a->raw ? 0 : (double)in->stats.exits;
	r->vmcs_reads = n ? (double)in->stats.vmcs_reads / n : NAN;
	r->vmcs_writes = n ? (double)in->stats.vmcs_writes / n : NAN;
	r->fpu_ops = n ? (double)in->stats.fpu_ops / n : NAN;
	r->substrate_ioctls = n ? (double)in->stats.substrate_ioctls / n : NAN;
}
