/*
 * test_api_state.c - invalid vCPU state values and a guest that
 * triple-faults. A state the hardware would refuse at VM entry (SDM Vol. 3C,
 * 27.3.1) must come back as an INVALID_STATE exit whose info.error names
 * the value, never as an abort, a hang or a guest that runs on with it; the
 * refused value must not have reached the vCPU, so the INVALID_STATE handler
 * can set a good state and the guest runs to its end with every register
 * intact (tests/guests/api64.asm, RIG_PATTERNS). A triple fault is reported
 * as SHUTDOWN, and the VM can be closed and a new one opened.
 *
 * Backend: $ROOF_KERNEL (run once per backend by tests/run-tests.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak/rig.h"

typedef void (*breaker)(roof_state *st);

struct seg_change;
struct inval {
	const char *name;
	breaker brk;                  /* or: */
	const struct seg_change *seg;
	const char *words[3]; /* the error text names these */
	uint64_t writes;      /* groups beyond the long-mode set it writes */
};

struct run {
	const struct inval *c;
	struct rig *rig;
	unsigned invalid, checks, other, skipped;
	roof_exit other_reason;
	char error[256], mismatch[512];
	bool break_at_tick;   /* break the state in the first io handler */
	unsigned ticks;
	struct roof_test_flag done;
};

/* ---- the broken states ------------------------------------------------------ */
static void cr0_pg_without_pe(roof_state *st)
{
	roof_set_cr0(st, roof_get_cr0(st) & ~1ull);
}

static void cr0_upper_bits(roof_state *st)
{
	roof_set_cr0(st, roof_get_cr0(st) | (1ull << 40));
}

static void cr4_upper_bits(roof_state *st)
{
	roof_set_cr4(st, roof_get_cr4(st) | (1ull << 33));
}

static void cr4_no_pae_in_long_mode(roof_state *st)
{
	roof_set_cr4(st, roof_get_cr4(st) & ~0x20ull);
}

static void cr3_beyond_physical(roof_state *st)
{
	roof_set_cr3(st, roof_get_cr3(st) | (1ull << 60));
}

static void efer_lma_without_lme(roof_state *st)
{
	roof_set_efer(st, roof_get_efer(st) & ~0x100ull);
}

static void rip_not_canonical(roof_state *st)
{
	roof_set_ip(st, 0x0000800000010000ull);
}

static void rflags_bit1_clear(roof_state *st)
{
	roof_set_flags(st, 0);
}

static void rflags_reserved_bit(roof_state *st)
{
	roof_set_flags(st, 0x8002);
}

/* A segment of the long-mode state with its ar bits, base or limit
 * changed. `seg` is one of "cs" "ss" "ds" "fs" "tr" "ldtr". */
struct seg_change {
	const char *seg;
	uint16_t ar_clear, ar_set;
	bool set_base, set_limit;
	uint64_t base;
	uint32_t limit;
};

static struct roof_segment seg_get(roof_state *st, const char *seg)
{
	switch (seg[0]) {
	case 'c': return roof_get_cs(st);
	case 's': return roof_get_ss(st);
	case 'd': return roof_get_ds(st);
	case 'f': return roof_get_fs(st);
	case 't': return roof_get_tr(st);
	default: return roof_get_ldtr(st);
	}
}

static void seg_set(roof_state *st, const char *seg, struct roof_segment v)
{
	switch (seg[0]) {
	case 'c': roof_set_cs(st, v); break;
	case 's': roof_set_ss(st, v); break;
	case 'd': roof_set_ds(st, v); break;
	case 'f': roof_set_fs(st, v); break;
	case 't': roof_set_tr(st, v); break;
	default: roof_set_ldtr(st, v); break;
	}
}

static void apply_seg_change(roof_state *st, const struct seg_change *c)
{
	struct roof_segment v = seg_get(st, c->seg);
	v.ar = (uint16_t)((v.ar & ~c->ar_clear) | c->ar_set);
	if (c->set_base)
		v.base = c->base;
	if (c->set_limit)
		v.limit = c->limit;
	seg_set(st, c->seg, v);
}

