/*
 * oneroof.h - one VMM, every kernel: Genode's kernel-agnostic VM interface
 * on a performance-first x86 VM-exit fast path.
 *
 * NAME
 *     oneroof - open a VM, attach guest memory, create vCPUs bound to
 *     entrypoints, handle exits, run and pause.
 *
 * SYNOPSIS
 *     #include <oneroof.h>      (pkg-config --cflags --libs oneroof)
 *
 *     roof_vm *vm;   roof_ep *ep;   roof_vcpu *cpu;
 *     roof_vm_open(&vm, NULL);                  // $ROOF_KERNEL or "kvm"
 *     roof_vm_alloc_ram(vm, 0, 1 << 20, &ram);  // backed guest memory
 *     roof_ep_create(vm, "ep", -1, &ep);        // event loop thread
 *     roof_vcpu_create(vm, ep, &cpu);
 *     roof_vcpu_on_exit(cpu, ROOF_EXIT_IO, on_io, ctx,
 *                       ROOF_MASK_DEFAULT, ROOF_INLINE);
 *     roof_vcpu_run(cpu);                        // non-blocking
 *     ...
 *     roof_vm_close(vm);                         // vCPUs in any state
 *
 * DESCRIPTION
 *     Semantics follow Genode's Vm_session (repos/base/include/vm_session/):
 *     a vCPU is bound to an entrypoint, run() and pause() never block, the
 *     first event of a vCPU is ROOF_EXIT_STARTUP, a pause is answered by
 *     ROOF_EXIT_PAUSED (also for a vCPU that is already stopped, as Genode's
 *     vmm_x86 test expects), and a handler returns ROOF_RESUME (enter the
 *     guest with the dirty state) or ROOF_STOP (stay stopped until run(),
 *     with_state() returning true, or the next pause()).
 *
 *     Each handler is registered with a fetch mask of state groups
 *     (roof_state.h; NOVA MTD bits). Only those groups are transferred
 *     before it runs; only the groups it wrote go back. ROOF_MASK_DEFAULT
 *     picks the shipped per-exit table (see roof_default_mask()).
 *
 *     A handler runs ROOF_INLINE, on the vCPU's own thread with no hop (the
 *     fast path), or ROOF_ON_EP, on the entrypoint thread while the vCPU
 *     thread waits (Genode's control flow).
 *
 *     Completion: for IO, MMIO, MSR and CPUID exits the handler fills the
 *     result into state->info (io.data for an in, mmio.data for a read,
 *     msr.value for a rdmsr, cpuid.eax..edx) and the backend retires the
 *     instruction. ip + ip_len is always the next instruction: a backend
 *     that reports an instruction it has already retired gives ip_len = 0.
 *     HLT does not advance ip: ip points at the hlt and ip_len is 1.
 *
 * ENVIRONMENT
 *     ROOF_KERNEL  backend for roof_vm_open(.., NULL): kvm (default).
 *     ROOF_CHECK=1 checked mode: a handler that reads a group outside its
 *                  mask aborts with the register and exit reason named.
 *     ROOF_LEARN=1 learn mode: record the groups each exit's handler
 *                  touched; roof_vm_close() prints the minimal mask table.
 *
 * RETURN VALUE
 *     Every call returns ROOF_OK (0) or a negative roof_err. The object's
 *     last-error text (roof_vm_error(), roof_vcpu_error(), roof_ep_error())
 *     says what went wrong; roof_strerror() names the code.
 */
#ifndef ONEROOF_H
#define ONEROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct roof_vm roof_vm;
typedef struct roof_ep roof_ep;
typedef struct roof_vcpu roof_vcpu;

typedef enum roof_err {
	ROOF_OK = 0,
	ROOF_EINVAL = -1,   /* bad argument */
	ROOF_ENOMEM = -2,   /* out of memory */
	ROOF_EBUSY = -3,    /* object is in use / running */
	ROOF_ENOENT = -4,   /* no such thing (backend, mapping, file) */
	ROOF_EEXIST = -5,   /* already there (handler, mapping overlap) */
	ROOF_ENOSYS = -6,   /* the backend does not support this */
	ROOF_EKERNEL = -7,  /* the kernel / KVM refused; text has errno */
	ROOF_ESTATE = -8,   /* invalid vCPU state value */
	ROOF_ERANGE = -9,   /* out of range (slots, sizes) */
	ROOF_ETHREAD = -10, /* called from the wrong thread */
	ROOF_ECLOSED = -11, /* the VM is closing or closed */
	ROOF_EIO = -12      /* reading a file failed */
} roof_err;

const char *roof_strerror(int err);

