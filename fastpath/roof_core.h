/*
 * roof_core.h - the freestanding heart of oneroof: the per-vCPU core object,
 * the exit dispatch and the counters. No libc, no threads, no Linux calls:
 * the same file builds into the Linux library and into a microkernel root
 * task. The host (fastpath/host/ on Linux) supplies threads, entrypoints and
 * memory; a backend (kernels/<k>/) supplies the transfer.
 */
#ifndef ROOF_CORE_H
#define ROOF_CORE_H

#include "oneroof.h" /* freestanding: only stdint/stddef/stdbool */
#include "roof_state.h"
#include "transfer_plan.h"

struct roof_handler_slot {
	roof_exit_handler fn;
	void *ctx;
	uint64_t mask; /* groups fetched before fn runs */
	uint8_t where; /* roof_where */
	uint8_t set;
};

/*
 * Backend operations used on the hot path. All take the vCPU; the backend
 * keeps its private data in vcpu->backend.
 */
struct roof_backend_hot_ops {
	/* Make the groups in mask valid in vcpu->state (they are not valid yet).
	 * Returns 0 or a negative roof error; counts crossings/bytes. */
	int (*fetch)(struct roof_vcpu *v, uint64_t mask);
	/* Queue the dirty groups for the next entry. */
	int (*writeback)(struct roof_vcpu *v, uint64_t dirty);
	/* Optional: turn the native exit into state->exit_reason/info once the
	 * fetched groups (mask | implicit) are valid. Nonzero: the exit
	 * becomes BACKEND_ERROR (decode set info.error). */
	int (*decode)(struct roof_vcpu *v);
	/* Optional: after the handler, before the write-back: finish the
	 * exit the way the native kernel expects (VMX: write the result
	 * registers, advance ip). */
	void (*finish)(struct roof_vcpu *v, roof_action action);
};

/* Host hooks (threads live outside the freestanding core). */
struct roof_host_hooks {
	/* Run slot->fn on the vCPU's entrypoint and wait for its action. */
	roof_action (*call_on_ep)(struct roof_vcpu *v,
				  const struct roof_handler_slot *slot);
	/* Checked mode: report and stop the process (never returns). */
	void (*fatal)(struct roof_vcpu *v, const char *msg);
};

/*
 * Optional timing probe (bench only): when vcpu->probe is set, a backend
 * stamps the time its kernel returned an exit and the time just before it
 * re-enters, and the probe keeps the VMM-side handling time of each exit.
 * One predictable branch per stamp when unset.
 */
struct roof_probe {
	uint64_t exit_tsc;  /* last exit (kernel returned to the VMM) */
	uint64_t *samples;  /* handling time in TSC ticks, per exit */
	uint64_t capacity;
	uint64_t count;
};

static inline uint64_t roof_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

struct roof_vcpu {
	roof_state *state; /* 64-byte aligned, owned by the host */
	unsigned id;
	const struct roof_backend_hot_ops *hot;
	void *backend;                   /* backend private data */
	const struct roof_host_hooks *host_hooks;
	void *host;                      /* host private data */
	uint64_t implicit[ROOF_EXIT_COUNT]; /* groups the backend itself needs */
	uint64_t learned[ROOF_EXIT_COUNT];  /* learn mode: groups touched */
	struct roof_handler_slot handlers[ROOF_EXIT_COUNT];
	struct roof_handler_slot fallback;  /* used when a reason has no slot */
	struct roof_stats counters;
	uint32_t mode; /* enum roof_state_mode */
	int last_error;
	struct roof_probe *probe; /* NULL unless a bench attached one */
	/* Set by a backend policy that always hands exits to the entrypoint
	 * (Genode's seL4/Fiasco.OC/hw clients): every handler hops. */
	bool force_hop;
};

/* Backends call these right after the kernel returned an exit and right
 * before re-entering the guest. */
static inline void roof_probe_exit(struct roof_vcpu *v)
{
	if (__builtin_expect(v->probe != 0, 0))
		v->probe->exit_tsc = roof_rdtsc();
}

static inline void roof_probe_entry(struct roof_vcpu *v)
{
	struct roof_probe *p = v->probe;
	if (__builtin_expect(p != 0, 0) && p->exit_tsc) {
		if (p->count < p->capacity)
			p->samples[p->count] = roof_rdtsc() - p->exit_tsc;
		p->count++;
		p->exit_tsc = 0;
	}
}

/* The groups the dispatch fetches with an exit of `reason` (unless they
 * came with it): the registered handler's mask, and the groups the backend
 * itself needs. A backend whose kernel is told in advance what to transfer
 * per exit (portal MTDs, exit configs, sync-class predictions) asks this. */
static inline uint64_t roof_exit_fetch_mask(const struct roof_vcpu *v,
					    roof_exit reason)
{
	const struct roof_handler_slot *h = &v->handlers[reason];
	return (h->set ? h->mask : 0) | v->implicit[reason];
}

/* Set up the core: state ops bound to the backend's lazy fetch. */
void roof_core_init(struct roof_vcpu *v, roof_state *state, unsigned id,
		    const struct roof_backend_hot_ops *hot, void *backend,
		    const struct roof_host_hooks *hooks, void *host);

/*
 * Register fn for `reason` on v: the checks and the slot behind
 * roof_vcpu_on_exit(), for every host (the Linux host calls it under the
 * vCPU's lock; a root task calls it directly). supported: the groups the
 * kernel transfers (ROOF_MASK_DEFAULT is cut to them, other masks naming
 * one outside are refused); started: the vCPU has run (too late); kernel:
 * its name for the message. Returns ROOF_OK, or ROOF_EINVAL / ROOF_ENOSYS /
 * ROOF_EBUSY / ROOF_EEXIST with the reason in why[why_size].
 */
int roof_core_on_exit(struct roof_vcpu *v, roof_exit reason,
		      roof_exit_handler fn, void *ctx, uint64_t mask,
		      roof_where where, uint64_t supported, bool started,
		      const char *kernel, char *why, size_t why_size);

/*
 * The exit dispatch. The backend has set state->exit_reason, state->info and
 * state->valid (what the kernel delivered for free). This fetches the
 * handler's mask plus the backend's implicit groups, runs the handler inline
 * or on the entrypoint, writes the dirty groups back and returns the action.
 */
roof_action roof_dispatch_exit(struct roof_vcpu *v);

#endif
