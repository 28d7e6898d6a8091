/*
 * test_nova_abi.c - the NOVA model's native side without a guest: the UTCB
 * copy plan (every group lands in the field Genode's Nova::Utcb names),
 * exit reasons, portal MTDs of both policies, and the client's portal
 * handler against a fake kernel: exit decode, reply MTD, the TSC delta,
 * reads outside the MTD through EC_GET_VCPU_STATE, the RECALL it arms, and
 * the failure of that call.
 */
#include <stdlib.h>
#include <string.h>

#include "roof_test.h"
#include "../kernels/nova/nova_kernel.h"
#include "x86_arch.h"

/* ---- a fake kernel: records the client's calls ---------------------------- */
struct fake_kernel {
	struct nova_utcb *utcb;
	uint64_t pt_mtd[NOVA_NUM_VMI];
	unsigned creates, gets, sets;
	uint64_t get_mtd;
	bool set_recall;
	uint8_t get_status;
	uint64_t si_value; /* what a GET of EBSD delivers */
};

static uint8_t fake_create_pt(void *k, unsigned reason, uint64_t mtd)
{
	struct fake_kernel *f = k;
	f->creates++;
	f->pt_mtd[reason & 0xff] = mtd;
	return NOVA_OK;
}

static uint8_t fake_get(void *k, uint64_t mtd)
{
	struct fake_kernel *f = k;
	f->gets++;
	f->get_mtd = mtd;
	if (f->get_status != NOVA_OK)
		return f->get_status;
	if (mtd & ROOF_G_EBSD)
		f->utcb->si = f->si_value;
	f->utcb->mtd = mtd;
	return NOVA_OK;
}

static uint8_t fake_set(void *k, bool recall)
{
	struct fake_kernel *f = k;
	f->sets++;
	f->set_recall = recall;
	return NOVA_OK;
}

static const struct nova_syscalls fake_sys = {fake_create_pt, fake_get,
					      fake_set};

struct rig {
	struct roof_vcpu v;
	roof_state *s;
	struct nova_utcb *u;
	struct nova_client c;
	struct fake_kernel k;
	/* what the handler saw */
	unsigned calls;
	roof_exit seen;
	struct roof_exit_io io;
	uint64_t si, tsc_seen;
	const char *error;
};

static struct rig *rig_new(enum nova_policy policy)
{
	struct rig *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->s = roof_test_zalloc(64, sizeof(roof_state));
	r->u = roof_test_zalloc(4096, sizeof(struct nova_utcb));
	r->k.utcb = r->u;
	struct vmx_exit_env env = {NULL, NULL, NULL};
	roof_core_init(&r->v, r->s, 0, NULL, NULL, NULL, NULL);
	assert_int_equal(nova_client_init(&r->c, r->u, &fake_sys, &r->k, &env,
					  policy, NOVA_VMI_VMX), 0);
	nova_client_bind(&r->c, &r->v);
	return r;
}

static void rig_free(struct rig *r)
{
	free(r->s);
	free(r->u);
	free(r);
}

static void on(struct rig *r, roof_exit e, roof_exit_handler fn, uint64_t mask)
{
	r->v.handlers[e] = (struct roof_handler_slot){fn, r, mask, ROOF_INLINE, 1};
}