/* ---- VM ------------------------------------------------------------------- */
/* Open a VM on backend `kernel` ("kvm", ...); NULL = $ROOF_KERNEL or "kvm". */
int roof_vm_open(roof_vm **out, const char *kernel);
/* Close: recalls and joins every vCPU (in any state), entrypoints, memory. */
int roof_vm_close(roof_vm *vm);
const char *roof_vm_error(const roof_vm *vm);
const char *roof_vm_kernel(const roof_vm *vm);
/* Text of the last error of a call that had no object (vm open failure). */
const char *roof_last_error(void);

enum roof_mem_flags { ROOF_MEM_READONLY = 1u << 0 };

/* Attach host memory [host, host+size) at guest-physical gpa. gpa, size and
 * host must be 4 KiB aligned; ranges must not overlap. */
int roof_vm_attach(roof_vm *vm, void *host, uint64_t gpa, uint64_t size,
		   unsigned flags);
int roof_vm_detach(roof_vm *vm, uint64_t gpa, uint64_t size);
/* Allocate zeroed guest RAM owned by the VM and attach it. */
int roof_vm_alloc_ram(roof_vm *vm, uint64_t gpa, uint64_t size, void **host);
/* Copy a file into attached guest memory at gpa (must fit, non-empty). */
int roof_vm_load_image(roof_vm *vm, const char *path, uint64_t gpa,
		       uint64_t *size_out);
/* Copy bytes into attached guest memory. */
int roof_vm_write(roof_vm *vm, uint64_t gpa, const void *src, uint64_t len);
/* Host pointer for [gpa, gpa+len) if it lies in one attached range. */
void *roof_vm_host_ptr(roof_vm *vm, uint64_t gpa, uint64_t len);

/* CPUID policy: leaf/subleaf -> eax..edx. Entries replace the backend's
 * defaults. On KVM they go into KVM_SET_CPUID2: cpuid stays in the kernel. */
struct roof_cpuid_entry {
	uint32_t leaf, subleaf;
	uint32_t eax, ebx, ecx, edx;
	uint32_t flags; /* ROOF_CPUID_SUBLEAF: subleaf is significant */
};
#define ROOF_CPUID_SUBLEAF 1u
int roof_vm_set_cpuid(roof_vm *vm, const struct roof_cpuid_entry *e, size_t n);
/* Look a leaf up in the effective policy (what the guest sees). */
int roof_vm_cpuid_lookup(roof_vm *vm, uint32_t leaf, uint32_t subleaf,
			 struct roof_cpuid_entry *out);

/* cpuid sites: guest-virtual addresses of cpuid instructions that exit to
 * the VMM as ROOF_EXIT_CPUID on every backend (at most 4: they are hardware
 * breakpoints on the KVM substrate). cpuid elsewhere is answered from the
 * policy table inside KVM, the fastest cpuid there is. info.cpuid arrives
 * filled with the policy's answer; the handler may change it. Set before
 * the first vCPU is created. */
int roof_vm_set_cpuid_exits(roof_vm *vm, const uint64_t *gva, size_t n);

/* MSRs the VMM handles: accesses exit as MSR_READ / MSR_WRITE; all other
 * MSRs stay in the kernel. Set before the first vCPU runs. */
int roof_vm_set_msr_exits(roof_vm *vm, const uint32_t *msrs, size_t n);

/* ---- entrypoints ---------------------------------------------------------- */
/* An event-loop thread. cpu < 0: no affinity. */
int roof_ep_create(roof_vm *vm, const char *name, int cpu, roof_ep **out);
const char *roof_ep_error(const roof_ep *ep);
typedef void (*roof_ep_fn)(roof_ep *ep, void *ctx);
/* Periodic timer on the entrypoint; period 0 disarms. */
int roof_ep_timer(roof_ep *ep, uint64_t period_ns, roof_ep_fn fn, void *ctx,
		  int *timer_id);
int roof_ep_timer_stop(roof_ep *ep, int timer_id);
/* Run fn once on the entrypoint thread (asynchronously). */
int roof_ep_post(roof_ep *ep, roof_ep_fn fn, void *ctx);
/* True when called on this entrypoint's thread. */
bool roof_ep_is_current(const roof_ep *ep);

/* ---- vCPUs ---------------------------------------------------------------- */
int roof_vcpu_create(roof_vm *vm, roof_ep *ep, roof_vcpu **out);
const char *roof_vcpu_error(const roof_vcpu *vcpu);
unsigned roof_vcpu_id(const roof_vcpu *vcpu);
roof_vm *roof_vcpu_vm(const roof_vcpu *vcpu);