/* ar (roof_state.h): type 3:0, S 4, DPL 6:5, P 7, L 9, D/B 10, G 11,
 * unusable 12 */
static const struct seg_change cs_not_present = {"cs", 0x80, 0, 0, 0, 0, 0};
static const struct seg_change cs_system = {"cs", 0x10, 0, 0, 0, 0, 0};
static const struct seg_change cs_data_dpl3 = {"cs", 0xf, 0x63, 0, 0, 0, 0};
static const struct seg_change cs_long_and_32bit = {"cs", 0, 0x400, 0, 0, 0, 0};
static const struct seg_change cs_base_high = {"cs", 0, 0, 1, 0, 1ull << 36, 0};
static const struct seg_change ss_code = {"ss", 0xf, 0xb, 0, 0, 0, 0};
/* G=1 wants limit bits 11:0 all ones */
static const struct seg_change ds_limit_vs_g = {"ds", 0, 0, 0, 1, 0, 0x1000};
static const struct seg_change fs_base = {"fs", 0, 0, 1, 0, 1ull << 48, 0};
static const struct seg_change tr_available = {"tr", 0xf, 0x9, 0, 0, 0, 0};
static const struct seg_change tr_unusable = {"tr", 0, 0x1000, 0, 0, 0, 0};
/* a busy TSS descriptor in ldtr */
static const struct seg_change ldtr_tss = {"ldtr", 0x1fff, 0x8b, 0, 1, 0,
					    0xffff};

static void gdtr_limit_too_big(roof_state *st)
{
	roof_set_gdtr(st, (struct roof_dtr){0x10000, 0, 0x4000});
}

static void idtr_base_not_canonical(roof_state *st)
{
	roof_set_idtr(st, (struct roof_dtr){0, 0, 0x00f0000000000000ull});
}

static void dr7_upper_bits(roof_state *st)
{
	roof_set_dr7(st, 0x400 | (1ull << 40));
}

static void actv_state_unknown(roof_state *st)
{
	roof_set_actv_state(st, 7);
	roof_set_intr_state(st, roof_get_intr_state(st));
}

static void intr_state_reserved(roof_state *st)
{
	roof_set_intr_state(st, 0x10);
	roof_set_actv_state(st, 0);
}

static void inj_info_bad_type(roof_state *st)
{
	roof_set_inj_info(st, 0x80000000u | 7u << 8 | 14);
	roof_set_inj_error(st, 0);
}

static const struct inval cases[] = {
	{"cr0 PG without PE", cr0_pg_without_pe, NULL, {"cr0", "PG"}, 0},
	{"cr0 bits 63:32", cr0_upper_bits, NULL, {"cr0", "63:32"}, 0},
	{"cr4 bits 63:32", cr4_upper_bits, NULL, {"cr4", "63:32"}, 0},
	{"long mode without cr4.PAE", cr4_no_pae_in_long_mode, NULL, {"PAE"}, 0},
	{"cr3 beyond physical", cr3_beyond_physical, NULL, {"cr3"}, 0},
	{"efer.LMA without LME", efer_lma_without_lme, NULL, {"efer", "LME"}, 0},
	{"rip not canonical", rip_not_canonical, NULL, {"rip", "canonical"}, 0},
	{"rflags bit 1 clear", rflags_bit1_clear, NULL, {"rflags"}, 0},
	{"rflags reserved bit", rflags_reserved_bit, NULL, {"rflags", "0x8002"}, 0},
	{"cs not present", NULL, &cs_not_present, {"cs", "present"}, 0},
	{"cs system segment", NULL, &cs_system, {"cs"}, 0},
	{"cs data type", NULL, &cs_data_dpl3, {"cs", "type"}, 0},
	{"cs L and D/B", NULL, &cs_long_and_32bit, {"cs", "L"}, 0},
	{"cs base bits 63:32", NULL, &cs_base_high, {"cs", "base"}, 0},
	{"ss code type", NULL, &ss_code, {"ss", "type"}, 0},
	{"ds limit vs G", NULL, &ds_limit_vs_g, {"ds", "limit"}, 0},
	{"fs base not canonical", NULL, &fs_base, {"fs", "canonical"}, 0},
	{"tr available TSS", NULL, &tr_available, {"tr", "TSS"}, 0},
	{"tr unusable", NULL, &tr_unusable, {"tr", "unusable"}, 0},
	{"ldtr wrong type", NULL, &ldtr_tss, {"ldtr", "type"}, 0},
	{"gdtr limit", gdtr_limit_too_big, NULL, {"gdtr", "limit"}, 0},
	{"idtr base not canonical", idtr_base_not_canonical, NULL, {"idtr", "canonical"}, 0},
	{"dr7 bits 63:32", dr7_upper_bits, NULL, {"dr7"}, ROOF_G_DR},
	{"actv_state", actv_state_unknown, NULL, {"actv_state"}, ROOF_G_STA},
	{"intr_state reserved", intr_state_reserved, NULL, {"intr_state"}, ROOF_G_STA},
	{"inj_info type 7", inj_info_bad_type, NULL, {"inj_info"}, ROOF_G_INJ},
};

