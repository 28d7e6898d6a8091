/*
 * ep.c - entrypoints: an event-loop thread per entrypoint (Genode's
 * Entrypoint). It runs posted work (vCPU exits handed over by a vCPU thread,
 * roof_ep_post) and periodic timers, all on the one thread.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "roof_host.h"
#include "roof_live.h"

struct roof_ep_timer {
	struct roof_ep_timer *next;
	int id;
	int fd;
	roof_ep_fn fn;
	void *ctx;
	atomic_bool armed;
};

static _Thread_local struct roof_ep *current_ep;

bool roof_ep_is_current(const roof_ep *ep)
{
	return ep && current_ep == ep;
}

const char *roof_ep_error(const roof_ep *ep)
{
	if (!roof_live_check(ep, ROOF_LIVE_EP))
		return roof_last_error();
	return ep->err;
}

void roof_ep_enqueue(struct roof_ep *ep, struct roof_ep_work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&ep->lock);
	if (ep->queue_tail)
		ep->queue_tail->next = w;
	else
		ep->queue_head = w;
	ep->queue_tail = w;
	pthread_mutex_unlock(&ep->lock);
	uint64_t one = 1;
	while (write(ep->wakefd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

static void run_queue(struct roof_ep *ep)
{
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		struct roof_ep_work *w = ep->queue_head;
		if (w) {
			ep->queue_head = w->next;
			if (!ep->queue_head)
				ep->queue_tail = NULL;
		}
		pthread_mutex_unlock(&ep->lock);
		if (!w)
			return;
		bool heap = w->heap;
		w->run(ep, w);
		if (heap)
			free(w);
	}
}

static void *ep_main(void *arg)
{
	struct roof_ep *ep = arg;
	current_ep = ep;
	struct epoll_event ev[8];
	while (!atomic_load(&ep->stop)) {
		int n = epoll_wait(ep->epfd, ev, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			roof_ep_fail(ep, ROOF_EKERNEL, "entrypoint '%s': epoll_wait: %s",
				     ep->name, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == NULL) {
				uint64_t cnt;
				while (read(ep->wakefd, &cnt, sizeof cnt) < 0 &&
				       errno == EINTR)
					;
				run_queue(ep);
				continue;
			}
			struct roof_ep_timer *t = ev[i].data.ptr;
			uint64_t expirations = 0;
			if (read(t->fd, &expirations, sizeof expirations) !=
			    sizeof expirations)
				continue;
			if (atomic_load(&t->armed))
				t->fn(ep, t->ctx);
		}
	}
	run_queue(ep); /* answer what is still queued: nobody may wait forever */
	return NULL;
}

int roof_ep_create(roof_vm *vm, const char *name, int cpu, roof_ep **out)
{
	if (out) /* a refused create leaves no stale handle behind */
		*out = NULL;
	if (!roof_live_check(vm, ROOF_LIVE_VM))
		return roof_thread_fail(ROOF_EINVAL,
			"roof_ep_create: vm handle %p is not open", (void *)vm);
	if (!out)
		return roof_vm_fail(vm, ROOF_EINVAL, "roof_ep_create: out is NULL");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpu >= 0 && cpu >= ncpu)
		return roof_vm_fail(vm, ROOF_EINVAL,
			"roof_ep_create: cpu %d does not exist (%ld online)",
			cpu, ncpu);
	struct roof_ep *ep = calloc(1, sizeof *ep);
	if (!ep)
		return roof_vm_fail(vm, ROOF_ENOMEM, "roof_ep_create: no memory");
	ep->vm = vm;
	ep->cpu = cpu;
	snprintf(ep->name, sizeof ep->name, "%s", name ? name : "ep");
	pthread_mutex_init(&ep->lock, NULL);
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	ep->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = ROOF_OK;
	if (ep->epfd < 0 || ep->wakefd < 0) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "roof_ep_create: %s",
				  strerror(errno));
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->wakefd, &ev) < 0) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "roof_ep_create: epoll_ctl: %s",
				  strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->closing) || vm->neps >= ROOF_MAX_EPS) {
		pthread_mutex_unlock(&vm->lock);
		rc = atomic_load(&vm->closing)
			? roof_vm_fail(vm, ROOF_ECLOSED, "roof_ep_create: VM is closing")
			: roof_vm_fail(vm, ROOF_ERANGE,
				"roof_ep_create: at most %d entrypoints", ROOF_MAX_EPS);
		goto fail;
	}
	int err = pthread_create(&ep->thread, NULL, ep_main, ep);
	if (err) {
		pthread_mutex_unlock(&vm->lock);
		rc = roof_vm_fail(vm, ROOF_EKERNEL,
				  "roof_ep_create: pthread_create: %s", strerror(err));
		goto fail;
	}
	ep->started = true;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_setaffinity_np(ep->thread, sizeof set, &set);
	}
	char tname[16] = "ep:";
	memcpy(tname + 3, ep->name, 12); /* thread names hold 15 chars */
	tname[15] = 0;
	pthread_setname_np(ep->thread, tname);
	vm->eps[vm->neps++] = ep;
	pthread_mutex_unlock(&vm->lock);
	if (roof_live_add(ep, ROOF_LIVE_EP)) {
		/* stays owned by the VM; close frees it */
		return roof_vm_fail(vm, ROOF_ENOMEM, "roof_ep_create: no memory");
	}
	*out = ep;
	return ROOF_OK;
