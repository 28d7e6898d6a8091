/*
 * foc_backend.c - "foc": the Fiasco.OC model as a oneroof backend. The
 * vCPU thread is Genode's per-vCPU thread (vm.cc Foc_vcpu::entry()): it
 * loops over the blocking resume of the kernel side (foc_kernel.c) and
 * hands each exit to the dispatch through the client (client/). A pause is
 * the vCPU IRQ, whose trigger makes the resume return with exit reason 1.
 * README.md: exit mapping, what is faithful, the counts per exit.
 */
#include <stdlib.h>
#include <string.h>

#include "foc_kernel.h"
#include "x86_arch.h"

struct foc_vcpu {
	struct foc_client client; /* first: v->backend points here */
	struct foc_kernel *kernel;
};

static struct foc_vcpu *fv_of(struct roof_vcpu *v)
{
	return (struct foc_vcpu *)v->backend;
}

static int foc_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v)
{
	struct foc_vcpu *fv = aligned_alloc(64, sizeof *fv);
	if (!fv)
		return roof_vm_fail(vm, ROOF_ENOMEM, "foc: out of memory");
	memset(fv, 0, sizeof *fv);
	int rc = foc_kernel_create(vm, v, &fv->kernel);
	if (rc) {
		free(fv);
		return rc;
	}
	bool genode = vmx_model_of(vm)->policy == VMX_MODEL_GENODE;
	struct vmx_exit_env env = vmx_model_exit_env(foc_kernel_hw(fv->kernel));
	if (foc_client_init(&fv->client, v, foc_kernel_page(fv->kernel),
			    &foc_kernel_ops, fv->kernel, &env, genode)) {
		foc_kernel_destroy(fv->kernel);
		free(fv);
		return roof_vm_fail(vm, ROOF_EKERNEL, "foc: %s", FOC_PLAN_REFUSED);
	}
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		v->implicit[e] = vmx_exit_implicit((roof_exit)e);
	v->hot = &foc_client_hot;
	v->backend = &fv->client;
	/* vm.cc: every exit is a signal to the handler's entrypoint */
	v->force_hop = genode;
	return ROOF_OK;
}

static void foc_vcpu_destroy(struct roof_vm *vm, struct roof_vcpu *v)
{
	(void)vm;
	struct foc_vcpu *fv = fv_of(v);
	if (!fv)
		return;
	foc_kernel_destroy(fv->kernel);
	free(fv);
	v->backend = NULL;
}

static int foc_thread_init(struct roof_vcpu *v)
{
	struct foc_vcpu *fv = fv_of(v);
	foc_client_thread_init(&fv->client);
	return vmx_hw_thread_init(foc_kernel_hw(fv->kernel));
}

static void foc_recall(struct roof_vcpu *v)
{
	/* l4_irq_trigger() on the vCPU's IRQ (vm.cc with_state()) */
	foc_kernel_irq_trigger(fv_of(v)->kernel);
}

/* The dispatch; a hop to the entrypoint costs vm.cc a signal
 * (Signal_transmitter::submit) and the ready semaphore back. */
static roof_action dispatch(struct roof_vcpu *v)
{
	uint64_t hops = v->counters.hops;
	roof_action act = roof_dispatch_exit(v);
	v->counters.crossings += 2 * (v->counters.hops - hops);
	if (act != ROOF_RESUME)
		foc_client_park(&fv_of(v)->client); /* the thread leaves */
	return act;
}

/* A failed resume: the client prepared a BACKEND_ERROR exit. The vCPU goes
 * on only if the hardware did not fail and the handler resumes. */
static int failed_resume(struct roof_vcpu *v, int rc, bool *go_on)
{
	struct foc_vcpu *fv = fv_of(v);
	roof_action act = dispatch(v);
	int fatal = foc_kernel_run_error(fv->kernel);
	*go_on = !fatal && act == ROOF_RESUME;
	if (fatal)
		return roof_vcpu_fail(v, fatal, "foc: %s",
				      foc_kernel_ops.hw_error(fv->kernel));
	(void)rc;
	return ROOF_OK;
}

