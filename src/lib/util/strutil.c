#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "util/strutil.h"

/* Takes ownership of s (freed when the list cannot grow). */
static int strv_push(struct dp_strv *sv, char *s)
{
	if (!s || dp_array_grow(&sv->v, sv->n, 1, sizeof(*sv->v)) < 0) {
		free(s);
		return -ENOMEM;
	}
	sv->v[sv->n++] = s;
	return 0;
}

int dp_strv_add(struct dp_strv *sv, const char *s)
{
	return strv_push(sv, strdup(s));
}

int dp_strv_addf(struct dp_strv *sv, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return strv_push(sv, s);
}

bool dp_strv_contains(const struct dp_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

char *dp_strv_join(const struct dp_strv *sv, const char *sep)
{
	size_t len = 1, sl = strlen(sep);
	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + sl;
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < sv->n; i++)
		p = stpcpy(i ? stpcpy(p, sep) : p, sv->v[i]);
	return out;
}

void dp_strv_free(struct dp_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Keeps the length as it goes: the inventory joins a link target for every function. */
void dp_path_join(char *out, size_t size, const char *dir, const char *target)
{
	char buf[4096];
	size_t used = 0;
	if (target[0] != '/') {
		used = strnlen(dir, sizeof(buf) - 1);
		memcpy(buf, dir, used);
	}
	buf[used] = '\0';
	const char *p = target;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = memrchr(buf, '/', used);
			used = slash ? (size_t)(slash - buf) : 0;
			buf[used] = '\0';
		} else if (len && !(len == 1 && p[0] == '.') && used + len + 2 < sizeof(buf)) {
			if (used)
				buf[used++] = '/';
			memcpy(buf + used, p, len);
			used += len;
			buf[used] = '\0';
		}
		p = end;
	}
	snprintf(out, size, "%s", buf);
}

/* Length of the UTF-8 sequence at p (1-4), 0 when p does not start a valid one. */
static size_t utf8_sequence(const unsigned char *p)
{
	unsigned c = *p, n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
	                     : (c & 0xf8) == 0xf0 ? 3 : 9;
	if (n == 9 || (n == 1 && c < 0xc2))
		return 0;
	for (unsigned k = 1; k <= n; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return n + 1;
}

ssize_t dp_utf8_text_error(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = utf8_sequence(p);
		if (n == 0 || *p < 0x20 || *p == 0x7f)
			return (ssize_t)(p - (const unsigned char *)s);
		p += n;
	}
	return -1;
}

/* Printable UTF-8 without control characters: what may go into JSON, YAML and the
 * platforms' configuration files devpass writes. */
bool dp_utf8_text_valid(const char *s)
{
	return dp_utf8_text_error(s) < 0;
}

size_t dp_text_echo(const char *s, size_t pos, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, column = 0, at = 0;
	while (*p && o + 5 < size) {
		size_t n = utf8_sequence(p);
		if ((size_t)(p - (const unsigned char *)s) <= pos)
			at = column;
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			out[o++] = '?';
			p++;
		} else {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		}
		column++;
	}
	out[o] = '\0';
	return pos >= strlen(s) ? column : at;
}
