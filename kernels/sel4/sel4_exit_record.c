/*
 * sel4_exit_record.c - test-only hook (tests/fuzz/exit_decoders.h): the
 * seL4 client's decoding of a VMEnter fault return given as bytes, and
 * example records.
 *
 * Record layout (seL4's ABI, so it stays here):
 *   bytes 0 .. 135      MR0..MR16 of the fault return (sel4_abi.h order)
 *   bytes 136 .. 647    optional: the VMCS the kernel answers ReadVMCS
 *                       from, 64 words in enum sel4_field order
 *                       (client/sel4_client.h); a record that ends before
 *                       a field has none: that ReadVMCS is refused
 *   bytes 648 ..        optional: guest-physical memory from 0 (16 KiB at
 *                       most), which the MMIO decode reads
 * The client runs with policy tuned, as on the vCPU thread after a fault
 * return whose MRs are the record: the exit's start and the real dispatch
 * with no handler registered (its implicit groups, the decode with the
 * reads it makes, the completion, the write-back, whose WriteVMCS the
 * record's kernel refuses).
 */
#include <stdlib.h>
#include <string.h>

#include "../kvm/vmx_seed_exits.h"
#include "client/sel4_client.h"
#include "x86_arch.h"

int roof_exit_record_decode_sel4(const uint8_t *data, size_t size,
				 roof_state *out, const void **mem,
				 size_t *mem_size);
int roof_exit_record_seeds_sel4(roof_exit_record_emit emit, void *ctx);

#define MR_BYTES (SEL4_VMENTER_NUM_FAULT_MSGS * 8)
#define VMCS_BYTES (SF_COUNT * 8)
#define GUEST_BYTES 0x4000u

struct record {
	sel4_word mr[SEL4_VMENTER_NUM_FAULT_MSGS];
	uint64_t vmcs[SF_COUNT];
	uint8_t guest[GUEST_BYTES];
};
_Static_assert(offsetof(struct record, vmcs) == MR_BYTES, "record layout");
_Static_assert(offsetof(struct record, guest) == MR_BYTES + VMCS_BYTES,
	       "record layout");

/* One decoder per thread of the fuzzer / replay test. */
static _Thread_local struct {
	struct record *r;
	const char *error;   /* the "kernel's" text */
	size_t vmcs_fields;  /* how many the record holds */
	size_t guest_bytes;
	struct sel4_ipc_buffer *ipc;
	struct sel4_client client;
	struct roof_vcpu v;
} rec;

static int field_index(sel4_word enc)
{
	for (unsigned f = 0; f < SF_COUNT; f++)
		if (sel4_field_encoding(f) == enc)
			return (int)f;
	return -1;
}

static int rec_vmenter(void *k, sel4_word *badge, bool *ran)
{
	(void)k;
	*badge = 0;
	*ran = true;
	memcpy(rec.ipc->msg, rec.r->mr, MR_BYTES);
	return SEL4_VMENTER_RESULT_FAULT;
}

static struct sel4_read_vmcs_result rec_read(void *k, sel4_word field)
{
	(void)k;
	int f = field_index(field);
	if (f < 0 || (size_t)f >= rec.vmcs_fields) {
		rec.error = "sel4 record: the field is not in the record's VMCS";
		return (struct sel4_read_vmcs_result){SEL4_ILLEGAL_OPERATION, 0};
	}
	return (struct sel4_read_vmcs_result){SEL4_NO_ERROR, rec.r->vmcs[f]};
}

static struct sel4_write_vmcs_result rec_write(void *k, sel4_word f, sel4_word v)
{
	(void)k;
	(void)f;
	(void)v;
	rec.error = "sel4 record: the record's VMCS takes no WriteVMCS";
	return (struct sel4_write_vmcs_result){SEL4_ILLEGAL_OPERATION, 0};
}

static int rec_write_registers(void *k, const struct sel4_vcpu_context *r)
{
	(void)k;
	(void)r;
	return SEL4_NO_ERROR;
}

static void rec_signal(void *k)
{
	(void)k;
}

static const void *rec_mem(void *k, uint64_t gpa, uint64_t len)
{
	(void)k;
	if (gpa >= rec.guest_bytes || len > rec.guest_bytes - gpa)
		return NULL;
	return rec.r->guest + gpa;
}

static void rec_cpuid(void *k, uint32_t l, uint32_t s, uint32_t out[4])
{
	(void)k;
	out[0] = l;
	out[1] = s;
	out[2] = out[3] = 0;
}

static uint64_t rec_timestamp(void *k)
{
	(void)k;
	return 0;
}

