/*
 * exit_decoders.h - the table of native exit-record decoders, one row per
 * backend, for the exit-decoding fuzzer (tests/fuzz/fuzz_exit.c), the seed
 * writer (tests/fuzz/write_seeds.c) and the replay test
 * (tests/test_api_exit_records.c). Header-only (see tests/soak/rig.h).
 *
 * THE HOOK. A backend whose exits come as native records (kvm_run for KVM;
 * the UTCB + MTD for NOVA, message registers for seL4, the vCPU state page
 * for Fiasco.OC, the shared state page for hw) adds its decoder by defining,
 * in kernels/<k>/ (the only place that knows k's ABI), two functions:
 *
 *   int roof_exit_record_decode_<k>(const uint8_t *data, size_t size,
 *                                   roof_state *out, const void **mem,
 *                                   size_t *mem_size);
 *     Build the native record from the bytes (any layout the backend
 *     documents), run the backend's own decoding of it into out
 *     (exit_reason, info, valid groups) and, where the backend completes
 *     exits, its completion. Pointers it leaves in out->info must stay
 *     valid until the next call and io.buffer must lie in
 *     [*mem, *mem + *mem_size). Return 0, or -1 if the bytes cannot be a
 *     record at all (too short).
 *
 *   int roof_exit_record_seeds_<k>(roof_exit_record_emit emit, void *ctx);
 *     Call emit(ctx, name, reason, bytes, size) for example records, good
 *     and malformed, each with the unified reason it must decode to.
 *
 * KVM's are in kernels/kvm/kvm_exit_record.h. The rows below name the
 * five backends of fastpath/host/backends.c; the functions are weak, so a
 * kernel that has not added its decoder yet shows as "no decoder" (make
 * fuzz says so, and the replay test skips it with that message). A backend
 * with a new name gets a row here.
 */
#ifndef ROOF_EXIT_DECODERS_H
#define ROOF_EXIT_DECODERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "roof_state.h"

typedef int (*roof_exit_record_emit)(void *ctx, const char *name,
				     roof_exit want, const uint8_t *data,
				     size_t size);
typedef int (*roof_exit_record_decode_fn)(const uint8_t *data, size_t size,
					  roof_state *out, const void **mem,
					  size_t *mem_size);
typedef int (*roof_exit_record_seeds_fn)(roof_exit_record_emit emit,
					 void *ctx);

#define ROOF_EXIT_RECORD_HOOKS(k)                                             \
	int roof_exit_record_decode_##k(const uint8_t *, size_t, roof_state *, \
					const void **, size_t *)              \
		__attribute__((weak));                                        \
	int roof_exit_record_seeds_##k(roof_exit_record_emit, void *)         \
		__attribute__((weak));
ROOF_EXIT_RECORD_HOOKS(kvm)
ROOF_EXIT_RECORD_HOOKS(nova)
ROOF_EXIT_RECORD_HOOKS(sel4)
ROOF_EXIT_RECORD_HOOKS(foc)
ROOF_EXIT_RECORD_HOOKS(hw)
#undef ROOF_EXIT_RECORD_HOOKS

struct roof_exit_decoder {
	const char *kernel;
	roof_exit_record_decode_fn decode; /* NULL: not added yet */
	roof_exit_record_seeds_fn seeds;
};

/* The row of `kernel`, with NULL functions where it has none. */
static inline struct roof_exit_decoder roof_exit_decoder_of(const char *kernel)
{
	const struct roof_exit_decoder rows[] = {
		{"kvm", roof_exit_record_decode_kvm, roof_exit_record_seeds_kvm},
		{"nova", roof_exit_record_decode_nova, roof_exit_record_seeds_nova},
		{"sel4", roof_exit_record_decode_sel4, roof_exit_record_seeds_sel4},
		{"foc", roof_exit_record_decode_foc, roof_exit_record_seeds_foc},
		{"hw", roof_exit_record_decode_hw, roof_exit_record_seeds_hw},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (kernel && strcmp(rows[i].kernel, kernel) == 0)
			return rows[i];
	return (struct roof_exit_decoder){kernel, NULL, NULL};
}

/*
 * What every decoded exit must honour, whatever bytes came in (the
 * contract of roof_state.h): a known reason, groups that exist, io and
 * mmio fields in range, an io buffer inside the record's memory, an error
 * text (NUL-terminated, printable) for BACKEND_ERROR and INVALID_STATE.
 * Returns true, or false with `why` filled.
 */
static inline bool roof_exit_record_sane(const roof_state *s, const void *mem,
					 size_t mem_size, char *why,
					 size_t why_size)
{
	const struct roof_exit_info *i = &s->info;
	why[0] = 0;
	if ((unsigned)s->exit_reason >= ROOF_EXIT_COUNT)
		snprintf(why, why_size, "exit reason %u", (unsigned)s->exit_reason);
	else if (s->valid & ~ROOF_G_VALID_BITS)
		snprintf(why, why_size, "valid groups 0x%llx name no group",
			 (unsigned long long)s->valid);
	else if (s->exit_reason == ROOF_EXIT_IO) {
		const struct roof_exit_io *io = &i->io;
		uint64_t bytes = (uint64_t)io->size * io->count;
		const uint8_t *lo = mem, *hi = lo + mem_size;
		if (io->size != 1 && io->size != 2 && io->size != 4)
			snprintf(why, why_size, "io size %u", io->size);
		else if (io->dir > ROOF_DIR_IN || io->count == 0)
			snprintf(why, why_size, "io dir %u count %u", io->dir,
				 io->count);
		else if (io->size < 4 && (io->data >> (8 * io->size)))
			snprintf(why, why_size, "io data 0x%x wider than %u bytes",
				 io->data, io->size);
		else if (io->buffer &&
			 (io->buffer < lo || io->buffer > hi ||
			  bytes > (uint64_t)(hi - io->buffer)))
			snprintf(why, why_size, "io buffer %p + %llu bytes "
				 "outside the record [%p, %p)",
				 (void *)io->buffer, (unsigned long long)bytes,
				 (const void *)lo, (const void *)hi);
		else if (io->string && !io->buffer)
			snprintf(why, why_size, "string io without a buffer");
	} else if (s->exit_reason == ROOF_EXIT_MMIO) {
		if (i->mmio.len < 1 || i->mmio.len > 8 ||
		    i->mmio.dir > ROOF_DIR_READ)
			snprintf(why, why_size, "mmio len %u dir %u", i->mmio.len,
				 i->mmio.dir);
		else if (i->mmio.len < 8 &&
			 (i->mmio.data >> (8 * i->mmio.len)))
			snprintf(why, why_size, "mmio data 0x%llx wider than %u "
				 "bytes", (unsigned long long)i->mmio.data,
				 i->mmio.len);
	}
	if (why[0])
		return false;
	bool needs_text = s->exit_reason == ROOF_EXIT_BACKEND_ERROR ||
			  s->exit_reason == ROOF_EXIT_INVALID_STATE;
	if (needs_text && (!i->error || !i->error[0])) {
		snprintf(why, why_size, "%s without an error text",
			 roof_exit_name(s->exit_reason));
		return false;
	}
	if (i->error) {
		size_t n = strnlen(i->error, 1024);
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)i->error[k] < 0x20 ||
			    (unsigned char)i->error[k] > 0x7e) {
				snprintf(why, why_size, "error text has byte 0x%02x",
					 (unsigned char)i->error[k]);
				return false;
			}
		if (n == 1024) {
			snprintf(why, why_size, "error text not terminated");
			return false;
		}
	}
	return true;
}

#endif
