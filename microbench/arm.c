/*
 * arm.c - one measured variant (kernel, policy) of one exit: set-up, runs
 * in chunks, tear-down.
 *
 * Round trip: the time between two consecutive exits of the loop, i.e.
 * VMM handling + entry + the guest's loop body + the next exit, stamped at
 * the same point for every variant: right after KVM_RUN returned (the
 * probe's exit stamp in the library, kvm_raw.c's in the raw loops). A
 * backend that does not stamp gets the handler's own rdtsc instead.
 * Handling time: the probe's (or the raw loop's) ticks from the return of
 * KVM_RUN to the next KVM_RUN.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK_TIMEOUT_NS (120ull * 1000000000ull)
#define ACK_TIMEOUT_NS (5ull * 1000000000ull)

/* The leaf the cpuid guests ask for, answered from the VMM's policy. */
static const struct roof_cpuid_entry bench_cpuid[] = {
	{GUEST_CPUID_LEAF, 0, 0x40000001, 0x666f6f72, 0x6e656220, 0x00006863,
	 0},
};

const char *arm_label(const struct arm *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s", a->kernel, policy_name[a->policy],
		 exit_defs[a->exit].name);
	return buf;
}

static int arm_fail(struct arm *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int arm_fail(struct arm *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof a->why, fmt, ap);
	va_end(ap);
	a->failed = true;
	return -1;
}

/* ---- guest images ------------------------------------------------------------ */
void *guest_rom_load(const char *name, char *err, size_t errlen)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.bin", ROOF_GUEST_DIR, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open guest %s: %s (run make)", path,
			 strerror(errno));
		return NULL;
	}
	uint8_t *rom = aligned_alloc(4096, GUEST_ROM_SIZE);
	if (!rom) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t got = 0;
	while (got < GUEST_ROM_SIZE) {
		ssize_t n = read(fd, rom + got, GUEST_ROM_SIZE - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	char extra;
	bool longer = read(fd, &extra, 1) == 1;
	close(fd);
	if (got != GUEST_ROM_SIZE || longer ||
	    memcmp(rom, GUEST_MAGIC, 8) != 0) {
		snprintf(err, errlen, "guest %s is not a %u-byte bench ROM "
			 "(magic %s)", path, GUEST_ROM_SIZE, GUEST_MAGIC);
		free(rom);
		return NULL;
	}
	return rom;
}

void guest_rom_patch(void *rom, uint32_t iterations, uint32_t param)
{
	memcpy((uint8_t *)rom + GUEST_OFF_ITERATIONS, &iterations, 4);
	memcpy((uint8_t *)rom + GUEST_OFF_PARAM, &param, 4);
}

static uint64_t guest_site(const void *rom)
{
	uint16_t off;
	memcpy(&off, (const uint8_t *)rom + GUEST_OFF_SITE, 2);
	return off ? GUEST_ROM_LOW + off : 0;
}

/* ---- library handlers ----------------------------------------------------------- */
/* The x86 reset state (Intel SDM Vol. 3A, Table 9-1), which KVM also starts
 * a vCPU in: a model kernel may not, so the VMM sets it as Genode's does. */
static roof_action on_startup(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)p;
	struct roof_segment data = {0, 0x93, 0xffff, 0};
	roof_set_flags(st, 2);
	roof_set_ip(st, 0xfff0);
	roof_set_cr0(st, 0x60000010);
	roof_set_cs(st, (struct roof_segment){0xf000, 0x9b, 0xffff,
					      GUEST_ROM_HIGH});
	roof_set_ss(st, data);
	roof_set_ds(st, data);
	roof_set_es(st, data);
	roof_set_fs(st, data);
	roof_set_gs(st, data);
	roof_set_tr(st, (struct roof_segment){0, 0x8b, 0xffff, 0});
	roof_set_ldtr(st, (struct roof_segment){0, 0x82, 0xffff, 0});
	roof_set_gdtr(st, (struct roof_dtr){0xffff, 0, 0});
	roof_set_idtr(st, (struct roof_dtr){0xffff, 0, 0});
	return ROOF_RESUME;
}

