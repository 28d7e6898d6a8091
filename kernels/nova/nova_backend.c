/*
 * nova_backend.c - the "nova" backend: the NOVA model's control flow.
 *
 * A vCPU is a NOVA vCPU EC. Each VM exit is a portal IPC call on the vCPU's
 * own thread (no thread hop: NOVA switches straight into the handler EC and
 * back on the reply); the handler is the client's portal entry, which runs
 * the exit dispatch. A recall (pause) sets the vCPU's recall hazard: before
 * the next entry the vCPU exits to its RECALL portal (0xff). A handler that
 * returns STOP replies with the vCPU's semaphore: the vCPU blocks until the
 * VMM resumes it with sm_ctrl(UP). See README.md.
 */
#include "roof_host.h"
#include "nova_kernel.h"

static struct nova_vcpu *nova_of(struct roof_vcpu *v)
{
	return (struct nova_vcpu *)((struct nova_client *)v->backend)->kctx;
}

static int nova_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	enum nova_policy policy = vmx_model_of(vm)->policy == VMX_MODEL_GENODE
					  ? NOVA_POLICY_GENODE
					  : NOVA_POLICY_TUNED;
	struct nova_vcpu *nv;
	return nova_kernel_vcpu_create(vm, v, policy, &nv);
}

static void nova_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	if (!v->backend)
		return;
	nova_kernel_vcpu_destroy(nova_of(v));
	v->backend = NULL;
}

static int nova_thread_init(struct roof_vcpu *v)
{
	return vmx_hw_thread_init(nova_of(v)->hw);
}

/* ec_ctrl(EC_RECALL): NOVA sets the hazard and kicks the CPU with an IPI;
 * here the hardware's recall makes the vCPU leave the guest. */
static void nova_recall(struct roof_vcpu *v)
{
	vmx_hw_recall(nova_of(v)->hw);
}

/* sm_ctrl(SEMAPHORE_UP) by the VMM: a blocked vCPU runs on. */
static void unblock(struct nova_vcpu *nv)
{
	if (nv->blocked) {
		nv->v->counters.crossings++;
		nv->blocked = false;
	}
}

static roof_action nova_deliver_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct nova_vcpu *nv = nova_of(v);
	if (reason == ROOF_EXIT_STARTUP) {
		if (nova_kernel_create_portals(nv)) {
			/* no portals: the vCPU cannot deliver anything */
			roof_state_begin_exit(v->state, ROOF_EXIT_BACKEND_ERROR, 0);
			v->state->info.error = nv->error;
			return roof_dispatch_exit(v);
		}
		vmx_hw_synthetic(nv->hw, true);
		return nova_kernel_portal(nv, NOVA_EXIT_STARTUP, false, NULL);
	}
	/* a stopped vCPU is paused: the VMM's ec_ctrl(EC_RECALL), then
	 * sm_ctrl(UP) so that it takes the recall */
	v->counters.crossings++;
	unblock(nv);
	nv->recall_hazard = false;
	vmx_hw_synthetic(nv->hw, false);
	return nova_kernel_portal(nv, NOVA_EXIT_RECALL, true, NULL);
}

static int nova_vcpu_run(struct roof_vcpu *v)
{
	struct nova_vcpu *nv = nova_of(v);
	struct vmx_hw *h = nv->hw;
	unblock(nv);
	nv->fault = 0;
	for (;;) {
		if (roof_host_leaving(v))
			return ROOF_OK;
		bool pause = roof_host_take_pause(v);
		if (pause || nv->recall_hazard) {
			/* ret_user_vmresume: a pending recall exits to the
			 * RECALL portal before the guest runs */
			if (pause)
				v->counters.crossings++; /* the VMM's EC_RECALL */
			nv->recall_hazard = false;
			vmx_hw_synthetic(h, false);
			if (nova_kernel_portal(nv, NOVA_EXIT_RECALL, pause, NULL) !=
			    ROOF_RESUME)
				return nv->fault;
			continue;
		}
		int rc = vmx_hw_run(h);
		const struct vmx_exit_info *x = vmx_hw_exit(h);
		if (x->recalled && !rc)
			continue; /* the recall IPI: handled in the kernel */
		unsigned reason = rc || x->reason == VMX_HW_NOT_VMX
					  ? NOVA_EXIT_NOSUPP
					  : x->reason & 0xffu;
		roof_action a = nova_kernel_portal(nv, reason, false, x->error);
		if (rc)
			return roof_vcpu_fail(v, rc, "nova: %s", vmx_hw_error(h));
		if (a != ROOF_RESUME)
			return nv->fault;
	}
}

const struct roof_backend_ops roof_backend_nova = {
	.name = "nova",
	.summary = "model of the NOVA microhypervisor (Genode's fork): exit "
		   "portals, UTCB transfer by MTD, over KVM",
	.vm_open = vmx_model_vm_open,
	.vm_close = vmx_model_vm_close,
	.max_slots = vmx_model_max_slots,
	.mem_map = vmx_model_mem_map,
	.mem_unmap = vmx_model_mem_unmap,
	.vcpu_create = nova_vcpu_create,
	.vcpu_destroy = nova_vcpu_destroy,
	.vcpu_thread_init = nova_thread_init,
	.vcpu_run = nova_vcpu_run,
	.vcpu_recall = nova_recall,
	.vcpu_deliver_synthetic = nova_deliver_synthetic,
	.set_option = vmx_model_set_option,
	.default_policy = "tuned",
};
