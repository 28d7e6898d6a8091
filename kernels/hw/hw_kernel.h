/*
 * hw_kernel.h - the base-hw kernel's x86 vCPU, modelled over vmx_hw: what
 * repos/base-hw/src/core/kernel/vcpu.h + spec/x86_64/kernel/vcpu.cc
 * (Kernel::Vcpu, Board::Vcpu_context) and spec/x86_64/kernel/vmx.cc
 * (Board::Vmcs) do, with the VT-x instructions going to vmx_hw.
 *
 * The vCPU is a kernel scheduling context, not a thread: it runs until a
 * VM exit; an interrupt exit leaves it scheduled, every other exit
 * deschedules it and submits a signal to the VMM's handler
 * (Vcpu::exception). The VMM then calls vcpu_pause (store into the shared
 * Vcpu_state page) and vcpu_run (load the charged fields, schedule).
 *
 * Counted into the vCPU's roof_stats (README.md "Cost model"):
 *   crossings  signal delivery, signal_ack, vcpu_pause, vcpu_run,
 *              vcpu_exit_config (tuned, once)
 *   fpu_ops    2 per kernel entry (fxsave on entry, exception_vector.s;
 *              fxrstor on the way back, vmx.cc switch_world / thread.cc)
 *   vmcs_reads/vmcs_writes  VMREAD/VMWRITE of Vmcs::store/load and the
 *              exit-reason read of handle_vm_exit
 *   bytes      value bytes the kernel stores into / loads from the page
 */
#ifndef ROOF_HW_KERNEL_H
#define ROOF_HW_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/hw_vcpu_state.h"
#include "../kvm/vmx_hw.h"

enum hw_init_state { HW_CREATED, HW_STARTED }; /* Vcpu_context::Init_state */

/* What a VM entry ended with. */
enum hw_proceed {
	HW_PROCEED_SIGNAL,    /* descheduled, signal submitted to the VMM */
	HW_PROCEED_INTERRUPT, /* host interrupt (a recall): still scheduled */
	HW_PROCEED_DEAD       /* the hardware failed (vcpu.cc TRAP_VMDEAD) */
};

struct hw_kernel_vcpu {
	struct vmx_hw *cpu;          /* the VT-x hardware of this vCPU */
	struct hw_vcpu_state *page;  /* Board::Vcpu_state's Genode::Vcpu_state */
	struct roof_stats *counters;
	enum hw_init_state init_state;
	bool scheduled;              /* Vcpu::_scheduled == ACTIVE */
	uint32_t exit_reason;        /* Vcpu_context::exit_reason */
	uint64_t tsc_aux_guest;      /* Vcpu_context::tsc_aux_guest */
	unsigned cpu_id;             /* the CPU the vCPU is pinned to */
	bool tsc_aux_in_hw_known;    /* substrate shortcut, see proceed */
	uint64_t tsc_aux_in_hw;
	/* oneroof's tuned extension: per native exit reason, the groups
	 * vcpu_pause stores; off = the unmodified kernel (store everything) */
	bool exit_config_on;
	uint64_t exit_config[256];
	char err[256];
};

void hw_kernel_init(struct hw_kernel_vcpu *k, struct vmx_hw *cpu,
		    struct hw_vcpu_state *page, struct roof_stats *counters,
		    unsigned cpu_id, bool exit_config_on);

/* The syscalls (each counts as one crossing and one kernel entry). */
int hw_kernel_vcpu_pause(struct hw_kernel_vcpu *k, uint64_t groups);
int hw_kernel_vcpu_run(struct hw_kernel_vcpu *k);
int hw_kernel_exit_config(struct hw_kernel_vcpu *k, const uint64_t table[256]);
void hw_kernel_signal_ack(struct hw_kernel_vcpu *k);

/* A signal for the vCPU's handler is delivered (the kernel's own after an
 * exit, or one the VMM submitted: the startup signal, a pause request). */
void hw_kernel_signal_delivered(struct hw_kernel_vcpu *k);

/* Vcpu::proceed (enter the guest) and Vcpu::exception (the exit). */
enum hw_proceed hw_kernel_proceed(struct hw_kernel_vcpu *k);

const char *hw_kernel_error(const struct hw_kernel_vcpu *k);

/* Groups Vcpu_context::store/Vmcs::store read from the hardware for a store
 * of `groups` (tsc_aux is a kernel variable): for vmx_hw_set_need. */
uint64_t hw_kernel_hw_groups(uint64_t groups);

#endif