static inline void stamp(struct vctx *c, uint64_t t)
{
	if (c->nstamps < c->stamp_cap)
		c->stamps[c->nstamps++] = t;
}

/* Every measured exit: complete it as a device model would, stamp it. */
static roof_action on_measured(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct vctx *c = p;
	uint64_t t = c->probe.exit_tsc ? c->probe.exit_tsc : roof_rdtsc();
	switch (st->exit_reason) {
	case ROOF_EXIT_IO:
		if (st->info.io.dir == ROOF_DIR_IN) {
			st->info.io.data = 0xff;
		} else if (st->info.io.port == GUEST_DONE_PORT) {
			c->done_port = true;
			return ROOF_STOP;
		}
		break;
	case ROOF_EXIT_MMIO:
		if (st->info.mmio.dir == ROOF_DIR_READ)
			st->info.mmio.data = ~UINT64_C(0);
		break;
	case ROOF_EXIT_HLT: /* HLT does not advance ip: step over it */
		roof_set_ip(st, roof_get_ip(st) + roof_get_ip_len(st));
		break;
	case ROOF_EXIT_MSR_READ:
		st->info.msr.value = 0x1122334455667788ull;
		break;
	default: /* msr write, cpuid (prefilled from the policy) */
		break;
	}
	stamp(c, t);
	return --c->remaining ? ROOF_RESUME : ROOF_STOP;
}

/* pause(): the time from the call to here. */
static roof_action on_paused(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)st;
	struct vctx *c = p;
	uint64_t t1 = roof_rdtsc();
	stamp(c, t1 - atomic_load(&c->pause_t0));
	bool more = --c->remaining != 0;
	atomic_fetch_add(&c->acked, 1);
	return more ? ROOF_RESUME : ROOF_STOP;
}

static roof_action on_error(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct vctx *c = p;
	snprintf(c->error, sizeof c->error, "unexpected %s exit: %s",
		 roof_exit_name(st->exit_reason),
		 st->info.error ? st->info.error : "(no text)");
	atomic_store(&c->failed, true);
	atomic_fetch_add(&c->acked, 1); /* release a waiting pauser */
	return ROOF_STOP;
}

static roof_exit measured_reason(enum exit_kind e)
{
	switch (e) {
	case E_MMIO_READ:
	case E_MMIO_WRITE:
		return ROOF_EXIT_MMIO;
	case E_HLT:
		return ROOF_EXIT_HLT;
	case E_MSR_READ:
		return ROOF_EXIT_MSR_READ;
	case E_MSR_WRITE:
		return ROOF_EXIT_MSR_WRITE;
	case E_CPUID_USER:
		return ROOF_EXIT_CPUID;
	case E_PAUSE:
		return ROOF_EXIT_PAUSED;
	default: /* io, cpuid (io between the cpuids), two vCPUs */
		return ROOF_EXIT_IO;
	}
}

static unsigned vcpus_of(const struct arm *a)
{
	return exit_defs[a->exit].method == M_PAIR ? 2 : 1;
}

static int ctx_init(struct vctx *c, struct arm *a, uint64_t cap)
{
	memset(c, 0, sizeof *c);
	c->arm = a;
	c->stamp_cap = cap;
	c->probe_buf_cap = cap;
	c->stamps = calloc(cap, sizeof *c->stamps);
	c->probe.samples = calloc(cap, sizeof *c->probe.samples);
	c->probe.capacity = cap;
	return c->stamps && c->probe.samples ? 0 : -1;
}

static void ctx_free(struct vctx *c)
{
	free(c->stamps);
	free(c->probe.samples);
	c->stamps = c->probe.samples = NULL;
}

#define TRY(call, what)                                                       \
	do {                                                                  \
		int rc_ = (call);                                             \
		if (rc_ != ROOF_OK)                                           \
			return arm_fail(a, "%s: %s (%s)", what,              \
					roof_strerror(rc_), err_text());      \
	} while (0)

