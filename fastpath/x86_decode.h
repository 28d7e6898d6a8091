/*
 * x86_decode.h - decoding of the guest instructions a VMM must emulate
 * itself: the common mov forms behind an MMIO access (EPT violation) and
 * the port I/O instructions. Instruction formats: Intel SDM Vol. 2 (2.1
 * instruction format, 2.2.1 REX, Table 2-1/2-2 ModR/M, 2-3 SIB; MOV,
 * MOVZX, MOVSX, IN, OUT, INS, OUTS). Freestanding.
 */
#ifndef ROOF_X86_DECODE_H
#define ROOF_X86_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Execution mode, from cs and efer (x86_mode_of()). */
enum x86_mode { X86_MODE16 = 2, X86_MODE32 = 4, X86_MODE64 = 8 };

enum x86_kind {
	X86_MOV_STORE,  /* reg or imm -> memory */
	X86_MOV_LOAD,   /* memory -> reg (mov, movzx, movsx) */
	X86_IN,         /* in al/ax/eax, imm8 | dx */
	X86_OUT,        /* out imm8 | dx, al/ax/eax */
	X86_INS,        /* ins (string) */
	X86_OUTS,       /* outs (string) */
};

/* GPRs in x86 encoding order: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp,
 * 6 rsi, 7 rdi, 8..15 r8..r15. */
enum { X86_NO_REG = 0xff };
enum x86_seg { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS };

struct x86_insn {
	uint8_t len;       /* bytes, prefixes included */
	uint8_t kind;      /* enum x86_kind */
	uint8_t size;      /* bytes moved between memory/port and register */
	uint8_t reg_size;  /* destination register width (movzx/movsx: wider) */
	uint8_t reg;       /* register operand, or X86_NO_REG for an immediate */
	bool high8;        /* reg names ah/ch/dh/bh (bits 15:8 of reg-4) */
	bool sign_extend;  /* movsx */
	bool rep;          /* f2/f3 prefix on a string instruction */
	uint64_t imm;      /* immediate source (store) or port (in/out imm8) */
	bool port_in_dx;   /* in/out: port from dx */
	/* memory operand: linear = seg base + (base + index*scale + disp) */
	uint8_t base, index; /* X86_NO_REG if absent */
	uint8_t scale;
	bool rip_relative;   /* 64-bit mode disp32(rip): relative to next ip */
	uint8_t seg;         /* enum x86_seg, after overrides and defaults */
	uint8_t addr_size;   /* 2, 4 or 8 */
	int64_t disp;
};

/* Decode one instruction from `bytes` (avail bytes readable). Returns 0,
 * or -1 when it is not one of the supported forms or is truncated. */
int x86_decode(const uint8_t *bytes, unsigned avail, enum x86_mode mode,
	       struct x86_insn *out);

/* Mode of the guest from efer.LMA, cs.l and cs.db (AMD/NOVA ar bits 9,
 * 10) and cr0.PE. */
enum x86_mode x86_mode_of(uint64_t cr0, uint64_t efer, uint16_t cs_ar);

/* The memory operand's offset within its segment (truncated to the address
 * size); next_ip is the address of the following instruction. */
uint64_t x86_operand_offset(const struct x86_insn *i, const uint64_t gpr[16],
			    uint64_t next_ip);

/* Read register `reg` of width `size` (high8 for ah..bh). */
uint64_t x86_reg_read(const uint64_t gpr[16], uint8_t reg, uint8_t size,
		      bool high8);
/* Write a load's result into gpr[]: 8/16-bit writes keep the other bits,
 * 32-bit writes zero-extend in 64-bit mode, as the CPU does. */
void x86_reg_write(uint64_t gpr[16], uint8_t reg, uint8_t size, bool high8,
		   uint64_t value, enum x86_mode mode);
/* The value a load delivers to its register (zero/sign extension). */
uint64_t x86_load_value(const struct x86_insn *i, uint64_t mem_value);

#endif
