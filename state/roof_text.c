/*
 * roof_text.c - see roof_text.h. Freestanding.
 */
#include "roof_text.h"

static void terminate(struct roof_text *t)
{
	if (t->size)
		t->p[t->len < t->size ? t->len : t->size - 1] = 0;
}

void roof_text_init(struct roof_text *t, char *out, size_t size)
{
	t->p = out;
	t->size = size;
	t->len = 0;
	terminate(t);
}

void roof_text_append_to(struct roof_text *t, char *out, size_t size)
{
	t->p = out;
	t->size = size;
	t->len = 0;
	while (t->len < size && out[t->len])
		t->len++;
	terminate(t);
}

void roof_text_char(struct roof_text *t, char c)
{
	if (t->size && t->len + 1 < t->size)
		t->p[t->len] = c;
	t->len++;
	terminate(t);
}

void roof_text_put(struct roof_text *t, const char *s)
{
	while (*s)
		roof_text_char(t, *s++);
}

void roof_text_hex(struct roof_text *t, uint64_t v)
{
	char tmp[19];
	int i = 18;
	tmp[i] = 0;
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && i > 2);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	roof_text_put(t, tmp + i);
}

void roof_text_dec(struct roof_text *t, uint64_t v)
{
	char tmp[21];
	int i = 20;
	tmp[i] = 0;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	roof_text_put(t, tmp + i);
}