/* ---- layout --------------------------------------------------------------- */
static void test_plan_lands_in_genode_fields(void **state)
{
	(void)state;
	struct roof_transfer_plan p;
	assert_int_equal(nova_utcb_plan_init(&p), 0);
	/* every group is a plain copy but the TSC (a delta on the way back) */
	assert_int_equal(p.copyable, ROOF_G_VALID_BITS & ~ROOF_G_TSC);

	struct nova_utcb *u = aligned_alloc(4096, sizeof *u);
	roof_state *s = aligned_alloc(64, sizeof *s);
	assert_non_null(u);
	assert_non_null(s);
	memset(s, 0, sizeof *s);
	uint8_t *b = (uint8_t *)u;
	for (size_t i = 0; i < sizeof *u; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	roof_gather_c(&p, ROOF_G_VALID_BITS, u, s);
	assert_true(s->ax == u->ax && s->bx == u->bx && s->di == u->di);
	assert_true(s->sp == u->sp && s->flags == u->flags);
	assert_true(s->ip == u->ip && s->ip_len == u->instr_len);
	assert_true(s->r8 == u->r8 && s->r15 == u->r15);
	assert_true(s->es.sel == u->es.sel && s->es.ar == u->es.ar &&
		    s->es.limit == u->es.limit && s->es.base == u->es.base);
	assert_true(s->ds.base == u->ds.base && s->gs.base == u->gs.base);
	assert_true(s->cs.ar == u->cs.ar && s->ss.limit == u->ss.limit);
	assert_true(s->tr.base == u->tr.base && s->ldtr.sel == u->ldtr.sel);
	assert_true(s->gdtr.limit == u->gdtr.limit &&
		    s->gdtr.base == u->gdtr.base);
	assert_true(s->idtr.limit == u->idtr.limit &&
		    s->idtr.base == u->idtr.base);
	assert_true(s->cr0 == u->cr0 && s->cr2 == u->cr2 && s->cr4 == u->cr4);
	assert_true(s->dr7 == u->dr7 && s->sysenter_ip == u->sysenter_ip);
	assert_true(s->qual_primary == u->qual[0] &&
		    s->qual_secondary == u->qual[1]);
	assert_true(s->ctrl_primary == u->ctrl[0] &&
		    s->ctrl_secondary == u->ctrl[1]);
	assert_true(s->inj_info == u->inj_info && s->inj_error == u->inj_error);
	assert_true(s->intr_state == u->intr_state &&
		    s->actv_state == u->actv_state);
	assert_true(s->efer == u->efer && s->pdpte[3] == u->pdpte[3]);
	assert_true(s->star == u->star && s->fmask == u->fmask &&
		    s->kernel_gs_base == u->kernel_gs_base);
	assert_true(s->tpr == u->tpr && s->tpr_threshold == u->tpr_threshold);
	assert_true(s->tsc_aux == u->tsc_aux && s->xcr0 == u->xcr0 &&
		    s->xss == u->xss);
	assert_memory_equal(s->fpu, u->fpu, NOVA_UTCB_FPU_SIZE);
	/* and back: the same bytes, nothing else touched */
	struct nova_utcb *w = aligned_alloc(4096, sizeof *w);
	assert_non_null(w);
	memcpy(w, u, sizeof *w);
	memset(&w->ax, 0, 8);
	memset(w->fpu, 0, sizeof w->fpu);
	w->gdtr.reserved0 = 0x5a5a5a5a;
	roof_scatter_c(&p, ROOF_G_VALID_BITS, s, w);
	assert_int_equal(w->gdtr.reserved0, 0x5a5a5a5a);
	w->gdtr.reserved0 = u->gdtr.reserved0;
	assert_memory_equal(w, u, sizeof *w);
	free(w);
	free(u);
	free(s);
}

static void test_exit_reasons(void **state)
{
	(void)state;
	assert_int_equal(nova_exit_unified(VMX_EXIT_IO), ROOF_EXIT_IO);
	assert_int_equal(nova_exit_unified(VMX_EXIT_EPT_VIOLATION), ROOF_EXIT_MMIO);
	assert_int_equal(nova_exit_unified(VMX_EXIT_HLT), ROOF_EXIT_HLT);
	assert_int_equal(nova_exit_unified(VMX_EXIT_CPUID), ROOF_EXIT_CPUID);
	assert_int_equal(nova_exit_unified(VMX_EXIT_RDMSR), ROOF_EXIT_MSR_READ);
	assert_int_equal(nova_exit_unified(VMX_EXIT_WRMSR), ROOF_EXIT_MSR_WRITE);
	assert_int_equal(nova_exit_unified(VMX_EXIT_TRIPLE_FAULT),
			 ROOF_EXIT_SHUTDOWN);
	/* a failed entry 33 | 1 << 31 reaches its portal as 33 */
	assert_int_equal(nova_exit_unified((33u | 1u << 31) & 0xff),
			 ROOF_EXIT_INVALID_STATE);
	assert_int_equal(nova_exit_unified(VMX_EXIT_INTERRUPT_WINDOW),
			 ROOF_EXIT_IRQ_WINDOW);
	assert_int_equal(nova_exit_unified(VMX_EXIT_EXCEPTION_NMI), ROOF_EXIT_DEBUG);
	assert_int_equal(nova_exit_unified(NOVA_EXIT_STARTUP), ROOF_EXIT_STARTUP);
	assert_int_equal(nova_exit_unified(NOVA_EXIT_RECALL), ROOF_EXIT_PAUSED);
	assert_int_equal(nova_exit_unified(NOVA_EXIT_NOSUPP),
			 ROOF_EXIT_BACKEND_ERROR);
	assert_int_equal(nova_exit_unified(VMX_EXIT_RDTSC), ROOF_EXIT_BACKEND_ERROR);
}

static roof_action record(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct rig *r = p;
	r->calls++;
	r->seen = s->exit_reason;
	r->error = s->info.error;
	if (s->exit_reason == ROOF_EXIT_IO) {
		r->io = s->info.io;
		if (s->info.io.dir == ROOF_DIR_IN)
			s->info.io.data = 0xcafebabe;
	}
	return ROOF_RESUME;
}

static void test_portal_mtds(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_IO, record, 0);
	on(r, ROOF_EXIT_HLT, record, ROOF_G_EFL | ROOF_G_STA);
	on(r, ROOF_EXIT_PAUSED, record, ROOF_G_ACDB | ROOF_G_EIP);
	assert_int_equal(nova_client_create_portals(&r->c, &r->v), ROOF_OK);
	assert_int_equal(r->k.creates, 256);
	/* the mask is the MTD; the client adds what decode/finish need */
	assert_int_equal(r->k.pt_mtd[VMX_EXIT_IO],
			 NOVA_MTD_ACDB | NOVA_MTD_EIP | NOVA_MTD_EFER |
				 NOVA_MTD_CSSS | NOVA_MTD_QUAL);
	assert_int_equal(r->k.pt_mtd[VMX_EXIT_HLT],
			 NOVA_MTD_EIP | NOVA_MTD_EFL | NOVA_MTD_STA);
	assert_int_equal(r->k.pt_mtd[NOVA_EXIT_RECALL],
			 NOVA_MTD_ACDB | NOVA_MTD_EIP);
	assert_int_equal(r->k.pt_mtd[VMX_EXIT_EPT_VIOLATION] & NOVA_MTD_QUAL,
			 NOVA_MTD_QUAL);
	assert_int_equal(r->k.pt_mtd[NOVA_EXIT_STARTUP], 0);
	assert_int_equal(r->k.pt_mtd[VMX_EXIT_IO] & NOVA_MTD_FPU, 0);
	rig_free(r);

	r = rig_new(NOVA_POLICY_GENODE);
	on(r, ROOF_EXIT_IO, record, 0);
	assert_int_equal(nova_client_create_portals(&r->c, &r->v), ROOF_OK);
	for (unsigned i = 0; i < NOVA_NUM_VMI; i++)
		assert_int_equal(r->k.pt_mtd[i], ROOF_G_EVERYTHING);
	rig_free(r);
}

