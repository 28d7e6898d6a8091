/*
 * vcpu.c - vCPU threads, run/pause, with_state and the entrypoint hop.
 *
 * Each vCPU has its own thread. It parks until run() or pause(), delivers
 * STARTUP on the first run and a PAUSED exit for a pause of a stopped vCPU
 * (Genode's vmm_x86 relies on that), and otherwise sits in the backend's
 * vcpu_run loop, which calls roof_dispatch_exit() per exit.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "roof_host.h"
#include "roof_live.h"

#define CHECK_VCPU(v)                                                         \
	do {                                                                  \
		if (!roof_live_check((v), ROOF_LIVE_VCPU))                    \
			return roof_thread_fail(ROOF_EINVAL,                  \
				"%s: vcpu handle %p is not open (NULL, or its VM " \
				"was closed)", __func__, (const void *)(v));  \
	} while (0)

static struct roof_vcpu_host *host_of(const struct roof_vcpu *v)
{
	return v->host;
}

struct roof_vm *roof_vcpu_host_vm(struct roof_vcpu *v)
{
	return host_of(v)->vm;
}

bool roof_host_take_pause(struct roof_vcpu *v)
{
	struct roof_vcpu_host *h = host_of(v);
	return atomic_exchange(&h->pause_pending, false);
}

bool roof_host_leaving(struct roof_vcpu *v)
{
	return atomic_load(&host_of(v)->destroying);
}

/* ---- entrypoint hop ------------------------------------------------------- */
static void futex_wait(atomic_int *addr, int val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_int *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void hop_run(struct roof_ep *ep, struct roof_ep_work *w)
{
	(void)ep;
	struct roof_vcpu *v = w->ctx;
	struct roof_vcpu_host *h = host_of(v);
	const struct roof_handler_slot *slot = h->hop_slot;
	h->hop_action = slot->fn(v, v->state, slot->ctx);
	atomic_store(&h->hop_done, 1);
	futex_wake(&h->hop_done);
}

static roof_action call_on_ep(struct roof_vcpu *v,
			      const struct roof_handler_slot *slot)
{
	struct roof_vcpu_host *h = host_of(v);
	if (roof_ep_is_current(h->ep)) /* already there: no hop needed */
		return slot->fn(v, v->state, slot->ctx);
	if (atomic_load(&h->ep->stop))
		return ROOF_STOP;
	h->hop_work.run = hop_run;
	h->hop_work.heap = false;
	h->hop_work.ctx = v;
	h->hop_slot = slot;
	atomic_store(&h->hop_done, 0);
	roof_ep_enqueue(h->ep, &h->hop_work);
	while (atomic_load(&h->hop_done) == 0)
		futex_wait(&h->hop_done, 0);
	return h->hop_action;
}

static void host_fatal(struct roof_vcpu *v, const char *msg)
{
	fprintf(stderr, "%s (vCPU %u)\n", msg, v->id);
	fflush(stderr);
	abort();
}

static const struct roof_host_hooks linux_hooks = {
	.call_on_ep = call_on_ep,
	.fatal = host_fatal,
};

/* ---- the vCPU thread ------------------------------------------------------ */
static roof_action deliver_synthetic(struct roof_vcpu *v, roof_exit reason)
{
	struct roof_vm *vm = host_of(v)->vm;
	if (vm->ops->vcpu_deliver_synthetic)
		return vm->ops->vcpu_deliver_synthetic(v, reason);
	vm->ops->vcpu_prepare_synthetic(v, reason);
	return roof_dispatch_exit(v);
}

static void *vcpu_main(void *arg)
{
	struct roof_vcpu *v = arg;
	struct roof_vcpu_host *h = host_of(v);
	struct roof_vm *vm = h->vm;
	int rc = vm->ops->vcpu_thread_init ? vm->ops->vcpu_thread_init(v) : 0;

	pthread_mutex_lock(&h->lock);
	if (rc) {
		h->run_state = ROOF_VCPU_DEAD;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		return NULL;
	}
	for (;;) {
		while (!atomic_load(&h->destroying) &&
		       (h->borrowed || (!h->run_requested &&
					!atomic_load(&h->pause_pending))))
			pthread_cond_wait(&h->cond, &h->lock);
		if (atomic_load(&h->destroying))
			break;
		h->run_state = ROOF_VCPU_RUNNING;
		roof_action act = ROOF_RESUME;
		if (!h->started) {
			h->started = true;
			h->run_requested = false;
			pthread_mutex_unlock(&h->lock);
			act = deliver_synthetic(v, ROOF_EXIT_STARTUP);
			pthread_mutex_lock(&h->lock);
		} else if (!h->run_requested && roof_host_take_pause(v)) {
			pthread_mutex_unlock(&h->lock);
			act = deliver_synthetic(v, ROOF_EXIT_PAUSED);
			pthread_mutex_lock(&h->lock);
		}
		h->run_requested = false;
		while (act == ROOF_RESUME && !atomic_load(&h->destroying)) {
			pthread_mutex_unlock(&h->lock);
			rc = vm->ops->vcpu_run(v);
			pthread_mutex_lock(&h->lock);
			if (rc)
				break; /* error recorded; stays stopped */
			/* vcpu_run returns when a handler stopped the vCPU or
			 * the vCPU is being destroyed. */
			act = ROOF_STOP;
		}
		h->run_state = ROOF_VCPU_STOPPED;
		pthread_cond_broadcast(&h->cond);
	}
	h->run_state = ROOF_VCPU_DEAD;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int roof_vcpu_create(roof_vm *vm, roof_ep *ep, roof_vcpu **out)
{
	if (out) /* a refused create leaves no stale handle behind */
		*out = NULL;
	if (!roof_live_check(vm, ROOF_LIVE_VM))
		return roof_thread_fail(ROOF_EINVAL,
			"roof_vcpu_create: vm handle %p is not open (NULL or "
			"closed)", (void *)vm);
	if (!out)
		return roof_vm_fail(vm, ROOF_EINVAL, "roof_vcpu_create: out is NULL");
	if (!roof_live_check(ep, ROOF_LIVE_EP) || ep->vm != vm)
		return roof_vm_fail(vm, ROOF_EINVAL,
			"roof_vcpu_create: entrypoint %p is not an open "
			"entrypoint of this VM", (void *)ep);
	struct roof_vcpu *v = calloc(1, sizeof *v);
	struct roof_vcpu_host *h = calloc(1, sizeof *h);
	roof_state *st = aligned_alloc(64, sizeof *st);
	if (!v || !h || !st) {
		free(v);
		free(h);
		free(st);
		return roof_vm_fail(vm, ROOF_ENOMEM, "roof_vcpu_create: no memory");
	}
	memset(st, 0, sizeof *st);
	h->vm = vm;
	h->ep = ep;
	h->core = v;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);

	pthread_mutex_lock(&vm->lock);
	int rc = ROOF_OK;
	if (atomic_load(&vm->closing)) {
		rc = roof_vm_fail(vm, ROOF_ECLOSED, "roof_vcpu_create: VM is closing");
		goto fail_locked;
	}
	if (vm->nvcpus >= ROOF_MAX_VCPUS) {
		rc = roof_vm_fail(vm, ROOF_ERANGE,
				  "roof_vcpu_create: at most %d vCPUs per VM",
				  ROOF_MAX_VCPUS);
		goto fail_locked;
	}
	v->mode = vm->mode;
	roof_core_init(v, st, vm->nvcpus, NULL, NULL, &linux_hooks, h);
	rc = vm->ops->vcpu_create(vm, v);
	if (rc) {
		if (!vm->err[0])
			roof_vm_fail(vm, rc, "roof_vcpu_create: backend failed");
		goto fail_locked;
	}
	/* the backend set hot ops and private data; bind the state to them */
	roof_core_init(v, st, v->id, v->hot, v->backend, &linux_hooks, h);
	int err = pthread_create(&h->thread, NULL, vcpu_main, v);
	if (err) {
		vm->ops->vcpu_destroy(vm, v);
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "roof_vcpu_create: "
				  "pthread_create: %s", strerror(err));
		goto fail_locked;
	}
	h->thread_started = true;
	if (ep->cpu >= 0) { /* Genode: a vCPU inherits its handler's affinity */
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(ep->cpu, &set);
		pthread_setaffinity_np(h->thread, sizeof set, &set);
	}
	char tname[16];
	snprintf(tname, sizeof tname, "vcpu%u", v->id);
	pthread_setname_np(h->thread, tname);
	vm->vcpus[vm->nvcpus++] = v;
	pthread_mutex_unlock(&vm->lock);
	roof_live_add(v, ROOF_LIVE_VCPU);
	*out = v;
	return ROOF_OK;

fail_locked:
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(st);
	free(h);
	free(v);
	return rc;
}

