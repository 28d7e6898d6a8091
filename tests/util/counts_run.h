/*
 * counts_run.h - one run of tests/guests/exits64.asm for the model kernels'
 * count suites (test_foc_counts, test_nova_counts; test_sel4_counts, with
 * a rig of its own, takes the policy pair): the handlers they share
 * (io, mmio, hlt, and the stops: PAUSED and the error exits), the run to
 * the guest's end with its stats, and the tuned/genode pair a count test
 * compares. What an exit costs on a kernel stays in that kernel's test.
 *
 *   struct counts_run r[COUNTS_POLICIES];
 *   counts_run_both(r, like);         tuned and genode, each to its end
 *   ... assert on r[COUNTS_TUNED].st, r[COUNTS_GENODE].st ...
 *   counts_finish_both(r);            close; no error stop, nothing bad
 */
#ifndef ROOF_COUNTS_RUN_H
#define ROOF_COUNTS_RUN_H

#include "model_rig.h"
#include "vmm_exits.h"

/* exits64's t_loop iterations in a count run (the image has 1000) */
#define COUNTS_RUN_LOOPS 10

struct counts_run {
	const char *kernel, *policy;
	uint64_t sub;        /* the exits64 subtest (ROOF_EXITS_OUT, ...) */
	uint64_t io_mask;    /* taken as is: 0 asks for no group */
	roof_where where;    /* of the io, mmio and hlt handlers */
	bool answer_mmio;    /* an MMIO handler; without, the library default */
	bool read_si;        /* PORT_EXIT reads rsi; not the pattern is bad */
	bool read_fpu;       /* PORT_EXIT reads the FPU: fpu_ok */
	bool write_regs;     /* PORT_EXIT writes rbx and r12 */
	bool check;          /* compare every GPR at PORT_CHECK */
	bool resume_on_done; /* PORT_DONE resumes: the guest spins there */
	bool nmi_window;     /* the hlt handler requests an NMI-window exit */
	/* observed */
	unsigned ios, checks, bad;
	bool fpu_ok;
	char error[256];     /* "EXIT: text" of an error stop, or a mismatch */
	struct roof_test_flag done;
	struct model_rig rig;
	struct roof_stats st;
};

/* Open the VM, load the guest, register the handlers, run STARTUP (it
 * stops) and reset the stats: what a test counts comes after STARTUP. */
void counts_run_start(struct counts_run *r);
/* Wait for PORT_DONE or a stop exit, then take the stats. */
void counts_run_wait_done(struct counts_run *r);
/* start, run, wait_done. */
void counts_run_guest(struct counts_run *r);
/* Start with resume_on_done set, let the guest spin on PORT_DONE, pause:
 * one PAUSED exit after at least the subtest's three outs. */
void counts_run_pause_spinning(struct counts_run *r);
/* Close the VM; fails on a recorded error or a bad exit. A test that
 * expects an error clears r->error first. */
void counts_run_finish(struct counts_run *r);
/* One line of the stats divided by n exits. */
void counts_run_print(const struct counts_run *r, const char *what,
		      uint64_t n);

/* The two client policies a count test compares. */
enum { COUNTS_TUNED, COUNTS_GENODE, COUNTS_POLICIES };
extern const char *const counts_policy[COUNTS_POLICIES];
/* Run `like` to its end under each policy, tuned first. */
void counts_run_both(struct counts_run r[COUNTS_POLICIES],
		     struct counts_run like);
void counts_finish_both(struct counts_run r[COUNTS_POLICIES]);
/* Run `like` under both with read_fpu: each PORT_EXIT handler reads the
 * FPU as reset; genode had it with the exit (no miss), tuned fetched it
 * on request (one miss). What that costs stays in the kernel's test. */
void counts_run_fpu_on_request(struct counts_run r[COUNTS_POLICIES],
			       struct counts_run like);
/* The exits r->sub makes (ROOF_EXITS_OUT, _HLT or _LOOP), by reason: the
 * guest's, the same on every kernel. */
void counts_assert_guest_exits(const struct counts_run *r);

#endif