static const char *rec_error(void *k)
{
	(void)k;
	return rec.error;
}

static void rec_report(void *k, int err, const char *text)
{
	(void)k;
	(void)err;
	(void)text;
}

static const struct sel4_kernel_ops rec_ops = {
	rec_vmenter, rec_read, rec_write, rec_write_registers, rec_signal,
	rec_timestamp, rec_error, rec_report};

int roof_exit_record_decode_sel4(const uint8_t *data, size_t size,
				 roof_state *out, const void **mem,
				 size_t *mem_size)
{
	if (!data || size < MR_BYTES || !out)
		return -1;
	if (!rec.r && !(rec.r = malloc(sizeof *rec.r)))
		return -1;
	if (!rec.ipc && !(rec.ipc = aligned_alloc(sizeof *rec.ipc, sizeof *rec.ipc)))
		return -1;
	size_t n = size < sizeof *rec.r ? size : sizeof *rec.r;
	memset(rec.r, 0, sizeof *rec.r);
	memcpy(rec.r, data, n);
	rec.vmcs_fields = n > MR_BYTES ? (n - MR_BYTES) / 8 : 0;
	if (rec.vmcs_fields > SF_COUNT)
		rec.vmcs_fields = SF_COUNT;
	rec.guest_bytes = n > MR_BYTES + VMCS_BYTES ? n - MR_BYTES - VMCS_BYTES : 0;
	memset(rec.ipc, 0, sizeof *rec.ipc);
	memset(&rec.v, 0, sizeof rec.v);
	rec.error = "sel4 record: the VM entry failed (a record carries no "
		    "kernel text)";
	roof_core_init(&rec.v, out, 0, &sel4_client_hot, &rec.client, NULL, NULL);
	struct vmx_exit_env env = {rec_mem, rec_cpuid, NULL};
	if (sel4_client_init(&rec.client, &rec.v, SEL4_POLICY_TUNED, &rec_ops,
			     NULL, &env, rec.ipc))
		return -1;
	rec.client.masks_written = true; /* nothing to write into a record */
	rec.client.entry_set = 7;
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		rec.v.implicit[e] = sel4_client_implicit(SEL4_POLICY_TUNED,
							 (roof_exit)e);
	/* the vCPU thread's trip (sel4_backend.c): VMEnter, the exit of its
	 * fault return (or the failure), the dispatch */
	int r = sel4_client_enter(&rec.client);
	sel4_client_begin_exit(&rec.client, r == SEL4_RETURN_FAULT
						    ? vmx_exit_unified(rec.client.native)
						    : ROOF_EXIT_BACKEND_ERROR);
	if (r != SEL4_RETURN_FAULT)
		out->info.error = "sel4 record: VMEnter did not return a fault";
	roof_dispatch_exit(&rec.v);
	if (mem)
		*mem = rec.r;
	if (mem_size)
		*mem_size = sizeof *rec.r;
	return 0;
}

/* ---- example records ---------------------------------------------------------- */
/* A 64-bit guest: identity-mapped 2 MiB page (PML4 0x1000, PDPT 0x2000,
 * PD 0x3000), code at VMX_SEED_IP, cr0/cr4 as Genode's masks leave them. */
static void seed_init(struct record *r, uint32_t reason, uint64_t qual)
{
	memset(r, 0, sizeof *r);
	r->mr[SEL4_VMENTER_CALL_EIP_MR] = VMX_SEED_IP;
	r->mr[SEL4_VMENTER_CALL_CONTROL_PPC_MR] = 0x92000080;
	r->mr[SEL4_VMENTER_FAULT_REASON_MR] = reason;
	r->mr[SEL4_VMENTER_FAULT_QUALIFICATION_MR] = qual;
	r->mr[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR] = 2;
	r->mr[SEL4_VMENTER_FAULT_RFLAGS_MR] = 2;
	r->mr[SEL4_VMENTER_FAULT_CR3_MR] = 0x1000;
	for (unsigned i = 0; i < 7; i++)
		r->mr[SEL4_VMENTER_FAULT_EAX + i] = 0x0101010101010101ull * (i + 1);
	r->mr[SEL4_VMENTER_FAULT_ECX] = 0x4b564d00u;
	r->vmcs[SF_CR0] = 0x80050031;
	r->vmcs[SF_CR0_SHADOW] = 0x80050033;
	r->vmcs[SF_CR0_MASK] = SEL4_GENODE_CR0_MASK;
	r->vmcs[SF_CR4] = 0x2620;
	r->vmcs[SF_CR4_SHADOW] = 0x620;
	r->vmcs[SF_CR4_MASK] = SEL4_GENODE_CR4_MASK;
	r->vmcs[SF_EFER] = 0x500;
	r->vmcs[SF_SEG + 4 * 1 + SF_PART_AR] = 0xa09b; /* cs: L */
	uint64_t pt[3] = {0x2003, 0x3003, 0x83};
	for (unsigned i = 0; i < 3; i++)
		memcpy(r->guest + 0x1000 * (i + 1), &pt[i], sizeof pt[i]);
}

