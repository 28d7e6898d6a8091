/*
 * bench.h - roof-bench: exit-to-resume latency per kernel, exit type and
 * policy, beside a bare KVM_RUN loop and a textbook ioctl VMM (raw KVM, in
 * kernels/kvm/kvm_raw.c), and against QEMU (--vs-qemu).
 *
 * Files: main.c (options, matrix, goals), arm.c (one measured variant: set
 * up, run in chunks, tear down), stats.c (TSC calibration, percentiles,
 * records), output.c (table, csv, json, sample files), qemu.c (--vs-qemu).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "oneroof.h"
#include "roof_core.h" /* struct roof_probe, roof_rdtsc */
#include "../kernels/kvm/kvm_raw.h"
#include "bench_guest.h"

#ifndef ROOF_GUEST_DIR
#define ROOF_GUEST_DIR "build/guests"
#endif

/* ---- policies ------------------------------------------------------------- */
enum policy {
	P_BARE,       /* kvm: raw KVM_RUN loop, no library */
	P_FAST,       /* kvm: inline handler, default mask */
	P_FULL,       /* kvm: inline, mask EVERYTHING, register cache off */
	P_ENTRYPOINT, /* kvm: default mask, handler on the entrypoint */
	P_NAIVE,      /* kvm: raw, GET/SET_REGS (+SREGS) per exit */
	P_GENODE,     /* models: policy=genode; kvm: full + entrypoint */
	P_TUNED,      /* models: policy=tuned; kvm: = fast */
	P_UNBLOCKED,  /* kvm: fast with set_option recall=unblocked */
	P_COUNT
};
extern const char *const policy_name[P_COUNT];

/* ---- exits ---------------------------------------------------------------- */
enum method {
	M_LOOP,  /* one vCPU, the exit in a loop: time between exits */
	M_SLOPE, /* cpuid in the kernel: two loop variants, slope per cpuid */
	M_PAUSE, /* pause()/recall to the PAUSED handler, guest spinning */
	M_PAIR   /* two vCPUs, one per core, each exiting in a loop */
};

enum exit_kind {
	E_IO_OUT, E_IO_IN, E_MMIO_READ, E_MMIO_WRITE, E_HLT, E_MSR_READ,
	E_MSR_WRITE, E_CPUID, E_CPUID_USER, E_PAUSE, E_IO_OUT_2VCPU, E_COUNT
};

struct exit_def {
	const char *name;  /* as on the command line and in records */
	const char *guest; /* build/guests/<guest>.bin */
	enum method method;
	bool msr_exit;     /* needs roof_vm_set_msr_exits */
	bool cpuid_site;   /* needs roof_vm_set_cpuid_exits */
	const char *what;  /* one line for --help */
};
extern const struct exit_def exit_defs[E_COUNT];

/* cpuid: the two loop variants, in blocks of GUEST_CPUIDS_PER_BLOCK */
#define SLOPE_BLOCKS_LOW 0u
#define SLOPE_BLOCKS_HIGH 8u

/* ---- samples ---------------------------------------------------------------- */
struct samples {
	uint64_t *v; /* TSC ticks */
	size_t n, cap;
};
int samples_reserve(struct samples *s, size_t cap);
void samples_push(struct samples *s, uint64_t ticks);
void samples_free(struct samples *s);
/* Sorts in place; q in [0,1], nearest rank. NAN when empty. */
double samples_quantile(struct samples *s, double q);

/* ---- one measured variant: (kernel, policy), per exit ----------------------- */
struct arm;

/* Per-vCPU context of the library handlers. */
struct vctx {
	struct arm *arm;
	struct roof_probe probe;
	uint64_t probe_buf_cap;
	uint64_t remaining;   /* exits left in this chunk */
	uint64_t *stamps;     /* exit TSC of each exit of this chunk */
	uint64_t nstamps, stamp_cap;
	bool done_port;       /* the guest wrote DONE_PORT */
	/* pause */
	_Atomic uint64_t pause_t0;
	_Atomic uint64_t acked;
	uint64_t last_latency;
	/* errors */
	atomic_bool failed;
	char error[256];
};

