/*
 * test_nova_svm.c - the NOVA client's SVM variant without a guest: what
 * NOVA on AMD hands a portal (alex-ab/NOVA src/ec_svm.cpp handle_svm, src/
 * utcb.cpp load_svm/save_svm) is fed into the same client the model and the
 * root task run (kernels/nova/client/), and the test checks the unified exit
 * (fastpath/svm_exit.c), the completion the reply carries, the per-portal
 * MTDs, the groups SVM does not transfer, and the byte counts of the SVM
 * transfer. The kernel side is a stub that only answers; there is no KVM.
 */
#include <stdlib.h>
#include <string.h>

#include "roof_test.h"
#include "../kernels/nova/client/nova_client.h"
#include "x86_arch.h"

struct svm_rig {
	struct roof_vcpu v;
	roof_state *s;
	struct nova_utcb *u;
	struct nova_client c;
	uint64_t pt_mtd[NOVA_NUM_VMI];
	unsigned gets;
	uint8_t guest[0x2000]; /* guest-physical 0x1000..0x2fff */
	/* seen by the handler */
	roof_exit seen;
	uint64_t ip, ip_len;
	struct roof_exit_info info;
};

static uint8_t stub_create_pt(void *k, unsigned reason, uint64_t mtd)
{
	((struct svm_rig *)k)->pt_mtd[reason & 0xffu] = mtd;
	return NOVA_OK;
}

static uint8_t stub_get(void *k, uint64_t mtd)
{
	struct svm_rig *r = k;
	r->gets++;
	r->u->mtd = mtd;
	return NOVA_OK;
}

static uint8_t stub_set(void *k, bool recall)
{
	(void)k;
	(void)recall;
	return NOVA_OK;
}

static const struct nova_syscalls stub_sys = {stub_create_pt, stub_get,
					      stub_set};

static const void *guest_bytes(void *ctx, uint64_t gpa, uint64_t len)
{
	struct svm_rig *r = ctx;
	if (gpa < 0x1000 || gpa - 0x1000 > sizeof r->guest ||
	    len > sizeof r->guest - (gpa - 0x1000))
		return NULL;
	return r->guest + (gpa - 0x1000);
}

static struct svm_rig *svm_rig(enum nova_policy policy)
{
	struct svm_rig *r = roof_test_zalloc(64, sizeof *r);
	r->s = roof_test_zalloc(64, sizeof(roof_state));
	r->u = roof_test_zalloc(4096, sizeof(struct nova_utcb));
	struct vmx_exit_env env = {guest_bytes, NULL, r};
	roof_core_init(&r->v, r->s, 0, NULL, NULL, NULL, NULL);
	assert_int_equal(nova_client_init(&r->c, r->u, &stub_sys, r, &env,
					  policy, NOVA_VMI_SVM), 0);
	nova_client_bind(&r->c, &r->v);
	return r;
}

static void svm_rig_free(struct svm_rig *r)
{
	free(r->s);
	free(r->u);
	free(r);
}

/* The handler: records what it saw and answers ins, reads, rdmsr, cpuid. */
static roof_action observe(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct svm_rig *r = p;
	r->seen = s->exit_reason;
	r->ip = roof_get_ip(s);
	r->ip_len = roof_get_ip_len(s);
	switch (s->exit_reason) {
	case ROOF_EXIT_IO:
		if (s->info.io.dir == ROOF_DIR_IN)
			s->info.io.data = 0xcafebeef;
		break;
	case ROOF_EXIT_MMIO:
		if (s->info.mmio.dir == ROOF_DIR_READ)
			s->info.mmio.data = 0x55aa55aa;
		break;
	case ROOF_EXIT_MSR_READ:
		s->info.msr.value = 0x1111222233334444ull;
		break;
	case ROOF_EXIT_CPUID:
		s->info.cpuid.eax = 0xa;
		s->info.cpuid.ebx = 0xb;
		s->info.cpuid.ecx = 0xc;
		s->info.cpuid.edx = 0xd;
		break;
	default:
		break;
	}
	r->info = s->info;
	return ROOF_RESUME;
}

static void handle(struct svm_rig *r, roof_exit e, uint64_t mask)
{
	r->v.handlers[e] = (struct roof_handler_slot){observe, r, mask,
						      ROOF_INLINE, 1};
}

/* NOVA's side of an exit: the portal of `code` with its MTD, 32-bit
 * protected mode without paging at ip 0x1000, exit info 1 and 2. */