fail:
	if (ep->epfd >= 0)
		close(ep->epfd);
	if (ep->wakefd >= 0)
		close(ep->wakefd);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
	return rc;
}

#define CHECK_EP(ep)                                                          \
	do {                                                                  \
		if (!roof_live_check((ep), ROOF_LIVE_EP))                     \
			return roof_thread_fail(ROOF_EINVAL,                  \
				"%s: entrypoint handle %p is not open", __func__, \
				(const void *)(ep));                          \
	} while (0)

struct timer_arm_work {
	struct roof_ep_work work;
	struct roof_ep_timer *timer;
};

int roof_ep_timer(roof_ep *ep, uint64_t period_ns, roof_ep_fn fn, void *ctx,
		  int *timer_id)
{
	CHECK_EP(ep);
	if (!fn)
		return roof_ep_fail(ep, ROOF_EINVAL, "roof_ep_timer: fn is NULL");
	if (period_ns == 0)
		return roof_ep_fail(ep, ROOF_EINVAL,
			"roof_ep_timer: period 0 (use roof_ep_timer_stop)");
	struct roof_ep_timer *t = calloc(1, sizeof *t);
	if (!t)
		return roof_ep_fail(ep, ROOF_ENOMEM, "roof_ep_timer: no memory");
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0) {
		free(t);
		return roof_ep_fail(ep, ROOF_EKERNEL, "timerfd_create: %s",
				    strerror(errno));
	}
	t->fn = fn;
	t->ctx = ctx;
	atomic_store(&t->armed, true);
	struct itimerspec its = {
		.it_interval = {(time_t)(period_ns / 1000000000u),
				(long)(period_ns % 1000000000u)},
		.it_value = {(time_t)(period_ns / 1000000000u),
			     (long)(period_ns % 1000000000u)},
	};
	pthread_mutex_lock(&ep->lock);
	t->id = ++ep->next_timer_id;
	t->next = ep->timers;
	ep->timers = t;
	pthread_mutex_unlock(&ep->lock);
	/* before arming: the first tick (at once for a short period) may
	 * want the id, e.g. to stop its own timer */
	if (timer_id)
		*timer_id = t->id;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
	if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0 ||
	    timerfd_settime(t->fd, 0, &its, NULL) < 0) {
		atomic_store(&t->armed, false);
		return roof_ep_fail(ep, ROOF_EKERNEL, "roof_ep_timer: %s",
				    strerror(errno));
	}
	return ROOF_OK;
}

int roof_ep_timer_stop(roof_ep *ep, int timer_id)
{
	CHECK_EP(ep);
	pthread_mutex_lock(&ep->lock);
	struct roof_ep_timer *t = ep->timers;
	while (t && t->id != timer_id)
		t = t->next;
	int rc = ROOF_OK;
	if (!t) {
		rc = roof_ep_fail(ep, ROOF_ENOENT, "roof_ep_timer_stop: no timer %d",
				  timer_id);
	} else {
		struct itimerspec off = {0};
		timerfd_settime(t->fd, 0, &off, NULL);
		atomic_store(&t->armed, false);
	}
	pthread_mutex_unlock(&ep->lock);
	return rc;
}

static void run_posted(struct roof_ep *ep, struct roof_ep_work *w)
{
	w->fn(ep, w->ctx);
}

int roof_ep_post(roof_ep *ep, roof_ep_fn fn, void *ctx)
{
	CHECK_EP(ep);
	if (!fn)
		return roof_ep_fail(ep, ROOF_EINVAL, "roof_ep_post: fn is NULL");
	if (atomic_load(&ep->stop))
		return roof_ep_fail(ep, ROOF_ECLOSED, "roof_ep_post: entrypoint '%s' "
				    "is stopping", ep->name);
	struct roof_ep_work *w = calloc(1, sizeof *w);
	if (!w)
		return roof_ep_fail(ep, ROOF_ENOMEM, "roof_ep_post: no memory");
	w->run = run_posted;
	w->fn = fn;
	w->ctx = ctx;
	w->heap = true;
	roof_ep_enqueue(ep, w);
	return ROOF_OK;
}

static void stop_work(struct roof_ep *ep, struct roof_ep_work *w)
{
	(void)w;
	atomic_store(&ep->stop, true);
}

void roof_ep_destroy(struct roof_ep *ep)
{
	roof_live_remove(ep);
	if (ep->started) {
		struct roof_ep_work *w = calloc(1, sizeof *w);
		if (w) {
			w->run = stop_work;
			w->heap = true;
			roof_ep_enqueue(ep, w);
		} else {
			atomic_store(&ep->stop, true);
			uint64_t one = 1;
			if (write(ep->wakefd, &one, sizeof one) < 0) {
				/* the loop still sees stop at its next event */
			}
		}
		pthread_join(ep->thread, NULL);
	}
	while (ep->timers) {
		struct roof_ep_timer *t = ep->timers;
		ep->timers = t->next;
		close(t->fd);
		free(t);
	}
	while (ep->queue_head) {
		struct roof_ep_work *w = ep->queue_head;
		ep->queue_head = w->next;
		if (w->heap)
			free(w);
	}
	close(ep->epfd);
	close(ep->wakefd);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}