#define ROOF_MASK_DEFAULT UINT64_MAX
typedef enum roof_action { ROOF_RESUME = 0, ROOF_STOP = 1 } roof_action;
typedef enum roof_where { ROOF_INLINE = 0, ROOF_ON_EP = 1 } roof_where;
typedef roof_action (*roof_exit_handler)(roof_vcpu *vcpu, roof_state *state,
					 void *ctx);

/* Register a handler for one exit reason before the vCPU first runs.
 * Registering a reason twice is ROOF_EEXIST. Unhandled reasons: STARTUP and
 * IRQ_WINDOW resume; an in reads all ones; an out/MMIO write is dropped;
 * PAUSED, HLT, SHUTDOWN, INVALID_STATE, DEBUG and BACKEND_ERROR stop. */
int roof_vcpu_on_exit(roof_vcpu *vcpu, roof_exit reason, roof_exit_handler fn,
		      void *ctx, uint64_t mask, roof_where where);

/* Start or resume a stopped vCPU (non-blocking). ROOF_EBUSY if running. */
int roof_vcpu_run(roof_vcpu *vcpu);
/* Request a PAUSED exit (non-blocking). */
int roof_vcpu_pause(roof_vcpu *vcpu);

/* Block until the vCPU is stopped (a handler returned ROOF_STOP, or it has
 * not run yet), at most timeout_ns; ROOF_EBUSY on timeout. Not on the
 * vCPU's own entrypoint while a handler of it waits there. */
int roof_vcpu_wait_stopped(roof_vcpu *vcpu, uint64_t timeout_ns);

typedef bool (*roof_state_fn)(roof_vcpu *vcpu, roof_state *state, void *ctx);
/* On the vCPU's entrypoint, with the vCPU stopped: fn accesses the state;
 * true resumes the vCPU with the dirty groups, false keeps it stopped. */
int roof_vcpu_with_state(roof_vcpu *vcpu, roof_state_fn fn, void *ctx);

/* Per-vCPU counters. "crossings" are kernel crossings spent on state beyond
 * the enter/exit pair itself: a KVM state ioctl, a seL4 VMCS call, an IPC
 * reply, a signal. */
struct roof_stats {
	uint64_t exits;
	uint64_t exits_by_reason[ROOF_EXIT_COUNT];
	uint64_t crossings;   /* state syscalls / ioctls / IPC beyond the entry */
	uint64_t bytes;       /* bytes of state copied (both directions) */
	uint64_t hops;        /* thread hand-offs (vCPU thread -> entrypoint) */
	uint64_t misses;      /* lazy fetches: a handler read outside its mask */
	uint64_t vmcs_reads;  /* model kernels: VMCS field reads */
	uint64_t vmcs_writes; /* model kernels: VMCS field writes */
	uint64_t fpu_ops;     /* fxsave/fxrstor/xsave/xrstor executed */
	uint64_t substrate_ioctls; /* model kernels: KVM ioctls of the
				    * substrate (not a cost of the model) */
};
int roof_vcpu_stats(const roof_vcpu *vcpu, struct roof_stats *out);
int roof_vcpu_stats_reset(roof_vcpu *vcpu);
/* Learn mode: groups the handlers of `reason` touched so far. */
uint64_t roof_vcpu_learned_mask(const roof_vcpu *vcpu, roof_exit reason);
/* The shipped default fetch mask for an exit reason. */
uint64_t roof_default_mask(roof_exit reason);

/* Bench probe: record the VMM-side handling time (kernel exit -> re-entry)
 * of every exit in TSC ticks into samples[0..capacity). Set while the vCPU
 * is stopped; NULL detaches. See struct roof_probe in roof_core.h. */
struct roof_probe;
int roof_vcpu_set_probe(roof_vcpu *vcpu, struct roof_probe *probe);

/* The state groups the VM's kernel can transfer (roof_state.h bits). A
 * handler mask naming another group is refused (ROOF_ENOSYS); a handler
 * reading one at run time gets BACKEND_ERROR. ROOF_MASK_DEFAULT is cut to
 * these groups. */
uint64_t roof_vm_state_groups(const roof_vm *vm);

/* Backend options, set before vCPUs are created. Every backend knows
 * "policy": the kernel models (nova, sel4, foc, hw) take "genode" (what
 * today's Genode client does: full transfers, hops) or "tuned" (oneroof's
 * per-exit masks, caches, inline fast path; the default); kvm takes "fast"
 * (the default) only. Unknown keys or values are ROOF_EINVAL. */
int roof_vm_set_option(roof_vm *vm, const char *key, const char *value);

/* Mode for vCPUs created afterwards: ROOF_MODE_LAZY / CHECK / LEARN bits.
 * Defaults from ROOF_CHECK / ROOF_LEARN. */
int roof_vm_set_mode(roof_vm *vm, uint32_t mode);

#ifdef __cplusplus
}
#endif
#endif
