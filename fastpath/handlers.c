/*
 * handlers.c - the parts of the VMM-facing API that need no host: handler
 * registration into struct roof_vcpu (behind roof_vcpu_on_exit()) and the
 * error names, so that the Linux host (fastpath/host/) and a microkernel
 * root task (kernels/nova/roottask/) share them. Freestanding: no libc.
 */
#include "roof_core.h"
#include "roof_text.h"

int roof_core_on_exit(struct roof_vcpu *v, roof_exit reason,
		      roof_exit_handler fn, void *ctx, uint64_t mask,
		      roof_where where, uint64_t supported, bool started,
		      const char *kernel, char *why, size_t why_size)
{
	struct roof_text t;
	roof_text_init(&t, why, why_size);
	if ((unsigned)reason >= ROOF_EXIT_COUNT) {
		int r = (int)reason; /* an enum out of range may be negative */
		roof_text_put(&t, "on_exit: unknown exit reason ");
		if (r < 0)
			roof_text_char(&t, '-');
		roof_text_dec(&t, r < 0 ? -(int64_t)r : (int64_t)r);
		return ROOF_EINVAL;
	}
	if (!fn) {
		roof_text_put(&t, "on_exit: handler is NULL");
		return ROOF_EINVAL;
	}
	if (where != ROOF_INLINE && where != ROOF_ON_EP) {
		roof_text_put(&t, "on_exit: where must be ROOF_INLINE or ROOF_ON_EP");
		return ROOF_EINVAL;
	}
	if (mask == ROOF_MASK_DEFAULT)
		mask = roof_default_mask(reason) & supported;
	if (mask & ~ROOF_G_VALID_BITS) {
		roof_text_put(&t, "on_exit: mask ");
		roof_text_hex(&t, mask);
		roof_text_put(&t, " has bits that name no group");
		return ROOF_EINVAL;
	}
	if (mask & ~supported) {
		char names[160];
		roof_mask_format(mask & ~supported, names, sizeof names);
		roof_text_put(&t, "on_exit: kernel ");
		roof_text_put(&t, kernel ? kernel : "?");
		roof_text_put(&t, " cannot transfer ");
		roof_text_put(&t, names);
		return ROOF_ENOSYS;
	}
	if (started) {
		roof_text_put(&t, "on_exit: register handlers before the vCPU "
				  "first runs");
		return ROOF_EBUSY;
	}
	if (v->handlers[reason].set) {
		roof_text_put(&t, "on_exit: vCPU ");
		roof_text_dec(&t, v->id);
		roof_text_put(&t, " already has a handler for ");
		roof_text_put(&t, roof_exit_name(reason));
		return ROOF_EEXIST;
	}
	v->handlers[reason] = (struct roof_handler_slot){fn, ctx, mask,
							(uint8_t)where, 1};
	return ROOF_OK;
}

const char *roof_strerror(int err)
{
	switch (err) {
	case ROOF_OK: return "ok";
	case ROOF_EINVAL: return "invalid argument";
	case ROOF_ENOMEM: return "out of memory";
	case ROOF_EBUSY: return "busy";
	case ROOF_ENOENT: return "not found";
	case ROOF_EEXIST: return "already exists";
	case ROOF_ENOSYS: return "not supported by this backend";
	case ROOF_EKERNEL: return "kernel error";
	case ROOF_ESTATE: return "invalid vCPU state";
	case ROOF_ERANGE: return "out of range";
	case ROOF_ETHREAD: return "wrong thread";
	case ROOF_ECLOSED: return "closed";
	case ROOF_EIO: return "I/O error";
	default: return "unknown error";
	}
}
