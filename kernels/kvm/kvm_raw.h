/*
 * kvm_raw.h - the benchmark's reference VMMs on raw KVM, with no oneroof
 * library in between. They live here because only kernels/kvm/ may know
 * KVM's ABI; this header shows none of it, so microbench/ drives them
 * without including <linux/kvm.h>.
 *
 *   ROOF_RAW_BARE   the limit: KVM_RUN, complete the exit from kvm_run (in
 *                   data, mmio read data, msr value), re-enter. A cpuid site
 *                   (a hardware breakpoint, see kvm_hw.c) is completed
 *                   through sync_regs, the cheapest way KVM offers.
 *   ROOF_RAW_NAIVE  a textbook VMM: KVM_GET_REGS and KVM_SET_REGS on every
 *                   exit (a recall included), plus KVM_GET_SREGS for MMIO,
 *                   where decoding the access needs the segment state.
 *
 * The guest is a real-mode ROM (microbench/guests/): it is mapped read-only
 * at the top of the first MiB and of 4 GiB, and the vCPU starts from KVM's
 * reset state (cs 0xf000 base 0xffff0000, ip 0xfff0), as a PC does.
 * Timing: every exit's TSC at the return of KVM_RUN, and the ticks from
 * there to the next KVM_RUN (the VMM-side handling time).
 */
#ifndef ROOF_KVM_RAW_H
#define ROOF_KVM_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oneroof.h"

enum roof_raw_style { ROOF_RAW_BARE = 0, ROOF_RAW_NAIVE = 1 };

#define ROOF_RAW_MAX_VCPUS 2

struct roof_raw_config {
	enum roof_raw_style style;
	const void *rom;       /* real-mode ROM image */
	uint64_t rom_size;     /* multiple of 4 KiB, at most 128 KiB */
	uint64_t ram_size;     /* RAM at guest-physical 0, multiple of 4 KiB */
	unsigned nvcpus;       /* 1 .. ROOF_RAW_MAX_VCPUS */
	uint32_t vmm_msr;      /* nonzero: rdmsr/wrmsr of it exit to the VMM */
	uint64_t cpuid_site;   /* nonzero: the cpuid at this linear address exits */
	/* Leaves that replace KVM's supported ones, as roof_vm_set_cpuid does,
	 * so that in-kernel cpuid searches a table of the same shape. */
	const struct roof_cpuid_entry *cpuid;
	size_t ncpuid;
	uint16_t stop_port;    /* an out to it ends roof_raw_run (0: none) */
};

/* Operations beyond the KVM_RUN pair itself, summed over the exits. */
struct roof_raw_counts {
	uint64_t exits;
	uint64_t crossings; /* state ioctls */
	uint64_t bytes;     /* bytes of register state copied, both ways */
};

/* Per-exit timestamps; count may exceed capacity (the rest is dropped). */
struct roof_raw_trace {
	uint64_t *exit_tsc; /* TSC right after KVM_RUN returned (or NULL) */
	uint64_t *handle;   /* ticks from there to the next KVM_RUN (or NULL) */
	uint64_t capacity;
	uint64_t count;
	uint64_t pending_exit; /* internal: exit TSC awaiting its re-entry */
};

struct roof_raw;

/* Open a VM with cfg->nvcpus vCPUs at the reset state. On failure *out is
 * NULL and err holds the reason. */
int roof_raw_open(struct roof_raw **out, const struct roof_raw_config *cfg,
		  char *err, size_t errlen);
void roof_raw_close(struct roof_raw *r);
const char *roof_raw_error(const struct roof_raw *r);

/* Run vCPU `vcpu` on the calling thread until `exits` exits are handled or
 * the guest writes cfg->stop_port (*stopped = true; that exit is counted).
 * trace and counts may be NULL. 0 or a negative roof_err (see error). */
int roof_raw_run(struct roof_raw *r, unsigned vcpu, uint64_t exits,
		 struct roof_raw_trace *trace, struct roof_raw_counts *counts,
		 bool *stopped);

/*
 * Recall latency, as roof_vcpu_pause() / ROOF_EXIT_PAUSED: vCPU `vcpu` gets
 * a thread of its own (parked until roof_raw_resume). It runs the guest and
 * handles exits in the style; after a recall exit (and the style's state
 * transfer) it calls on_recall(ctx, tsc at the return of KVM_RUN); true
 * re-enters the guest, false parks the thread again.
 */
typedef bool (*roof_raw_recall_fn)(void *ctx, uint64_t exit_tsc);
int roof_raw_thread(struct roof_raw *r, unsigned vcpu, int cpu,
		    roof_raw_recall_fn on_recall, void *ctx,
		    struct roof_raw_trace *trace, struct roof_raw_counts *counts);
/* Start the parked thread (ROOF_EBUSY if it runs). */
int roof_raw_resume(struct roof_raw *r, unsigned vcpu);
/* Non-blocking: make the running vCPU leave KVM_RUN (immediate_exit plus a
 * signal). */
int roof_raw_recall(struct roof_raw *r, unsigned vcpu);
/* Block until the thread is parked, at most timeout_ns (ROOF_EBUSY). */
int roof_raw_wait_parked(struct roof_raw *r, unsigned vcpu, uint64_t timeout_ns);

#endif