static roof_action svm_exit(struct svm_rig *r, unsigned code, uint64_t info1,
			    uint64_t info2)
{
	struct nova_utcb *u = r->u;
	u->exit_reason = code;
	u->mtd = nova_client_portal_mtd(&r->c, &r->v, code);
	u->qual[0] = info1;
	u->qual[1] = info2;
	u->ip = 0x1000;
	u->instr_len = 0x77; /* stale: load_svm never writes it */
	u->ax = 0x1122334455667788ull;
	u->cx = 0x40000001;
	u->dx = 0x99;
	u->cr0 = 0x11;
	u->efer = 0;
	u->cs = (struct nova_utcb_segment){8, 0xc9b, 0xffffffff, 0};
	return nova_client_portal(&r->c, &r->v, false, NULL);
}

static void test_svm_codes_map_onto_unified_exits(void **state)
{
	(void)state;
	assert_int_equal(nova_svm_unified(SVM_EXIT_IOIO, 0), ROOF_EXIT_IO);
	assert_int_equal(nova_svm_unified(SVM_EXIT_CPUID, 0), ROOF_EXIT_CPUID);
	assert_int_equal(nova_svm_unified(SVM_EXIT_HLT, 0), ROOF_EXIT_HLT);
	assert_int_equal(nova_svm_unified(SVM_EXIT_MSR, 0), ROOF_EXIT_MSR_READ);
	assert_int_equal(nova_svm_unified(SVM_EXIT_MSR, 1), ROOF_EXIT_MSR_WRITE);
	assert_int_equal(nova_svm_unified(SVM_EXIT_MSR, 2),
			 ROOF_EXIT_BACKEND_ERROR);
	assert_int_equal(nova_svm_unified(NOVA_EXIT_NPT, 0), ROOF_EXIT_MMIO);
	assert_int_equal(nova_svm_unified(SVM_EXIT_SHUTDOWN, 0),
			 ROOF_EXIT_SHUTDOWN);
	assert_int_equal(nova_svm_unified(NOVA_EXIT_INVSTATE, 0),
			 ROOF_EXIT_INVALID_STATE);
	assert_int_equal(nova_svm_unified(SVM_EXIT_VINTR, 0),
			 ROOF_EXIT_IRQ_WINDOW);
	assert_int_equal(nova_svm_unified(0x41, 0), ROOF_EXIT_DEBUG);
	assert_int_equal(nova_svm_unified(NOVA_EXIT_STARTUP, 0),
			 ROOF_EXIT_STARTUP);
	assert_int_equal(nova_svm_unified(NOVA_EXIT_RECALL, 0), ROOF_EXIT_PAUSED);
	assert_int_equal(nova_svm_unified(NOVA_EXIT_NOSUPP, 0),
			 ROOF_EXIT_BACKEND_ERROR);
	assert_int_equal(nova_svm_unified(SVM_EXIT_VMRUN, 0),
			 ROOF_EXIT_BACKEND_ERROR);
	/* the NOVA numbers of the two SVM codes that do not fit in 8 bits */
	assert_int_equal(nova_svm_code(NOVA_EXIT_NPT), SVM_EXIT_NPF);
	assert_int_equal(nova_svm_code(NOVA_EXIT_INVSTATE), SVM_EXIT_INVALID);
	assert_int_equal(nova_svm_code(SVM_EXIT_IOIO), SVM_EXIT_IOIO);
}

static void test_svm_portal_mtds(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_IO, 0);
	handle(r, ROOF_EXIT_MSR_READ, 0);
	handle(r, ROOF_EXIT_MSR_WRITE, ROOF_G_EBSD);
	handle(r, ROOF_EXIT_HLT, ROOF_G_EFL);
	assert_int_equal(nova_client_create_portals(&r->c, &r->v), ROOF_OK);
	/* IOIO: the decode's groups and exit info 1/2 in QUAL */
	assert_int_equal(r->pt_mtd[SVM_EXIT_IOIO],
			 NOVA_MTD_ACDB | NOVA_MTD_EIP | NOVA_MTD_EFER |
				 NOVA_MTD_CSSS | NOVA_MTD_QUAL);
	/* one MSR portal for both directions: both masks, and QUAL for info1 */
	assert_int_equal(r->pt_mtd[SVM_EXIT_MSR],
			 NOVA_MTD_ACDB | NOVA_MTD_EIP | NOVA_MTD_INJ |
				 NOVA_MTD_QUAL | NOVA_MTD_EBSD);
	assert_int_equal(r->pt_mtd[SVM_EXIT_HLT], NOVA_MTD_EIP | NOVA_MTD_EFL);
	assert_int_equal(r->pt_mtd[SVM_EXIT_CPUID], NOVA_MTD_ACDB | NOVA_MTD_EIP);
	/* the nested-page fault's portal carries the MMIO decode's groups */
	assert_int_equal(r->pt_mtd[NOVA_EXIT_NPT] & (NOVA_MTD_QUAL | NOVA_MTD_CR),
			 NOVA_MTD_QUAL | NOVA_MTD_CR);
	svm_rig_free(r);

	r = svm_rig(NOVA_POLICY_GENODE);
	assert_int_equal(nova_client_create_portals(&r->c, &r->v), ROOF_OK);
	for (unsigned i = 0; i < NOVA_NUM_VMI; i++)
		assert_int_equal(r->pt_mtd[i], ROOF_G_EVERYTHING);
	svm_rig_free(r);
}

