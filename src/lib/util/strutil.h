/* Internal string helpers (the string list itself is public: results carry it). */
#ifndef DP_STRUTIL_H
#define DP_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

bool dp_utf8_text_valid(const char *s);   /* UTF-8, no control characters */
/* Joins a relative symlink target onto the directory holding the link, lexically. */
void dp_path_join(char *out, size_t size, const char *dir, const char *target);

#endif
