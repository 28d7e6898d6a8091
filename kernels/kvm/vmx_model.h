/*
 * vmx_model.h - host glue shared by the model kernels (kernels/nova, sel4,
 * foc, hw): the VM-level backend operations, all of which are the same for
 * a kernel modelled over vmx_hw (memory goes to KVM slots), and the
 * "policy" option every model takes:
 *   genode  what today's Genode client on that kernel does
 *   tuned   what oneroof does on that kernel (the default)
 * A model fills its struct roof_backend_ops with these for the VM-level
 * entries and implements the vCPU entries (its control flow) itself.
 */
#ifndef ROOF_VMX_MODEL_H
#define ROOF_VMX_MODEL_H

#include "vmx_exit.h"
#include "vmx_hw.h"

enum vmx_model_policy { VMX_MODEL_TUNED = 0, VMX_MODEL_GENODE = 1 };

struct vmx_model_vm {
	struct khw_vm *k;
	enum vmx_model_policy policy;
};

int vmx_model_vm_open(struct roof_vm *vm);
void vmx_model_vm_close(struct roof_vm *vm);
unsigned vmx_model_max_slots(struct roof_vm *vm);
int vmx_model_mem_map(struct roof_vm *vm, struct roof_mem_region *r);
int vmx_model_mem_unmap(struct roof_vm *vm, struct roof_mem_region *r);
/* policy=genode|tuned; anything else is ROOF_EINVAL with a message. */
int vmx_model_set_option(struct roof_vm *vm, const char *key,
			 const char *value);

static inline struct vmx_model_vm *vmx_model_of(struct roof_vm *vm)
{
	return (struct vmx_model_vm *)vm->backend;
}

/* A vCPU's hardware: vmx_hw over a KVM vCPU, substrate costs counted in
 * `substrate_ioctls` (kept apart from the model's own counts). */
int vmx_model_vcpu_hw(struct roof_vm *vm, struct roof_vcpu *v,
		      uint64_t *substrate_ioctls, struct vmx_hw **out);

/* What the VMM gives a model client's exit decode (fastpath/vmx_exit.h):
 * its mapping of guest memory and its cpuid policy table, both those of
 * the VM that vCPU hardware h belongs to. */
struct vmx_exit_env vmx_model_exit_env(struct vmx_hw *h);

/*
 * The model kernels' test-only exit-record hooks (tests/fuzz/
 * exit_decoders.h) whose record is the kernel's page, as far as given,
 * then optionally guest-physical page 0, where the MMIO decode reads the
 * instruction. record_split copies the bytes into page (page_size bytes)
 * and guest (one page), zero-padding both; record_exit_env is the VMM's
 * view of that guest page (no cpuid table).
 */
#define VMX_MODEL_RECORD_GUEST 4096u
void vmx_model_record_split(const uint8_t *data, size_t size, void *page,
			    size_t page_size,
			    uint8_t guest[VMX_MODEL_RECORD_GUEST]);
struct vmx_exit_env vmx_model_record_exit_env(uint8_t *guest);

#endif
