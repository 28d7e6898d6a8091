/*
 * x86_decode.c - see x86_decode.h. Freestanding.
 */
#include "x86_decode.h"

#define REX_W 8u
#define REX_R 4u
#define REX_X 2u
#define REX_B 1u

enum x86_mode x86_mode_of(uint64_t cr0, uint64_t efer, uint16_t cs_ar)
{
	if (!(cr0 & 1u))
		return X86_MODE16;        /* real mode */
	if ((efer & (1u << 10)) && (cs_ar & (1u << 9)))
		return X86_MODE64;        /* LMA and cs.L */
	return (cs_ar & (1u << 10)) ? X86_MODE32 : X86_MODE16;
}

struct cursor {
	const uint8_t *p;
	unsigned avail, pos;
	bool bad;
};

static uint64_t take(struct cursor *c, unsigned n)
{
	uint64_t v = 0;
	if (c->pos + n > c->avail || n > 8) {
		c->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[c->pos + i] << (8 * i);
	c->pos += n;
	return v;
}

static int64_t sign_extend(uint64_t v, unsigned bytes)
{
	unsigned shift = 64 - 8 * bytes;
	return (int64_t)(v << shift) >> shift;
}

/* ModR/M (+ SIB, displacement): fills the memory operand and returns the
 * reg field (REX.R applied). Register-direct forms are refused: they touch
 * no memory. */
static int decode_modrm(struct cursor *c, struct x86_insn *i, unsigned rex,
			int seg_override, enum x86_mode mode)
{
	uint8_t modrm = (uint8_t)take(c, 1);
	unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7u, rm = modrm & 7u;
	if (c->bad || mod == 3)
		return -1;
	i->base = i->index = X86_NO_REG;
	i->scale = 1;
	i->disp = 0;
	i->rip_relative = false;
	uint8_t seg = X86_DS;
	if (i->addr_size == 2) {
		/* SDM Vol. 2 Table 2-1: bx+si bx+di bp+si bp+di si di bp bx */
		static const uint8_t b16[8] = {3, 3, 5, 5, 6, 7, 5, 3};
		static const uint8_t x16[8] = {6, 7, 6, 7, X86_NO_REG,
					       X86_NO_REG, X86_NO_REG,
					       X86_NO_REG};
		if (mod == 0 && rm == 6) {
			i->disp = (int64_t)take(c, 2);
		} else {
			i->base = b16[rm];
			i->index = x16[rm];
			if (rm == 2 || rm == 3 || rm == 6)
				seg = X86_SS;
			if (mod == 1)
				i->disp = sign_extend(take(c, 1), 1);
			else if (mod == 2)
				i->disp = sign_extend(take(c, 2), 2);
		}
	} else {
		/* SDM Vol. 2 Tables 2-2, 2-3 */
		if (rm == 4) {
			uint8_t sib = (uint8_t)take(c, 1);
			unsigned ss = sib >> 6, idx = (sib >> 3) & 7u, b = sib & 7u;
			idx |= (rex & REX_X) ? 8u : 0u;
			if (idx != 4)
				i->index = (uint8_t)idx;
			i->scale = (uint8_t)(1u << ss);
			if (b == 5 && mod == 0) {
				i->disp = sign_extend(take(c, 4), 4);
			} else {
				i->base = (uint8_t)(b | ((rex & REX_B) ? 8u : 0u));
				if (mod == 1)
					i->disp = sign_extend(take(c, 1), 1);
				else if (mod == 2)
					i->disp = sign_extend(take(c, 4), 4);
			}
		} else if (rm == 5 && mod == 0) {
			i->disp = sign_extend(take(c, 4), 4);
			i->rip_relative = mode == X86_MODE64;
		} else {
			i->base = (uint8_t)(rm | ((rex & REX_B) ? 8u : 0u));
			if (mod == 1)
				i->disp = sign_extend(take(c, 1), 1);
			else if (mod == 2)
				i->disp = sign_extend(take(c, 4), 4);
		}
		if (i->base == 4 || i->base == 5)
			seg = X86_SS; /* rsp/rbp based (not r12/r13) */
	}
	i->seg = seg_override >= 0 ? (uint8_t)seg_override : seg;
	if (c->bad)
		return -1;
	return (int)(reg | ((rex & REX_R) ? 8u : 0u));
}

static void set_reg(struct x86_insn *i, unsigned reg, unsigned size,
		    unsigned rex_present)
{
	i->reg = (uint8_t)reg;
	i->high8 = false;
	if (size == 1 && !rex_present && reg >= 4 && reg < 8) {
		i->reg = (uint8_t)(reg - 4);
		i->high8 = true; /* ah ch dh bh */
	}
}

int x86_decode(const uint8_t *bytes, unsigned avail, enum x86_mode mode,
	       struct x86_insn *out)
{
	struct cursor c = {bytes, avail > 15 ? 15 : avail, 0, false};
	struct x86_insn i = {0};
	bool opsize = false, addrsize = false, rep = false;
	int seg_override = -1;
	unsigned rex = 0;
	uint8_t op;
	/* legacy prefixes, then REX (64-bit mode only, directly before the
	 * opcode: a REX followed by a legacy prefix is ignored) */
	for (;;) {
		op = (uint8_t)take(&c, 1);
		if (c.bad)
			return -1;
		switch (op) {
		case 0x66: opsize = true; rex = 0; continue;
		case 0x67: addrsize = true; rex = 0; continue;
		case 0x26: seg_override = X86_ES; rex = 0; continue;
		case 0x2e: seg_override = X86_CS; rex = 0; continue;
		case 0x36: seg_override = X86_SS; rex = 0; continue;
		case 0x3e: seg_override = X86_DS; rex = 0; continue;
		case 0x64: seg_override = X86_FS; rex = 0; continue;
		case 0x65: seg_override = X86_GS; rex = 0; continue;
		case 0xf0: rex = 0; continue;             /* lock */
		case 0xf2: case 0xf3: rep = true; rex = 0; continue;
		default: break;
		}
		if (mode == X86_MODE64 && (op & 0xf0) == 0x40) {
			rex = op;
			continue;
		}
		break;
	}
	bool rex_present = rex != 0;
	unsigned opsz = mode == X86_MODE16 ? 2 : 4;
	if (opsize)
		opsz = mode == X86_MODE16 ? 4 : 2;
	if (rex & REX_W)
		opsz = 8;
	i.addr_size = (uint8_t)(mode == X86_MODE64 ? (addrsize ? 4 : 8)
				: mode == X86_MODE32 ? (addrsize ? 2 : 4)
						     : (addrsize ? 4 : 2));
	i.rep = rep;
	i.base = i.index = X86_NO_REG;
	int reg;
	switch (op) {
	case 0x88: case 0x89: /* mov r/m, r */
	case 0x8a: case 0x8b: /* mov r, r/m */
		i.size = (uint8_t)((op & 1) ? opsz : 1);
		i.reg_size = i.size;
		i.kind = (op & 2) ? X86_MOV_LOAD : X86_MOV_STORE;
		reg = decode_modrm(&c, &i, rex, seg_override, mode);
		if (reg < 0)
			return -1;
		set_reg(&i, (unsigned)reg, i.size, rex_present);
		break;
	case 0xc6: case 0xc7: /* mov r/m, imm */
		i.size = (uint8_t)(op == 0xc6 ? 1 : opsz);
		i.reg_size = i.size;
		i.kind = X86_MOV_STORE;
		reg = decode_modrm(&c, &i, rex, seg_override, mode);
		if (reg < 0 || (reg & 7) != 0)
			return -1;
		i.reg = X86_NO_REG;
		{
			unsigned n = i.size > 4 ? 4 : i.size;
			i.imm = (uint64_t)sign_extend(take(&c, n), n);
			if (i.size < 8)
				i.imm &= (1ull << (8 * i.size)) - 1;
		}
		break;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3: /* mov al/ax.., moffs */
		i.size = (uint8_t)((op & 1) ? opsz : 1);
		i.reg_size = i.size;
		i.kind = (op & 2) ? X86_MOV_STORE : X86_MOV_LOAD;
		i.reg = 0;
		i.seg = seg_override >= 0 ? (uint8_t)seg_override : X86_DS;
		i.disp = (int64_t)take(&c, i.addr_size);
		break;
	case 0x0f: {
		uint8_t op2 = (uint8_t)take(&c, 1);
		if (op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf)
			return -1;
		i.size = (uint8_t)((op2 & 1) ? 2 : 1);
		i.reg_size = (uint8_t)opsz;
		i.sign_extend = op2 >= 0xbe;
		i.kind = X86_MOV_LOAD;
		reg = decode_modrm(&c, &i, rex, seg_override, mode);
		if (reg < 0)
			return -1;
		set_reg(&i, (unsigned)reg, i.reg_size, rex_present);
		break;
	}
	case 0xe4: case 0xe5: case 0xe6: case 0xe7: /* in/out imm8 */
		i.kind = (op & 2) ? X86_OUT : X86_IN;
		i.size = (uint8_t)((op & 1) ? (opsz == 2 ? 2 : 4) : 1);
		i.reg_size = i.size;
		i.reg = 0;
		i.imm = take(&c, 1);
		break;
	case 0xec: case 0xed: case 0xee: case 0xef: /* in/out dx */
		i.kind = (op & 2) ? X86_OUT : X86_IN;
		i.size = (uint8_t)((op & 1) ? (opsz == 2 ? 2 : 4) : 1);
		i.reg_size = i.size;
		i.reg = 0;
		i.port_in_dx = true;
		break;
	case 0x6c: case 0x6d: case 0x6e: case 0x6f: /* ins/outs */
		i.kind = (op & 2) ? X86_OUTS : X86_INS;
		i.size = (uint8_t)((op & 1) ? (opsz == 2 ? 2 : 4) : 1);
		i.reg_size = i.size;
		i.reg = X86_NO_REG;
		i.port_in_dx = true;
		/* outs reads ds:rsi (overridable), ins writes es:rdi */
		i.seg = i.kind == X86_OUTS && seg_override >= 0
				? (uint8_t)seg_override
				: (i.kind == X86_OUTS ? X86_DS : X86_ES);
		i.base = i.kind == X86_OUTS ? 6 : 7;
		break;
	default:
		return -1;
	}
	if (c.bad)
		return -1;
	i.len = (uint8_t)c.pos;
	*out = i;
	return 0;
}

uint64_t x86_operand_offset(const struct x86_insn *i, const uint64_t gpr[16],
			    uint64_t next_ip)
{
	uint64_t a = (uint64_t)i->disp;
	if (i->rip_relative)
		a += next_ip;
	if (i->base != X86_NO_REG)
		a += gpr[i->base & 15u];
	if (i->index != X86_NO_REG)
		a += gpr[i->index & 15u] * i->scale;
	if (i->addr_size < 8)
		a &= (1ull << (8 * i->addr_size)) - 1;
	return a;
}

uint64_t x86_reg_read(const uint64_t gpr[16], uint8_t reg, uint8_t size,
		      bool high8)
{
	uint64_t v = gpr[reg & 15u];
	if (high8)
		return (v >> 8) & 0xffu;
	return size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
}

void x86_reg_write(uint64_t gpr[16], uint8_t reg, uint8_t size, bool high8,
		   uint64_t value, enum x86_mode mode)
{
	uint64_t *r = &gpr[reg & 15u];
	if (high8) {
		*r = (*r & ~0xff00ull) | ((value & 0xffu) << 8);
	} else if (size == 1) {
		*r = (*r & ~0xffull) | (value & 0xffu);
	} else if (size == 2) {
		*r = (*r & ~0xffffull) | (value & 0xffffu);
	} else if (size == 4) {
		if (mode == X86_MODE64)
			*r = value & 0xffffffffull;
		else
			*r = (*r & ~0xffffffffull) | (value & 0xffffffffull);
	} else {
		*r = value;
	}
}

uint64_t x86_load_value(const struct x86_insn *i, uint64_t mem_value)
{
	if (i->size < 8)
		mem_value &= (1ull << (8 * i->size)) - 1;
	if (i->sign_extend)
		mem_value = (uint64_t)sign_extend(mem_value, i->size);
	if (i->reg_size < 8)
		mem_value &= (1ull << (8 * i->reg_size)) - 1;
	return mem_value;
}