/* The kernel's part of a portal call: exit reason, MTD, state. */
static void io_exit(struct rig *r, bool in, uint64_t mtd)
{
	struct nova_utcb *u = r->u;
	u->exit_reason = VMX_EXIT_IO;
	u->mtd = mtd;
	u->qual[0] = vmx_io_qualification(0x80, in ? 4 : 1, in, 0, 0) |
		     VMX_IOQ_IMM;
	u->ax = 0x1122334455667741ull;
	u->ip = 0x10000;
	u->instr_len = 2;
	u->efer = 0x500;                       /* LMA: 64-bit mode */
	u->cs = (struct nova_utcb_segment){8, 0xa9b, 0xffffffff, 0};
}

static void test_portal_out_and_in(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_IO, record, 0);
	uint64_t mtd = nova_client_portal_mtd(&r->c, &r->v, VMX_EXIT_IO);
	io_exit(r, false, mtd);
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_IO);
	assert_int_equal(r->io.port, 0x80);
	assert_int_equal(r->io.size, 1);
	assert_int_equal(r->io.dir, ROOF_DIR_OUT);
	assert_int_equal(r->io.data, 0x41);
	/* the reply: only the advanced ip */
	assert_int_equal(r->u->mtd, NOVA_MTD_EIP);
	assert_int_equal(r->u->ip, 0x10002);
	assert_int_equal(r->u->items, 0);

	io_exit(r, true, mtd);
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->io.dir, ROOF_DIR_IN);
	assert_int_equal(r->u->mtd, NOVA_MTD_EIP | NOVA_MTD_ACDB);
	assert_int_equal(r->u->ax, 0xcafebabeull); /* 64-bit: zero-extended */
	assert_int_equal(r->k.gets, 0);
	rig_free(r);
}

