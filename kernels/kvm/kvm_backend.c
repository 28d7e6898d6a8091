/*
 * kvm_backend.c - the "kvm" backend: the unified API straight on Linux KVM.
 *
 * Native exits onto roof_exit (kvm_hw.c, classify()):
 *   KVM_EXIT_IO                 -> IO       (in: completed on re-entry)
 *   KVM_EXIT_MMIO               -> MMIO     (read: completed on re-entry)
 *   KVM_EXIT_HLT                -> HLT      (rip rewound to the hlt)
 *   KVM_EXIT_X86_RDMSR / WRMSR  -> MSR_READ / MSR_WRITE (filtered MSRs)
 *   KVM_EXIT_DEBUG at a cpuid site -> CPUID, other debug exits -> DEBUG
 *   KVM_EXIT_IRQ_WINDOW_OPEN    -> IRQ_WINDOW
 *   KVM_EXIT_SHUTDOWN, SYSTEM_EVENT -> SHUTDOWN
 *   KVM_EXIT_FAIL_ENTRY, EINVAL on refused state, entry checks -> INVALID_STATE
 *   KVM_RUN -EINTR after a recall -> PAUSED
 *   KVM_EXIT_INTERNAL_ERROR (not finished here), others -> BACKEND_ERROR
 * cpuid outside the cpuid sites never reaches user space: KVM answers it
 * from the KVM_SET_CPUID2 table built from the VMM's policy.
 *
 * The handler's state is gathered straight from kvm_run's sync_regs (the
 * backend's native layout) into roof_state: no intermediate copy.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_hw.h"

struct kvm_vcpu_priv {
	struct khw_vcpu *hw;
	bool needs_known;
};

/* VM options (roof_vm_set_option): policy=fast, cache=on|off,
 * recall=sigmask (default: the recall signal is blocked outside KVM_RUN)
 * or recall=unblocked (opt-in, see kvm_hw.h). */
struct kvm_vm_priv {
	struct khw_vm *k;
	bool cache_off;
};

static struct khw_vm *khw_of(struct roof_vm *vm)
{
	return ((struct kvm_vm_priv *)vm->backend)->k;
}

static struct khw_vcpu *hw_of(struct roof_vcpu *v)
{
	return ((struct kvm_vcpu_priv *)v->backend)->hw;
}

/* ---- hot ops ------------------------------------------------------------- */
static int kvm_fetch(struct roof_vcpu *v, uint64_t mask)
{
	int rc = khw_fetch(hw_of(v), v->state, mask);
	if (rc)
		roof_vcpu_fail(v, rc, "%s", khw_error(hw_of(v)));
	return rc;
}

static int kvm_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	int rc = khw_writeback(hw_of(v), v->state, dirty);
	if (rc)
		roof_vcpu_fail(v, rc, "%s", khw_error(hw_of(v)));
	return rc;
}

static const struct roof_backend_hot_ops kvm_hot = {
	.fetch = kvm_fetch,
	.writeback = kvm_writeback,
};

/* ---- VM ------------------------------------------------------------------- */
static int kvm_vm_open(struct roof_vm *vm)
{
	struct kvm_vm_priv *p = calloc(1, sizeof *p);
	if (!p)
		return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
	int rc = khw_vm_open(vm, &p->k);
	if (rc) {
		free(p);
		return rc;
	}
	vm->backend = p;
	return ROOF_OK;
}

static void kvm_vm_close(struct roof_vm *vm)
{
	khw_vm_close(khw_of(vm));
	free(vm->backend);
	vm->backend = NULL;
}

static int kvm_set_option(struct roof_vm *vm, const char *key,
			  const char *value)
{
	struct kvm_vm_priv *p = vm->backend;
	if (strcmp(key, "policy") == 0 && strcmp(value, "fast") == 0)
		return ROOF_OK;
	if (strcmp(key, "cache") == 0 &&
	    (strcmp(value, "on") == 0 || strcmp(value, "off") == 0)) {
		p->cache_off = strcmp(value, "off") == 0;
		return ROOF_OK;
	}
	if (strcmp(key, "recall") == 0 &&
	    (strcmp(value, "sigmask") == 0 || strcmp(value, "unblocked") == 0)) {
		khw_set_recall_unblocked(p->k, strcmp(value, "unblocked") == 0);
		return ROOF_OK;
	}
	return roof_vm_fail(vm, ROOF_EINVAL,
		"set_option: kvm knows policy=fast, cache=on|off and "
		"recall=sigmask|unblocked, not %s=%s", key, value);
}

