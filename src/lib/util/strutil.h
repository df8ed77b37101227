/* Internal string helpers (the string list itself is public: results carry it). */
#ifndef DP_STRUTIL_H
#define DP_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

bool dp_utf8_text_valid(const char *s);   /* UTF-8, no control characters */
/* The byte offset of the first byte that breaks dp_utf8_text_valid, -1 when none. */
ssize_t dp_utf8_text_error(const char *s);
/* s as one printable line for an error echo (each invalid byte or control character
 * shown as '?'); returns the column (in characters) of byte offset pos, for a caret. */
size_t dp_text_echo(const char *s, size_t pos, char *out, size_t size);
/* Joins a relative symlink target onto the directory holding the link, lexically. */
void dp_path_join(char *out, size_t size, const char *dir, const char *target);

#endif
