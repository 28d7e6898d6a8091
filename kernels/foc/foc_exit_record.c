/*
 * foc_exit_record.c - test-only hook (tests/fuzz/exit_decoders.h): the
 * Fiasco.OC client's exit decoding fed with a vCPU state page given as
 * bytes instead of one the kernel side filled, and example pages.
 *
 * Record layout (the kernel's own ABI, so it stays here):
 *   bytes 0 .. 4095      the vCPU state page (client/foc_abi.h) as the
 *                        kernel left it after the resume, as far as given
 *                        (the rest reads zero; at least up to the VMCS's
 *                        offset table and data start, 0x440)
 *   bytes 4096 .. 8191   optional: guest-physical page 0, where the MMIO
 *                        decode reads the instruction
 *   byte 8192            optional: the resume's result (1 = the vCPU IRQ)
 * The page's own offset table and cr2 index are used, as l4sys does, so
 * the bytes reach the field formula unfiltered: the client builds its
 * transfer plan from them (a table that gives a plain field no place
 * decodes as BACKEND_ERROR, the backend's refusal of such a vCPU) and its
 * C accesses read them at each access. The page holds every stored field:
 * the record's kernel has nothing more to give.
 * The client runs as on the vCPU thread (policy tuned): its resume, whose
 * kernel call returns the record's result, the exit's delivery, and the
 * dispatch with no handler registered.
 */
#include <stdlib.h>
#include <string.h>

#include "foc_exit_record.h"
#include "foc_kernel.h"
#include "../kvm/vmx_seed_exits.h"
#include "x86_arch.h"

#define GUEST_PAGE VMX_MODEL_RECORD_GUEST
#define RECORD_PAGE sizeof(struct foc_vcpu_page)
#define RECORD_MIN (FOC_VCPU_OFFSET_EXT_STATE + FOC_VMCS_DATA)

/* One decoder per thread of the fuzzer / replay test. */
static _Thread_local struct {
	struct foc_client *client;
	struct foc_vcpu_page *page;
	uint8_t *guest;
	int tag; /* what the resume returns */
	struct roof_vcpu v;
} rec;

/* The resume already happened: the page is what it stored. */
static int rec_resume(void *k)
{
	(void)k;
	return rec.tag;
}

static void rec_irq_receive(void *k)
{
	(void)k;
	__atomic_fetch_and(&rec.page->vcpu.sticky_flags,
			   (uint16_t)~FOC_VCPU_SF_IRQ_PENDING, __ATOMIC_ACQ_REL);
}

static int rec_page_sync(void *k, uint64_t groups)
{
	(void)k;
	(void)groups;
	return 0; /* the page is what the kernel stored */
}

static int rec_fpu(void *k, uint8_t image[FOC_FXSAVE_SIZE])
{
	(void)k;
	(void)image;
	return ROOF_EKERNEL;
}

static int rec_fpu_to(void *k, const uint8_t image[FOC_FXSAVE_SIZE])
{
	(void)k;
	(void)image;
	return ROOF_EKERNEL;
}

static const char *rec_error(void *k)
{
	(void)k;
	return "foc record: the hardware gave no more than the page holds";
}

static const struct foc_kernel_ops rec_ops = {
	rec_resume, rec_irq_receive, rec_page_sync, rec_fpu, rec_fpu_to,
	rec_error,
};

int roof_exit_record_decode_foc(const uint8_t *data, size_t size,
				roof_state *out, const void **mem,
				size_t *mem_size)
{
	if (!data || size < RECORD_MIN || !out)
		return -1;
	if (!rec.page && !(rec.page = aligned_alloc(4096, RECORD_PAGE)))
		return -1;
	if (!rec.guest && !(rec.guest = malloc(GUEST_PAGE)))
		return -1;
	if (!rec.client &&
	    !(rec.client = aligned_alloc(64, sizeof *rec.client)))
		return -1;
	vmx_model_record_split(data, size, rec.page, RECORD_PAGE, rec.guest);
	rec.tag = size > RECORD_PAGE + GUEST_PAGE &&
			  data[RECORD_PAGE + GUEST_PAGE] == 1
		  ? FOC_RESUME_IRQ
		  : FOC_RESUME_EXIT;
	memset(&rec.v, 0, sizeof rec.v);
	roof_core_init(&rec.v, out, 0, &foc_client_hot, rec.client, NULL, NULL);
	struct vmx_exit_env env = vmx_model_record_exit_env(rec.guest);
	if (foc_client_init(rec.client, &rec.v, rec.page, &rec_ops, NULL, &env,
			    false) == 0) {
		for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
			rec.v.implicit[e] = vmx_exit_implicit((roof_exit)e);
		/* the vCPU thread's trip (foc_backend.c): the resume, the exit
		 * it left in the page, the dispatch; a failed resume has
		 * prepared a BACKEND_ERROR exit, which is dispatched as well */
		if (foc_client_resume(rec.client) == 0)
			foc_client_deliver(rec.client,
					   vmx_exit_unified(rec.client->native));
		roof_dispatch_exit(&rec.v);
	} else {
		/* no transfer plan for this table: the backend refuses such
		 * a vCPU, the record decodes to that refusal */
		roof_state_begin_error(out, FOC_PLAN_REFUSED);
	}
	if (mem)
		*mem = rec.page;
	if (mem_size)
		*mem_size = RECORD_PAGE;
	return 0;
}

