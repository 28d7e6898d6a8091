/* vmx_model.c - see vmx_model.h. */
#include <stdlib.h>
#include <string.h>

#include "vmx_model.h"

int vmx_model_vm_open(struct roof_vm *vm)
{
	struct vmx_model_vm *m = calloc(1, sizeof *m);
	if (!m)
		return roof_vm_fail(vm, ROOF_ENOMEM, "%s: out of memory",
				    vm->kernel);
	int rc = khw_vm_open(vm, &m->k);
	if (rc) {
		free(m);
		return rc;
	}
	m->policy = VMX_MODEL_TUNED;
	vm->backend = m;
	return ROOF_OK;
}

void vmx_model_vm_close(struct roof_vm *vm)
{
	struct vmx_model_vm *m = vmx_model_of(vm);
	if (!m)
		return;
	khw_vm_close(m->k);
	free(m);
	vm->backend = NULL;
}

unsigned vmx_model_max_slots(struct roof_vm *vm)
{
	return khw_max_slots(vmx_model_of(vm)->k);
}

int vmx_model_mem_map(struct roof_vm *vm, struct roof_mem_region *r)
{
	return khw_mem_map(vmx_model_of(vm)->k, r);
}

int vmx_model_mem_unmap(struct roof_vm *vm, struct roof_mem_region *r)
{
	return khw_mem_unmap(vmx_model_of(vm)->k, r);
}

int vmx_model_set_option(struct roof_vm *vm, const char *key,
			 const char *value)
{
	struct vmx_model_vm *m = vmx_model_of(vm);
	if (strcmp(key, "policy") == 0) {
		if (strcmp(value, "tuned") == 0) {
			m->policy = VMX_MODEL_TUNED;
			return ROOF_OK;
		}
		if (strcmp(value, "genode") == 0) {
			m->policy = VMX_MODEL_GENODE;
			return ROOF_OK;
		}
	}
	return roof_vm_fail(vm, ROOF_EINVAL,
		"set_option: kernel %s knows policy=genode|tuned, not %s=%s",
		vm->kernel, key, value);
}

int vmx_model_vcpu_hw(struct roof_vm *vm, struct roof_vcpu *v,
		      uint64_t *substrate_ioctls, struct vmx_hw **out)
{
	int rc = vmx_hw_create(vmx_model_of(vm)->k, v, out);
	if (rc)
		return roof_vm_fail(vm, rc, "%s: vCPU hardware: %s", vm->kernel,
				    vm->err[0] ? vm->err : roof_strerror(rc));
	vmx_hw_set_counters(*out, (struct khw_counters){substrate_ioctls, NULL});
	return ROOF_OK;
}

static const void *env_guest_mem(void *hw, uint64_t gpa, uint64_t len)
{
	return vmx_hw_guest(hw, gpa, len);
}

static void env_cpuid(void *hw, uint32_t leaf, uint32_t subleaf,
		      uint32_t out[4])
{
	vmx_hw_cpuid(hw, leaf, subleaf, out);
}

struct vmx_exit_env vmx_model_exit_env(struct vmx_hw *h)
{
	return (struct vmx_exit_env){env_guest_mem, env_cpuid, h};
}

void vmx_model_record_split(const uint8_t *data, size_t size, void *page,
			    size_t page_size,
			    uint8_t guest[VMX_MODEL_RECORD_GUEST])
{
	memset(page, 0, page_size);
	memcpy(page, data, size < page_size ? size : page_size);
	memset(guest, 0, VMX_MODEL_RECORD_GUEST);
	if (size > page_size) {
		size_t g = size - page_size;
		memcpy(guest, data + page_size,
		       g < VMX_MODEL_RECORD_GUEST ? g : VMX_MODEL_RECORD_GUEST);
	}
}

static const void *record_guest_mem(void *guest, uint64_t gpa, uint64_t len)
{
	if (gpa >= VMX_MODEL_RECORD_GUEST || len > VMX_MODEL_RECORD_GUEST - gpa)
		return NULL;
	return (const uint8_t *)guest + gpa;
}

struct vmx_exit_env vmx_model_record_exit_env(uint8_t *guest)
{
	return (struct vmx_exit_env){record_guest_mem, NULL, guest};
}
