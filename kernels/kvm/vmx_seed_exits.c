/*
 * vmx_seed_exits.c - the VMX exits of the model kernels' example records
 * (vmx_seed_exits.h).
 */
#include "vmx_seed_exits.h"

#include "x86_arch.h"

#define MMIO_ADDRESS 0xfee00000u

enum insn { NO_INSN, LOAD, STORE, NOT_A_MOV };

static const struct row {
	const char *name; /* NULL: the mode's name for the access */
	roof_exit want;
	uint32_t reason;
	bool entry_failure;
	uint16_t port;      /* io: port, access size, direction, string */
	unsigned io_size;
	bool in, string;
	bool write;         /* EPT violation: the access is a write */
	enum insn insn;
	bool guest_page;
	unsigned instr_len;
} rows[VMX_SEED_COUNT] = {
	[VMX_SEED_IO_OUT_1] = {.name = "io-out-1", .want = ROOF_EXIT_IO,
			       .reason = VMX_EXIT_IO, .port = 0x10,
			       .io_size = 1},
	[VMX_SEED_IO_IN_4] = {.name = "io-in-4", .want = ROOF_EXIT_IO,
			      .reason = VMX_EXIT_IO, .port = 0x12,
			      .io_size = 4, .in = true},
	/* string io is refused by the decode */
	[VMX_SEED_IO_INS_STRING] = {.name = "io-ins-string",
				    .want = ROOF_EXIT_BACKEND_ERROR,
				    .reason = VMX_EXIT_IO, .port = 0x12,
				    .io_size = 2, .in = true, .string = true},
	[VMX_SEED_HLT] = {.name = "hlt", .want = ROOF_EXIT_HLT,
			  .reason = VMX_EXIT_HLT, .instr_len = 1},
	[VMX_SEED_RDMSR] = {.name = "rdmsr", .want = ROOF_EXIT_MSR_READ,
			    .reason = VMX_EXIT_RDMSR},
	[VMX_SEED_WRMSR] = {.name = "wrmsr", .want = ROOF_EXIT_MSR_WRITE,
			    .reason = VMX_EXIT_WRMSR},
	[VMX_SEED_CPUID] = {.name = "cpuid", .want = ROOF_EXIT_CPUID,
			    .reason = VMX_EXIT_CPUID},
	[VMX_SEED_MMIO_READ] = {.want = ROOF_EXIT_MMIO,
				.reason = VMX_EXIT_EPT_VIOLATION, .insn = LOAD,
				.guest_page = true},
	[VMX_SEED_MMIO_WRITE] = {.want = ROOF_EXIT_MMIO,
				 .reason = VMX_EXIT_EPT_VIOLATION,
				 .write = true, .insn = STORE,
				 .guest_page = true},
	[VMX_SEED_MMIO_DIRECTION_DIFFERS] = {.name = "mmio-direction-differs",
					     .want = ROOF_EXIT_BACKEND_ERROR,
					     .reason = VMX_EXIT_EPT_VIOLATION,
					     .write = true, .insn = LOAD,
					     .guest_page = true},
	[VMX_SEED_MMIO_NOT_A_MOV] = {.name = "mmio-not-a-mov",
				     .want = ROOF_EXIT_BACKEND_ERROR,
				     .reason = VMX_EXIT_EPT_VIOLATION,
				     .insn = NOT_A_MOV, .guest_page = true},
	[VMX_SEED_MMIO_NO_GUEST_MEMORY] = {.name = "mmio-no-guest-memory",
					   .want = ROOF_EXIT_BACKEND_ERROR,
					   .reason = VMX_EXIT_EPT_VIOLATION,
					   .insn = LOAD},
	[VMX_SEED_INVALID_GUEST_STATE] = {.name = "invalid-guest-state",
					  .want = ROOF_EXIT_INVALID_STATE,
					  .reason = VMX_EXIT_INVALID_GUEST_STATE,
					  .entry_failure = true},
	[VMX_SEED_TRIPLE_FAULT] = {.name = "triple-fault",
				   .want = ROOF_EXIT_SHUTDOWN,
				   .reason = VMX_EXIT_TRIPLE_FAULT},
	[VMX_SEED_IRQ_WINDOW] = {.name = "irq-window",
				 .want = ROOF_EXIT_IRQ_WINDOW,
				 .reason = VMX_EXIT_INTERRUPT_WINDOW},
	[VMX_SEED_EXCEPTION] = {.name = "exception", .want = ROOF_EXIT_DEBUG,
				.reason = VMX_EXIT_EXCEPTION_NMI},
};

/* The MMIO moves of each mode, through [bx] / [edi] / [rbx]. */
static const struct mode {
	const char *read, *write;
	uint8_t load[3], store[3];
	size_t len;
} modes[] = {
	[VMX_SEED_REAL16] = {"mmio-read-1", "mmio-write-1", {0x8a, 0x07},
			     {0x88, 0x07}, 2}, /* mov al, [bx]; mov [bx], al */
	[VMX_SEED_FLAT32] = {"mmio-read-4", "mmio-write-4", {0x8b, 0x07},
			     {0x89, 0x07}, 2}, /* mov eax, [edi]; mov [edi], eax */
	[VMX_SEED_LONG64] = {"mmio-read-8", "mmio-write-8", {0x48, 0x8b, 0x03},
			     {0x48, 0x89, 0x03}, 3}, /* mov rax, [rbx]; mov [rbx], rax */
};

static const uint8_t hlt_insn[] = {0xf4};

struct vmx_seed_exit vmx_seed_exit(enum vmx_seed_id id,
				   enum vmx_seed_guest guest)
{
	const struct row *r = &rows[id];
	const struct mode *m = &modes[guest];
	struct vmx_seed_exit e = {
		.name = r->name ? r->name : r->write ? m->write : m->read,
		.want = r->want,
		.reason = r->reason,
		.entry_failure = r->entry_failure,
		.instr_len = r->instr_len,
		.guest_page = r->guest_page,
	};
	if (r->reason == VMX_EXIT_IO)
		e.qualification = vmx_io_qualification(r->port, r->io_size,
						       r->in, r->string, 0);
	if (r->reason == VMX_EXIT_EPT_VIOLATION) {
		e.qualification = r->write ? VMX_EPTQ_WRITE : VMX_EPTQ_READ;
		e.guest_phys = MMIO_ADDRESS;
	}
	switch (r->insn) {
	case LOAD:
		e.insn = m->load;
		e.insn_len = m->len;
		break;
	case STORE:
		e.insn = m->store;
		e.insn_len = m->len;
		break;
	case NOT_A_MOV:
		e.insn = hlt_insn;
		e.insn_len = sizeof hlt_insn;
		break;
	case NO_INSN:
		break;
	}
	return e;
}

int vmx_seed_exit_emit(const struct vmx_seed_writer *w,
		       const struct vmx_seed_exit *e)
{
	size_t size = w->write(w->record, e);
	return w->emit(w->emit_ctx, e->name, e->want,
		       (const uint8_t *)w->record, size) == 0;
}

int vmx_seed_exits_emit(const struct vmx_seed_writer *w,
			enum vmx_seed_id first, enum vmx_seed_id last)
{
	int n = 0;
	for (unsigned id = first; id <= last; id++) {
		struct vmx_seed_exit e = vmx_seed_exit(id, w->guest);
		n += vmx_seed_exit_emit(w, &e);
	}
	return n;
}
