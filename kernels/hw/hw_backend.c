/*
 * hw_backend.c - the "hw" backend: base-hw's x86 VM interface as a model
 * over a KVM vCPU. Glues three parts together on the Linux host:
 *   the kernel (hw_kernel.c): runs the vCPU, stores/loads the page,
 *   the client (client/hw_client.c, freestanding): what ld.lib.so does,
 *   the host runtime (fastpath/host): vCPU thread, entrypoints, dispatch.
 * The vCPU thread plays the kernel running the vCPU; an exit's signal is
 * received on it (ROOF_INLINE, tuned) or handed to the entrypoint (genode,
 * ROOF_ON_EP). README.md explains the flow and what is counted.
 */
#include <stdlib.h>
#include <string.h>

#include "../kvm/vmx_model.h"
#include "client/hw_client.h"
#include "hw_kernel.h"

struct hw_vcpu {
	struct hw_client client; /* first: the client's view of v->backend */
	struct hw_kernel_vcpu kernel;
	struct hw_vcpu_state *page; /* the Vcpu_state dataspace */
	struct roof_vcpu *core;
	struct vmx_hw *cpu;
	bool configured;
};

static struct hw_vcpu *hw_of(struct roof_vcpu *v)
{
	return v->backend;
}

/* ---- the syscalls the client makes -------------------------------------------- */
static void sys_signal_ack(void *kv)
{
	hw_kernel_signal_ack(&((struct hw_vcpu *)kv)->kernel);
}

static int sys_vcpu_pause(void *kv, uint64_t groups)
{
	return hw_kernel_vcpu_pause(&((struct hw_vcpu *)kv)->kernel, groups);
}

static int sys_vcpu_run(void *kv)
{
	return hw_kernel_vcpu_run(&((struct hw_vcpu *)kv)->kernel);
}

static int sys_exit_config(void *kv, const uint64_t table[256])
{
	return hw_kernel_exit_config(&((struct hw_vcpu *)kv)->kernel, table);
}

static const char *sys_error(void *kv)
{
	return hw_kernel_error(&((struct hw_vcpu *)kv)->kernel);
}

static void sys_report(void *kv, int err, const char *msg)
{
	roof_vcpu_fail(((struct hw_vcpu *)kv)->core, err, "%s", msg);
}

static const struct hw_syscalls hw_syscalls = {
	.signal_ack = sys_signal_ack,
	.vcpu_pause = sys_vcpu_pause,
	.vcpu_run = sys_vcpu_run,
	.vcpu_exit_config = sys_exit_config,
	.error = sys_error,
	.report = sys_report,
};

/* ---- vCPU life cycle ------------------------------------------------------------ */
static int hw_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	struct hw_vcpu *hv = calloc(1, sizeof *hv);
	struct hw_vcpu_state *page = aligned_alloc(64, sizeof *page);
	if (!hv || !page) {
		free(hv);
		free(page);
		return roof_vm_fail(vm, ROOF_ENOMEM, "hw: out of memory");
	}
	memset(page, 0, sizeof *page); /* a fresh dataspace is zeroed */
	int rc = vmx_model_vcpu_hw(vm, v, &v->counters.substrate_ioctls,
				   &hv->cpu);
	if (rc) {
		free(page);
		free(hv);
		return rc;
	}
	bool tuned = vmx_model_of(vm)->policy == VMX_MODEL_TUNED;
	/* Vcpu::run initializes tsc_aux with the id of the vCPU's CPU, which
	 * is its handler entrypoint's (Genode: the vCPU inherits affinity) */
	const struct roof_vcpu_host *host = v->host;
	unsigned cpu_id = host && host->ep && host->ep->cpu >= 0
				  ? (unsigned)host->ep->cpu : 0;
	hv->page = page;
	hv->core = v;
	hw_kernel_init(&hv->kernel, hv->cpu, page, &v->counters, cpu_id, tuned);
	rc = hw_client_init(&hv->client, page, &hw_syscalls, hv,
			    vmx_model_exit_env(hv->cpu), tuned);
	if (rc) {
		const char *why = hv->client.error; /* a static text */
		vmx_hw_destroy(hv->cpu);
		free(page);
		free(hv);
		return roof_vm_fail(vm, rc, "%s", why);
	}
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		v->implicit[e] = hw_client_implicit((roof_exit)e);
	v->hot = &hw_client_hot;
	v->backend = hv;
	/* Genode's flow: every exit is a signal to the handler entrypoint */
	v->force_hop = !tuned;
	return ROOF_OK;
}

