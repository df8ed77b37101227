/* Unified diffs of two texts, for `--dry-run`: what an admin reads before letting a tool
 * edit /etc and /boot. The files are small, so a plain longest-common-subsequence table
 * over lines is enough. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/persist.h"

#define CONTEXT 3
#define MAX_CELLS (4u << 20)   /* beyond that, show the files as replaced whole */

struct lines {
	const char **p;
	size_t *len;
	size_t n;
};

static void lines_free(struct lines *l)
{
	free(l->p);
	free(l->len);
}
DEFINE_CLEANUP_STRUCT(lines, lines_free)

static int lines_split(const char *text, size_t size, struct lines *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; text && i < size;) {
		const char *nl = memchr(text + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - text) + 1 : size;
		if (dp_array_grow(&out->p, out->n, 1, sizeof(*out->p)) < 0 ||
		    dp_array_grow(&out->len, out->n, 1, sizeof(*out->len)) < 0)
			return -ENOMEM;
		out->p[out->n] = text + i;
		out->len[out->n++] = end - i;
		i = end;
	}
	return 0;
}

static bool line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

/* ops: ' ' same, '-' only in a, '+' only in b, in output order; NULL when out of memory.
 * Without room for the table, the files are shown as replaced whole, as large ones are. */
static char *edit_script(const struct lines *a, const struct lines *b, size_t *nops)
{
	size_t n = a->n, m = b->n;
	char *ops = malloc(n + m + 1);
	*nops = 0;
	if (!ops)
		return NULL;
	_cleanup_free_ unsigned *lcs = (n + 1) * (m + 1) > MAX_CELLS ? NULL
	                             : calloc((n + 1) * (m + 1), sizeof(*lcs));
	if (!lcs) {
		for (size_t i = 0; i < n; i++)
			ops[(*nops)++] = '-';
		for (size_t j = 0; j < m; j++)
			ops[(*nops)++] = '+';
		return ops;
	}
	/* lcs[i][j]: common lines of a[i..] and b[j..] */
	for (size_t i = n; i-- > 0;)
		for (size_t j = m; j-- > 0;)
			lcs[i * (m + 1) + j] = line_eq(a, i, b, j)
				? lcs[(i + 1) * (m + 1) + j + 1] + 1
				: (lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]
				   ? lcs[(i + 1) * (m + 1) + j] : lcs[i * (m + 1) + j + 1]);
	size_t i = 0, j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && line_eq(a, i, b, j)) {
			ops[(*nops)++] = ' ';
			i++, j++;
		} else if (i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1])) {
			ops[(*nops)++] = '-';   /* removals before additions, as diff -u prints them */
			i++;
		} else {
			ops[(*nops)++] = '+';
			j++;
		}
	}
	return ops;
}

static void line_print(FILE *f, char tag, const struct lines *l, size_t k)
{
	fputc(tag, f);
	fwrite(l->p[k], 1, l->len[k], f);
	if (l->len[k] == 0 || l->p[k][l->len[k] - 1] != '\n')
		fputs("\n\\ No newline at end of file\n", f);
}

/* One hunk: ops [from, to) with the line numbers where it starts in a and b. */
static void hunk_print(FILE *f, const char *ops, size_t from, size_t to, size_t ai, size_t bj,
                       const struct lines *a, const struct lines *b)
{
	size_t na = 0, nb = 0;
	for (size_t k = from; k < to; k++) {
		na += ops[k] != '+';
		nb += ops[k] != '-';
	}
	fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", na ? ai + 1 : ai, na, nb ? bj + 1 : bj, nb);
	for (size_t k = from; k < to; k++) {
		if (ops[k] == '+')
			line_print(f, '+', b, bj++);
		else {
			line_print(f, ops[k], a, ai++);
			bj += ops[k] == ' ';
		}
	}
}

int dp_diff_print(FILE *f, const char *name_a, const char *a_text, size_t a_len,
                  const char *name_b, const char *b_text, size_t b_len)
{
	_cleanup_(lines_freep) struct lines a = {0}, b = {0};
	size_t nops;
	if (lines_split(a_text, a_len, &a) < 0 || lines_split(b_text, b_len, &b) < 0)
		return dp_oom();
	_cleanup_free_ char *ops = edit_script(&a, &b, &nops);
	if (!ops)
		return dp_oom();
	fprintf(f, "--- %s\n+++ %s\n", name_a, name_b);
	size_t k = 0, ai = 0, bj = 0;
	while (k < nops) {
		if (ops[k] == ' ') {
			k++, ai++, bj++;
			continue;
		}
		/* a change at k: open the hunk CONTEXT lines earlier, close it after CONTEXT
		 * unchanged lines that no further change follows within 2*CONTEXT */
		size_t start = k > CONTEXT ? k - CONTEXT : 0;
		size_t sa = ai - (k - start), sb = bj - (k - start);
		size_t end = k, same = 0;
		for (size_t q = k; q < nops; q++) {
			if (ops[q] != ' ') {
				same = 0;
				end = q + 1;
			} else if (++same > 2 * CONTEXT)
				break;
		}
		size_t stop = end + CONTEXT < nops ? end + CONTEXT : nops;
		hunk_print(f, ops, start, stop, sa, sb, &a, &b);
		for (; k < stop; k++) {
			ai += ops[k] != '+';
			bj += ops[k] != '-';
		}
	}
	return 0;
}
