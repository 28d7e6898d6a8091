/*
 * errors.c - last-error texts (the codes' names: fastpath/handlers.c) and the live-handle registry that
 * lets every public call refuse a NULL, closed or foreign handle cleanly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roof_host.h"
#include "roof_live.h"

static _Thread_local char thread_error[ROOF_ERR_LEN];

const char *roof_last_error(void) { return thread_error; }

int roof_thread_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(thread_error, sizeof thread_error, fmt, ap);
	va_end(ap);
	return err;
}

int roof_vm_fail(struct roof_vm *vm, int err, const char *fmt, ...)
{
	char *dst = vm ? vm->err : thread_error;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, ROOF_ERR_LEN, fmt, ap);
	va_end(ap);
	if (vm)
		memcpy(thread_error, vm->err, ROOF_ERR_LEN);
	return err;
}

int roof_vcpu_fail(struct roof_vcpu *v, int err, const char *fmt, ...)
{
	struct roof_vcpu_host *h = v ? v->host : NULL;
	char *dst = h ? h->err : thread_error;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, ROOF_ERR_LEN, fmt, ap);
	va_end(ap);
	if (h)
		memcpy(thread_error, h->err, ROOF_ERR_LEN);
	if (v)
		v->last_error = err;
	return err;
}

int roof_ep_fail(struct roof_ep *ep, int err, const char *fmt, ...)
{
	char *dst = ep ? ep->err : thread_error;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, ROOF_ERR_LEN, fmt, ap);
	va_end(ap);
	if (ep)
		memcpy(thread_error, ep->err, ROOF_ERR_LEN);
	return err;
}

/* ---- live handles ---------------------------------------------------------
 * A small set of the handles that are open right now. Public calls check a
 * handle here first, so a closed or made-up pointer gets ROOF_EINVAL with a
 * message instead of a crash. Not on the exit path. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_entry {
	const void *ptr;
	int kind;
} *live;
static size_t live_count, live_cap;

int roof_live_add(const void *ptr, int kind)
{
	int rc = 0;
	pthread_mutex_lock(&live_lock);
	if (live_count == live_cap) {
		size_t cap = live_cap ? live_cap * 2 : 64;
		struct live_entry *n = realloc(live, cap * sizeof *n);
		if (!n) {
			rc = -1;
			goto out;
		}
		live = n;
		live_cap = cap;
	}
	live[live_count++] = (struct live_entry){ptr, kind};
out:
	pthread_mutex_unlock(&live_lock);
	return rc;
}

void roof_live_remove(const void *ptr)
{
	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < live_count; i++) {
		if (live[i].ptr == ptr) {
			live[i] = live[--live_count];
			break;
		}
	}
	if (live_count == 0) {
		free(live);
		live = NULL;
		live_cap = 0;
	}
	pthread_mutex_unlock(&live_lock);
}

bool roof_live_check(const void *ptr, int kind)
{
	if (!ptr)
		return false;
	bool found = false;
	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < live_count && !found; i++)
		found = live[i].ptr == ptr && live[i].kind == kind;
	pthread_mutex_unlock(&live_lock);
	return found;
}