static void break_state(const struct inval *c, roof_state *st)
{
	if (c->seg)
		apply_seg_change(st, c->seg);
	else
		c->brk(st);
}

/* ---- handlers ---------------------------------------------------------------- */
static roof_action broken_startup(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct run *r = p;
	roof_test_set_long_mode(st, ROOF_TEST_GUEST_GPA,
				r->break_at_tick ? RIG_TICK_LOOP : RIG_PATTERNS);
	if (!r->break_at_tick)
		break_state(r->c, st);
	return ROOF_RESUME;
}

static roof_action on_invalid(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct run *r = p;
	if (r->invalid++ == 0)
		snprintf(r->error, sizeof r->error, "%s",
			 st->info.error ? st->info.error : "(no text)");
	if (r->invalid > 1)
		return ROOF_STOP;
	/* the refused state never reached the vCPU: a good one goes in now
	 * (at a tick the guest's own state is still intact: just go on) */
	if (!r->break_at_tick)
		roof_test_set_long_mode(st, ROOF_TEST_GUEST_GPA, RIG_PATTERNS);
	return ROOF_RESUME;
}

static roof_action on_other(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct run *r = p;
	if (!r->other++) {
		r->other_reason = st->exit_reason;
		snprintf(r->error, sizeof r->error, "%s",
			 st->info.error ? st->info.error : "");
	}
	roof_test_flag_raise(&r->done);
	return ROOF_STOP;
}

static roof_action on_io(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct run *r = p;
	switch (st->info.io.port) {
	case RIG_PORT_TICK:
		if (r->ticks++ == 0)
			break_state(r->c, st);
		return r->ticks < 100 ? ROOF_RESUME : ROOF_STOP;
	case RIG_PORT_CHECK: {
		uint64_t got[16];
		unsigned n = roof_test_read_gprs(st, got, r->rig->groups);
		for (unsigned i = 0; i < n; i++)
			if (got[i] != roof_test_patterns[i])
				snprintf(r->mismatch, sizeof r->mismatch,
					 "%s=0x%llx", roof_test_gpr_name(i),
					 (unsigned long long)got[i]);
		r->checks++;
		return ROOF_RESUME;
	}
	case RIG_PORT_DONE:
	default:
		roof_test_flag_raise(&r->done);
		return ROOF_STOP;
	}
}

/* Runs one case; returns "" or what went wrong (in a static buffer), NULL
 * when the kernel cannot transfer a group the case writes. */
