/*
 * roof_text.h - a bounded text builder for freestanding code: error texts of
 * the core (checked mode, handler registration) and the messages of a VMM
 * that runs inside a microkernel root task, where there is no snprintf.
 *
 * The text is always NUL-terminated within size; len counts what would have
 * been written, so len >= size means it was cut. Freestanding.
 */
#ifndef ROOF_TEXT_H
#define ROOF_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct roof_text {
	char *p;
	size_t size, len;
};

/* Start an empty text in out[size] (size may be 0). */
void roof_text_init(struct roof_text *t, char *out, size_t size);
/* Start at the end of the NUL-terminated text already in out[size]. */
void roof_text_append_to(struct roof_text *t, char *out, size_t size);
void roof_text_put(struct roof_text *t, const char *s);
void roof_text_char(struct roof_text *t, char c);
/* "0x1f" */
void roof_text_hex(struct roof_text *t, uint64_t v);
/* "31" */
void roof_text_dec(struct roof_text *t, uint64_t v);

#endif