static void test_ioio_out_moves_ip_to_exit_info_2(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_IO, 0);
	/* out 0x80, al (e6 80): 8-bit, immediate port; next rip 0x1002 */
	assert_int_equal(svm_exit(r, SVM_EXIT_IOIO, 0x80u << 16 | SVM_IOIO_SZ8,
				  0x1002),
			 ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_IO);
	assert_int_equal(r->info.native, SVM_EXIT_IOIO);
	assert_int_equal(r->info.io.port, 0x80);
	assert_int_equal(r->info.io.size, 1);
	assert_int_equal(r->info.io.dir, ROOF_DIR_OUT);
	assert_int_equal(r->info.io.data, 0x88);
	assert_int_equal(r->ip, 0x1000);
	assert_int_equal(r->ip_len, 2);
	/* the reply: rip = exit info 2, nothing else */
	assert_int_equal(r->u->mtd, NOVA_MTD_EIP);
	assert_int_equal(r->u->ip, 0x1002);
	svm_rig_free(r);
}

static void test_ioio_in_completes_rax(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_IO, 0);
	/* in ax, dx (66 ed) */
	assert_int_equal(svm_exit(r, SVM_EXIT_IOIO,
				  0x99u << 16 | SVM_IOIO_SZ16 | SVM_IOIO_IN,
				  0x1002),
			 ROOF_RESUME);
	assert_int_equal(r->info.io.size, 2);
	assert_int_equal(r->info.io.dir, ROOF_DIR_IN);
	assert_int_equal(r->u->mtd, NOVA_MTD_ACDB | NOVA_MTD_EIP);
	assert_int_equal(r->u->ax, 0x112233445566beefull);
	assert_int_equal(r->u->ip, 0x1002);
	/* in eax, dx in 64-bit mode zero-extends rax */
	r->u->efer = 0x500;
	r->u->cs.ar = 0xa9b;
	struct nova_utcb *u = r->u;
	u->exit_reason = SVM_EXIT_IOIO;
	u->mtd = nova_client_portal_mtd(&r->c, &r->v, SVM_EXIT_IOIO);
	u->qual[0] = 0x99u << 16 | SVM_IOIO_SZ32 | SVM_IOIO_IN;
	u->qual[1] = 0x1001;
	u->ip = 0x1000;
	u->ax = ~0ull;
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->u->ax, 0xcafebeefull);
	assert_int_equal(r->u->ip, 0x1001);
	svm_rig_free(r);
}

static void test_cpuid_hlt_msr_lengths(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_CPUID, 0);
	handle(r, ROOF_EXIT_HLT, roof_default_mask(ROOF_EXIT_HLT));
	handle(r, ROOF_EXIT_MSR_READ, 0);
	handle(r, ROOF_EXIT_MSR_WRITE, 0);

	assert_int_equal(svm_exit(r, SVM_EXIT_CPUID, 0, 0), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_CPUID);
	assert_int_equal(r->info.cpuid.leaf, 0x55667788);
	assert_int_equal(r->info.cpuid.subleaf, 0x40000001);
	assert_int_equal(r->ip_len, 2);
	assert_int_equal(r->u->mtd, NOVA_MTD_ACDB | NOVA_MTD_EIP);
	assert_int_equal(r->u->ip, 0x1002);
	assert_true(r->u->ax == 0xa && r->u->bx == 0xb && r->u->cx == 0xc &&
		    r->u->dx == 0xd);

	/* HLT: ip at the hlt, length 1, not moved unless the VMM moves it */
	assert_int_equal(svm_exit(r, SVM_EXIT_HLT, 0, 0), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_HLT);
	assert_int_equal(r->ip, 0x1000);
	assert_int_equal(r->ip_len, 1);
	assert_int_equal(r->u->mtd, 0);

	/* rdmsr (info1 0): edx:eax = the value, ip + 2 */
	assert_int_equal(svm_exit(r, SVM_EXIT_MSR, 0, 0), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_MSR_READ);
	assert_int_equal(r->info.msr.index, 0x40000001);
	assert_int_equal(r->u->ax, 0x33334444);
	assert_int_equal(r->u->dx, 0x11112222);
	assert_int_equal(r->u->ip, 0x1002);
	/* wrmsr (info1 1): the value from edx:eax */
	assert_int_equal(svm_exit(r, SVM_EXIT_MSR, 1, 0), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_MSR_WRITE);
	assert_int_equal(r->info.msr.value, 0x0000009955667788ull);
	assert_int_equal(r->u->ip, 0x1002);
	svm_rig_free(r);
}