static void hw_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	struct hw_vcpu *hv = v->backend;
	if (!hv)
		return;
	vmx_hw_destroy(hv->cpu);
	free(hv->page);
	free(hv);
	v->backend = NULL;
}

static int hw_thread_init(struct roof_vcpu *v)
{
	return vmx_hw_thread_init(hw_of(v)->cpu);
}

static void hw_recall(struct roof_vcpu *v)
{
	/* the kernel interrupts the vCPU (an IPI: an external-interrupt exit)
	 * so that the handler's vcpu_pause finds it descheduled */
	vmx_hw_recall(hw_of(v)->cpu);
}

/* Before the first exit: tuned hands the kernel its exit config; both tell
 * the substrate which register classes each exit's store will read. */
static void configure(struct roof_vcpu *v)
{
	struct hw_vcpu *hv = hw_of(v);
	if (hv->configured)
		return;
	hv->configured = true;
	hw_client_configure(v);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vmx_hw_set_need(hv->cpu, (roof_exit)e,
				hw_kernel_hw_groups(hw_client_store_groups(
					&hv->client, (roof_exit)e)));
}

/* A BACKEND_ERROR exit with the kernel's text, dispatched; returns rc. */
static int failed_exit(struct roof_vcpu *v, int rc, const char *text)
{
	roof_vcpu_fail(v, rc, "hw: %s", text);
	roof_state_begin_error(v->state, text);
	roof_dispatch_exit(v);
	return rc;
}

static void hw_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct hw_vcpu *hv = hw_of(v);
	configure(v);
	vmx_hw_synthetic(hv->cpu, reason == ROOF_EXIT_STARTUP);
	/* the VMM's own signal: Vcpu's constructor submits the startup one,
	 * a pause request submits the handler's */
	hw_kernel_signal_delivered(&hv->kernel);
	hw_client_begin_exit(v, reason);
}

/* Resume after a handler returned RESUME: charge, vcpu_run. */
static int resume(struct roof_vcpu *v)
{
	int rc = hw_client_resume(v);
	if (rc)
		return failed_exit(v, rc, hw_kernel_error(&hw_of(v)->kernel));
	return ROOF_OK;
}

static int hw_vcpu_run(struct roof_vcpu *v)
{
	struct hw_vcpu *hv = hw_of(v);
	configure(v);
	int rc = resume(v); /* the stopped vCPU is run by the VMM */
	if (rc)
		return rc;
	for (;;) {
		if (roof_host_leaving(v))
			return ROOF_OK;
		if (roof_host_take_pause(v)) {
			hw_synthetic(v, ROOF_EXIT_PAUSED);
			if (roof_dispatch_exit(v) != ROOF_RESUME)
				return ROOF_OK;
			if ((rc = resume(v)))
				return rc;
			continue;
		}
		roof_probe_entry(v);
		enum hw_proceed how = hw_kernel_proceed(&hv->kernel);
		roof_probe_exit(v);
		if (how == HW_PROCEED_INTERRUPT)
			continue; /* a recall: the pause is taken above */
		if (how == HW_PROCEED_DEAD)
			return failed_exit(v, ROOF_EKERNEL,
					   hw_kernel_error(&hv->kernel));
		/* the exit signal arrives at the handler thread */
		if (hw_client_begin_exit(v, ROOF_EXIT_COUNT) == ROOF_OK) {
			const struct vmx_exit_info *x = vmx_hw_exit(hv->cpu);
			if (x->error) /* the hardware's text for a failed entry */
				v->state->info.error = x->error;
		}
		if (roof_dispatch_exit(v) != ROOF_RESUME)
			return ROOF_OK;
		if ((rc = resume(v)))
			return rc;
	}
}

const struct roof_backend_ops roof_backend_hw = {
	.name = "hw",
	.summary = "base-hw model: Vcpu_state page, exit signal, vcpu_pause/"
		   "vcpu_run syscalls (over KVM)",
	.vm_open = vmx_model_vm_open,
	.vm_close = vmx_model_vm_close,
	.max_slots = vmx_model_max_slots,
	.mem_map = vmx_model_mem_map,
	.mem_unmap = vmx_model_mem_unmap,
	.vcpu_create = hw_vcpu_create,
	.vcpu_destroy = hw_vcpu_destroy,
	.vcpu_thread_init = hw_thread_init,
	.vcpu_run = hw_vcpu_run,
	.vcpu_recall = hw_recall,
	.vcpu_prepare_synthetic = hw_synthetic,
	.set_option = vmx_model_set_option,
	.default_policy = "tuned",
	.supported_groups = HW_GROUPS,
};