static const char *run_case(const struct inval *c, bool at_tick)
{
	static char why[768];
	why[0] = 0;
	struct rig rig;
	struct run r = {.c = c, .rig = &rig, .break_at_tick = at_tick};
	roof_test_flag_init(&r.done);
	memset(&rig, 0, sizeof rig);
	ROOF_OK_OR_FAIL(roof_vm_open(&rig.vm, NULL), roof_last_error());
	rig.groups = roof_vm_state_groups(rig.vm);
	uint64_t lm = roof_test_long_mode_mask() & rig.groups;
	if (c->writes & ~rig.groups) {
		rig_close(&rig);
		roof_test_flag_destroy(&r.done);
		return NULL; /* the kernel cannot transfer that group */
	}
	roof_test_guest_vm(rig.vm, "api64", &rig.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(rig.vm, "ep", -1, &rig.ep),
			roof_vm_error(rig.vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(rig.vm, rig.ep, &rig.cpu),
			roof_vm_error(rig.vm));
	roof_vcpu *v = rig.cpu;
	uint64_t all = lm | c->writes;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, broken_startup,
					  &r, all, ROOF_INLINE),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_INVALID_STATE, on_invalid,
					  &r, all, ROOF_INLINE),
			roof_vcpu_error(v));
	/* at a tick the handler's mask is 0: the broken group is fetched
	 * lazily, as a VMM that writes what it did not ask for */
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_IO, on_io, &r,
					  at_tick ? 0 : lm, ROOF_INLINE),
			roof_vcpu_error(v));
	static const roof_exit others[] = {
		ROOF_EXIT_SHUTDOWN, ROOF_EXIT_BACKEND_ERROR, ROOF_EXIT_DEBUG,
		ROOF_EXIT_HLT, ROOF_EXIT_MMIO};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, others[i], on_other, &r,
						  ROOF_MASK_DEFAULT, ROOF_INLINE),
				roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_run(v), roof_vcpu_error(v));
	if (at_tick) {
		ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(v, RIG_TIMEOUT_NS),
				roof_vcpu_error(v));
	} else if (!roof_test_flag_wait(&r.done, RIG_TIMEOUT_MS)) {
		snprintf(why, sizeof why, "the guest did not finish (%u invalid "
			 "exits, %s)", r.invalid, roof_vcpu_error(v));
	}
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(v, RIG_TIMEOUT_NS),
			roof_vcpu_error(v));
	rig_close(&rig);
	roof_test_flag_destroy(&r.done);
	if (why[0])
		return why;
	if (r.other)
		snprintf(why, sizeof why, "%s exit instead of INVALID_STATE (%s)",
			 roof_exit_name(r.other_reason), r.error);
	else if (r.invalid != 1)
		snprintf(why, sizeof why, "%u INVALID_STATE exits, want 1 (%s)",
			 r.invalid, r.error);
	for (unsigned i = 0; !why[0] && i < 3 && c->words[i]; i++)
		if (!strstr(r.error, c->words[i]))
			snprintf(why, sizeof why, "INVALID_STATE text \"%s\" does "
				 "not name \"%s\"", r.error, c->words[i]);
	if (why[0])
		return why;
	if (at_tick && r.ticks != 100)
		/* the guest counts on, undisturbed by the refused write */
		snprintf(why, sizeof why, "%u ticks after the refusal, want 100",
			 r.ticks);
	else if (!at_tick && (r.mismatch[0] || r.checks != 1))
		snprintf(why, sizeof why, "%u checks; registers after the "
			 "fix-up: %s", r.checks, r.mismatch);
	return why;
}

/* Every case, then one failure listing all that went wrong. */
static void run_cases(bool at_tick)
{
	static char report[8192];
	size_t n = 0;
	unsigned bad = 0, skipped = 0;
	report[0] = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = run_case(&cases[i], at_tick);
		skipped += !why;
		if (!why || !why[0])
			continue;
		bad++;
		if (n < sizeof report)
			n += (size_t)snprintf(report + n, sizeof report - n,
					      "\n  %s: %s", cases[i].name, why);
	}
	if (bad) {
		/* cmocka cuts long texts: the list goes to stderr */
		fprintf(stderr, "kernel %s: %u of %zu invalid states %s:%s\n",
			roof_test_kernel(), bad, sizeof cases / sizeof cases[0],
			at_tick ? "written at a later exit" : "set at STARTUP",
			report);
		fail_msg("%u invalid states not reported as INVALID_STATE", bad);
	}
	if (skipped)
		print_message("kernel %s: %u cases write groups it cannot "
			      "transfer: not run\n", roof_test_kernel(), skipped);
}

