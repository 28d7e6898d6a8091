/*
 * vmx_hw.h - the KVM vCPU presented as VT-x hardware, for the model kernels
 * (kernels/nova, sel4, foc, hw): what their kernel side would get from a
 * real CPU.
 *
 *   - VM exits with VMX basic exit reasons (SDM Vol. 3C, Appendix C),
 *     exit qualifications (Table 28-5 I/O, 28-7 EPT violation), the
 *     VM-exit instruction length, the guest-physical/linear address;
 *   - a software VMCS read and written by field encoding (Appendix B);
 *   - the guest registers VMX keeps outside the VMCS (GPRs, cr2, MSRs the
 *     kernel switches, FPU) in a roof_state "hardware view".
 *
 * Exits are translated from KVM's as follows (kvm_hw.c classifies them):
 *   io 30, mmio 48 (EPT violation), hlt 12, rdmsr 31, wrmsr 32, cpuid site
 *   10, irq window 7, triple fault 2, failed entry 33 | bit 31, debug 0
 *   (#DB), recall 1 (external interrupt, recalled = true).
 *
 * Completion, reconciled (RESULTS.md "Substrate"): on VMX the VMM finishes
 * an exiting instruction itself (writes rax/the destination register,
 * advances rip by the instruction length); KVM finishes in/mmio reads/rdmsr
 * on the next entry and has already retired out/mmio writes. vmx_hw
 * presents VMX semantics: rip is the exiting instruction (found by decoding
 * forward from KVM's rip, or backward with the exit's port/address/data as
 * proof when KVM has retired it), and at the next entry it hands the
 * VMM's result to KVM's completion (in data = rax, mmio read data = the
 * decoded destination register, rdmsr = edx:eax, a #GP the VMM injects =
 * a failed rdmsr/wrmsr) and drops a rip write equal to rip + length,
 * which KVM's completion performs. A VMM that leaves rip unchanged after
 * an in, mmio read or rdmsr cannot make KVM re-execute it; every VMM
 * advances rip there.
 */
#ifndef ROOF_VMX_HW_H
#define ROOF_VMX_HW_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_hw.h"
#include "x86_decode.h"

struct vmx_hw;

#define VMX_HW_NOT_VMX 0xffffffffu /* reason of a substrate failure */

struct vmx_exit_info {
	uint32_t reason;        /* basic reason; bit 31: entry failure */
	uint64_t qualification;
	uint64_t guest_phys;    /* EPT violation */
	uint64_t guest_linear;  /* EPT violation, when decoded */
	uint32_t insn_len;      /* io, cpuid, hlt, rdmsr, wrmsr */
	uint32_t intr_info;     /* exception exits (SDM 24.9.2) */
	uint64_t rip;           /* the exiting instruction */
	bool recalled;          /* reason 1 caused by vmx_hw_recall() */
	bool startup;           /* synthetic exit before the first entry */
	/* io: value an out wrote / mmio: access size and write data */
	uint32_t io_size, io_port;
	uint64_t mmio_data;
	uint8_t mmio_len;
	const char *error;      /* failed entry / substrate failure text */
};

int vmx_hw_create(struct khw_vm *k, struct roof_vcpu *core,
		  struct vmx_hw **out);
void vmx_hw_destroy(struct vmx_hw *h);
/* Where substrate costs (KVM ioctls, bytes) are counted. */
void vmx_hw_set_counters(struct vmx_hw *h, struct khw_counters substrate);
/* Groups the kernel side will read for a unified exit kind (prediction of
 * which KVM sync classes to request; see kvm_hw.h). */
void vmx_hw_set_need(struct vmx_hw *h, roof_exit kind, uint64_t groups);
int vmx_hw_thread_init(struct vmx_hw *h);
void vmx_hw_recall(struct vmx_hw *h);
const char *vmx_hw_error(const struct vmx_hw *h);

/* VM entry with the current VMCS and registers; returns at the next exit.
 * 0, or a negative roof_err when the substrate failed (exit->error says). */
int vmx_hw_run(struct vmx_hw *h);
/* The exit a stopped vCPU reports: startup (before its first entry) or a
 * recall (reason 1, recalled). */
void vmx_hw_synthetic(struct vmx_hw *h, bool startup);
const struct vmx_exit_info *vmx_hw_exit(const struct vmx_hw *h);
/* What kvm_hw classified the last exit as (for the model's own checks). */
roof_exit vmx_hw_kind(const struct vmx_hw *h);

/* VMREAD / VMWRITE by field encoding. 0, or -1 for a field this hardware
 * does not implement or a write to a read-only field (error text set). */
int vmx_hw_vmread(struct vmx_hw *h, uint32_t field, uint64_t *value);
int vmx_hw_vmwrite(struct vmx_hw *h, uint32_t field, uint64_t value);

/* The hardware view of registers outside the VMCS, and of every group:
 * `groups` are loaded from the substrate first. The view's ip is the VMX
 * rip. After writing, mark the groups dirty. NULL on a substrate error. */
roof_state *vmx_hw_state(struct vmx_hw *h, uint64_t groups);
void vmx_hw_mark_dirty(struct vmx_hw *h, uint64_t groups);

/* Guest memory (the VMM's mapping of it) and the cpuid policy table. */
const void *vmx_hw_guest(struct vmx_hw *h, uint64_t gpa, uint64_t len);
void vmx_hw_cpuid(struct vmx_hw *h, uint32_t leaf, uint32_t subleaf,
		  uint32_t out[4]);

#endif
