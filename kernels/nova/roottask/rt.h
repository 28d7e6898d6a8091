/*
 * rt.h - oneroof's host inside a NOVA root task ("rt"): the part of
 * fastpath/host/ that a root task on the real microhypervisor needs,
 * written over NOVA system calls instead of Linux threads. It implements
 * the oneroof.h calls the VMMs use (roof_vm_open, roof_vm_attach,
 * roof_ep_create, roof_ep_timer, roof_vcpu_create, roof_vcpu_on_exit,
 * roof_vcpu_run/pause/with_state, roof_vcpu_stats, ...) so that a VMM's
 * code - the shared test VMMs in tests/util/ - runs unchanged here and on
 * Linux; the exit path is the shared client (kernels/nova/client/) and the
 * shared dispatch (fastpath/dispatch.c).
 *
 * Control flow, as Genode's base-nova runs a VMM:
 *   - an entrypoint is a local EC (no SC of its own) with its own UTCB and
 *     stack; every vCPU bound to it has 256 exit portals on it, each with
 *     the MTD the client computes (per portal under "tuned", everything +
 *     FPU under "genode"); a VM exit is the vCPU's IPC call into the portal
 *     and runs the handlers on the entrypoint, on the vCPU's SC;
 *   - a handler that returns ROOF_STOP makes the entrypoint reply with the
 *     vCPU's semaphore (the vCPU blocks); roof_vcpu_run is sm_ctrl(UP);
 *   - roof_vcpu_pause is ec_ctrl(EC_RECALL) (+ UP for a stopped vCPU): the
 *     vCPU exits to its RECALL portal, the client delivers PAUSED;
 *   - roof_vcpu_with_state runs on the vCPU's entrypoint on the state of
 *     the last exit; writes go to the vCPU with ec_ctrl(SET_VCPU_STATE);
 *   - timers: the root EC sleeps on a semaphore with a TSC deadline and
 *     then calls the entrypoint's timer portal, so a timer callback runs
 *     on its entrypoint like any handler (Genode: a timeout signal).
 * One CPU (QEMU -smp 1): every EC and SC lives on CPU 0.
 *
 * Freestanding.
 */
#ifndef RT_H
#define RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "nova_client.h"
#include "nova_sys.h"
#include "oneroof.h"
#include "roof_core.h"
#include "roof_text.h"

#define RT_PREFIX "roof-nova: "

/* What the boot told the root task (HIP, CPUID). */
struct rt_boot {
	uint32_t api_flags;  /* HIP api_flg */
	uint32_t tsc_khz;    /* HIP freq_tsc */
	enum nova_vmi vmi;   /* SVM or VMX portals */
	uint32_t fpu_size;   /* NOVA's Fpu::size: bytes an FPU MTD moves */
};
extern struct rt_boot rt_boot;

/* Read the HIP, take the I/O ports, create the root's semaphores. Returns
 * 0, or a NOVA status (the console says which call failed). */
int rt_init(void);

/* Console (COM1) and the end of the run (QEMU's isa-debug-exit at 0xf4:
 * QEMU exits with status code << 1 | 1). */
void rt_print(const char *s);
/* One line "roof-nova: <text>\n". */
void rt_say(const char *text);
__attribute__((noreturn)) void rt_poweroff(unsigned code);
__attribute__((noreturn)) void rt_fatal(const char *what, unsigned status);

/* Time: the TSC the kernel measured (HIP freq_tsc). */
uint64_t rt_ns_to_tsc(uint64_t ns);
/* Sleep on the root EC (sm_ctrl DOWN with a deadline). */
void rt_sleep_ns(uint64_t ns);

/* The root EC waits for an event a handler signals (rt_signal), at most
 * timeout_ns; true if signalled. */
bool rt_wait_event(uint64_t timeout_ns);
void rt_signal(void);

/* Serve the armed entrypoint timers on the root EC until done(ctx) is
 * true (checked after each tick) or timeout_ns passed; true if done. */
bool rt_run_timers(bool (*done)(void *ctx), void *ctx, uint64_t timeout_ns);

/* Per exit portal of a vCPU: the exits it took, the UTCB bytes NOVA moved
 * for them (load_svm out, save_svm in; 0 under VMX, which QEMU's TCG does
 * not offer) and the MTD the kernel delivered last. */
uint64_t rt_portal_exits(const roof_vcpu *v, unsigned portal);
void rt_portal_transfer(const roof_vcpu *v, unsigned portal, uint64_t *out,
			uint64_t *in);
uint64_t rt_portal_mtd(const roof_vcpu *v, unsigned portal);

/* The portal entry (start.c) calls this with the portal id in rdi. */
__attribute__((noreturn)) void rt_portal(uint64_t id);
void rt_portal_entry(void);

#endif