static int lib_open(struct arm *a, struct instance *in,
		    const struct bench_opts *o)
{
	const struct exit_def *d = &exit_defs[a->exit];
	int rc = roof_vm_open(&in->vm, a->kernel);
	if (rc != ROOF_OK)
		return arm_fail(a, "roof_vm_open(%s): %s", a->kernel,
				roof_last_error());
	roof_vm *vm = in->vm;
#define err_text() roof_vm_error(vm)
	if (a->backend_policy)
		TRY(roof_vm_set_option(vm, "policy", a->backend_policy),
		    "set_option policy");
	if (a->cache_off)
		TRY(roof_vm_set_option(vm, "cache", "off"), "set_option cache");
	if (a->recall_unblocked)
		TRY(roof_vm_set_option(vm, "recall", "unblocked"),
		    "set_option recall");
	TRY(roof_vm_alloc_ram(vm, 0, GUEST_RAM_SIZE, NULL), "alloc_ram");
	TRY(roof_vm_attach(vm, in->rom, GUEST_ROM_LOW, GUEST_ROM_SIZE,
			   ROOF_MEM_READONLY), "attach ROM low");
	TRY(roof_vm_attach(vm, in->rom, GUEST_ROM_HIGH, GUEST_ROM_SIZE,
			   ROOF_MEM_READONLY), "attach ROM high");
	TRY(roof_vm_set_cpuid(vm, bench_cpuid, 1), "set_cpuid");
	if (d->msr_exit) {
		uint32_t msr = GUEST_VMM_MSR;
		TRY(roof_vm_set_msr_exits(vm, &msr, 1), "set_msr_exits");
	}
	if (d->cpuid_site) {
		uint64_t site = guest_site(in->rom);
		TRY(roof_vm_set_cpuid_exits(vm, &site, 1), "set_cpuid_exits");
	}
	uint64_t cap = (uint64_t)o->chunk + o->warmup + 16;
	for (unsigned i = 0; i < vcpus_of(a); i++) {
		char name[16];
		snprintf(name, sizeof name, "ep%u", i);
		TRY(roof_ep_create(vm, name, i ? o->cpu_other : o->cpu_main,
				   &in->ep[i]), "ep_create");
		TRY(roof_vcpu_create(vm, in->ep[i], &in->cpu[i]), "vcpu_create");
		struct vctx *c = &in->ctx[i];
		if (ctx_init(c, a, cap))
			return arm_fail(a, "out of memory");
#undef err_text
#define err_text() roof_vcpu_error(v)
		roof_vcpu *v = in->cpu[i];
		TRY(roof_vcpu_set_probe(v, &c->probe), "set_probe");
		TRY(roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, on_startup, c,
				      ROOF_MASK_DEFAULT, a->where), "on_exit");
		roof_exit m = measured_reason(a->exit);
		/* "everything" is everything this kernel can transfer */
		uint64_t mask = a->mask == ROOF_MASK_DEFAULT
					? a->mask
					: a->mask & roof_vm_state_groups(vm);
		TRY(roof_vcpu_on_exit(v, m,
				      m == ROOF_EXIT_PAUSED ? on_paused : on_measured,
				      c, mask, a->where), "on_exit");
		static const roof_exit errors[] = {
			ROOF_EXIT_SHUTDOWN, ROOF_EXIT_INVALID_STATE,
			ROOF_EXIT_DEBUG, ROOF_EXIT_BACKEND_ERROR};
		for (size_t k = 0; k < sizeof errors / sizeof errors[0]; k++)
			TRY(roof_vcpu_on_exit(v, errors[k], on_error, c, 0,
					      ROOF_INLINE), "on_exit");
		if (m != ROOF_EXIT_IO) /* the done port of a counted run */
			TRY(roof_vcpu_on_exit(v, ROOF_EXIT_IO, on_measured, c, 0,
					      ROOF_INLINE), "on_exit");
#undef err_text
	}
	return 0;
}