const char *roof_vcpu_error(const roof_vcpu *v)
{
	if (!roof_live_check(v, ROOF_LIVE_VCPU))
		return roof_last_error();
	return host_of(v)->err;
}

unsigned roof_vcpu_id(const roof_vcpu *v)
{
	return roof_live_check(v, ROOF_LIVE_VCPU) ? v->id : ~0u;
}

roof_vm *roof_vcpu_vm(const roof_vcpu *v)
{
	return roof_live_check(v, ROOF_LIVE_VCPU) ? host_of(v)->vm : NULL;
}

int roof_vcpu_on_exit(roof_vcpu *v, roof_exit reason, roof_exit_handler fn,
		      void *ctx, uint64_t mask, roof_where where)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	uint64_t supported = roof_vm_state_groups(h->vm);
	char why[ROOF_ERR_LEN];
	pthread_mutex_lock(&h->lock);
	int rc = roof_core_on_exit(v, reason, fn, ctx, mask, where, supported,
				   h->started, h->vm->kernel, why, sizeof why);
	pthread_mutex_unlock(&h->lock);
	return rc ? roof_vcpu_fail(v, rc, "%s", why) : ROOF_OK;
}

int roof_vcpu_run(roof_vcpu *v)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	pthread_mutex_lock(&h->lock);
	int rc = ROOF_OK;
	if (h->run_state == ROOF_VCPU_DEAD)
		rc = roof_vcpu_fail(v, ROOF_ECLOSED, "run: vCPU %u has ended: %s",
				    v->id, h->err[0] ? h->err : "closed");
	else if (h->run_state == ROOF_VCPU_RUNNING || h->run_requested)
		rc = roof_vcpu_fail(v, ROOF_EBUSY, "run: vCPU %u is already running",
				    v->id);
	else if (h->borrowed)
		rc = roof_vcpu_fail(v, ROOF_EBUSY,
			"run: vCPU %u is inside with_state; return true instead",
			v->id);
	else {
		h->run_requested = true;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int roof_vcpu_pause(roof_vcpu *v)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	pthread_mutex_lock(&h->lock);
	int rc = ROOF_OK;
	if (h->run_state == ROOF_VCPU_DEAD) {
		rc = roof_vcpu_fail(v, ROOF_ECLOSED, "pause: vCPU %u has ended",
				    v->id);
	} else if (!h->started && !h->run_requested) {
		rc = roof_vcpu_fail(v, ROOF_ESTATE,
			"pause: vCPU %u has not been started; run it first",
			v->id);
	} else {
		atomic_store(&h->pause_pending, true);
		if (h->run_state == ROOF_VCPU_RUNNING)
			h->vm->ops->vcpu_recall(v);
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int roof_vcpu_with_state(roof_vcpu *v, roof_state_fn fn, void *ctx)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	if (!fn)
		return roof_vcpu_fail(v, ROOF_EINVAL, "with_state: fn is NULL");
	if (!roof_ep_is_current(h->ep))
		return roof_vcpu_fail(v, ROOF_ETHREAD,
			"with_state: call it on entrypoint '%s' of vCPU %u",
			h->ep->name, v->id);
	pthread_mutex_lock(&h->lock);
	if (h->run_state != ROOF_VCPU_STOPPED || h->run_requested || h->borrowed) {
		int st = h->run_state;
		pthread_mutex_unlock(&h->lock);
		return roof_vcpu_fail(v, ROOF_EBUSY,
			"with_state: vCPU %u is %s; pause it and act on the "
			"PAUSED exit", v->id,
			st == ROOF_VCPU_NEW ? "not started" :
			st == ROOF_VCPU_DEAD ? "ended" : "running");
	}
	h->borrowed = true;
	pthread_mutex_unlock(&h->lock);

	roof_state *s = v->state;
	s->touched = 0;
	bool resume = fn(v, s, ctx);
	int rc = ROOF_OK;
	if (s->dirty) {
		if (v->hot->writeback(v, s->dirty))
			rc = ROOF_EKERNEL;
		s->dirty = 0;
	}

	pthread_mutex_lock(&h->lock);
	h->borrowed = false;
	if (resume && rc == ROOF_OK)
		h->run_requested = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (!rc)
		return ROOF_OK;
	char why[ROOF_ERR_LEN]; /* h->err is the destination: no overlap */
	snprintf(why, sizeof why, "%s", h->err);
	return roof_vcpu_fail(v, rc, "with_state: writing the state back "
			      "failed: %s", why);
}

int roof_vcpu_wait_stopped(roof_vcpu *v, uint64_t timeout_ns)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + timeout_ns % 1000000000u;
	until.tv_sec += (time_t)(timeout_ns / 1000000000u + ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&h->lock);
	int err = 0;
	while ((h->run_state == ROOF_VCPU_RUNNING || h->run_requested) &&
	       err != ETIMEDOUT)
		err = pthread_cond_timedwait(&h->cond, &h->lock, &until);
	bool stopped = !(h->run_state == ROOF_VCPU_RUNNING || h->run_requested);
	pthread_mutex_unlock(&h->lock);
	if (!stopped)
		return roof_vcpu_fail(v, ROOF_EBUSY,
			"wait_stopped: vCPU %u still running after %llu ns",
			v->id, (unsigned long long)timeout_ns);
	return ROOF_OK;
}

