/*
 * sel4_backend.c - the "sel4" backend: Genode's seL4 control flow over the
 * model kernel (sel4_kernel.c) and the client (client/sel4_client.c).
 *
 * "The VMM calls into the VM" (Genode 19.05 release notes; repos/base-sel4/
 * src/lib/base/x86/vm.cc, Sel4_vcpu::entry()): a vCPU thread per vCPU sits
 * in a blocking seL4_VMEnter; a fault return is an exit, a notification
 * return is the recall. Under policy=genode every handler runs on the
 * entrypoint (the thread signals it and waits on its ready semaphore);
 * under policy=tuned a handler registered ROOF_INLINE runs on the vCPU
 * thread itself, which the flow allows: the thread owns the VCPU
 * capability and nothing else waits for it.
 */
#include <stdlib.h>

#include "client/sel4_client.h"
#include "roof_host.h"
#include "sel4_kernel.h"
#include "../kvm/vmx_model.h"

struct sel4_vcpu {
	struct sel4_client client; /* first: v->backend points at it */
	struct sel4_kernel *kernel;
	/* the host's hooks, and ours: a hop charges the model's costs */
	const struct roof_host_hooks *host_hooks;
	struct roof_host_hooks hooks;
};

static struct sel4_vcpu *sel4_of(struct roof_vcpu *v)
{
	return v->backend;
}

static int sel4_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	struct sel4_vcpu *s = calloc(1, sizeof *s);
	if (!s)
		return roof_vm_fail(vm, ROOF_ENOMEM, "sel4: out of memory");
	int rc = sel4_kernel_create(vm, v, &s->kernel);
	if (rc) {
		free(s);
		return rc;
	}
	enum sel4_policy policy = vmx_model_of(vm)->policy == VMX_MODEL_GENODE
					  ? SEL4_POLICY_GENODE
					  : SEL4_POLICY_TUNED;
	struct vmx_exit_env env = vmx_model_exit_env(sel4_kernel_hw(s->kernel));
	if (sel4_client_init(&s->client, v, policy, &sel4_kernel_ops, s->kernel,
			     &env, sel4_kernel_ipc(s->kernel))) {
		sel4_kernel_destroy(s->kernel);
		free(s);
		return roof_vm_fail(vm, ROOF_EKERNEL,
				    "sel4: the MR transfer plan does not fit");
	}
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		v->implicit[e] = sel4_client_implicit(policy, (roof_exit)e);
	v->hot = &sel4_client_hot;
	v->backend = s;
	v->force_hop = policy == SEL4_POLICY_GENODE;
	return ROOF_OK;
}

static void sel4_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	struct sel4_vcpu *s = v->backend;
	if (!s)
		return;
	sel4_kernel_destroy(s->kernel);
	free(s);
	v->backend = NULL;
}

/* A handler hop to the entrypoint: what it costs on seL4 under the
 * vCPU's policy (the dispatch has counted the hop). */
static roof_action hop_to_ep(struct roof_vcpu *v,
			     const struct roof_handler_slot *slot)
{
	struct sel4_vcpu *s = sel4_of(v);
	sel4_client_charge_hop(&s->client);
	return s->host_hooks->call_on_ep(v, slot);
}

/* On the vCPU thread, before its first exit: the host's hooks are in
 * place (roof_core_init); ours wrap its entrypoint hop. */
static int sel4_thread_init(struct roof_vcpu *v)
{
	struct sel4_vcpu *s = sel4_of(v);
	if (v->host_hooks && v->host_hooks->call_on_ep) {
		s->host_hooks = v->host_hooks;
		s->hooks = *v->host_hooks;
		s->hooks.call_on_ep = hop_to_ep;
		v->host_hooks = &s->hooks;
	}
	return sel4_kernel_thread_init(s->kernel);
}

static void sel4_recall(struct roof_vcpu *v)
{
	sel4_kernel_recall(sel4_of(v)->kernel);
}

/* The pauser's seL4_Signal, made on another thread, charged here. */
static void charge_remote_signals(struct sel4_vcpu *s)
{
	s->client.v->counters.crossings +=
		sel4_kernel_take_remote_signals(s->kernel);
}

/* A pause: Genode signals the recall notification, and the vCPU thread's
 * next VMEnter returns at once. If a recall has signalled it already, the
 * VMEnter alone does. */
static int pause_return(struct sel4_vcpu *s)
{
	return sel4_client_pause(&s->client,
				 !sel4_kernel_notification_pending(s->kernel));
}

static void begin_error(struct roof_vcpu *v)
{
	sel4_client_begin_exit(&sel4_of(v)->client, ROOF_EXIT_BACKEND_ERROR);
	v->state->info.error = roof_vcpu_error(v);
}

static void sel4_prepare_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct sel4_vcpu *s = sel4_of(v);
	int rc;
	if (reason == ROOF_EXIT_STARTUP) {
		sel4_kernel_startup(s->kernel);
		rc = sel4_client_startup(&s->client);
	} else {
		rc = pause_return(s);
		charge_remote_signals(s);
	}
	if (rc < 0)
		begin_error(v);
	else
		sel4_client_begin_exit(&s->client, reason);
}

static int sel4_vcpu_run(struct roof_vcpu *v)
{
	struct sel4_vcpu *s = sel4_of(v);
	struct sel4_client *c = &s->client;
	for (;;) {
		if (roof_host_leaving(v))
			return ROOF_OK;
		int r;
		roof_exit reason = ROOF_EXIT_PAUSED;
		if (roof_host_take_pause(v)) {
			r = pause_return(s);
		} else {
			r = sel4_client_enter(c);
			if (r == SEL4_RETURN_FAULT)
				reason = vmx_exit_unified(c->native);
			if (r == SEL4_RETURN_NOTIF &&
			    (roof_host_leaving(v) || !roof_host_take_pause(v))) {
				/* a close, or a recall nobody asked a PAUSED
				 * for: nothing to deliver */
				charge_remote_signals(s);
				continue;
			}
		}
		charge_remote_signals(s);
		if (r < 0) {
			begin_error(v);
			roof_dispatch_exit(v);
			return r;
		}
		sel4_client_begin_exit(c, reason);
		roof_action act = roof_dispatch_exit(v);
		if (act != ROOF_RESUME)
			return ROOF_OK;
	}
}

const struct roof_backend_ops roof_backend_sel4 = {
	.name = "sel4",
	.summary = "seL4 model: VMEnter message registers, ReadVMCS/WriteVMCS "
		   "per field, vCPU thread (Genode's seL4 client or tuned)",
	.vm_open = vmx_model_vm_open,
	.vm_close = vmx_model_vm_close,
	.max_slots = vmx_model_max_slots,
	.mem_map = vmx_model_mem_map,
	.mem_unmap = vmx_model_mem_unmap,
	.vcpu_create = sel4_vcpu_create,
	.vcpu_destroy = sel4_vcpu_destroy,
	.vcpu_thread_init = sel4_thread_init,
	.vcpu_run = sel4_vcpu_run,
	.vcpu_recall = sel4_recall,
	.vcpu_prepare_synthetic = sel4_prepare_synthetic,
	.set_option = vmx_model_set_option,
	.default_policy = "tuned",
	.supported_groups = SEL4_SUPPORTED_GROUPS,
};
