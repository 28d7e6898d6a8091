/*
 * vmx_seed_exits.h - test-only: the VMX exits the model kernels' exit-record
 * hooks (kernels/<k>/<k>_exit_record.c) all ship as seeds, stated as VMX
 * gives them (basic reason, qualification, the instruction at the guest's
 * ip) with the unified reason each must decode to. A kernel walks a range
 * of them with a callback that writes each into its own native record;
 * the record's layout stays with the kernel.
 */
#ifndef ROOF_VMX_SEED_EXITS_H
#define ROOF_VMX_SEED_EXITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

/* In the order every kernel emits them (the replay test's mutants follow
 * the order). */
enum vmx_seed_id {
	VMX_SEED_IO_OUT_1,
	VMX_SEED_IO_IN_4,
	VMX_SEED_IO_INS_STRING,
	VMX_SEED_HLT,
	VMX_SEED_RDMSR,
	VMX_SEED_WRMSR,
	VMX_SEED_CPUID,
	VMX_SEED_MMIO_READ,
	VMX_SEED_MMIO_WRITE,
	VMX_SEED_MMIO_DIRECTION_DIFFERS,
	VMX_SEED_MMIO_NOT_A_MOV,
	VMX_SEED_MMIO_NO_GUEST_MEMORY,
	VMX_SEED_INVALID_GUEST_STATE,
	VMX_SEED_TRIPLE_FAULT,
	VMX_SEED_IRQ_WINDOW,
	VMX_SEED_EXCEPTION,
	VMX_SEED_COUNT
};

/* The mode of the kernel's example vCPU: it picks the MMIO instructions
 * and the access width their names give. */
enum vmx_seed_guest { VMX_SEED_REAL16, VMX_SEED_FLAT32, VMX_SEED_LONG64 };

/* Every example vCPU runs at this ip; an EPT violation's instruction lies
 * there in guest page 0. */
#define VMX_SEED_IP 0x100u

struct vmx_seed_exit {
	const char *name;
	roof_exit want;         /* what the record must decode to */
	uint32_t reason;        /* VMX basic exit reason */
	bool entry_failure;     /* bit 31 of the exit-reason field */
	uint64_t qualification;
	uint64_t guest_phys;    /* EPT violation: the access's address */
	unsigned instr_len;     /* 0: the kernel's usual one */
	const uint8_t *insn;    /* EPT violation: the bytes at VMX_SEED_IP */
	size_t insn_len;
	bool guest_page;        /* the record carries guest page 0 */
};

struct vmx_seed_exit vmx_seed_exit(enum vmx_seed_id id,
				   enum vmx_seed_guest guest);

typedef int (*roof_exit_record_emit)(void *ctx, const char *name,
				     roof_exit want, const uint8_t *data,
				     size_t size);

/* A kernel's seed writer: write() fills `record` with e in the kernel's
 * native layout and returns how many of its leading bytes are the record. */
struct vmx_seed_writer {
	enum vmx_seed_guest guest;
	size_t (*write)(void *record, const struct vmx_seed_exit *e);
	void *record;
	roof_exit_record_emit emit;
	void *emit_ctx;
};

/* Write and emit e; returns 1 if emit() accepted it, else 0. */
int vmx_seed_exit_emit(const struct vmx_seed_writer *w,
		       const struct vmx_seed_exit *e);
/* The same for the exits first..last; returns how many were accepted. */
int vmx_seed_exits_emit(const struct vmx_seed_writer *w,
			enum vmx_seed_id first, enum vmx_seed_id last);

#endif
