/*
 * kvm_exit_record.h - test-only: the KVM backend's exit classification fed
 * with a synthetic exit record instead of a kvm_run that KVM filled. Used
 * by the exit-decoding fuzzer (tests/fuzz/fuzz_exit.c, through the decoder
 * table in tests/fuzz/exit_decoders.h) and nothing else.
 *
 * Record layout (all of it is the kernel's own ABI, so it stays here):
 *   byte 0      the sync classes KVM filled at this exit (KVM_SYNC_X86_*
 *               bits: 1 regs, 2 sregs, 4 events); a class not filled is
 *               fetched by ioctl, which fails here (no vCPU fd), so the
 *               record also drives the error paths
 *   bytes 1..   the leading bytes of the vCPU's kvm_run mmap (struct
 *               kvm_run, then the pio data page), zero-padded to the x86
 *               mmap size of three pages
 * cpuid sites (KVM_EXIT_DEBUG at dr6 B0..B3 and one of these addresses ->
 * CPUID) are KVM_RECORD_CPUID_SITE0 and _SITE1; the cpuid table has leaf 0
 * and 0x40000000.
 */
#ifndef ROOF_KVM_EXIT_RECORD_H
#define ROOF_KVM_EXIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

#define KVM_RECORD_CPUID_SITE0 0x10008ull
#define KVM_RECORD_CPUID_SITE1 0xfffffffffffff000ull

/*
 * Classify the record as kvm_hw does after KVM_RUN, then complete it as
 * kvm_hw does before the next KVM_RUN (with the decoded info as the
 * handler's answer), and fetch what the record's fresh classes deliver.
 * Fills out->exit_reason, out->info, out->valid and those groups. Pointers
 * in out->info stay valid until the next call on this thread; io.buffer
 * lies in [*mem, *mem + *mem_size). Returns 0, or -1 when the bytes are too
 * short to hold an exit reason (or memory ran out).
 */
int roof_exit_record_decode_kvm(const uint8_t *data, size_t size,
				roof_state *out, const void **mem,
				size_t *mem_size);

/* Example records: emit(ctx, name, reason it must decode to, bytes) for
 * each; returns how many emit() accepted (returned 0). They are the seed
 * corpus of the fuzzer and the cases of tests/test_api_exit_records.c. */
typedef int (*roof_exit_record_emit)(void *ctx, const char *name,
				     roof_exit want, const uint8_t *data,
				     size_t size);
int roof_exit_record_seeds_kvm(roof_exit_record_emit emit, void *ctx);

#endif