/* ---- raw ------------------------------------------------------------------------ */
static bool raw_on_recall(void *p, uint64_t exit_tsc)
{
	(void)exit_tsc;
	struct vctx *c = p;
	uint64_t t1 = roof_rdtsc();
	stamp(c, t1 - atomic_load(&c->pause_t0));
	bool more = --c->remaining != 0;
	atomic_fetch_add(&c->acked, 1);
	return more;
}

static int raw_open(struct arm *a, struct instance *in,
		    const struct bench_opts *o)
{
	const struct exit_def *d = &exit_defs[a->exit];
	struct roof_raw_config cfg = {
		.style = a->policy == P_NAIVE ? ROOF_RAW_NAIVE : ROOF_RAW_BARE,
		.rom = in->rom,
		.rom_size = GUEST_ROM_SIZE,
		.ram_size = GUEST_RAM_SIZE,
		.nvcpus = vcpus_of(a),
		.vmm_msr = d->msr_exit ? GUEST_VMM_MSR : 0,
		.cpuid_site = d->cpuid_site ? guest_site(in->rom) : 0,
		.cpuid = bench_cpuid,
		.ncpuid = 1,
		.stop_port = GUEST_DONE_PORT,
	};
	char err[256];
	if (roof_raw_open(&in->raw, &cfg, err, sizeof err) != ROOF_OK)
		return arm_fail(a, "%s", err);
	uint64_t cap = (uint64_t)o->chunk + o->warmup + 16;
	for (unsigned i = 0; i < vcpus_of(a); i++)
		if (ctx_init(&in->ctx[i], a, cap))
			return arm_fail(a, "out of memory");
	if (d->method == M_PAUSE) {
		struct vctx *c = &in->ctx[0];
		in->recall_trace = (struct roof_raw_trace){
			.handle = c->probe.samples, .capacity = c->stamp_cap};
		if (roof_raw_thread(in->raw, 0, o->cpu_main, raw_on_recall, c,
				    &in->recall_trace, &in->raw_counts) != ROOF_OK)
			return arm_fail(a, "%s", roof_raw_error(in->raw));
	}
	return 0;
}

int arm_setup(struct arm *a, const struct bench_opts *o)
{
	const struct exit_def *d = &exit_defs[a->exit];
	a->ninst = d->method == M_SLOPE ? 2 : 1;
	for (unsigned k = 0; k < a->ninst; k++) {
		struct instance *in = &a->inst[k];
		char err[256];
		in->param = d->method == M_SLOPE
				    ? (k ? SLOPE_BLOCKS_HIGH : SLOPE_BLOCKS_LOW)
				    : 0;
		in->rom = guest_rom_load(d->guest, err, sizeof err);
		if (!in->rom)
			return arm_fail(a, "%s", err);
		guest_rom_patch(in->rom, a->iterations ? a->iterations
						       : GUEST_FOREVER, in->param);
		size_t cap = (size_t)o->iters * vcpus_of(a) + 64;
		if (samples_reserve(&in->rtt, cap) ||
		    samples_reserve(&in->handle, cap))
			return arm_fail(a, "out of memory");
		if ((a->raw ? raw_open(a, in, o) : lib_open(a, in, o)) != 0)
			return -1;
	}
	return 0;
}

/* ---- chunks ------------------------------------------------------------------------ */
static void add_stats(struct roof_stats *sum, const struct roof_stats *s)
{
	sum->exits += s->exits;
	sum->crossings += s->crossings;
	sum->bytes += s->bytes;
	sum->hops += s->hops;
	sum->misses += s->misses;
	sum->vmcs_reads += s->vmcs_reads;
	sum->vmcs_writes += s->vmcs_writes;
	sum->fpu_ops += s->fpu_ops;
	sum->substrate_ioctls += s->substrate_ioctls;
	for (unsigned r = 0; r < ROOF_EXIT_COUNT; r++)
		sum->exits_by_reason[r] += s->exits_by_reason[r];
}