static void test_invalid_state_at_startup(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	run_cases(false);
}

/* The same values written by a handler whose mask did not fetch them. */
static void test_invalid_state_from_a_later_exit(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	run_cases(true);
}

/* ---- triple fault ------------------------------------------------------------ */
struct shutdown_seen {
	unsigned shutdowns, others;
	char text[256];
	uint64_t ip;
	struct roof_test_flag flag;
};

static roof_action on_shutdown(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct shutdown_seen *s = p;
	if (st->exit_reason == ROOF_EXIT_SHUTDOWN) {
		s->shutdowns++;
		snprintf(s->text, sizeof s->text, "%s",
			 st->info.error ? st->info.error : "");
	} else {
		s->others++;
	}
	roof_test_flag_raise(&s->flag);
	return ROOF_STOP;
}

static void test_triple_fault_reports_shutdown(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int round = 0; round < 3; round++) {
		struct rig r;
		struct shutdown_seen s = {0};
		roof_test_flag_init(&s.flag);
		rig_open(&r, RIG_TRIPLE_FAULT);
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_SHUTDOWN,
						  on_shutdown, &s,
						  ROOF_MASK_DEFAULT, ROOF_INLINE),
				roof_vcpu_error(r.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_BACKEND_ERROR,
						  on_shutdown, &s,
						  ROOF_MASK_DEFAULT, ROOF_INLINE),
				roof_vcpu_error(r.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_run(r.cpu), roof_vcpu_error(r.cpu));
		if (!roof_test_flag_wait(&s.flag, RIG_TIMEOUT_MS))
			fail_msg("kernel %s: no exit after the triple fault (%s)",
				 roof_test_kernel(), roof_vcpu_error(r.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r.cpu, RIG_TIMEOUT_NS),
				roof_vcpu_error(r.cpu));
		assert_int_equal(s.others, 0);
		assert_int_equal(s.shutdowns, 1);
		/* info.error is optional for SHUTDOWN (roof_state.h) */
		if (round == 0)
			print_message("kernel %s: SHUTDOWN (%s)\n",
				      roof_test_kernel(),
				      s.text[0] ? s.text : "no text");
		/* a run after the shutdown is refused or shuts down again; it
		 * neither crashes nor hangs the close below */
		int rc = roof_vcpu_run(r.cpu);
		if (rc == ROOF_OK)
			(void)roof_test_flag_wait(&s.flag, RIG_TIMEOUT_MS);
		rig_close(&r);
		roof_test_flag_destroy(&s.flag);
	}
	/* and a new VM runs a guest as if nothing happened */
	struct rig r;
	rig_open(&r, RIG_PATTERNS);
	struct run run = {.c = &cases[0]};
	roof_test_flag_init(&run.done);
	run.rig = &r;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, on_io, &run,
					  roof_test_long_mode_mask() & r.groups,
					  ROOF_INLINE),
			roof_vcpu_error(r.cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_run(r.cpu), roof_vcpu_error(r.cpu));
	assert_true(roof_test_flag_wait(&run.done, RIG_TIMEOUT_MS));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r.cpu, RIG_TIMEOUT_NS),
			roof_vcpu_error(r.cpu));
	rig_close(&r);
	roof_test_flag_destroy(&run.done);
	if (run.mismatch[0])
		fail_msg("after shutdowns: %s", run.mismatch);
	assert_int_equal(run.checks, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_state_at_startup),
		cmocka_unit_test(test_invalid_state_from_a_later_exit),
		cmocka_unit_test(test_triple_fault_reports_shutdown),
	};
	char name[64];
	snprintf(name, sizeof name, "api-state[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