static unsigned kvm_max_slots(struct roof_vm *vm)
{
	return khw_max_slots(khw_of(vm));
}

static int kvm_mem_map(struct roof_vm *vm, struct roof_mem_region *r)
{
	return khw_mem_map(khw_of(vm), r);
}

static int kvm_mem_unmap(struct roof_vm *vm, struct roof_mem_region *r)
{
	return khw_mem_unmap(khw_of(vm), r);
}

/* ---- vCPU ------------------------------------------------------------------ */
static int kvm_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	struct kvm_vcpu_priv *p = calloc(1, sizeof *p);
	if (!p)
		return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
	int rc = khw_vcpu_create(khw_of(vm), v, &p->hw);
	if (rc) {
		free(p);
		return rc;
	}
	khw_set_cache(p->hw, !((struct kvm_vm_priv *)vm->backend)->cache_off);
	khw_set_counters(p->hw, (struct khw_counters){&v->counters.crossings,
						      &v->counters.bytes});
	v->hot = &kvm_hot;
	v->backend = p;
	return ROOF_OK;
}

static void kvm_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	struct kvm_vcpu_priv *p = v->backend;
	if (!p)
		return;
	khw_vcpu_destroy(p->hw);
	free(p);
	v->backend = NULL;
}

static int kvm_thread_init(struct roof_vcpu *v)
{
	int rc = khw_thread_init(hw_of(v));
	if (rc)
		roof_vcpu_fail(v, rc, "%s", khw_error(hw_of(v)));
	return rc;
}

static void kvm_recall(struct roof_vcpu *v)
{
	khw_recall(hw_of(v));
}

/* Handlers are fixed once the vCPU runs: tell the hardware layer which
 * groups each exit's handler fetches (its sync-class prediction). */
static void learn_needs(struct roof_vcpu *v)
{
	struct kvm_vcpu_priv *p = v->backend;
	if (p->needs_known)
		return;
	for (unsigned r = 0; r < ROOF_EXIT_COUNT; r++)
		khw_set_need(p->hw, (roof_exit)r,
			     roof_exit_fetch_mask(v, (roof_exit)r));
	p->needs_known = true;
}

static void kvm_prepare_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	learn_needs(v);
	struct khw_vcpu *hw = hw_of(v);
	khw_synthetic(hw, reason);
	roof_state_begin_exit(v->state, khw_last_exit(hw)->reason, 0);
	v->state->info = khw_last_exit(hw)->info;
}

static roof_action deliver(struct roof_vcpu *v)
{
	struct khw_vcpu *hw = hw_of(v);
	const struct khw_exit *x = khw_last_exit(hw);
	roof_state *s = v->state;
	roof_state_begin_exit(s, x->reason, 0);
	s->info = x->info;
	roof_action act = roof_dispatch_exit(v);
	khw_complete(hw, &s->info);
	return act;
}

static int kvm_vcpu_run(struct roof_vcpu *v)
{
	struct khw_vcpu *hw = hw_of(v);
	learn_needs(v);
	for (;;) {
		if (roof_host_leaving(v))
			return ROOF_OK;
		if (roof_host_take_pause(v)) {
			kvm_prepare_synthetic(v, ROOF_EXIT_PAUSED);
			if (roof_dispatch_exit(v) != ROOF_RESUME)
				return ROOF_OK;
			continue;
		}
		int rc = khw_run(hw);
		if (khw_last_exit(hw)->recalled)
			continue; /* a pause (checked above) or a close */
		roof_action act = deliver(v);
		if (rc) {
			roof_vcpu_fail(v, rc, "%s", khw_last_exit(hw)->msg);
			return rc;
		}
		if (act != ROOF_RESUME)
			return ROOF_OK;
	}
}

const struct roof_backend_ops roof_backend_kvm = {
	.name = "kvm",
	.summary = "Linux KVM: sync_regs, lazy ioctl groups with a register "
		   "cache, in-kernel cpuid",
	.vm_open = kvm_vm_open,
	.vm_close = kvm_vm_close,
	.max_slots = kvm_max_slots,
	.mem_map = kvm_mem_map,
	.mem_unmap = kvm_mem_unmap,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_thread_init = kvm_thread_init,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_recall = kvm_recall,
	.vcpu_prepare_synthetic = kvm_prepare_synthetic,
	.set_option = kvm_set_option,
	.default_policy = "fast",
};