static roof_action set_tsc_offset(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct rig *r = p;
	r->tsc_seen = roof_get_tsc(s);
	roof_set_tsc_offset(s, roof_get_tsc_offset(s) + 300);
	return ROOF_RESUME;
}

static roof_action set_tsc(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	roof_set_tsc(s, 5000);
	return ROOF_RESUME;
}

static void test_tsc_offset_is_a_delta(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_HLT, set_tsc_offset, ROOF_G_TSC);
	r->u->exit_reason = VMX_EXIT_HLT;
	r->u->mtd = ROOF_G_TSC | ROOF_G_EIP;
	r->u->tsc_val = 1000; /* the host's TSC at the exit */
	r->u->tsc_off = 500;
	nova_client_portal(&r->c, &r->v, false, NULL);
	assert_int_equal(r->tsc_seen, 1500); /* unified: the guest's TSC */
	assert_int_equal(r->s->tsc_offset, 800);
	assert_int_equal(r->s->tsc, 1800);   /* moved with the offset */
	assert_int_equal(r->u->mtd, NOVA_MTD_TSC);
	assert_int_equal(r->u->tsc_off, 300); /* NOVA adds it */
	rig_free(r);

	r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_HLT, set_tsc, ROOF_G_TSC);
	r->u->exit_reason = VMX_EXIT_HLT;
	r->u->mtd = ROOF_G_TSC | ROOF_G_EIP;
	r->u->tsc_val = 1000;
	r->u->tsc_off = 500;
	nova_client_portal(&r->c, &r->v, false, NULL);
	/* a written guest TSC moves the offset by its own difference */
	assert_int_equal(r->u->tsc_off, 3500);
	assert_int_equal(r->s->tsc_offset, 4000);
	rig_free(r);
}

static roof_action read_si(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct rig *r = p;
	r->calls++;
	r->si = roof_get_si(s);
	return ROOF_RESUME;
}

static void test_read_outside_mtd_uses_get(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_IO, read_si, 0);
	on(r, ROOF_EXIT_PAUSED, record, 0);
	r->k.si_value = 0x0707070707070707ull;
	io_exit(r, false, nova_client_portal_mtd(&r->c, &r->v, VMX_EXIT_IO));
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->k.gets, 1);
	assert_int_equal(r->k.get_mtd, ROOF_G_EBSD);
	assert_int_equal(r->si, 0x0707070707070707ull);
	assert_int_equal(r->v.counters.misses, 1);
	/* the GET did not leak into the reply */
	assert_int_equal(r->u->mtd, NOVA_MTD_EIP);

	/* the recall the GET armed: answered without the VMM */
	unsigned exits = (unsigned)r->v.counters.exits;
	r->u->exit_reason = NOVA_EXIT_RECALL;
	r->u->mtd = 0;
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->v.counters.exits, exits);
	assert_int_equal(r->u->mtd, 0);
	/* a recall the VMM asked for is a PAUSED exit */
	r->u->exit_reason = NOVA_EXIT_RECALL;
	nova_client_portal(&r->c, &r->v, true, NULL);
	assert_int_equal(r->seen, ROOF_EXIT_PAUSED);
	assert_int_equal(r->v.counters.exits, exits + 1);
	rig_free(r);
}

