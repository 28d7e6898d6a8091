/*
 * roof_host.h - the Linux host side of oneroof: VM, entrypoints, vCPU
 * threads, and the backend (cold-path) operations each kernels/<k>/ backend
 * implements. Not freestanding; the hot path is in roof_core.h.
 */
#ifndef ROOF_HOST_H
#define ROOF_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "oneroof.h"
#include "roof_core.h"

#define ROOF_ERR_LEN 512
#define ROOF_MAX_REGIONS 64
#define ROOF_MAX_VCPUS 64
#define ROOF_MAX_EPS 16
#define ROOF_MAX_CPUID 128
#define ROOF_MAX_MSR_EXITS 64
#define ROOF_MAX_CPUID_SITES 4 /* hardware breakpoints */

struct roof_mem_region {
	uint64_t gpa, size;
	void *host;
	unsigned flags;
	int slot;   /* backend slot number, -1 = free entry */
	bool owned; /* allocated by roof_vm_alloc_ram: unmapped at close */
};

struct roof_vm;

/* What a backend implements. Called on the host; may use libc and Linux. */
struct roof_backend_ops {
	const char *name;
	const char *summary; /* one line for --help and errors */
	int (*vm_open)(struct roof_vm *vm);
	void (*vm_close)(struct roof_vm *vm);
	unsigned (*max_slots)(struct roof_vm *vm);
	int (*mem_map)(struct roof_vm *vm, struct roof_mem_region *r);
	int (*mem_unmap)(struct roof_vm *vm, struct roof_mem_region *r);
	/* Set v->hot, v->backend, v->implicit[]; build the transfer plan. */
	int (*vcpu_create)(struct roof_vm *vm, struct roof_vcpu *v);
	void (*vcpu_destroy)(struct roof_vm *vm, struct roof_vcpu *v);
	/* On the vCPU thread, once, before the first run (signal masks...). */
	int (*vcpu_thread_init)(struct roof_vcpu *v);
	/*
	 * On the vCPU thread: enter the guest and loop over exits, calling
	 * roof_dispatch_exit() for each, until it returns ROOF_STOP. Before each
	 * entry, and when a recall interrupts the guest, it consumes a pending
	 * pause with roof_host_take_pause() and dispatches a PAUSED exit.
	 * Returns 0 when stopped, a negative roof_err when the backend failed
	 * (after dispatching a BACKEND_ERROR exit).
	 */
	int (*vcpu_run)(struct roof_vcpu *v);
	/* Any thread: make a vCPU inside vcpu_run leave the guest soon. */
	void (*vcpu_recall)(struct roof_vcpu *v);
	/* Prepare state->valid/exit for a PAUSED exit of a stopped vCPU. */
	void (*vcpu_prepare_synthetic)(struct roof_vcpu *v, roof_exit reason);
	/* Optional, replaces prepare_synthetic + roof_dispatch_exit(): deliver
	 * the STARTUP or PAUSED exit of a stopped vCPU and return the handler's
	 * action. For a kernel whose exit delivery brackets the handler (NOVA:
	 * portal call ... reply), so the backend sees where the exit ends. */
	roof_action (*vcpu_deliver_synthetic)(struct roof_vcpu *v,
					      roof_exit reason);
	/* Optional: roof_vm_set_option(); NULL = only policy=<default> known. */
	int (*set_option)(struct roof_vm *vm, const char *key, const char *value);
	const char *default_policy; /* e.g. "fast" (kvm), "tuned" (models) */
	/* State groups this kernel can transfer at all (0 = every group);
	 * seL4, for one, has no access to r8-r15 or the FPU. */
	uint64_t supported_groups;
};

/* Backend registry (fastpath/host/backends.c). */
const struct roof_backend_ops *roof_backend_find(const char *name);
const char *roof_backend_names(void); /* "kvm, nova, ..." */
/* Add a backend at run time (before roof_vm_open names it). */
int roof_backend_register(const struct roof_backend_ops *ops);

/* Work queued to an entrypoint; `run` is called on its thread. */
struct roof_ep_work {
	struct roof_ep_work *next;
	void (*run)(struct roof_ep *ep, struct roof_ep_work *w);
	roof_ep_fn fn;
	void *ctx;
	bool heap; /* freed after run */
};

struct roof_ep {
	struct roof_vm *vm;
	char name[32];
	int cpu;
	pthread_t thread;
	bool started;
	int epfd;   /* epoll: wake eventfd + timerfds */
	int wakefd; /* eventfd */
	pthread_mutex_t lock;
	struct roof_ep_work *queue_head, *queue_tail;
	struct roof_ep_timer *timers;
	int next_timer_id;
	atomic_bool stop;
	char err[ROOF_ERR_LEN];
};

enum roof_vcpu_run_state {
	ROOF_VCPU_NEW = 0,  /* created, never run */
	ROOF_VCPU_STOPPED,  /* a handler returned STOP (or with_state false) */
	ROOF_VCPU_RUNNING,  /* in the guest or in a handler */
	ROOF_VCPU_DEAD      /* thread ended (close) */
};

struct roof_vcpu_host {
	struct roof_vm *vm;
	struct roof_ep *ep;
	struct roof_vcpu *core;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int run_state;          /* enum roof_vcpu_run_state, under lock */
	bool run_requested;     /* under lock */
	bool started;           /* STARTUP delivered */
	bool borrowed;          /* inside with_state, under lock */
	/* Changed without the lock, so in a word of their own: gcc merged the
	 * loads of run_state and run_requested into one 8-byte load that also
	 * read these, which ThreadSanitizer reports as racing their writes. */
	_Alignas(8) atomic_bool pause_pending;
	atomic_bool destroying;
	/* entrypoint hop: one request at a time */
	struct roof_ep_work hop_work;
	const struct roof_handler_slot *hop_slot;
	roof_action hop_action;
	atomic_int hop_done;
	char err[ROOF_ERR_LEN];
};

struct roof_vm {
	const struct roof_backend_ops *ops;
	void *backend;
	char kernel[32];
	pthread_mutex_t lock;
	struct roof_mem_region regions[ROOF_MAX_REGIONS];
	struct roof_cpuid_entry cpuid[ROOF_MAX_CPUID];
	size_t ncpuid;
	uint32_t msr_exits[ROOF_MAX_MSR_EXITS];
	size_t nmsr_exits;
	uint64_t cpuid_sites[ROOF_MAX_CPUID_SITES];
	size_t ncpuid_sites;
	struct roof_vcpu *vcpus[ROOF_MAX_VCPUS];
	unsigned nvcpus;
	struct roof_ep *eps[ROOF_MAX_EPS];
	unsigned neps;
	uint32_t mode;
	atomic_bool closing;
	char err[ROOF_ERR_LEN];
};

/* Helpers for backends and the host. */
int roof_vm_fail(struct roof_vm *vm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int roof_vcpu_fail(struct roof_vcpu *v, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct roof_vm *roof_vcpu_host_vm(struct roof_vcpu *v);
/* True (and cleared) when a pause was requested. */
bool roof_host_take_pause(struct roof_vcpu *v);
/* True when the vCPU is being destroyed: vcpu_run must return 0 at once,
 * without dispatching anything. Check it wherever take_pause is checked. */
bool roof_host_leaving(struct roof_vcpu *v);
/* Guest-physical to host pointer, NULL if not inside one attached range. */
void *roof_host_gpa(struct roof_vm *vm, uint64_t gpa, uint64_t len);

#endif
