#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "util/alloc-util.h"
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

void dp_path_join(char *out, size_t size, const char *dir, const char *target)
{
	char buf[4096];
	if (target[0] == '/')
		buf[0] = '\0';
	else
		snprintf(buf, sizeof(buf), "%s", dir);
	const char *p = target;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(buf, '/');
			if (slash)
				*slash = '\0';
			else
				buf[0] = '\0';
		} else if (len && !(len == 1 && p[0] == '.')) {
			size_t used = strlen(buf);
			if (used + len + 2 < sizeof(buf)) {
				if (used)
					buf[used++] = '/';
				memcpy(buf + used, p, len);
				buf[used + len] = '\0';
			}
		}
		p = end;
	}
	snprintf(out, size, "%s", buf);
}

/* Printable UTF-8 without control characters: what may go into JSON, YAML and the
 * platforms' configuration files devpass writes. */
bool dp_utf8_text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p, n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
		                     : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (n == 9 || (n == 1 && c < 0xc2) || c < 0x20 || c == 0x7f)
			return false;
		for (unsigned k = 1; k <= n; k++)
			if ((p[k] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}