static void test_npt_fault_is_decoded_mmio(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_MMIO, 0);
	/* mov eax, [0x10000000] at 0x1000 (32-bit mode: 8b 05 disp32) */
	static const uint8_t load[] = {0x8b, 0x05, 0, 0, 0, 0x10};
	memcpy(r->guest, load, sizeof load);
	/* NOVA: VM_EXIT_NPT, qual = error code (present 0, read), address */
	assert_int_equal(svm_exit(r, NOVA_EXIT_NPT, 0x4, 0x10000000), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_MMIO);
	assert_int_equal(r->info.native, SVM_EXIT_NPF);
	assert_int_equal(r->info.mmio.gpa, 0x10000000);
	assert_int_equal(r->info.mmio.len, 4);
	assert_int_equal(r->info.mmio.dir, ROOF_DIR_READ);
	assert_int_equal(r->ip_len, 6);
	assert_int_equal(r->u->ip, 0x1006);
	/* outside 64-bit mode a 32-bit load leaves bits 63:32 alone */
	assert_int_equal(r->u->ax, 0x1122334455aa55aaull);

	/* mov [0x10000008], ecx (89 0d disp32): a write, error code bit 1 */
	static const uint8_t store[] = {0x89, 0x0d, 8, 0, 0, 0x10};
	memcpy(r->guest, store, sizeof store);
	assert_int_equal(svm_exit(r, NOVA_EXIT_NPT, 0x6, 0x10000008), ROOF_RESUME);
	assert_int_equal(r->info.mmio.dir, ROOF_DIR_WRITE);
	assert_int_equal(r->info.mmio.data, 0x40000001);
	/* a read fault on a store: the decode refuses the disagreement */
	assert_int_equal(svm_exit(r, NOVA_EXIT_NPT, 0x4, 0x10000008), ROOF_STOP);
	svm_rig_free(r);
}

static void test_refusals(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_BACKEND_ERROR, 0);
	handle(r, ROOF_EXIT_IO, 0);
	/* an intercept the client does not know (VMRUN) */
	svm_exit(r, SVM_EXIT_VMRUN, 0, 0);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(r->info.error, "SVM exit"));
	assert_int_equal(r->info.native, SVM_EXIT_VMRUN);
	/* exit info 2 that is not past ip */
	svm_exit(r, SVM_EXIT_IOIO, 0x80u << 16 | SVM_IOIO_SZ8, 0x1000);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(r->info.error, "next instruction"));
	/* no size bit */
	svm_exit(r, SVM_EXIT_IOIO, 0x80u << 16, 0x1002);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(r->info.error, "size"));
	/* string I/O */
	svm_exit(r, SVM_EXIT_IOIO, 0x80u << 16 | SVM_IOIO_SZ8 | SVM_IOIO_STR,
		 0x1001);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	/* VM_EXIT_NOSUPP */
	svm_exit(r, NOVA_EXIT_NOSUPP, 0, 0);
	assert_int_equal(r->seen, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(r->info.error, "NOSUPP"));
	svm_rig_free(r);
}

/* A read of what load_svm never writes is refused, not served stale. */
static roof_action read_tpr(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct svm_rig *r = p;
	(void)roof_get_tpr(s);
	r->seen = s->exit_reason;
	return ROOF_RESUME;
}

static void test_pdpte_tpr_not_transferred(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_GENODE);
	r->v.handlers[ROOF_EXIT_HLT] =
		(struct roof_handler_slot){read_tpr, r, 0, ROOF_INLINE, 1};
	/* genode names every group in the portal MTD; PDPTE and TPR still
	 * do not arrive */
	svm_exit(r, SVM_EXIT_HLT, 0, 0);
	assert_int_equal(r->s->valid & ROOF_G_PDPTE, 0);
	/* the read found TPR poisoned, not a stale UTCB value */
	assert_int_equal(r->s->fetch_failed, ROOF_G_TPR);
	assert_int_equal(r->s->tpr, 0xa5a5a5a5u);
	assert_int_equal(r->gets, 0); /* refused before any kernel call */
	svm_rig_free(r);
}