int roof_vcpu_stats(const roof_vcpu *v, struct roof_stats *out)
{
	CHECK_VCPU(v);
	if (!out)
		return roof_vcpu_fail((roof_vcpu *)v, ROOF_EINVAL,
				      "stats: out is NULL");
	struct roof_vcpu_host *h = host_of(v);
	pthread_mutex_lock(&h->lock);
	int rc = ROOF_OK;
	if (h->run_state == ROOF_VCPU_RUNNING)
		rc = roof_vcpu_fail((roof_vcpu *)v, ROOF_EBUSY,
				    "stats: vCPU %u is running; read them while "
				    "it is stopped", v->id);
	else
		*out = v->counters;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int roof_vcpu_stats_reset(roof_vcpu *v)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	pthread_mutex_lock(&h->lock);
	int rc = ROOF_OK;
	if (h->run_state == ROOF_VCPU_RUNNING)
		rc = roof_vcpu_fail(v, ROOF_EBUSY, "stats_reset: vCPU %u is running",
				    v->id);
	else
		memset(&v->counters, 0, sizeof v->counters);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int roof_vcpu_set_probe(roof_vcpu *v, struct roof_probe *probe)
{
	CHECK_VCPU(v);
	struct roof_vcpu_host *h = host_of(v);
	pthread_mutex_lock(&h->lock);
	int rc = ROOF_OK;
	if (h->run_state == ROOF_VCPU_RUNNING)
		rc = roof_vcpu_fail(v, ROOF_EBUSY, "set_probe: vCPU %u is running",
				    v->id);
	else
		v->probe = probe;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

uint64_t roof_vcpu_learned_mask(const roof_vcpu *v, roof_exit reason)
{
	if (!roof_live_check(v, ROOF_LIVE_VCPU) ||
	    (unsigned)reason >= ROOF_EXIT_COUNT)
		return 0;
	return v->learned[reason];
}

/* Stop and join the thread (VM close). Memory is freed by the VM. */
void roof_vcpu_destroy(struct roof_vcpu *v)
{
	struct roof_vcpu_host *h = host_of(v);
	roof_live_remove(v);
	pthread_mutex_lock(&h->lock);
	atomic_store(&h->destroying, true);
	if (h->run_state == ROOF_VCPU_RUNNING)
		h->vm->ops->vcpu_recall(v);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
}
