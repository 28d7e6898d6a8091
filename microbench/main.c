/*
 * main.c - roof-bench: options, the measurement matrix, interleaving,
 * goals. See --help and RESULTS.md ("Method").
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "roof_host.h" /* roof_backend_find/_names: the backends built in */

const char *const policy_name[P_COUNT] = {
	"bare", "fast", "full", "entrypoint", "naive", "genode", "tuned",
	"unblocked",
};

static const char *const policy_help[P_COUNT] = {
	"kvm: raw KVM_RUN loop, no library (the limit; kernels/kvm/kvm_raw.c)",
	"kvm: inline handler, shipped minimal mask (ROOF_MASK_DEFAULT)",
	"kvm: inline handler, mask ROOF_G_EVERYTHING (FPU included), register "
	"cache off:\n                what Genode transfers since 21.02",
	"kvm: default mask, handler ROOF_ON_EP (Genode's control flow: one "
	"hop)",
	"kvm: raw textbook VMM: KVM_GET_REGS + KVM_SET_REGS per exit (+ "
	"KVM_GET_SREGS\n                for MMIO)",
	"models: set_option policy=genode; handler on the entrypoint with "
	"mask\n                EVERYTHING. kvm: full transfer + entrypoint hop "
	"(EVERYTHING, cache off,\n                ROOF_ON_EP)",
	"models: set_option policy=tuned; inline handler, default mask. kvm: "
	"= fast",
	"kvm: fast with set_option recall=unblocked: the recall signal stays "
	"unblocked,\n                so KVM_RUN swaps no signal mask (what the "
	"default recall=sigmask costs)",
};

const struct exit_def exit_defs[E_COUNT] = {
	[E_IO_OUT] = {"io-out", "io-out", M_LOOP, false, false,
		      "out to a port (retired by KVM before the exit)"},
	[E_IO_IN] = {"io-in", "io-in", M_LOOP, false, false,
		     "in from a port (the VMM supplies the byte)"},
	[E_MMIO_READ] = {"mmio-read", "mmio-read", M_LOOP, false, false,
			 "4-byte load from unbacked guest memory"},
	[E_MMIO_WRITE] = {"mmio-write", "mmio-write", M_LOOP, false, false,
			  "4-byte store to unbacked guest memory"},
	[E_HLT] = {"hlt", "hlt", M_LOOP, false, false,
		   "hlt; the handler steps over it"},
	[E_MSR_READ] = {"msr-read", "msr-read", M_LOOP, true, false,
			"rdmsr of a VMM MSR (roof_vm_set_msr_exits)"},
	[E_MSR_WRITE] = {"msr-write", "msr-write", M_LOOP, true, false,
			 "wrmsr of a VMM MSR"},
	[E_CPUID] = {"cpuid", "cpuid", M_SLOPE, false, false,
		     "cpuid answered inside KVM from the policy table: per "
		     "cpuid, by slope"},
	[E_CPUID_USER] = {"cpuid-user", "cpuid-user", M_LOOP, false, true,
			  "cpuid at a cpuid site (roof_vm_set_cpuid_exits): "
			  "exits on every backend"},
	[E_PAUSE] = {"pause", "pause", M_PAUSE, false, false,
		     "roof_vcpu_pause() to the PAUSED handler, guest "
		     "spinning"},
	[E_IO_OUT_2VCPU] = {"io-out-2vcpu", "io-out", M_PAIR, false, false,
			    "io-out on two vCPUs at once, one per core"},
};

/* ---- small helpers ---------------------------------------------------------- */
static bool progress_tty;

void progress(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (progress_tty)
		fprintf(stderr, "\r\033[Kroof-bench: %s", line);
	else
		fprintf(stderr, "roof-bench: %s\n", line);
}

static void progress_end(void)
{
	if (progress_tty)
		fputs("\r\033[K", stderr);
}

void note(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	progress_end();
	fprintf(stderr, "roof-bench: %s\n", line);
}

