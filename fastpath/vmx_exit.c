/*
 * vmx_exit.c - see vmx_exit.h. Freestanding.
 */
#include "vmx_exit.h"
#include "x86_arch.h"

#define G_GPRS (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP | ROOF_G_R8_R15)

uint64_t vmx_exit_implicit(roof_exit reason)
{
	switch (reason) {
	case ROOF_EXIT_IO:
		/* rax (data), rdx, ip; efer + cs tell whether a 32-bit in
		 * zero-extends (64-bit mode) */
		return ROOF_G_ACDB | ROOF_G_EIP | ROOF_G_EFER | ROOF_G_CSSS;
	case ROOF_EXIT_MMIO:
		/* the decode: every address register, segments, mode, paging */
		return G_GPRS | ROOF_G_EIP | ROOF_G_ESDS | ROOF_G_FSGS |
		       ROOF_G_CSSS | ROOF_G_CR | ROOF_G_EFER;
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		return ROOF_G_ACDB | ROOF_G_EIP | ROOF_G_INJ;
	case ROOF_EXIT_CPUID:
		return ROOF_G_ACDB | ROOF_G_EIP;
	case ROOF_EXIT_HLT:
		return ROOF_G_EIP;
	default:
		return 0;
	}
}

roof_exit vmx_exit_unified(uint32_t r)
{
	if (r & VMX_EXIT_ENTRY_FAILURE)
		return ROOF_EXIT_INVALID_STATE;
	switch (r) {
	case ROOF_NATIVE_STARTUP: return ROOF_EXIT_STARTUP;
	case ROOF_NATIVE_RECALL: return ROOF_EXIT_PAUSED;
	case VMX_EXIT_IO: return ROOF_EXIT_IO;
	case VMX_EXIT_EPT_VIOLATION: return ROOF_EXIT_MMIO;
	case VMX_EXIT_HLT: return ROOF_EXIT_HLT;
	case VMX_EXIT_CPUID: return ROOF_EXIT_CPUID;
	case VMX_EXIT_RDMSR: return ROOF_EXIT_MSR_READ;
	case VMX_EXIT_WRMSR: return ROOF_EXIT_MSR_WRITE;
	case VMX_EXIT_TRIPLE_FAULT: return ROOF_EXIT_SHUTDOWN;
	case VMX_EXIT_INVALID_GUEST_STATE: return ROOF_EXIT_INVALID_STATE;
	case VMX_EXIT_INTERRUPT_WINDOW: return ROOF_EXIT_IRQ_WINDOW;
	case VMX_EXIT_EXCEPTION_NMI: return ROOF_EXIT_DEBUG;
	default: return ROOF_EXIT_BACKEND_ERROR;
	}
}