/* ---- example pages --------------------------------------------------------------- */
struct seed {
	struct foc_vcpu_page page; /* the record starts here */
	uint8_t guest[GUEST_PAGE];
	uint8_t tag;
};

static void put(struct foc_vcpu_page *p, uint32_t field, uint64_t v)
{
	uint32_t off = foc_vmcs_offset(p->vmcs, field);
	if (off)
		memcpy(p->vmcs + off, &v, foc_vmcs_width(field));
}

/* A page as the kernel stores it: a real-mode vCPU at VMX_SEED_IP. */
static void seed_init(struct seed *r, uint32_t reason)
{
	memset(r, 0, sizeof *r);
	struct foc_vcpu_page *p = &r->page;
	p->vcpu.version = FOC_VCPU_STATE_VERSION;
	foc_kernel_offset_table(p->vmcs + FOC_VMCS_OFFSET_TABLE);
	uint32_t cr2 = FOC_VMCS_CR2;
	memcpy(p->vmcs + FOC_VMCS_CR2_INDEX, &cr2, sizeof cr2);
	for (unsigned i = 0; i < 8; i++) {
		put(p, VMCS_GUEST_ES_SEL + 2 * i, 0);
		put(p, VMCS_GUEST_ES_LIMIT + 2 * i, 0xffff);
		put(p, VMCS_GUEST_ES_AR + 2 * i,
		    i == 6 ? 0x10082 : i == 7 ? 0x8b : 0x93);
	}
	put(p, VMCS_GUEST_CR0, 0x30);
	put(p, VMCS_CR0_SHADOW, 0x10);
	put(p, VMCS_GUEST_RFLAGS, 2);
	put(p, VMCS_GUEST_RIP, VMX_SEED_IP);
	put(p, VMCS_EXIT_INSTR_LEN, 2);
	put(p, VMCS_EXIT_REASON, reason);
	p->vcpu.r.ax = 0x11223344;
	p->vcpu.r.bx = 0x200;
	p->vcpu.r.cx = 0x4b564d00u;
}

/* The exit e in the page; the guest page is the record's second page. */
static size_t seed_write(void *record, const struct vmx_seed_exit *e)
{
	struct seed *r = record;
	/* the VMCS field as the hardware wrote it, bit 31 included */
	seed_init(r, e->reason | (e->entry_failure ? VMX_EXIT_ENTRY_FAILURE : 0));
	if (e->qualification)
		put(&r->page, VMCS_EXIT_QUALIFICATION, e->qualification);
	if (e->guest_phys)
		put(&r->page, VMCS_GUEST_PHYS_ADDR, e->guest_phys);
	if (e->instr_len)
		put(&r->page, VMCS_EXIT_INSTR_LEN, e->instr_len);
	if (e->insn)
		memcpy(r->guest + VMX_SEED_IP, e->insn, e->insn_len);
	return e->guest_page ? sizeof r->page + GUEST_PAGE : sizeof r->page;
}

int roof_exit_record_seeds_foc(roof_exit_record_emit emit, void *ctx)
{
	static struct seed r; /* 8 KiB: not on the stack */
	const struct vmx_seed_writer w = {VMX_SEED_REAL16, seed_write, &r,
					  emit, ctx};
	const struct vmx_seed_exit io = vmx_seed_exit(VMX_SEED_IO_OUT_1,
						      w.guest);
	const uint8_t *bytes = (const uint8_t *)&r;
	size_t page = sizeof r.page, tagged = page + GUEST_PAGE + 1;
	int n = 0;
#define EMIT(name, want, size) n += emit(ctx, name, want, bytes, size) == 0
	n += vmx_seed_exits_emit(&w, VMX_SEED_IO_OUT_1,
				 VMX_SEED_MMIO_NO_GUEST_MEMORY);
	seed_init(&r, VMX_EXIT_EXTERNAL_INTERRUPT);
	r.page.vcpu.sticky_flags = FOC_VCPU_SF_IRQ_PENDING;
	r.tag = 1;
	EMIT("recall", ROOF_EXIT_PAUSED, tagged);
	seed_init(&r, VMX_EXIT_EXTERNAL_INTERRUPT);
	EMIT("irq-exit-without-the-irq", ROOF_EXIT_BACKEND_ERROR, page);
	n += vmx_seed_exits_emit(&w, VMX_SEED_INVALID_GUEST_STATE,
				 VMX_SEED_EXCEPTION);
	seed_init(&r, 0x400); /* an SVM code on VMX */
	EMIT("svm-npf-on-vmx", ROOF_EXIT_BACKEND_ERROR, page);
	seed_write(&r, &io);
	memset(r.page.vmcs + FOC_VMCS_OFFSET_TABLE, 0xff, 32); /* bad table */
	EMIT("io-table-scribbled", ROOF_EXIT_BACKEND_ERROR, page);
	seed_write(&r, &io);
	EMIT("page-up-to-exit-reason", ROOF_EXIT_IO,
	     FOC_VCPU_OFFSET_EXT_STATE +
		     foc_vmcs_offset(r.page.vmcs, VMCS_EXIT_REASON) + 4);
#undef EMIT
	return n;
}