void pin_self(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- options ----------------------------------------------------------------- */
struct selection {
	char kernels[8][32];
	unsigned nkernels;
	bool exit_on[E_COUNT];
	bool policy_on[P_COUNT];
	bool policy_all;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: roof-bench [--kernel K[,K...]|all] [--exit E[,E...]|all]\n"
"                  [--policy P[,P...]|all] [--iters N] [--chunk N]\n"
"                  [--format table|csv|json] [--out DIR] [--no-reference]\n"
"                  [--vs-qemu]\n"
"\n"
"Exit-to-resume latency of oneroof per kernel, exit type and policy, beside\n"
"a bare KVM_RUN loop and a textbook ioctl VMM, measured side by side in one\n"
"run (variants interleaved in chunks so drift cancels).\n"
"\n"
"  --kernel   backends built in: %s (default all)\n"
"  --exit     default all:\n",
		roof_backend_names());
	for (unsigned e = 0; e < E_COUNT; e++)
		fprintf(f, "               %-13s %s\n", exit_defs[e].name,
			exit_defs[e].what);
	fprintf(f, "  --policy   default all (kvm: all but tuned, which is "
		   "fast; models: genode, tuned):\n");
	for (unsigned p = 0; p < P_COUNT; p++)
		fprintf(f, "    %-11s %s\n", policy_name[p], policy_help[p]);
	fprintf(f,
"             Combinations a kernel does not offer are skipped with a note.\n"
"             ratio_to_bare needs kvm bare: it is measured as the reference\n"
"             even when not selected (--no-reference: not, e.g. for perf).\n"
"  --iters    measured exits per (kernel, exit, policy) (default 10000)\n"
"  --chunk    exits per turn of the interleaving (default 250)\n"
"  --format   table (default), csv or json (an array of records)\n"
"  --out DIR  also write DIR/bench.json (the records), goals.json,\n"
"             meta.json and cdf/*.cdf (sorted round trips) for the plots and\n"
"             RESULTS.md (microbench/gen-results.py)\n"
"  --vs-qemu  boot the io-out guest as a -bios ROM in qemu-system-x86_64\n"
"             -accel kvm and under oneroof's fast path; per-exit cost of\n"
"             each from two iteration counts (slope: boot time cancels);\n"
"             prints {exit, ours_ns, qemu_ns, ratio = qemu/ours}\n"
"\n"
"Record (csv/json columns): kernel exit policy iters p50_ns p90_ns p99_ns\n"
"max_ns handler_p50_ns handler_p99_ns crossings_per_exit bytes_per_exit\n"
"hops_per_exit ratio_to_bare.\n"
"  p50..max     round trip, measured: time between consecutive exits, stamped\n"
"               right after KVM_RUN returns (VMM + entry + guest loop body +\n"
"               exit); pause: from roof_vcpu_pause() to the PAUSED handler\n"
"  handler_*    measured: VMM-side time from KVM_RUN's return to the next\n"
"               KVM_RUN (struct roof_probe; the raw loops stamp the same)\n"
"  *_per_exit   counted, not timed: state ioctls/kernel crossings beyond\n"
"               KVM_RUN, bytes of state copied, thread hops\n"
"  ratio        p50 / p50 of kvm bare, same exit, same run\n"
"TSC ticks are converted to ns by a calibration against CLOCK_MONOTONIC_RAW.\n"
"Goals (checked on kvm, p50, printed as PASS/FAIL): fast io-out, io-in,\n"
"mmio-read, mmio-write, hlt: ratio_to_bare <= 1.03, handler p50 <= 150 ns,\n"
"p99 <= 1 us; naive/fast io-out >= 2.0; --vs-qemu qemu/ours >= 1.2.\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("roof-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(roof-bench --help lists everything)\n", stderr);
	return -1;
}

static int parse_kernels(struct selection *s, const char *arg)
{
	char list[256];
	snprintf(list, sizeof list, "%s", strcmp(arg, "all") == 0
						 ? roof_backend_names() : arg);
	s->nkernels = 0;
	for (char *save, *t = strtok_r(list, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		if (!roof_backend_find(t))
			return bad("unknown kernel '%s'; this build has: %s, all",
				   t, roof_backend_names());
		bool dup = false;
		for (unsigned i = 0; i < s->nkernels; i++)
			dup |= strcmp(s->kernels[i], t) == 0;
		if (dup)
			continue;
		if (s->nkernels == 8)
			return bad("too many kernels");
		snprintf(s->kernels[s->nkernels++], sizeof s->kernels[0], "%s",
			 t);
	}
	return s->nkernels ? 0 : bad("--kernel: empty list");
}

static int parse_list(const char *arg, const char *what, bool *on,
		      unsigned count, const char *(*name)(unsigned))
{
	char list[256];
	snprintf(list, sizeof list, "%s", arg);
	bool any = false;
	for (char *save, *t = strtok_r(list, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		if (strcmp(t, "all") == 0) {
			for (unsigned i = 0; i < count; i++)
				on[i] = true;
			any = true;
			continue;
		}
		unsigned i;
		for (i = 0; i < count && strcmp(name(i), t) != 0; i++)
			;
		if (i == count) {
			char valid[256] = "";
			for (unsigned k = 0; k < count; k++) {
				strncat(valid, name(k),
					sizeof valid - strlen(valid) - 1);
				strncat(valid, ", ", sizeof valid - strlen(valid) - 1);
			}
			return bad("unknown %s '%s'; valid: %sall", what, t, valid);
		}
		on[i] = any = true;
	}
	return any ? 0 : bad("--%s: empty list", what);
}

static const char *exit_name_at(unsigned i) { return exit_defs[i].name; }
static const char *policy_name_at(unsigned i) { return policy_name[i]; }

static int parse_uint(const char *arg, const char *what, unsigned lo,
		      unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi || arg[0] == '-')
		return bad("%s must be a number from %u to %u, not '%s'", what,
			   lo, hi, arg);
	*out = (unsigned)v;
	return 0;
}

/* ---- the matrix ---------------------------------------------------------------- */
static bool is_kvm(const char *k) { return strcmp(k, "kvm") == 0; }

/* Set the arm up for (kernel, policy); false when the pair does not exist
 * (the caller notes it). */
bool arm_config(struct arm *a, const char *kernel, enum policy p, char *why,
		size_t len)
{
	a->kernel = kernel;
	a->policy = p;
	a->mask = ROOF_MASK_DEFAULT;
	a->where = ROOF_INLINE;
	if (is_kvm(kernel)) {
		switch (p) {
		case P_BARE:
		case P_NAIVE:
			a->raw = true;
			break;
		case P_FAST:
		case P_TUNED:
			break;
		case P_UNBLOCKED:
			a->recall_unblocked = true;
			break;
		case P_FULL:
			a->mask = ROOF_G_EVERYTHING;
			a->cache_off = true;
			break;
		case P_ENTRYPOINT:
			a->where = ROOF_ON_EP;
			break;
		case P_GENODE:
			a->mask = ROOF_G_EVERYTHING;
			a->cache_off = true;
			a->where = ROOF_ON_EP;
			break;
		default:
			return false;
		}
		return true;
	}
	switch (p) {
	case P_GENODE:
		a->backend_policy = "genode";
		a->mask = ROOF_G_EVERYTHING;
		a->where = ROOF_ON_EP;
		return true;
	case P_TUNED:
		a->backend_policy = "tuned";
		return true;
	default:
		snprintf(why, len, "%s takes policy genode or tuned, not %s "
			 "(the kvm-only policies run on kvm)", kernel,
			 policy_name[p]);
		return false;
	}
}

struct run {
	bool no_reference; /* no hidden kvm bare (ratio_to_bare stays empty) */
	struct bench_opts o;
	struct selection sel;
	struct arm *arms;
	size_t narms, cap;
	struct record *recs;
	size_t nrecs;
};

static struct arm *new_arm(struct run *R)
{
	if (R->narms == R->cap) {
		size_t cap = R->cap ? R->cap * 2 : 32;
		struct arm *a = realloc(R->arms, cap * sizeof *a);
		if (!a)
			return NULL;
		R->arms = a;
		R->cap = cap;
	}
	struct arm *a = &R->arms[R->narms++];
	memset(a, 0, sizeof *a);
	return a;
}

/* Arms of one exit: the selected (kernel, policy) pairs, plus kvm bare as
 * the ratio's reference. */
static size_t plan_exit(struct run *R, enum exit_kind e, bool first_exit)
{
	size_t start = R->narms;
	for (unsigned k = 0; k < R->sel.nkernels; k++) {
		const char *kernel = R->sel.kernels[k];
		for (unsigned p = 0; p < P_COUNT; p++) {
			if (!R->sel.policy_on[p])
				continue;
			/* 'all' on kvm: tuned is fast, measured once */
			if (R->sel.policy_all && is_kvm(kernel) && p == P_TUNED)
				continue;
			if (R->sel.policy_all && !is_kvm(kernel) &&
			    p != P_GENODE && p != P_TUNED)
				continue;
			struct arm probe_arm;
			memset(&probe_arm, 0, sizeof probe_arm);
			char why[256] = "";
			if (!arm_config(&probe_arm, kernel, (enum policy)p, why,
					sizeof why)) {
				if (first_exit)
					note("skipped %s/%s: %s", kernel,
					     policy_name[p], why);
				continue;
			}
			struct arm *a = new_arm(R);
			if (!a)
				return start;
			*a = probe_arm;
			a->exit = e;
		}
	}
	bool have_bare = false;
	for (size_t i = start; i < R->narms; i++)
		have_bare |= is_kvm(R->arms[i].kernel) && R->arms[i].policy == P_BARE;
	if (!have_bare && !R->no_reference && R->narms > start &&
	    roof_backend_find("kvm")) {
		struct arm *a = new_arm(R);
		if (a) {
			char why[8];
			arm_config(a, "kvm", P_BARE, why, sizeof why);
			a->exit = e;
			a->reference = true;
		}
	}
	return start;
}

static void measure_exit(struct run *R, enum exit_kind e, size_t from,
			 unsigned index, unsigned nexits)
{
	struct bench_opts *o = &R->o;
	size_t n = R->narms - from;
	struct arm *arms = &R->arms[from];
	const char *name = exit_defs[e].name;
	char label[96];
	progress("[%u/%u] %s: setting up %zu variants", index, nexits, name, n);
	for (size_t i = 0; i < n; i++) {
		if (arm_setup(&arms[i], o) != 0) {
			note("skipped %s: %s", arm_label(&arms[i], label,
							 sizeof label),
			     arms[i].why);
			arm_teardown(&arms[i]);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!arms[i].failed && arm_chunk(&arms[i], o, o->warmup, false))
			note("skipped %s: %s",
			     arm_label(&arms[i], label, sizeof label), arms[i].why);
	unsigned rounds = (o->iters + o->chunk - 1) / o->chunk;
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t want = o->iters - (uint64_t)r * o->chunk;
		/* a chunk drops its first sample (arm.c, keep()): a period
		 * needs two exits, so a loop chunk runs two exits more */
		uint64_t chunk = (want < o->chunk ? want : o->chunk) +
				 (exit_defs[e].method == M_PAUSE ? 1 : 2);
		if (r % 4 == 0)
			progress("[%u/%u] %s: %zu variants, round %u/%u", index,
				 nexits, name, n, r + 1, rounds);
		/* A B C, then B C A, ...: no variant always runs first */
		for (size_t k = 0; k < n; k++) {
			struct arm *a = &arms[(k + r) % n];
			if (!a->failed && arm_chunk(a, o, chunk, true))
				note("skipped %s: %s",
				     arm_label(a, label, sizeof label), a->why);
		}
	}
	for (size_t i = 0; i < n; i++)
		arm_teardown(&arms[i]);
}

static void build_records(struct run *R)
{
	size_t n = R->narms ? R->narms : 1;
	struct record *all = calloc(n, sizeof *all);
	R->recs = calloc(n, sizeof *R->recs);
	if (!all || !R->recs) {
		free(all);
		note("out of memory for the records");
		return;
	}
	for (size_t i = 0; i < R->narms; i++)
		if (!R->arms[i].failed)
			record_from_arm(&all[i], &R->arms[i]);
	for (size_t i = 0; i < R->narms; i++) {
		struct arm *a = &R->arms[i];
		if (a->failed || a->reference)
			continue;
		char label[96];
		if (!all[i].iters) {
			note("no samples for %s", arm_label(a, label, sizeof label));
			continue;
		}
		/* the base: kvm bare of the same exit, same run */
		for (size_t j = 0; j < R->narms; j++) {
			struct arm *b = &R->arms[j];
			if (b->exit == a->exit && !b->failed && is_kvm(b->kernel) &&
			    b->policy == P_BARE && all[j].iters && all[j].p50 > 0)
				all[i].ratio = all[i].p50 / all[j].p50;
		}
		R->recs[R->nrecs++] = all[i];
	}
	free(all);
}

/* ---- goals ------------------------------------------------------------------------ */
struct goal {
	char what[96];
	double value, limit;
	bool at_most; /* value <= limit, else value >= limit */
	bool measured, pass;
};

static const struct record *find(const struct run *R, const char *kernel,
				 const char *exit, const char *policy)
{
	for (size_t i = 0; i < R->nrecs; i++)
		if (!strcmp(R->recs[i].kernel, kernel) &&
		    !strcmp(R->recs[i].exit, exit) &&
		    !strcmp(R->recs[i].policy, policy))
			return &R->recs[i];
	return NULL;
}

static void goal_add(struct goal *g, size_t *n, const char *what, double v,
		     double limit, bool at_most)
{
	struct goal *x = &g[(*n)++];
	snprintf(x->what, sizeof x->what, "%s", what);
	x->value = v;
	x->limit = limit;
	x->at_most = at_most;
	x->measured = !isnan(v);
	x->pass = x->measured && (at_most ? v <= limit : v >= limit);
}

static size_t goals_matrix(const struct run *R, struct goal *g)
{
	static const char *const fast_exits[] = {"io-out", "io-in", "mmio-read",
						 "mmio-write", "hlt"};
	size_t n = 0;
	char what[96];
	for (size_t i = 0; i < 5; i++) {
		const struct record *r = find(R, "kvm", fast_exits[i], "fast");
		snprintf(what, sizeof what, "kvm fast %s ratio_to_bare",
			 fast_exits[i]);
		goal_add(g, &n, what, r ? r->ratio : NAN, 1.03, true);
		snprintf(what, sizeof what, "kvm fast %s handler_p50_ns",
			 fast_exits[i]);
		goal_add(g, &n, what, r ? r->h50 : NAN, 150, true);
		snprintf(what, sizeof what, "kvm fast %s handler_p99_ns",
			 fast_exits[i]);
		goal_add(g, &n, what, r ? r->h99 : NAN, 1000, true);
	}
	const struct record *naive = find(R, "kvm", "io-out", "naive");
	const struct record *fast = find(R, "kvm", "io-out", "fast");
	goal_add(g, &n, "kvm io-out naive/fast p50",
		 naive && fast ? naive->p50 / fast->p50 : NAN, 2.0, false);
	return n;
}

static void goals_print(const struct goal *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!g[i].measured)
			fprintf(stderr, "goal %-38s not measured in this run\n",
				g[i].what);
		else
			fprintf(stderr, "goal %-38s %10.3f %s %-7g %s\n",
				g[i].what, g[i].value, g[i].at_most ? "<=" : ">=",
				g[i].limit, g[i].pass ? "PASS" : "FAIL");
	}
}

