/*
 * nova_exit_record.c - test-only hook (tests/fuzz/exit_decoders.h): the NOVA
 * client's portal handler fed with a UTCB given as bytes instead of one the
 * kernel filled, and example UTCBs. Used by the exit-decoding fuzzer and the
 * replay test, nothing else.
 *
 * Record layout (NOVA's own ABI, so it stays here):
 *   bytes 0 .. 4095      the handler's UTCB as the kernel filled it for the
 *                        portal call (client/nova_abi.h: mtd = the groups
 *                        the portal's MTD transferred, exit_reason at 592),
 *                        as far as given; the rest reads zero. At least up
 *                        to exit_reason.
 *   bytes 4096 .. 8191   optional: guest-physical page 0, where the MMIO
 *                        decode reads the instruction
 * The portal runs as the dispatch runs it with no handler registered: a
 * group the MTD did not transfer is asked of the kernel with
 * ec_ctrl(EC_GET_VCPU_STATE), which a record cannot answer, so such an exit
 * turns into a BACKEND_ERROR with that text.
 */
#include <stdlib.h>
#include <string.h>

#include "../kvm/vmx_model.h"
#include "../kvm/vmx_seed_exits.h"
#include "client/nova_client.h"
#include "x86_arch.h"

/* the model presents VMX exits */
#define IMPLICIT(e) nova_client_implicit(NOVA_VMI_VMX, (e))

#define RECORD_UTCB 4096u
#define GUEST_PAGE VMX_MODEL_RECORD_GUEST
#define RECORD_MIN (offsetof(struct nova_utcb, exit_reason) + 8)

int roof_exit_record_decode_nova(const uint8_t *data, size_t size,
				 roof_state *out, const void **mem,
				 size_t *mem_size);
int roof_exit_record_seeds_nova(roof_exit_record_emit emit, void *ctx);

_Static_assert(sizeof(struct nova_utcb) <= RECORD_UTCB, "UTCB is one page");

/* One decoder instance per thread of the fuzzer / replay test. */
static _Thread_local struct {
	struct nova_utcb *utcb;
	uint8_t *guest;
	struct nova_client *client;
	struct roof_vcpu v;
} rec;

/* The kernel behind a record: it already made the portal call. */
static uint8_t rec_create_pt(void *k, unsigned reason, uint64_t mtd)
{
	(void)k;
	(void)reason;
	(void)mtd;
	return NOVA_OK;
}

static uint8_t rec_get(void *k, uint64_t mtd)
{
	(void)k;
	(void)mtd;
	return NOVA_INV_PARAMETER; /* nothing beyond the UTCB */
}

static uint8_t rec_set(void *k, bool recall)
{
	(void)k;
	(void)recall;
	return NOVA_INV_PARAMETER;
}

static const struct nova_syscalls rec_sys = {rec_create_pt, rec_get, rec_set};

int roof_exit_record_decode_nova(const uint8_t *data, size_t size,
				 roof_state *out, const void **mem,
				 size_t *mem_size)
{
	if (!data || size < RECORD_MIN || !out)
		return -1;
	if (!rec.utcb && !(rec.utcb = aligned_alloc(4096, RECORD_UTCB)))
		return -1;
	if (!rec.guest && !(rec.guest = malloc(GUEST_PAGE)))
		return -1;
	/* aligned_alloc wants a multiple of the alignment (C11 7.22.3.1) */
	size_t client_size = (sizeof *rec.client + 63) & ~(size_t)63;
	if (!rec.client && !(rec.client = aligned_alloc(64, client_size)))
		return -1;
	vmx_model_record_split(data, size, rec.utcb, RECORD_UTCB, rec.guest);
	struct vmx_exit_env env = vmx_model_record_exit_env(rec.guest);
	if (nova_client_init(rec.client, rec.utcb, &rec_sys, NULL, &env,
			     NOVA_POLICY_TUNED, NOVA_VMI_VMX))
		return -1;
	memset(&rec.v, 0, sizeof rec.v);
	roof_core_init(&rec.v, out, 0, NULL, NULL, NULL, NULL);
	nova_client_bind(rec.client, &rec.v); /* the hot ops, the client */
	/* the portal call: UTCB -> state, decode, the dispatch with no
	 * handler, finish and the reply into the UTCB */
	nova_client_portal(rec.client, &rec.v, false, NULL);
	if (mem)
		*mem = rec.utcb;
	if (mem_size)
		*mem_size = RECORD_UTCB;
	return 0;
}

