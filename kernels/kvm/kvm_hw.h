/*
 * kvm_hw.h - a Linux KVM vCPU used as x86 "hardware": memory slots, the run
 * loop's enter/exit, exit classification, and lazy state transfer between
 * KVM and a roof_state. Used by the kvm backend directly, and by the model
 * kernels (kernels/<k>/) through vmx_hw.h, as the hardware they run on.
 *
 * Opaque on purpose: nothing outside kernels/kvm/ sees a KVM structure.
 *
 * State classes and their cost (measured on this substrate, see RESULTS.md):
 *   sync groups   GPRs, ip, flags, segments, gdtr/idtr, cr0-4, efer, tpr
 *                 (cr8), inj, sta: carried in kvm_run sync_regs. Which sync
 *                 classes (regs / sregs / events) KVM fills at the next exit
 *                 is predicted from the last two exits' fetch masks; a class
 *                 that was not synced is fetched by one ioctl (counted).
 *   local groups  qual (decoded from the exit), ctrl, tpr_threshold (held
 *                 here), pdpte (read from guest memory at cr3): no ioctl.
 *   ioctl groups  sys, syscall, tsc, tsc_aux, xsave, dr, fpu: fetched by
 *                 KVM_GET_MSRS / GET_XSAVE / GET_DEBUGREGS / GET_XCRS only
 *                 when a mask needs them, and cached until an exit can have
 *                 changed them (see kvm_hw.c, "register cache").
 */
#ifndef ROOF_KVM_HW_H
#define ROOF_KVM_HW_H

#include <stdbool.h>
#include <stdint.h>

#include "roof_host.h"

struct khw_vm;
struct khw_vcpu;

/* Cost counters the owner points at (KVM backend: roof_stats; models: a
 * substrate counter, kept apart from the model's own native counts). */
struct khw_counters {
	uint64_t *ioctls;  /* state ioctls and completion re-entries */
	uint64_t *bytes;   /* bytes moved between KVM and a roof_state */
};

/* What the last exit was, as the hardware saw it. */
struct khw_exit {
	roof_exit reason;            /* unified classification */
	struct roof_exit_info info;  /* decoded io / mmio / msr / cpuid */
	uint32_t kvm_reason;         /* KVM_EXIT_* */
	/* Guest rip at the exit as KVM reports it. retired: KVM has already
	 * executed the exiting instruction (rip is past it). insn_len: the
	 * instruction's length where the exit implies it (hlt 1, cpuid 2,
	 * rdmsr/wrmsr 2), else 0. */
	uint64_t rip;
	uint8_t retired;
	uint8_t insn_len;
	/* KVM will finish the instruction on the next entry (in, mmio read,
	 * rdmsr/wrmsr ...): see khw_complete(). */
	uint8_t pending;
	uint8_t recalled;            /* KVM_RUN returned EINTR (recall) */
	char msg[160];               /* BACKEND_ERROR / INVALID_STATE text */
};

/* ---- VM ------------------------------------------------------------------ */
int khw_vm_open(struct roof_vm *vm, struct khw_vm **out);
void khw_vm_close(struct khw_vm *k);
unsigned khw_max_slots(struct khw_vm *k);
int khw_mem_map(struct khw_vm *k, struct roof_mem_region *r);
int khw_mem_unmap(struct khw_vm *k, struct roof_mem_region *r);

/* ---- vCPU ---------------------------------------------------------------- */
/* Create KVM vCPU `id`. The VM's cpuid policy, MSR exits and cpuid sites
 * (struct roof_vm) are applied at the first vCPU. */
int khw_vcpu_create(struct khw_vm *k, struct roof_vcpu *core,
		    struct khw_vcpu **out);
void khw_vcpu_destroy(struct khw_vcpu *c);
void khw_set_counters(struct khw_vcpu *c, struct khw_counters counters);
/* Recall signal handling for vCPUs created afterwards: blocked outside
 * KVM_RUN with KVM_SET_SIGNAL_MASK (default), or unblocked (opt-in: saves
 * the mask switch per KVM_RUN; the signal may interrupt handler code). */
void khw_set_recall_unblocked(struct khw_vm *k, bool unblocked);
/* On the vCPU thread, once: set up the recall signal (see above). */
int khw_thread_init(struct khw_vcpu *c);
/* Any thread: make the vCPU leave KVM_RUN soon (immediate_exit + signal). */
void khw_recall(struct khw_vcpu *c);

/*
 * Enter the guest once: apply pending completions and state writes, KVM_RUN,
 * classify the exit into *exit (valid until the next khw_run). Returns 0, or
 * a negative roof_err when KVM failed outright (the text is in exit->msg and
 * exit->reason is BACKEND_ERROR). A recall gives 0 with exit->recalled set.
 * `needs` tells, per unified exit reason, which groups the consumer will
 * fetch: it drives the sync-class prediction.
 */
int khw_run(struct khw_vcpu *c);
const struct khw_exit *khw_last_exit(const struct khw_vcpu *c);
/* Groups per exit reason the consumer will fetch (prediction input). */
void khw_set_need(struct khw_vcpu *c, roof_exit reason, uint64_t groups);

/* Make `groups` valid in *s (copy from KVM). 0 or a negative roof_err. */
int khw_fetch(struct khw_vcpu *c, roof_state *s, uint64_t groups);
/* Queue `groups` of *s for the next entry. 0 or a negative roof_err (a value
 * KVM cannot take, e.g. actv_state != 0; the message names it). */
int khw_writeback(struct khw_vcpu *c, const roof_state *s, uint64_t groups);
/* Hand the handler's result of the last exit (in data, mmio read data, msr
 * value/fault, cpuid result) to KVM. Called once per exit before re-entry. */
void khw_complete(struct khw_vcpu *c, const struct roof_exit_info *info);
/* Put a synthetic exit (STARTUP, PAUSED) into the exit record. */
void khw_synthetic(struct khw_vcpu *c, roof_exit reason);
/* The register cache on (default) or off: off re-reads every ioctl group
 * at every exit that needs it, as a client without a cache does. */
void khw_set_cache(struct khw_vcpu *c, bool on);
/* Last error text of this vCPU's hardware layer. */
const char *khw_error(const struct khw_vcpu *c);

/* The cpuid table KVM answers from (the VMM's policy over KVM's
 * supported leaves): eax, ebx, ecx, edx of leaf/subleaf, zeros if absent. */
void khw_cpuid(struct khw_vcpu *c, uint32_t leaf, uint32_t subleaf,
	       uint32_t out[4]);
/* Guest memory through the VM's attached ranges (NULL if not attached). */
void *khw_guest_ptr(struct khw_vcpu *c, uint64_t gpa, uint64_t len);

#endif
