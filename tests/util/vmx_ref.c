/*
 * vmx_ref.c - "vmxref", a reference VMX client over vmx_hw, for tests only
 * (registered at start-up of every test binary, not part of the library).
 * It is the smallest client a model kernel can have: the state travels
 * between the hardware view and the unified state group by group, the exit
 * is decoded and finished with fastpath/vmx_exit, the handler runs in the
 * dispatch. Running the per-kernel suites on it tests vmx_hw's VMX view
 * and its reconciliation with KVM's completion, independent of any
 * kernel's transfer protocol.
 */
#include <stdlib.h>
#include <string.h>

#include "roof_host.h"
#include "vmx_exit.h"
#include "vmx_model.h"

struct ref_vcpu {
	struct vmx_hw *hw;
	struct vmx_exit_ctx ctx;
};

static struct ref_vcpu *ref_of(struct roof_vcpu *v)
{
	return v->backend;
}

/* Copy groups between the hardware view and the unified state. */
static void copy_groups(roof_state *dst, const roof_state *src,
			uint64_t groups)
{
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		uint32_t off, len;
		if ((groups & (UINT64_C(1) << b)) && !roof_group_span(b, &off, &len))
			memcpy((uint8_t *)dst + off, (const uint8_t *)src + off, len);
	}
}

static int ref_fetch(struct roof_vcpu *v, uint64_t mask)
{
	roof_state *hw = vmx_hw_state(ref_of(v)->hw, mask);
	if (!hw)
		return roof_vcpu_fail(v, ROOF_EKERNEL, "vmxref: %s",
				      vmx_hw_error(ref_of(v)->hw));
	copy_groups(v->state, hw, mask);
	v->counters.bytes += roof_mask_bytes(mask);
	return ROOF_OK;
}

static int ref_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct vmx_hw *h = ref_of(v)->hw;
	roof_state *hw = vmx_hw_state(h, dirty);
	if (!hw)
		return roof_vcpu_fail(v, ROOF_EKERNEL, "vmxref: %s",
				      vmx_hw_error(h));
	copy_groups(hw, v->state, dirty);
	vmx_hw_mark_dirty(h, dirty);
	v->counters.bytes += roof_mask_bytes(dirty);
	return ROOF_OK;
}

static int ref_decode(struct roof_vcpu *v)
{
	struct ref_vcpu *r = ref_of(v);
	const struct vmx_exit_info *x = vmx_hw_exit(r->hw);
	if (x->startup || x->recalled)
		return 0;
	if (x->reason == VMX_HW_NOT_VMX) { /* no VMX exit: the substrate failed */
		v->state->info.error = x->error;
		return -1;
	}
	struct vmx_exit_record rec = {x->reason, x->qualification,
				      x->guest_phys, x->insn_len, x->intr_info};
	struct vmx_exit_env env = vmx_model_exit_env(r->hw);
	if (x->error)
		v->state->info.error = x->error;
	return vmx_exit_decode(v->state, &rec, &env, &r->ctx);
}

static void ref_finish(struct roof_vcpu *v, roof_action action)
{
	(void)action;
	vmx_exit_finish(v->state, &ref_of(v)->ctx);
}

static const struct roof_backend_hot_ops ref_hot = {
	.fetch = ref_fetch,
	.writeback = ref_writeback,
	.decode = ref_decode,
	.finish = ref_finish,
};

static int ref_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	struct ref_vcpu *r = calloc(1, sizeof *r);
	if (!r)
		return roof_vm_fail(vm, ROOF_ENOMEM, "vmxref: out of memory");
	int rc = vmx_model_vcpu_hw(vm, v, &v->counters.substrate_ioctls, &r->hw);
	if (rc) {
		free(r);
		return rc;
	}
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		v->implicit[e] = vmx_exit_implicit((roof_exit)e);
	v->hot = &ref_hot;
	v->backend = r;
	return ROOF_OK;
}

static void ref_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	struct ref_vcpu *r = v->backend;
	if (!r)
		return;
	vmx_hw_destroy(r->hw);
	free(r);
	v->backend = NULL;
}

static int ref_thread_init(struct roof_vcpu *v)
{
	return vmx_hw_thread_init(ref_of(v)->hw);
}

static void ref_recall(struct roof_vcpu *v)
{
	vmx_hw_recall(ref_of(v)->hw);
}

static void ref_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct vmx_hw *h = ref_of(v)->hw;
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vmx_hw_set_need(h, (roof_exit)e,
				roof_exit_fetch_mask(v, (roof_exit)e));
	vmx_hw_synthetic(h, reason == ROOF_EXIT_STARTUP);
	roof_state_begin_exit(v->state, reason, 0);
	memset(&v->state->info, 0, sizeof v->state->info);
}

static int ref_vcpu_run(struct roof_vcpu *v)
{
	struct vmx_hw *h = ref_of(v)->hw;
	for (;;) {
		if (roof_host_leaving(v))
			return ROOF_OK;
		if (roof_host_take_pause(v)) {
			ref_synthetic(v, ROOF_EXIT_PAUSED);
			if (roof_dispatch_exit(v) != ROOF_RESUME)
				return ROOF_OK;
			continue;
		}
		int rc = vmx_hw_run(h);
		const struct vmx_exit_info *x = vmx_hw_exit(h);
		if (x->recalled)
			continue; /* a pause, checked above, or a close */
		roof_exit reason = x->reason == VMX_HW_NOT_VMX
					   ? ROOF_EXIT_BACKEND_ERROR
					   : vmx_exit_unified(x->reason);
		roof_state_begin_exit(v->state, reason, 0);
		memset(&v->state->info, 0, sizeof v->state->info);
		v->state->info.error = x->error;
		roof_action act = roof_dispatch_exit(v);
		if (rc) {
			roof_vcpu_fail(v, rc, "vmxref: %s", vmx_hw_error(h));
			return rc;
		}
		if (act != ROOF_RESUME)
			return ROOF_OK;
	}
}

static const struct roof_backend_ops roof_backend_vmxref = {
	.name = "vmxref",
	.summary = "test-only reference VMX client over vmx_hw",
	.vm_open = vmx_model_vm_open,
	.vm_close = vmx_model_vm_close,
	.max_slots = vmx_model_max_slots,
	.mem_map = vmx_model_mem_map,
	.mem_unmap = vmx_model_mem_unmap,
	.vcpu_create = ref_vcpu_create,
	.vcpu_destroy = ref_vcpu_destroy,
	.vcpu_thread_init = ref_thread_init,
	.vcpu_run = ref_vcpu_run,
	.vcpu_recall = ref_recall,
	.vcpu_prepare_synthetic = ref_synthetic,
	.set_option = vmx_model_set_option,
	.default_policy = "tuned",
};

__attribute__((constructor)) static void register_vmxref(void)
{
	roof_backend_register(&roof_backend_vmxref);
}