static void test_failed_get_poisons_and_stops(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_IO, read_si, 0);
	r->k.get_status = NOVA_INV_CPU;
	io_exit(r, false, nova_client_portal_mtd(&r->c, &r->v, VMX_EXIT_IO));
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_STOP);
	assert_int_equal(r->si, 0xa5a5a5a5a5a5a5a5ull); /* never a stale value */
	rig_free(r);
}

static roof_action stop(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)s;
	(void)p;
	return ROOF_STOP;
}

static void test_writes_of_a_stopped_vcpu_use_set(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_HLT, stop, 0);
	r->u->exit_reason = VMX_EXIT_HLT;
	r->u->mtd = ROOF_G_EIP | ROOF_G_ACDB;
	r->u->ip = 0x1234;
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL), ROOF_STOP);
	assert_int_equal(r->k.sets, 0);
	/* with_state on the stopped vCPU: outside the portal, a SET */
	roof_set_ip(r->s, 0x1236);
	assert_int_equal(r->v.hot->writeback(&r->v, r->s->dirty), ROOF_OK);
	assert_int_equal(r->k.sets, 1);
	assert_true(r->k.set_recall);
	assert_int_equal(r->u->mtd, NOVA_MTD_EIP);
	assert_int_equal(r->u->ip, 0x1236);
	rig_free(r);
}

static void test_unknown_reason_is_a_backend_error(void **state)
{
	(void)state;
	struct rig *r = rig_new(NOVA_POLICY_TUNED);
	on(r, ROOF_EXIT_BACKEND_ERROR, record, 0);
	r->u->exit_reason = VMX_EXIT_RDTSC;
	r->u->mtd = 0;
	nova_client_portal(&r->c, &r->v, false, NULL);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(r->error);
	r->u->exit_reason = NOVA_EXIT_NOSUPP;
	nova_client_portal(&r->c, &r->v, false, "kvm: substrate failed");
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_string_equal(r->error, "kvm: substrate failed");
	rig_free(r);
}

static void test_vmcs_access_tables(void **state)
{
	(void)state;
	/* load_vmx: a segment is 4 VMREADs, rip + length 2, GPRs none */
	assert_int_equal(nova_exit_vmreads(ROOF_G_CSSS | ROOF_G_ESDS), 16);
	assert_int_equal(nova_exit_vmreads(ROOF_G_EIP | ROOF_G_ACDB), 2);
	assert_int_equal(nova_exit_vmreads(ROOF_G_R8_R15 | ROOF_G_FPU), 0);
	/* save_vmx: every reply reads the host MSR area address */
	assert_int_equal(nova_reply_vmreads(0), 1);
	assert_int_equal(nova_reply_vmwrites(ROOF_G_EIP), 2);
	assert_int_equal(nova_reply_vmwrites(ROOF_G_CR), 5);
	assert_int_equal(nova_reply_vmwrites(ROOF_G_QUAL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_lands_in_genode_fields),
		cmocka_unit_test(test_exit_reasons),
		cmocka_unit_test(test_portal_mtds),
		cmocka_unit_test(test_portal_out_and_in),
		cmocka_unit_test(test_tsc_offset_is_a_delta),
		cmocka_unit_test(test_read_outside_mtd_uses_get),
		cmocka_unit_test(test_failed_get_poisons_and_stops),
		cmocka_unit_test(test_writes_of_a_stopped_vcpu_use_set),
		cmocka_unit_test(test_unknown_reason_is_a_backend_error),
		cmocka_unit_test(test_vmcs_access_tables),
	};
	return cmocka_run_group_tests_name("nova_abi", tests, NULL, NULL);
}