struct instance {
	uint32_t param;      /* header param patched into the ROM */
	void *rom;           /* 4 KiB aligned copy */
	/* library */
	roof_vm *vm;
	roof_ep *ep[2];
	roof_vcpu *cpu[2];
	struct vctx ctx[2];
	/* raw */
	struct roof_raw *raw;
	struct roof_raw_counts raw_counts;
	struct roof_raw_trace recall_trace; /* raw pause: handling times */
	/* results */
	struct samples rtt, handle; /* ticks */
	struct roof_stats stats;    /* library: sum over measured chunks */
};

struct arm {
	const char *kernel;
	enum policy policy;
	enum exit_kind exit;
	bool reference;      /* kvm bare measured only as the ratio's base */
	bool raw;            /* bare / naive: kernels/kvm/kvm_raw.c */
	/* library set-up */
	uint64_t mask;
	roof_where where;
	const char *backend_policy; /* set_option("policy", ..), or NULL */
	bool cache_off;
	bool recall_unblocked; /* set_option recall=unblocked */
	uint32_t iterations; /* guest loop count; 0 = forever (chunks stop it) */
	unsigned ninst;      /* 2 for the slope method */
	struct instance inst[2];
	bool failed;
	char why[320];
};

struct bench_opts {
	unsigned iters, chunk, warmup;
	int cpu_main, cpu_other; /* cores: vCPUs and bare loop; the second */
	bool verbose;
};

/* arm.c */
int arm_setup(struct arm *a, const struct bench_opts *o);
/* Run one chunk of n exits (pauses for M_PAUSE) on every instance. */
int arm_chunk(struct arm *a, const struct bench_opts *o, uint64_t n,
	      bool measure);
void arm_teardown(struct arm *a);
void arm_free_samples(struct arm *a);
/* A counted run (a->iterations): from the first entry to the guest's
 * DONE_PORT write. Library arms only. */
int arm_run_to_done(struct arm *a);
/* Configure a for (kernel, policy); false (and why) if there is no such
 * variant. */
bool arm_config(struct arm *a, const char *kernel, enum policy p, char *why,
		size_t len);
/* Label "kernel/policy/exit" for messages. */
const char *arm_label(const struct arm *a, char *buf, size_t len);
/* Load build/guests/<name>.bin into a fresh 4 KiB aligned 64 KiB buffer. */
void *guest_rom_load(const char *name, char *err, size_t errlen);
void guest_rom_patch(void *rom, uint32_t iterations, uint32_t param);

/* ---- records ----------------------------------------------------------------- */
struct record {
	const char *kernel, *exit, *policy;
	uint64_t iters;
	double p50, p90, p99, max;      /* ns, round trip */
	double h50, h99;                /* ns, VMM-side handling */
	double crossings, bytes, hops;  /* per exit */
	/* per exit, the model kernels' own counts beside them (ops.json):
	 * VMCS field reads/writes, fxsave/fxrstor, and the substrate's KVM
	 * ioctls, which are not a cost of the modelled kernel */
	double vmcs_reads, vmcs_writes, fpu_ops, substrate_ioctls;
	double ratio;                   /* p50 / kvm bare p50, NAN if none */
	const struct samples *rtt;      /* ticks, sorted: for sample files */
	double ns_per_tick;
	bool derived;                   /* cpuid: per-cpuid values by slope */
};

/* stats.c */
double tsc_calibrate(unsigned ms); /* ns per TSC tick */
double ticks_to_ns(double ticks);
extern double g_ns_per_tick;
void record_from_arm(struct record *r, struct arm *a);

/* output.c */
enum format { F_TABLE, F_CSV, F_JSON };
void output_records(FILE *f, enum format fmt, const struct record *r,
		    size_t n);
int output_samples(const char *dir, const struct record *r, size_t n);
int output_ops(const char *path, const struct record *r, size_t n);

/* qemu.c */
struct qemu_result {
	double ours_ns, qemu_ns, ratio;
	double bare_ns; /* the bare KVM_RUN loop, same method (context) */
	unsigned n_low, n_high, reps;
};
int vs_qemu(const struct bench_opts *o, struct qemu_result *out);
void output_qemu(FILE *f, enum format fmt, const struct qemu_result *q);

/* main.c helpers shared by the others */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pin_self(int cpu);
uint64_t now_ns(void);

#endif