static int goals_write(const char *dir, const char *file, const struct goal *g,
		       size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	if (!f) {
		note("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  {\"goal\": \"%s\", \"op\": \"%s\", \"limit\": %g, ",
			g[i].what, g[i].at_most ? "<=" : ">=", g[i].limit);
		if (g[i].measured)
			fprintf(f, "\"value\": %.4f, \"result\": \"%s\"}",
				g[i].value, g[i].pass ? "PASS" : "FAIL");
		else
			fputs("\"value\": null, \"result\": \"not measured\"}", f);
		fprintf(f, "%s\n", i + 1 < n ? "," : "");
	}
	fputs("]\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

static int meta_write(const struct run *R, const char *dir, double seconds)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/meta.json", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		note("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"ns_per_tick\": %.6f, \"tsc_ghz\": %.4f, \"iters\": %u, "
		   "\"chunk\": %u, \"warmup\": %u, \"rounds\": %u, "
		   "\"cpus_online\": %ld, \"cpu_main\": %d, \"cpu_other\": %d, "
		   "\"kernels_built\": \"%s\", \"slope_cpuids\": %u, "
		   "\"seconds\": %.1f}\n",
		g_ns_per_tick, 1.0 / g_ns_per_tick, R->o.iters, R->o.chunk,
		R->o.warmup, (R->o.iters + R->o.chunk - 1) / R->o.chunk,
		sysconf(_SC_NPROCESSORS_ONLN), R->o.cpu_main, R->o.cpu_other,
		roof_backend_names(),
		(SLOPE_BLOCKS_HIGH - SLOPE_BLOCKS_LOW) * GUEST_CPUIDS_PER_BLOCK,
		seconds);
	return fclose(f) == 0 ? 0 : -1;
}

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		note("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------------------- */
int main(int argc, char **argv)
{
	struct run R;
	memset(&R, 0, sizeof R);
	R.o = (struct bench_opts){.iters = 10000, .chunk = 250, .warmup = 200};
	enum format fmt = F_TABLE;
	const char *out_dir = NULL;
	bool vs = false, kernel_given = false, exit_given = false,
	     policy_given = false;
	progress_tty = isatty(2);

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = NULL;
		const char *eq = strchr(opt, '=');
		char key[32];
		if (strncmp(opt, "--", 2) == 0 && eq &&
		    (size_t)(eq - opt) < sizeof key) {
			memcpy(key, opt, (size_t)(eq - opt));
			key[eq - opt] = 0;
			opt = key;
			val = eq + 1;
		}
		bool takes = !strcmp(opt, "--kernel") || !strcmp(opt, "--exit") ||
			     !strcmp(opt, "--policy") || !strcmp(opt, "--iters") ||
			     !strcmp(opt, "--chunk") || !strcmp(opt, "--format") ||
			     !strcmp(opt, "--out");
		if (takes && !val) {
			if (i + 1 >= argc)
				return bad("%s needs a value", opt), 1;
			val = argv[++i];
		}
		if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(opt, "--kernel")) {
			if (parse_kernels(&R.sel, val))
				return 1;
			kernel_given = true;
		} else if (!strcmp(opt, "--exit")) {
			if (parse_list(val, "exit", R.sel.exit_on, E_COUNT,
				       exit_name_at))
				return 1;
			exit_given = true;
		} else if (!strcmp(opt, "--policy")) {
			if (parse_list(val, "policy", R.sel.policy_on, P_COUNT,
				       policy_name_at))
				return 1;
			R.sel.policy_all |= strstr(val, "all") != NULL;
			policy_given = true;
		} else if (!strcmp(opt, "--iters")) {
			if (parse_uint(val, "--iters", 10, 10000000, &R.o.iters))
				return 1;
		} else if (!strcmp(opt, "--chunk")) {
			if (parse_uint(val, "--chunk", 10, 1000000, &R.o.chunk))
				return 1;
		} else if (!strcmp(opt, "--format")) {
			if (!strcmp(val, "table"))
				fmt = F_TABLE;
			else if (!strcmp(val, "csv"))
				fmt = F_CSV;
			else if (!strcmp(val, "json"))
				fmt = F_JSON;
			else
				return bad("unknown format '%s'; valid: table, "
					   "csv, json", val), 1;
		} else if (!strcmp(opt, "--out")) {
			out_dir = val;
		} else if (!strcmp(opt, "--vs-qemu")) {
			vs = true;
		} else if (!strcmp(opt, "--no-reference")) {
			R.no_reference = true;
		} else {
			return bad("unknown option '%s'", argv[i]), 1;
		}
	}
	if (!kernel_given && parse_kernels(&R.sel, "all"))
		return 1;
	if (!exit_given)
		parse_list("all", "exit", R.sel.exit_on, E_COUNT, exit_name_at);
	if (!policy_given) {
		parse_list("all", "policy", R.sel.policy_on, P_COUNT,
			   policy_name_at);
		R.sel.policy_all = true;
	}
	if (R.o.chunk > R.o.iters)
		R.o.chunk = R.o.iters;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	R.o.cpu_main = ncpu > 1 ? 1 : 0;
	R.o.cpu_other = 0;
	if (ncpu < 2)
		note("one core online: the second vCPU and the pauser share it");
	if (out_dir && ensure_dir(out_dir))
		return 1;

	pin_self(R.o.cpu_main);
	g_ns_per_tick = tsc_calibrate(200);
	uint64_t t_start = now_ns();

	if (vs) {
		struct qemu_result q;
		if (vs_qemu(&R.o, &q) != 0)
			return 2;
		progress_end();
		output_qemu(stdout, fmt, &q);
		struct goal g[1];
		size_t n = 0;
		goal_add(g, &n, "io-out qemu/ours", q.ratio, 1.2, false);
		goals_print(g, n);
		if (out_dir) {
			char path[1024];
			snprintf(path, sizeof path, "%s/qemu.json", out_dir);
			FILE *f = fopen(path, "w");
			if (f) {
				output_qemu(f, F_JSON, &q);
				fclose(f);
			}
			goals_write(out_dir, "goals-qemu.json", g, n);
			snprintf(path, sizeof path, "%s/qemu-meta.json", out_dir);
			f = fopen(path, "w");
			if (f) {
				fprintf(f, "{\"bare_ns\": %.1f, \"n_low\": %u, "
					   "\"n_high\": %u, \"reps\": %u}\n",
					q.bare_ns, q.n_low, q.n_high, q.reps);
				fclose(f);
			}
		}
		return 0;
	}

	unsigned nexits = 0, index = 0;
	for (unsigned e = 0; e < E_COUNT; e++)
		nexits += R.sel.exit_on[e];
	bool first = true;
	for (unsigned e = 0; e < E_COUNT; e++) {
		if (!R.sel.exit_on[e])
			continue;
		size_t from = plan_exit(&R, (enum exit_kind)e, first);
		first = false;
		index++;
		if (R.narms == from) {
			note("%s: nothing to measure", exit_defs[e].name);
			continue;
		}
		measure_exit(&R, (enum exit_kind)e, from, index, nexits);
	}
	/* recalibrate and use the mean: a drift shows in meta.json */
	g_ns_per_tick = (g_ns_per_tick + tsc_calibrate(200)) / 2;
	double seconds = (double)(now_ns() - t_start) / 1e9;
	progress_end();
	build_records(&R);
	output_records(stdout, fmt, R.recs, R.nrecs);
	fflush(stdout);
	struct goal g[32];
	size_t ng = goals_matrix(&R, g);
	goals_print(g, ng);
	if (out_dir) {
		char cdf[1024];
		snprintf(cdf, sizeof cdf, "%s/cdf", out_dir);
		output_samples(cdf, R.recs, R.nrecs);
		char path[1024];
		snprintf(path, sizeof path, "%s/bench.json", out_dir);
		FILE *f = fopen(path, "w");
		if (f) {
			output_records(f, F_JSON, R.recs, R.nrecs);
			if (fclose(f) != 0)
				note("writing %s failed", path);
		} else {
			note("cannot write %s: %s", path, strerror(errno));
		}
		goals_write(out_dir, "goals.json", g, ng);
		snprintf(path, sizeof path, "%s/ops.json", out_dir);
		if (output_ops(path, R.recs, R.nrecs) != 0)
			note("writing %s failed", path);
		meta_write(&R, out_dir, seconds);
	}
	int status = R.nrecs ? 0 : 2;
	for (size_t i = 0; i < R.narms; i++)
		arm_free_samples(&R.arms[i]);
	free(R.arms);
	free(R.recs);
	return status;
}