/* ---- example UTCBs ---------------------------------------------------------------- */
struct seed {
	union {
		struct nova_utcb utcb;
		uint8_t page[RECORD_UTCB];
	};
	uint8_t guest[GUEST_PAGE];
};

/* A 64-bit vCPU at VMX_SEED_IP, the groups of mtd transferred. */
static void seed_init(struct seed *r, unsigned reason, uint64_t mtd)
{
	memset(r, 0, sizeof *r);
	struct nova_utcb *u = &r->utcb;
	u->mtd = mtd;
	u->exit_reason = reason;
	u->ip = VMX_SEED_IP;
	u->instr_len = 2;
	u->flags = 2;
	u->ax = 0x11223344;
	u->bx = 0x200;
	u->cx = 0x4b564d00u;
	u->cr0 = 0x80050033;
	u->cr3 = 0x1000;
	u->cr4 = 0x620;
	u->efer = 0x500;
	u->cs.ar = 0xa9b; /* 64-bit code */
	u->ds.ar = u->es.ar = u->ss.ar = 0xc93;
}

/* Paging off, 32-bit code: the instruction at ip VMX_SEED_IP of guest
 * page 0. */
static void seed_flat32(struct seed *r)
{
	r->utcb.cr0 = 0x11;
	r->utcb.efer = 0;
	r->utcb.cs.ar = 0x49b;
}

/* The exit e in the UTCB, the MTD of its portal; with a guest page the
 * vCPU runs flat (the page holds no page tables). */
static size_t seed_write(void *record, const struct vmx_seed_exit *e)
{
	struct seed *r = record;
	/* the portal number is the basic reason (nova_abi.h) */
	seed_init(r, e->reason, IMPLICIT(vmx_exit_unified(e->reason)));
	r->utcb.qual[0] = e->qualification;
	r->utcb.qual[1] = e->guest_phys;
	if (e->instr_len)
		r->utcb.instr_len = e->instr_len;
	if (e->insn)
		memcpy(r->guest + VMX_SEED_IP, e->insn, e->insn_len);
	if (!e->guest_page)
		return sizeof r->page;
	seed_flat32(r);
	return sizeof r->page + GUEST_PAGE;
}

int roof_exit_record_seeds_nova(roof_exit_record_emit emit, void *ctx)
{
	static struct seed r; /* 8 KiB: not on the stack */
	const struct vmx_seed_writer w = {VMX_SEED_FLAT32, seed_write, &r,
					  emit, ctx};
	const struct vmx_seed_exit io = vmx_seed_exit(VMX_SEED_IO_OUT_1,
						      w.guest);
	const uint8_t *bytes = (const uint8_t *)&r;
	size_t utcb = sizeof r.page;
	int n = 0;
#define EMIT(name, want, size) n += emit(ctx, name, want, bytes, size) == 0
	n += vmx_seed_exits_emit(&w, VMX_SEED_IO_OUT_1, VMX_SEED_IO_INS_STRING);
	seed_write(&r, &io);
	r.utcb.mtd &= ~(uint64_t)NOVA_MTD_QUAL; /* portal MTD without QUAL */
	EMIT("io-without-qual", ROOF_EXIT_BACKEND_ERROR, utcb);
	n += vmx_seed_exits_emit(&w, VMX_SEED_HLT, VMX_SEED_MMIO_NOT_A_MOV);
	/* 64-bit with paging on, and no page tables to walk */
	struct vmx_seed_exit e = vmx_seed_exit(VMX_SEED_MMIO_NO_GUEST_MEMORY,
					       w.guest);
	e.name = "mmio-no-page-tables";
	n += vmx_seed_exit_emit(&w, &e);
	seed_init(&r, NOVA_EXIT_RECALL, IMPLICIT(ROOF_EXIT_PAUSED));
	EMIT("recall", ROOF_EXIT_PAUSED, utcb);
	seed_init(&r, NOVA_EXIT_STARTUP, 0);
	EMIT("startup", ROOF_EXIT_STARTUP, utcb);
	n += vmx_seed_exits_emit(&w, VMX_SEED_INVALID_GUEST_STATE,
				 VMX_SEED_IRQ_WINDOW);
	seed_init(&r, 0xfc, 0); /* NPT (SVM) on the VMX model */
	EMIT("svm-npt-on-vmx", ROOF_EXIT_BACKEND_ERROR, utcb);
	seed_write(&r, &io);
	r.utcb.mtd = ~0ull; /* every bit, those that name no group too */
	EMIT("mtd-all-bits", ROOF_EXIT_IO, utcb);
#undef EMIT
	return n;
}
