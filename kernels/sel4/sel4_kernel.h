/*
 * sel4_kernel.h - the kernel side of the "sel4" model: an seL4 VCPU object
 * (src/arch/x86/object/vcpu.c, seL4 13.0.0 with Genode's patches) over the
 * VT-x hardware of kernels/kvm/vmx_hw.h. It implements seL4_VMEnter (the
 * MR layout, a pending bound notification returning at once), the VCPU
 * invocations ReadVMCS / WriteVMCS (seL4's field whitelists, fixed bits,
 * the cr0 fields kept in the vcpu object) and WriteRegisters (the seven
 * GPRs the kernel saves itself), and the recall notification.
 */
#ifndef ROOF_SEL4_KERNEL_H
#define ROOF_SEL4_KERNEL_H

#include "client/sel4_abi.h"
#include "../kvm/vmx_model.h"

struct sel4_kernel;

int sel4_kernel_create(struct roof_vm *vm, struct roof_vcpu *v,
		       struct sel4_kernel **out);
void sel4_kernel_destroy(struct sel4_kernel *k);
/* The system calls, for the client (sel4_abi.h). */
extern const struct sel4_kernel_ops sel4_kernel_ops;
struct sel4_ipc_buffer *sel4_kernel_ipc(struct sel4_kernel *k);
/* The vCPU's hardware (for the VMM's guest memory and cpuid table). */
struct vmx_hw *sel4_kernel_hw(struct sel4_kernel *k);

/* On the vCPU thread, once. */
int sel4_kernel_thread_init(struct sel4_kernel *k);
/* The vCPU before its first VMEnter (Genode's STARTUP). */
void sel4_kernel_startup(struct sel4_kernel *k);
/* Any thread: seL4_Signal on the vCPU thread's bound notification, and
 * make a running guest leave (the pauser's signal in Genode's
 * with_state()). */
void sel4_kernel_recall(struct sel4_kernel *k);
/* The notification is signalled and not yet consumed by a VMEnter. */
bool sel4_kernel_notification_pending(struct sel4_kernel *k);
/* seL4_Signal calls made by other threads since the last call (their
 * crossings, charged on the vCPU thread). */
unsigned sel4_kernel_take_remote_signals(struct sel4_kernel *k);
/* Is `field` in seL4's ReadVMCS / WriteVMCS whitelist (with Genode's
 * intel_vmcs.patch)? */
bool sel4_kernel_readable(uint32_t field);
bool sel4_kernel_writable(uint32_t field);

#endif
