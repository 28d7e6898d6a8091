/*
 * hw_exit_record.c - test-only hook: the hw client's decoding of a Vcpu_state
 * page given as bytes (hw_exit_record.h), and example pages.
 */
#include <stdlib.h>
#include <string.h>

#include "../kvm/vmx_model.h"
#include "../kvm/vmx_seed_exits.h"
#include "client/hw_client.h"
#include "hw_exit_record.h"
#include "x86_arch.h"

#define GUEST_PAGE VMX_MODEL_RECORD_GUEST

/* One decoder instance per thread of the fuzzer / replay test. */
static _Thread_local struct {
	struct hw_vcpu_state *page;
	uint8_t *guest;
	struct hw_client client;
	struct roof_vcpu v;
} rec;

/* The "kernel" behind a record: the page is what vcpu_pause stored; it
 * cannot store anything more. */
static void rec_ack(void *k)
{
	(void)k;
}

static int rec_pause(void *k, uint64_t groups)
{
	(void)k;
	return groups ? ROOF_EKERNEL : ROOF_OK;
}

static int rec_run(void *k)
{
	(void)k;
	return ROOF_EKERNEL;
}

static int rec_config(void *k, const uint64_t table[256])
{
	(void)k;
	(void)table;
	return ROOF_ENOSYS;
}

static const char *rec_error(void *k)
{
	(void)k;
	return "hw record: the kernel stored no more than the page holds";
}

static void rec_report(void *k, int err, const char *msg)
{
	(void)k;
	(void)err;
	(void)msg;
}

static const struct hw_syscalls rec_sys = {
	rec_ack, rec_pause, rec_run, rec_config, rec_error, rec_report,
};

int roof_exit_record_decode_hw(const uint8_t *data, size_t size,
			       roof_state *out, const void **mem,
			       size_t *mem_size)
{
	size_t need = offsetof(struct hw_vcpu_state, exit_reason) +
		      sizeof(unsigned);
	if (!data || size < need || !out)
		return -1;
	if (!rec.page && !(rec.page = aligned_alloc(64, sizeof *rec.page)))
		return -1;
	if (!rec.guest && !(rec.guest = malloc(GUEST_PAGE)))
		return -1;
	if (hw_client_init(&rec.client, rec.page, &rec_sys, NULL,
			   vmx_model_record_exit_env(rec.guest), true))
		return -1;
	vmx_model_record_split(data, size, rec.page, sizeof *rec.page, rec.guest);
	hw_vcpu_state_sanitize(rec.page);
	memset(&rec.v, 0, sizeof rec.v);
	roof_core_init(&rec.v, out, 0, &hw_client_hot, &rec.client, NULL, NULL);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		rec.v.implicit[e] = hw_client_implicit((roof_exit)e);
	/* as on the handler thread after an exit signal (hw_backend.c): ack,
	 * pause (the page), begin the exit, the dispatch */
	hw_client_begin_exit(&rec.v, ROOF_EXIT_COUNT);
	roof_dispatch_exit(&rec.v);
	if (mem)
		*mem = rec.page;
	if (mem_size)
		*mem_size = sizeof *rec.page;
	return 0;
}

/* ---- example pages ------------------------------------------------------------ */
struct seed {
	struct hw_vcpu_state page; /* the record starts here */
	uint8_t guest[GUEST_PAGE];
};

/* A full store (policy genode) of a real-mode vCPU at VMX_SEED_IP. */
static void seed_init(struct seed *r, uint32_t reason)
{
	roof_state *s = aligned_alloc(64, sizeof *s);
	struct roof_transfer_plan plan;
	memset(r, 0, sizeof *r);
	if (!s || hw_vcpu_state_plan_init(&plan)) {
		free(s);
		return;
	}
	memset(s, 0, sizeof *s);
	struct roof_segment data = {0, 0x93, 0xffff, 0};
	s->es = s->ds = s->fs = s->gs = s->ss = s->cs = data;
	s->tr = (struct roof_segment){0, 0x8b, 0xffff, 0};
	s->ldtr = (struct roof_segment){0, 0x1000, 0xffff, 0};
	s->cr0 = 0x10;
	s->flags = 2;
	s->ip = VMX_SEED_IP;
	s->ip_len = 2;
	s->ax = 0x11223344;
	s->bx = 0x200;
	s->cx = 0x4b564d00u;
	s->fpu_size = HW_FPU_CONTEXT_SIZE;
	hw_state_to_page(&plan, &r->page, s, HW_GROUPS, 0);
	r->page.exit_reason = reason;
	free(s);
}

/* The exit e in the page; the guest page follows it. */
static size_t seed_write(void *record, const struct vmx_seed_exit *e)
{
	struct seed *r = record;
	seed_init(r, e->reason); /* the basic reason (hw_vcpu_state.h) */
	if (e->qualification)
		r->page.qual_primary.value = e->qualification;
	if (e->guest_phys)
		r->page.qual_secondary.value = e->guest_phys;
	if (e->instr_len)
		r->page.ip_len.value = e->instr_len;
	if (e->reason == VMX_EXIT_EPT_VIOLATION)
		r->page.ip_len.value = 0; /* not defined for EPT violations */
	if (e->insn)
		memcpy(r->guest + VMX_SEED_IP, e->insn, e->insn_len);
	return e->guest_page ? sizeof *r : sizeof r->page;
}

int roof_exit_record_seeds_hw(roof_exit_record_emit emit, void *ctx)
{
	static struct seed r; /* 7.7 KiB: not on the stack */
	const struct vmx_seed_writer w = {VMX_SEED_REAL16, seed_write, &r,
					  emit, ctx};
	const struct vmx_seed_exit io = vmx_seed_exit(VMX_SEED_IO_OUT_1,
						      w.guest);
	const uint8_t *bytes = (const uint8_t *)&r;
	size_t page = sizeof r.page;
	int n = 0;
#define EMIT(name, want, size) n += emit(ctx, name, want, bytes, size) == 0
	n += vmx_seed_exits_emit(&w, VMX_SEED_IO_OUT_1, VMX_SEED_IO_INS_STRING);
	seed_write(&r, &io);
	r.page.qual_primary.charged = false; /* a store without the QUAL */
	EMIT("io-qual-not-stored", ROOF_EXIT_BACKEND_ERROR, page);
	n += vmx_seed_exits_emit(&w, VMX_SEED_HLT,
				 VMX_SEED_MMIO_NO_GUEST_MEMORY);
	seed_init(&r, HW_EXIT_STARTUP);
	EMIT("startup", ROOF_EXIT_STARTUP, page);
	seed_init(&r, HW_EXIT_PAUSED);
	EMIT("paused", ROOF_EXIT_PAUSED, page);
	n += vmx_seed_exits_emit(&w, VMX_SEED_INVALID_GUEST_STATE,
				 VMX_SEED_EXCEPTION);
	seed_init(&r, HW_EXIT_NPF);
	EMIT("svm-npf-on-vmx", ROOF_EXIT_BACKEND_ERROR, page);
	seed_init(&r, VMX_EXIT_IO);
	EMIT("page-up-to-exit-reason", ROOF_EXIT_IO,
	     offsetof(struct hw_vcpu_state, exit_reason) + sizeof(unsigned));
#undef EMIT
	return n;
}