static void test_startup_has_no_length(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	handle(r, ROOF_EXIT_STARTUP, ROOF_G_EIP);
	assert_int_equal(svm_exit(r, NOVA_EXIT_STARTUP, 0, 0), ROOF_RESUME);
	assert_int_equal(r->seen, ROOF_EXIT_STARTUP);
	assert_int_equal(r->ip_len, 0); /* not the stale 0x77 */
	svm_rig_free(r);
}

/* The VMCB's EFER holds SVME: the VMM never sees it, the reply always
 * carries it (VMRUN fails without). */
static roof_action enter_long_mode(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct svm_rig *r = p;
	r->info.native = (uint32_t)roof_get_efer(s);
	roof_set_efer(s, 0x500);
	return ROOF_RESUME;
}

static void test_efer_svme_hidden_and_restored(void **state)
{
	(void)state;
	struct svm_rig *r = svm_rig(NOVA_POLICY_TUNED);
	r->v.handlers[ROOF_EXIT_STARTUP] = (struct roof_handler_slot){
		enter_long_mode, r, ROOF_G_EFER, ROOF_INLINE, 1};
	r->u->exit_reason = NOVA_EXIT_STARTUP;
	r->u->mtd = ROOF_G_EFER;
	r->u->efer = NOVA_SVM_EFER_SVME; /* what load_svm delivers at STARTUP */
	assert_int_equal(nova_client_portal(&r->c, &r->v, false, NULL),
			 ROOF_RESUME);
	assert_int_equal(r->info.native, 0);
	assert_int_equal(r->u->mtd, NOVA_MTD_EFER);
	assert_int_equal(r->u->efer, 0x500 | NOVA_SVM_EFER_SVME);
	svm_rig_free(r);
}

static void test_svm_bytes(void **state)
{
	(void)state;
	/* load_svm for the tuned IOIO portal: ax cx dx bx 32, rip 8, efer 8,
	 * cs ss 2 x 16, qual 16, and the exit_value word 8 */
	uint64_t io = NOVA_MTD_ACDB | NOVA_MTD_EIP | NOVA_MTD_EFER |
		      NOVA_MTD_CSSS | NOVA_MTD_QUAL;
	assert_int_equal(nova_svm_bytes_out(io, 512), 32 + 8 + 8 + 32 + 16 + 8);
	/* save_svm of the reply of an out: rip 8 */
	assert_int_equal(nova_svm_bytes_in(NOVA_MTD_EIP, 512), 8);
	/* QUAL is never written back, CTRL never read out, PDPTE/TPR never */
	assert_int_equal(nova_svm_bytes_in(NOVA_MTD_QUAL, 512), 0);
	assert_int_equal(nova_svm_bytes_out(NOVA_MTD_CTRL, 512), 8);
	assert_int_equal(nova_svm_bytes_out(NOVA_MTD_PDPTE | NOVA_MTD_TPR, 512),
			 8);
	/* everything: 488 bytes of registers, Fpu::size, the exit word */
	assert_int_equal(nova_svm_bytes_out(ROOF_G_EVERYTHING, 512),
			 488 + 512 + 8);
	assert_int_equal(nova_svm_bytes_out(ROOF_G_EVERYTHING, 832),
			 488 + 832 + 8);
	/* STA goes back as int_shadow only, TSC as the offset delta */
	assert_int_equal(nova_svm_bytes_in(NOVA_MTD_STA | NOVA_MTD_TSC, 0), 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svm_codes_map_onto_unified_exits),
		cmocka_unit_test(test_svm_portal_mtds),
		cmocka_unit_test(test_ioio_out_moves_ip_to_exit_info_2),
		cmocka_unit_test(test_ioio_in_completes_rax),
		cmocka_unit_test(test_cpuid_hlt_msr_lengths),
		cmocka_unit_test(test_npt_fault_is_decoded_mmio),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pdpte_tpr_not_transferred),
		cmocka_unit_test(test_startup_has_no_length),
		cmocka_unit_test(test_efer_svme_hidden_and_restored),
		cmocka_unit_test(test_svm_bytes),
	};
	return cmocka_run_group_tests_name("nova_svm", tests, NULL, NULL);
}