static void ctx_begin(struct vctx *c, uint64_t n)
{
	c->remaining = n;
	c->nstamps = 0;
	c->probe.count = 0;
	c->probe.exit_tsc = 0;
	c->done_port = false;
	atomic_store(&c->acked, 0);
}

/* Keep a chunk's samples: the first of a chunk spans the pause between
 * chunks (round trip) or a cold start (recall), so it is dropped. */
static void keep(struct instance *in, const struct vctx *c, bool periods)
{
	if (periods) {
		for (uint64_t i = 2; i < c->nstamps; i++) /* from exit 1 to 2 */
			samples_push(&in->rtt, c->stamps[i] - c->stamps[i - 1]);
	} else {
		for (uint64_t i = 1; i < c->nstamps; i++)
			samples_push(&in->rtt, c->stamps[i]);
	}
	uint64_t nh = c->probe.count < c->probe.capacity ? c->probe.count
							 : c->probe.capacity;
	for (uint64_t i = 1; i < nh; i++)
		samples_push(&in->handle, c->probe.samples[i]);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void spin_ticks(uint64_t ticks)
{
	uint64_t end = roof_rdtsc() + ticks;
	while (roof_rdtsc() < end)
		__builtin_ia32_pause();
}

/* Wait for the n-th acknowledgement of a pause; yields after a while so
 * that a one-core machine makes progress. */
static bool wait_acked(struct vctx *c, uint64_t n)
{
	uint64_t start = now_ns();
	unsigned spins = 0;
	while (atomic_load(&c->acked) < n) {
		if (++spins > 2000) {
			sched_yield();
			if (now_ns() - start > ACK_TIMEOUT_NS)
				return false;
		} else {
			__builtin_ia32_pause();
		}
	}
	return true;
}

struct pauser {
	int (*resume)(struct instance *in);
	int (*recall)(struct instance *in);
	int (*wait)(struct instance *in);
	const char *(*error)(struct instance *in);
};

static int lib_resume(struct instance *in) { return roof_vcpu_run(in->cpu[0]); }
static int lib_recall(struct instance *in) { return roof_vcpu_pause(in->cpu[0]); }
static int lib_wait(struct instance *in)
{
	return roof_vcpu_wait_stopped(in->cpu[0], CHUNK_TIMEOUT_NS);
}
static const char *lib_error(struct instance *in)
{
	return roof_vcpu_error(in->cpu[0]);
}
static int raw_resume(struct instance *in) { return roof_raw_resume(in->raw, 0); }
static int raw_recall(struct instance *in) { return roof_raw_recall(in->raw, 0); }
static int raw_wait(struct instance *in)
{
	return roof_raw_wait_parked(in->raw, 0, CHUNK_TIMEOUT_NS);
}
static const char *raw_error(struct instance *in)
{
	return roof_raw_error(in->raw);
}

static const struct pauser lib_pauser = {lib_resume, lib_recall, lib_wait,
					 lib_error};
static const struct pauser raw_pauser = {raw_resume, raw_recall, raw_wait,
					 raw_error};

/* n pauses of a spinning guest, each after a random 20..60 us, from the
 * other core (the vCPU is on cpu_main). */
static int pause_chunk(struct arm *a, struct instance *in,
		       const struct bench_opts *o, uint64_t n)
{
	const struct pauser *p = a->raw ? &raw_pauser : &lib_pauser;
	struct vctx *c = &in->ctx[0];
	ctx_begin(c, n);
	in->recall_trace.count = in->recall_trace.pending_exit = 0;
	if (p->resume(in) != ROOF_OK)
		return arm_fail(a, "resume: %s", p->error(in));
	pin_self(o->cpu_other);
	uint64_t us = (uint64_t)(1000.0 / g_ns_per_tick); /* ticks per us */
	int rc = 0;
	for (uint64_t i = 0; i < n && !atomic_load(&c->failed); i++) {
		spin_ticks(us * (20 + rng() % 41));
		atomic_store(&c->pause_t0, roof_rdtsc());
		if (p->recall(in) != ROOF_OK) {
			rc = arm_fail(a, "pause: %s", p->error(in));
			break;
		}
		if (!wait_acked(c, i + 1)) {
			rc = arm_fail(a, "pause %llu not answered within %llu s",
				      (unsigned long long)i,
				      ACK_TIMEOUT_NS / 1000000000ull);
			break;
		}
	}
	pin_self(o->cpu_main);
	if (p->wait(in) != ROOF_OK && !rc)
		rc = arm_fail(a, "after the pauses: %s", p->error(in));
	if (a->raw) /* the recall thread's handling times */
		c->probe.count = in->recall_trace.count;
	if (atomic_load(&c->failed) && !rc)
		rc = arm_fail(a, "%s", c->error);
	return rc;
}

/* Raw loops of the pair run on two threads at once: vCPU 1 on a helper. */
struct raw_job {
	struct instance *in;
	unsigned vcpu;
	uint64_t n;
	int cpu;
	struct roof_raw_trace trace;
	struct roof_raw_counts *counts;
	int rc;
};

static void *raw_job_main(void *p)
{
	struct raw_job *j = p;
	pin_self(j->cpu);
	j->rc = roof_raw_run(j->in->raw, j->vcpu, j->n, &j->trace, j->counts,
			     NULL);
	return NULL;
}

static int raw_loop_chunk(struct arm *a, struct instance *in,
			  const struct bench_opts *o, uint64_t n, bool measure)
{
	unsigned nv = vcpus_of(a);
	struct raw_job job[2];
	pthread_t helper;
	bool helper_started = false;
	for (unsigned i = 0; i < nv; i++) {
		struct vctx *c = &in->ctx[i];
		ctx_begin(c, n);
		job[i] = (struct raw_job){
			.in = in, .vcpu = i, .n = n,
			.cpu = i ? o->cpu_other : o->cpu_main,
			.trace = {.exit_tsc = c->stamps, .handle = c->probe.samples,
				  .capacity = c->stamp_cap},
			.counts = measure ? &in->raw_counts : NULL};
	}
	struct roof_raw_counts second = {0};
	if (nv == 2) {
		if (measure)
			job[1].counts = &second;
		if (pthread_create(&helper, NULL, raw_job_main, &job[1]) != 0)
			return arm_fail(a, "pthread_create failed");
		helper_started = true;
	}
	job[0].rc = roof_raw_run(in->raw, 0, n, &job[0].trace, job[0].counts,
				 NULL);
	if (helper_started)
		pthread_join(helper, NULL);
	in->raw_counts.exits += second.exits;
	in->raw_counts.crossings += second.crossings;
	in->raw_counts.bytes += second.bytes;
	for (unsigned i = 0; i < nv; i++) {
		if (job[i].rc != ROOF_OK)
			return arm_fail(a, "%s", roof_raw_error(in->raw));
		struct vctx *c = &in->ctx[i];
		c->nstamps = job[i].trace.count < c->stamp_cap ? job[i].trace.count
							       : c->stamp_cap;
		/* the last exit is not re-entered: no handling time */
		c->probe.count = c->nstamps ? c->nstamps - 1 : 0;
		if (measure)
			keep(in, c, true);
	}
	return 0;
}

static int lib_loop_chunk(struct arm *a, struct instance *in, uint64_t n,
			  bool measure)
{
	unsigned nv = vcpus_of(a);
	for (unsigned i = 0; i < nv; i++) {
		ctx_begin(&in->ctx[i], n);
		if (measure && roof_vcpu_stats_reset(in->cpu[i]) != ROOF_OK)
			return arm_fail(a, "stats_reset: %s",
					roof_vcpu_error(in->cpu[i]));
	}
	for (unsigned i = 0; i < nv; i++)
		if (roof_vcpu_run(in->cpu[i]) != ROOF_OK)
			return arm_fail(a, "run: %s", roof_vcpu_error(in->cpu[i]));
	for (unsigned i = 0; i < nv; i++) {
		roof_vcpu *v = in->cpu[i];
		if (roof_vcpu_wait_stopped(v, CHUNK_TIMEOUT_NS) != ROOF_OK) {
			roof_vcpu_pause(v);
			return arm_fail(a, "chunk of %llu exits: %s",
					(unsigned long long)n, roof_vcpu_error(v));
		}
	}
	for (unsigned i = 0; i < nv; i++) {
		struct vctx *c = &in->ctx[i];
		if (atomic_load(&c->failed))
			return arm_fail(a, "%s", c->error);
		if (c->remaining)
			return arm_fail(a, "vCPU stopped after %llu of %llu "
					"exits: %s",
					(unsigned long long)(n - c->remaining),
					(unsigned long long)n,
					roof_vcpu_error(in->cpu[i]));
		if (measure) {
			struct roof_stats s;
			if (roof_vcpu_stats(in->cpu[i], &s) != ROOF_OK)
				return arm_fail(a, "stats: %s",
						roof_vcpu_error(in->cpu[i]));
			add_stats(&in->stats, &s);
			keep(in, c, true);
		}
	}
	return 0;
}

int arm_chunk(struct arm *a, const struct bench_opts *o, uint64_t n,
	      bool measure)
{
	if (a->failed)
		return -1;
	bool pause = exit_defs[a->exit].method == M_PAUSE;
	for (unsigned k = 0; k < a->ninst; k++) {
		struct instance *in = &a->inst[k];
		int rc;
		if (pause) {
			if (!a->raw && measure &&
			    roof_vcpu_stats_reset(in->cpu[0]) != ROOF_OK)
				return arm_fail(a, "stats_reset: %s",
						roof_vcpu_error(in->cpu[0]));
			struct roof_raw_counts before = in->raw_counts;
			rc = pause_chunk(a, in, o, n);
			if (a->raw && !measure)
				in->raw_counts = before;
			if (!rc && measure) {
				if (!a->raw) {
					struct roof_stats s;
					if (roof_vcpu_stats(in->cpu[0], &s) !=
					    ROOF_OK)
						return arm_fail(a, "stats: %s",
							roof_vcpu_error(in->cpu[0]));
					add_stats(&in->stats, &s);
				}
				keep(in, &in->ctx[0], false);
			}
		} else if (a->raw) {
			rc = raw_loop_chunk(a, in, o, n, measure);
		} else {
			rc = lib_loop_chunk(a, in, n, measure);
		}
		if (rc)
			return rc;
	}
	return 0;
}

void arm_teardown(struct arm *a)
{
	for (unsigned k = 0; k < 2; k++) {
		struct instance *in = &a->inst[k];
		if (in->vm)
			roof_vm_close(in->vm);
		if (in->raw)
			roof_raw_close(in->raw);
		in->vm = NULL;
		in->raw = NULL;
		for (unsigned i = 0; i < 2; i++)
			ctx_free(&in->ctx[i]);
		free(in->rom);
		in->rom = NULL;
	}
}

void arm_free_samples(struct arm *a)
{
	for (unsigned k = 0; k < 2; k++) {
		samples_free(&a->inst[k].rtt);
		samples_free(&a->inst[k].handle);
	}
}

int arm_run_to_done(struct arm *a)
{
	struct instance *in = &a->inst[0];
	if (a->failed || a->raw || !in->cpu[0])
		return arm_fail(a, "a counted run needs a library arm");
	struct vctx *c = &in->ctx[0];
	ctx_begin(c, UINT64_MAX);
	if (roof_vcpu_run(in->cpu[0]) != ROOF_OK)
		return arm_fail(a, "run: %s", roof_vcpu_error(in->cpu[0]));
	if (roof_vcpu_wait_stopped(in->cpu[0], CHUNK_TIMEOUT_NS) != ROOF_OK)
		return arm_fail(a, "counted run: %s", roof_vcpu_error(in->cpu[0]));
	if (atomic_load(&c->failed))
		return arm_fail(a, "%s", c->error);
	if (!c->done_port)
		return arm_fail(a, "the guest stopped before its done port: %s",
				roof_vcpu_error(in->cpu[0]));
	return 0;
}
