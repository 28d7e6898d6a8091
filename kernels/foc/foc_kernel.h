/*
 * foc_kernel.h - the kernel side of the Fiasco.OC model: one vCPU thread in
 * extended vCPU mode, its state page (client/foc_abi.h), the vCPU IRQ, and
 * the VMX resume path of Fiasco's Vm_vmx (src/kern/ia32/vm_vmx.cpp,
 * vm_vmx_ept.cpp, vmx.cpp at fee4f8ed~1, the 2023 ABI Genode uses) over
 * the model hardware (kernels/kvm/vmx_hw.h).
 *
 * Per resume it does what Vm_vmx::do_resume_vcpu() does: load the guest
 * state from the page into the VMCS (load_guest_state: 64 field writes,
 * more with an injection; the GPRs; cr2; the syscall MSRs in IA-32e mode;
 * xcr0), enter, and store the exit into the page (store_guest_state +
 * store_exit_info: 62 field reads, 64 on an EPT violation; GPRs; cr2;
 * MSRs). A pending vCPU IRQ makes the resume return at once with exit
 * reason 1 and nothing loaded or stored (Vm_vmx_t::resume_vcpu()).
 *
 * Counted per the real kernel (vmcs_reads, vmcs_writes, bytes of the
 * copies). Executed lazily where the substrate makes a copy expensive: a
 * stored group reaches the page when the client first reads it
 * (page_sync), and only fields that changed go to the hardware (a field
 * differs from what the kernel last copied). README.md explains both.
 */
#ifndef ROOF_FOC_KERNEL_H
#define ROOF_FOC_KERNEL_H

#include <stdint.h>

#include "../kvm/vmx_model.h"
#include "client/foc_client.h"

struct foc_kernel;

int foc_kernel_create(struct roof_vm *vm, struct roof_vcpu *v,
		      struct foc_kernel **out);
void foc_kernel_destroy(struct foc_kernel *k);
struct foc_vcpu_page *foc_kernel_page(struct foc_kernel *k);
struct vmx_hw *foc_kernel_hw(struct foc_kernel *k);
/* The hardware failed at the last entry (the vCPU cannot go on): its
 * roof_err, else 0. */
int foc_kernel_run_error(const struct foc_kernel *k);
/* The kernel calls and substrate hooks of the client; context: the kernel. */
extern const struct foc_kernel_ops foc_kernel_ops;

/* l4_irq_trigger() on the vCPU IRQ: any thread. The resume in progress (or
 * the next one) returns with exit reason 1. */
void foc_kernel_irq_trigger(struct foc_kernel *k);
/* The vCPU before its first entry: the hardware's STARTUP exit, the page
 * set up (version, capabilities, offset table, the hardware's state as
 * the initial content). `need` per unified exit: groups the client reads
 * (drives the substrate's prediction). */
int foc_kernel_startup(struct foc_kernel *k, const uint64_t need[ROOF_EXIT_COUNT]);

/* The offset table Fiasco's Vmx_user_info::Fo_table::master_offsets[]
 * holds, computed as vmx.cpp's Vmcs_field::Offset_* do. */
void foc_kernel_offset_table(uint8_t table[32]);

#endif