/* The exit e in the MRs; io and EPT violations carry the VMCS the
 * decode reads, an MMIO instruction's record the guest memory too. */
static size_t seed_write(void *record, const struct vmx_seed_exit *e)
{
	struct record *r = record;
	/* seL4 reports a failed entry apart (entry-failed below): the
	 * fault reason MR holds the basic reason */
	seed_init(r, e->reason, e->qualification);
	if (e->guest_phys)
		r->mr[SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR] = e->guest_phys;
	if (e->instr_len)
		r->mr[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR] = e->instr_len;
	if (e->reason == VMX_EXIT_EPT_VIOLATION)
		r->mr[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR] = 0;
	if (e->insn)
		memcpy(r->guest + VMX_SEED_IP, e->insn, e->insn_len);
	if (e->guest_page)
		return sizeof *r;
	return e->reason == VMX_EXIT_IO || e->reason == VMX_EXIT_EPT_VIOLATION
		       ? MR_BYTES + VMCS_BYTES
		       : MR_BYTES;
}

int roof_exit_record_seeds_sel4(roof_exit_record_emit emit, void *ctx)
{
	static struct record r; /* 16.6 KiB: not on the stack */
	const struct vmx_seed_writer w = {VMX_SEED_LONG64, seed_write, &r,
					  emit, ctx};
	const uint8_t *bytes = (const uint8_t *)&r;
	size_t mrs = MR_BYTES;
	int n = 0;
#define EMIT(name, want, size) n += emit(ctx, name, want, bytes, size) == 0
	struct vmx_seed_exit e = vmx_seed_exit(VMX_SEED_IO_OUT_1, w.guest);
	e.qualification |= VMX_IOQ_IMM; /* the port an immediate: out 0x10, al */
	n += vmx_seed_exit_emit(&w, &e);
	EMIT("io-out-no-vmcs", ROOF_EXIT_BACKEND_ERROR, mrs);
	n += vmx_seed_exits_emit(&w, VMX_SEED_IO_IN_4, VMX_SEED_IO_IN_4);
	e = vmx_seed_exit(VMX_SEED_IO_INS_STRING, w.guest);
	e.name = "io-rep-ins";
	e.qualification |= VMX_IOQ_REP;
	n += vmx_seed_exit_emit(&w, &e);
	n += vmx_seed_exits_emit(&w, VMX_SEED_HLT, VMX_SEED_MMIO_WRITE);
	static const uint8_t store_r8[] = {0x4c, 0x89, 0x03}; /* mov [rbx], r8 */
	static const uint8_t load_rsp[] = {0x48, 0x8b, 0x23}; /* mov rsp, [rbx] */
	e = vmx_seed_exit(VMX_SEED_MMIO_WRITE, w.guest);
	e.name = "mmio-write-r8";
	e.want = ROOF_EXIT_BACKEND_ERROR;
	e.insn = store_r8;
	e.insn_len = sizeof store_r8;
	n += vmx_seed_exit_emit(&w, &e);
	e = vmx_seed_exit(VMX_SEED_MMIO_READ, w.guest);
	e.name = "mmio-read-rsp";
	e.insn = load_rsp;
	e.insn_len = sizeof load_rsp;
	seed_write(&r, &e);
	r.vmcs[SF_RSP] = 0x7000;
	EMIT(e.name, e.want, sizeof r);
	n += vmx_seed_exits_emit(&w, VMX_SEED_MMIO_DIRECTION_DIFFERS,
				 VMX_SEED_INVALID_GUEST_STATE);
	seed_init(&r, SEL4_FAULT_REASON_NONE, ~0ull);
	EMIT("entry-failed", ROOF_EXIT_INVALID_STATE, mrs);
	n += vmx_seed_exits_emit(&w, VMX_SEED_TRIPLE_FAULT, VMX_SEED_EXCEPTION);
	seed_init(&r, 99, 0);
	EMIT("unknown-reason", ROOF_EXIT_BACKEND_ERROR, mrs);
#undef EMIT
	return n;
}