static int foc_vcpu_run(struct roof_vcpu *v)
{
	struct foc_vcpu *fv = fv_of(v);
	struct foc_client *c = &fv->client;
	for (;;) {
		if (roof_host_leaving(v)) {
			foc_client_park(c);
			return ROOF_OK;
		}
		/* a pause asked for between exits is the vCPU IRQ, too */
		bool pause = roof_host_take_pause(v);
		if (pause)
			foc_kernel_irq_trigger(fv->kernel);
		int r = foc_client_resume(c);
		if (r < 0) {
			bool go_on;
			int rc = failed_resume(v, r, &go_on);
			if (!go_on)
				return rc;
			continue;
		}
		if (c->native == ROOF_NATIVE_RECALL) {
			if (roof_host_leaving(v)) {
				foc_client_park(c);
				return ROOF_OK;
			}
			if (!pause && !roof_host_take_pause(v))
				continue; /* a stale kick: nobody paused */
			v->counters.crossings++; /* the pauser's l4_irq_trigger */
			foc_client_deliver(c, ROOF_EXIT_PAUSED);
		} else {
			foc_client_deliver(c, vmx_exit_unified(c->native));
		}
		if (dispatch(v) != ROOF_RESUME)
			return ROOF_OK;
	}
}

static roof_action foc_deliver_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct foc_vcpu *fv = fv_of(v);
	struct foc_client *c = &fv->client;
	if (reason == ROOF_EXIT_STARTUP) {
		uint64_t need[ROOF_EXIT_COUNT];
		for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
			need[e] = c->genode ? foc_client_groups()
					    : roof_exit_fetch_mask(v, (roof_exit)e);
		if (foc_kernel_startup(fv->kernel, need)) {
			roof_state_begin_error(v->state,
					       foc_kernel_ops.hw_error(fv->kernel));
			return dispatch(v);
		}
		foc_client_startup(c);
	} else if (!c->genode) {
		/* tuned: a stopped vCPU's state is the page; no kernel call */
		foc_client_deliver_stopped_pause(c);
	} else {
		/* vm.cc with_state(): trigger the IRQ, wake the vCPU thread;
		 * its resume returns at once with exit reason 1 */
		foc_kernel_irq_trigger(fv->kernel);
		int r = foc_client_resume(c);
		if (r < 0) {
			bool go_on;
			failed_resume(v, r, &go_on);
			return go_on ? ROOF_RESUME : ROOF_STOP;
		}
		v->counters.crossings++; /* the l4_irq_trigger */
		foc_client_deliver(c, ROOF_EXIT_PAUSED);
	}
	return dispatch(v);
}

static int foc_set_option(struct roof_vm *vm, const char *key, const char *value)
{
	return vmx_model_set_option(vm, key, value);
}

const struct roof_backend_ops roof_backend_foc = {
	.name = "foc",
	.summary = "Fiasco.OC model: vCPU state page with a software VMCS, "
		   "blocking resume on a vCPU thread, vCPU IRQ for pause",
	.vm_open = vmx_model_vm_open,
	.vm_close = vmx_model_vm_close,
	.max_slots = vmx_model_max_slots,
	.mem_map = vmx_model_mem_map,
	.mem_unmap = vmx_model_mem_unmap,
	.vcpu_create = foc_vcpu_create,
	.vcpu_destroy = foc_vcpu_destroy,
	.vcpu_thread_init = foc_thread_init,
	.vcpu_run = foc_vcpu_run,
	.vcpu_recall = foc_recall,
	.vcpu_deliver_synthetic = foc_deliver_synthetic,
	.set_option = foc_set_option,
	.default_policy = "tuned",
	.supported_groups =
		ROOF_G_EVERYTHING &
		~(ROOF_G_PDPTE | ROOF_G_TPR | ROOF_G_TSC_AUX | ROOF_G_XSAVE),
};