static uint64_t size_mask(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static uint64_t seg_base(roof_state *s, unsigned seg, enum x86_mode mode)
{
	if (mode == X86_MODE64 && seg != X86_FS && seg != X86_GS)
		return 0;
	switch (seg) {
	case X86_ES: return roof_get_es(s).base;
	case X86_CS: return roof_get_cs(s).base;
	case X86_SS: return roof_get_ss(s).base;
	case X86_DS: return roof_get_ds(s).base;
	case X86_FS: return roof_get_fs(s).base;
	default: return roof_get_gs(s).base;
	}
}

static int fail(roof_state *s, const char *why)
{
	s->exit_reason = ROOF_EXIT_BACKEND_ERROR;
	s->info.error = why;
	return -1;
}

static int decode_mmio(roof_state *s, const struct vmx_exit_record *r,
		       const struct vmx_exit_env *env, struct vmx_exit_ctx *ctx)
{
	enum x86_mode mode = x86_mode_of(roof_get_cr0(s), roof_get_efer(s),
					 roof_get_cs(s).ar);
	struct x86_paging pg = {roof_get_cr0(s), roof_get_cr3(s),
				roof_get_cr4(s), roof_get_efer(s), env->mem,
				env->ctx};
	uint8_t bytes[15];
	uint64_t ip = roof_get_ip(s);
	unsigned got = x86_read_linear(&pg, seg_base(s, X86_CS, mode) + ip, bytes,
				       sizeof bytes);
	struct x86_insn *i = &ctx->insn;
	if (!got || x86_decode(bytes, got, mode, i))
		return fail(s, "MMIO: the instruction at ip is not a supported "
			       "mov form");
	bool write = (r->qual & VMX_EPTQ_WRITE) != 0;
	if ((i->kind == X86_MOV_STORE) != write || i->kind > X86_MOV_LOAD)
		return fail(s, "MMIO: instruction direction differs from the "
			       "EPT violation's");
	ctx->mode = (uint8_t)mode;
	ctx->insn_valid = 1;
	struct roof_exit_mmio *m = &s->info.mmio;
	m->gpa = r->guest_phys;
	m->len = i->size;
	m->dir = write ? ROOF_DIR_WRITE : ROOF_DIR_READ;
	m->data = 0;
	if (write) {
		uint64_t v = i->reg == X86_NO_REG
				     ? i->imm
				     : roof_get_gpr(s, i->reg) >> (i->high8 ? 8 : 0);
		m->data = v & size_mask(i->size);
	}
	s->info.fault_gpa = r->guest_phys;
	return 0;
}

int vmx_exit_decode(roof_state *s, const struct vmx_exit_record *r,
		    const struct vmx_exit_env *env, struct vmx_exit_ctx *ctx)
{
	roof_exit reason = vmx_exit_unified(r->reason);
	s->exit_reason = reason;
	ctx->insn_valid = 0;
	ctx->insn_len = r->insn_len;
	ctx->mode = X86_MODE32;
	s->info.native = r->reason;
	switch (reason) {
	case ROOF_EXIT_IO: {
		struct roof_exit_io *io = &s->info.io;
		if (r->qual & (VMX_IOQ_STRING | VMX_IOQ_REP))
			return fail(s, "I/O: string instructions (ins/outs) are "
				       "not supported by the model clients");
		/* size of access: 0, 1 or 3 (SDM Vol. 3C, Table 28-5) */
		unsigned size_code = (unsigned)(r->qual & VMX_IOQ_SIZE_MASK);
		if (size_code == 2 || size_code > 3)
			return fail(s, "I/O: the exit qualification's access "
				       "size is not 1, 2 or 4 bytes");
		io->port = (uint16_t)(r->qual >> VMX_IOQ_PORT_SHIFT);
		io->size = (uint8_t)(size_code + 1);
		io->dir = (r->qual & VMX_IOQ_IN) ? ROOF_DIR_IN : ROOF_DIR_OUT;
		io->string = io->rep = 0;
		io->count = 1;
		io->buffer = 0;
		io->data = io->dir == ROOF_DIR_OUT
				   ? (uint32_t)(roof_get_ax(s) & size_mask(io->size))
				   : 0;
		/* 64-bit mode: a 32-bit in zero-extends rax */
		ctx->mode = (roof_get_efer(s) & (1u << 10)) &&
					    (roof_get_cs(s).ar & (1u << 9))
				    ? X86_MODE64
				    : X86_MODE32;
		return 0;
	}
	case ROOF_EXIT_MMIO:
		return decode_mmio(s, r, env, ctx);
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		s->info.msr.index = (uint32_t)roof_get_cx(s);
		s->info.msr.fault = 0;
		s->info.msr.value = reason == ROOF_EXIT_MSR_WRITE
					    ? (roof_get_dx(s) << 32) |
						      (roof_get_ax(s) & 0xffffffffull)
					    : 0;
		return 0;
	case ROOF_EXIT_CPUID: {
		struct roof_exit_cpuid *q = &s->info.cpuid;
		q->leaf = (uint32_t)roof_get_ax(s);
		q->subleaf = (uint32_t)roof_get_cx(s);
		uint32_t out[4] = {0, 0, 0, 0};
		if (env->cpuid)
			env->cpuid(env->ctx, q->leaf, q->subleaf, out);
		q->eax = out[0];
		q->ebx = out[1];
		q->ecx = out[2];
		q->edx = out[3];
		return 0;
	}
	case ROOF_EXIT_INVALID_STATE:
		if (!s->info.error)
			s->info.error = "VM entry failed: invalid guest state";
		return 0;
	case ROOF_EXIT_BACKEND_ERROR:
		return fail(s, "the kernel reported an exit reason the model "
			       "client does not know");
	default:
		return 0;
	}
}

static void advance(roof_state *s, uint64_t len)
{
	roof_set_ip(s, roof_get_ip(s) + len);
}

void vmx_exit_finish(roof_state *s, const struct vmx_exit_ctx *ctx)
{
	switch (s->exit_reason) {
	case ROOF_EXIT_IO: {
		const struct roof_exit_io *io = &s->info.io;
		if (io->dir == ROOF_DIR_IN) {
			uint64_t ax[16] = {roof_get_ax(s)};
			x86_reg_write(ax, 0, io->size, false, io->data,
				      (enum x86_mode)ctx->mode);
			roof_set_ax(s, ax[0]);
		}
		advance(s, ctx->insn_len);
		break;
	}
	case ROOF_EXIT_MMIO:
		if (!ctx->insn_valid)
			break;
		if (s->info.mmio.dir == ROOF_DIR_READ) {
			const struct x86_insn *i = &ctx->insn;
			uint64_t regs[16];
			regs[i->reg & 15u] = roof_get_gpr(s, i->reg);
			x86_reg_write(regs, i->reg, i->reg_size, i->high8,
				      x86_load_value(i, s->info.mmio.data),
				      (enum x86_mode)ctx->mode);
			roof_set_gpr(s, i->reg, regs[i->reg & 15u]);
		}
		advance(s, ctx->insn.len);
		break;
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		if (s->info.msr.fault) {
			/* #GP(0): valid, hardware exception, error code */
			roof_set_inj_info(s, (1u << 31) | (1u << 11) | (3u << 8) |
						     13u);
			roof_set_inj_error(s, 0);
			break;
		}
		if (s->exit_reason == ROOF_EXIT_MSR_READ) {
			roof_set_ax(s, s->info.msr.value & 0xffffffffull);
			roof_set_dx(s, s->info.msr.value >> 32);
		}
		advance(s, ctx->insn_len);
		break;
	case ROOF_EXIT_CPUID:
		roof_set_ax(s, s->info.cpuid.eax);
		roof_set_bx(s, s->info.cpuid.ebx);
		roof_set_cx(s, s->info.cpuid.ecx);
		roof_set_dx(s, s->info.cpuid.edx);
		advance(s, ctx->insn_len);
		break;
	default:
		break;
	}
}
