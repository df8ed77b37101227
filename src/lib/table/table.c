/* One table type for every command: rows of typed cells, rendered as an aligned text
 * table, a "Header: value" record, or JSON. Scalar cells (strings, integers, booleans,
 * null) and string lists are stored as such and written straight out; other nested
 * values (objects, arrays) are json-c objects. Long JSON arrays are written row by row
 * as they are built, so a 10,000-row listing never sits in memory whole.
 *
 * Speed matters here: `list --json` writes ~800 bytes for each of thousands of rows.
 * Cell strings live in an arena (one allocation per few hundred cells, reset after each
 * streamed row) and JSON is rendered into a buffer of our own that goes to the stream
 * in large writes, instead of a stdio call per token. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"

enum cell_type { CELL_NULL, CELL_STR, CELL_INT, CELL_BOOL, CELL_STRV, CELL_JSON };

struct cell {
	enum cell_type type;
	union {
		const char *s;                      /* in the arena */
		long long i;
		bool b;
		struct { const char **v; size_t n; } sv;   /* in the arena */
		struct json_object *j;
	};
};

/* Blocks never move, so arena pointers stay valid until the arena is reset. */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK 16384
#define OUT_FLUSH 65536   /* JSON goes to the stream in writes of about this size */

struct out_buf {
	char *buf;
	size_t len, cap;
};

struct dp_table {
	const struct dp_column *cols;
	size_t ncols;
	struct cell **rows;           /* rows[r][c] */
	size_t nrows, cap;
	struct arena_block *arena;    /* newest block first */
	struct out_buf out;           /* rendered JSON not yet handed to the stream */
	char *key_text;               /* each column's "  \"key\": ", one after another */
	size_t *key_end;              /* where column c's ends in key_text */
	bool failed;                  /* out of memory: something was left out */
	FILE *stream;                 /* JSON rows go out as soon as they are complete */
	size_t streamed;              /* rows written out so far */
	size_t added;                 /* rows ever added */
	size_t hint;                  /* rows are usually filled in column order */
};

/* ---- the string arena -------------------------------------------------------------- */

static void *arena_alloc(struct dp_table *t, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct arena_block *b = t->arena;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (!b) {
			t->failed = true;
			return NULL;
		}
		*b = (struct arena_block){t->arena, 0, cap};
		t->arena = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	return p;
}

static const char *arena_strdup(struct dp_table *t, const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = arena_alloc(t, n);
	return copy ? memcpy(copy, s, n) : NULL;
}

/* Keeps the newest block (the largest one needed so far) and empties it. */
static void arena_reset(struct dp_table *t)
{
	struct arena_block *keep = t->arena;
	if (!keep)
		return;
	for (struct arena_block *b = keep->next, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	keep->next = NULL;
	keep->used = 0;
}

static void arena_free(struct dp_table *t)
{
	arena_reset(t);
	free(t->arena);
	t->arena = NULL;
}

/* ---- rows ---------------------------------------------------------------------------- */

static void cell_clear(struct cell *c)
{
	if (c->type == CELL_JSON)
		json_object_put(c->j);
	c->type = CELL_NULL;
}

static void row_clear(const struct dp_table *t, struct cell *row)
{
	for (size_t c = 0; c < t->ncols; c++)
		cell_clear(&row[c]);
}

static void out_flush(struct dp_table *t, FILE *f);
static void json_row_write(struct dp_table *t, size_t r);

struct dp_table *dp_table_new(const struct dp_column *cols, size_t ncols)
{
	struct dp_table *t = calloc(1, sizeof(*t));
	if (!t) {
		fprintf(stderr, "devpass: out of memory\n");
		abort();   /* every caller renders its result through a table */
	}
	t->cols = cols;
	t->ncols = ncols;
	return t;
}

void dp_table_free(struct dp_table *t)
{
	if (!t)
		return;
	if (t->stream)
		out_flush(t, t->stream);
	for (size_t r = 0; r < t->nrows; r++) {
		row_clear(t, t->rows[r]);
		free(t->rows[r]);
	}
	free(t->rows);
	arena_free(t);
	free(t->out.buf);
	free(t->key_text);
	free(t->key_end);
	free(t);
}

void dp_table_stream_json(struct dp_table *t, FILE *f)
{
	t->stream = f;
}

/* Streaming: the finished row goes out and its cells and arena are used again. */
static void row_stream_out(struct dp_table *t)
{
	json_row_write(t, 0);
	if (t->out.len >= OUT_FLUSH)
		out_flush(t, t->stream);
	row_clear(t, t->rows[0]);
	arena_reset(t);
	t->added++;
}

void dp_table_add_row(struct dp_table *t)
{
	if (t->stream && t->nrows) {
		row_stream_out(t);
		return;
	}
	if (t->nrows == t->cap && dp_array_grow(&t->rows, t->cap, t->cap ? t->cap : 16,
	                                        sizeof(*t->rows)) == 0)
		t->cap += t->cap ? t->cap : 16;
	struct cell *row = t->nrows < t->cap ? calloc(t->ncols, sizeof(struct cell)) : NULL;
	if (!row) {
		fprintf(stderr, "devpass: out of memory\n");
		abort();   /* the setters that follow need a row to write to */
	}
	t->rows[t->nrows++] = row;
	t->added++;
}

size_t dp_table_rows(const struct dp_table *t)
{
	return t->added;
}

/* Keys are the string literals of the column tables: most lookups match by pointer. */
static struct cell *cell_at(struct dp_table *t, const char *key)
{
	size_t c = t->hint < t->ncols ? t->hint : 0;
	for (size_t k = 0; k < t->ncols; k++, c = c + 1 < t->ncols ? c + 1 : 0) {
		if (t->cols[c].key == key || strcmp(t->cols[c].key, key) == 0) {
			t->hint = c + 1;
			struct cell *cell = &t->rows[t->nrows - 1][c];
			cell_clear(cell);
			return cell;
		}
	}
	fprintf(stderr, "devpass: internal error: no column '%s'\n", key);
	abort();
}

static void cell_set_str(struct dp_table *t, struct cell *c, const char *value)
{
	if (value && (c->s = arena_strdup(t, value)))
		c->type = CELL_STR;
}

void dp_table_set_json(struct dp_table *t, const char *key, struct json_object *value)
{
	struct cell *c = cell_at(t, key);
	if (!value)
		return;
	switch (json_object_get_type(value)) {   /* scalars are kept as scalars */
	case json_type_string:
		cell_set_str(t, c, json_object_get_string(value));
		json_object_put(value);
		return;
	case json_type_boolean:
		c->type = CELL_BOOL;
		c->b = json_object_get_boolean(value);
		json_object_put(value);
		return;
	case json_type_int:
		c->type = CELL_INT;
		c->i = json_object_get_int64(value);
		json_object_put(value);
		return;
	default:
		c->type = CELL_JSON;
		c->j = value;
	}
}

void dp_table_set_str(struct dp_table *t, const char *key, const char *value)
{
	cell_set_str(t, cell_at(t, key), value);
}

void dp_table_set_strf(struct dp_table *t, const char *key, const char *fmt, ...)
{
	char buf[256];
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	struct cell *c = cell_at(t, key);
	char *s = n < 0 ? NULL : (size_t)n < sizeof(buf) ? buf : arena_alloc(t, (size_t)n + 1);
	if (s == buf)
		cell_set_str(t, c, buf);
	else if (s) {
		vsnprintf(s, (size_t)n + 1, fmt, again);
		c->type = CELL_STR;
		c->s = s;
	}
	va_end(again);
}

void dp_table_set_int(struct dp_table *t, const char *key, long long value)
{
	struct cell *c = cell_at(t, key);
	c->type = CELL_INT;
	c->i = value;
}

void dp_table_set_bool(struct dp_table *t, const char *key, bool value)
{
	struct cell *c = cell_at(t, key);
	c->type = CELL_BOOL;
	c->b = value;
}

void dp_table_set_null(struct dp_table *t, const char *key)
{
	cell_at(t, key);
}

void dp_table_set_strv(struct dp_table *t, const char *key, const struct dp_strv *sv)
{
	struct cell *c = cell_at(t, key);
	const char **v = arena_alloc(t, (sv->n + 1) * sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < sv->n; i++)
		if (!(v[i] = arena_strdup(t, sv->v[i])))
			return;
	c->type = CELL_STRV;
	c->sv.v = v;
	c->sv.n = sv->n;
}

/* ---- cells as json-c values and as text --------------------------------------- */

static struct json_object *strv_json(const struct cell *c)
{
	struct json_object *a = json_object_new_array_ext((int)c->sv.n);
	for (size_t i = 0; a && i < c->sv.n; i++)
		json_object_array_add(a, json_object_new_string(c->sv.v[i]));
	return a;
}

static struct json_object *cell_json(const struct cell *c)
{
	switch (c->type) {
	case CELL_STR: return json_object_new_string(c->s);
	case CELL_STRV: return strv_json(c);
	case CELL_INT: return json_object_new_int64(c->i);
	case CELL_BOOL: return json_object_new_boolean(c->b);
	case CELL_JSON: return json_object_get(c->j);
	default: return NULL;
	}
}

/* Items of an array in text form, joined with commas; NULL when out of memory. */
static char *json_text(struct json_object *v);

static char *json_array_text(struct json_object *v)
{
	_cleanup_(dp_strv_freep) struct dp_strv parts = {0};
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		char *part = json_text(json_object_array_get_idx(v, i));
		if (!part || dp_array_grow(&parts.v, parts.n, 1, sizeof(*parts.v)) < 0) {
			free(part);
			return NULL;
		}
		parts.v[parts.n++] = part;
	}
	return dp_strv_join(&parts, ", ");
}

/* Text form of a value: "-" for null, yes/no, arrays joined with commas. NULL when out
 * of memory. */
static char *json_text(struct json_object *v)
{
	if (!v)
		return strdup("-");
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
	case json_type_string:
		return strdup(json_object_get_string(v));
	case json_type_array:
		return json_object_array_length(v) ? json_array_text(v) : strdup("-");
	default:
		return strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
}

/* NULL when out of memory. */
static char *cell_text(const struct cell *c)
{
	char buf[32];
	switch (c->type) {
	case CELL_NULL: return strdup("-");
	case CELL_STR: return strdup(c->s);
	case CELL_BOOL: return strdup(c->b ? "yes" : "no");
	case CELL_INT:
		snprintf(buf, sizeof(buf), "%lld", c->i);
		return strdup(buf);
	case CELL_STRV: {
		struct dp_strv sv = {(char **)c->sv.v, c->sv.n};
		return c->sv.n ? dp_strv_join(&sv, ", ") : strdup("-");
	}
	default: return json_text(c->j);
	}
}

static size_t utf8_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void ellipsize(char *s, int max)
{
	if (max > 3 && (int)utf8_width(s) > max) {
		size_t cut = 0;
		for (int w = 0; s[cut] && w < max - 3; cut++)
			if (((unsigned char)s[cut + 1] & 0xc0) != 0x80)
				w++;
		strcpy(s + cut, "...");
	}
}

/* The text of every shown cell, row by row (cell[r * ncols + c]), owned. */
struct text_grid {
	char **cell;
	size_t n;
};

static void text_grid_free(struct text_grid *g)
{
	for (size_t i = 0; g->cell && i < g->n; i++)
		free(g->cell[i]);
	free(g->cell);
}
DEFINE_CLEANUP_STRUCT(text_grid, text_grid_free)

/* Fills the grid with the shown cells' text and widens each column to fit;
 * -ENOMEM when a text could not be made. */
static int text_grid_fill(const struct dp_table *t, struct text_grid *g, size_t *width)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			char *text = g->cell[r * t->ncols + c] = cell_text(&t->rows[r][c]);
			if (!text)
				return -ENOMEM;
			if (t->cols[c].flags & DP_COL_ELLIPSIZE)
				ellipsize(text, t->cols[c].max_width);
			size_t w = utf8_width(text);
			if (w > width[c])
				width[c] = w;
		}
	}
	return 0;
}

static int print_text(const struct dp_table *t, FILE *f)
{
	if (t->ncols && t->nrows > SIZE_MAX / sizeof(char *) / t->ncols - 1)
		return -1;
	_cleanup_free_ size_t *width = calloc(t->ncols + 1, sizeof(*width));
	_cleanup_(text_grid_freep) struct text_grid g = {
		calloc(t->nrows * t->ncols + 1, sizeof(char *)), t->nrows * t->ncols};
	if (!width || !g.cell)
		return -1;
	for (size_t c = 0; c < t->ncols; c++)
		width[c] = utf8_width(t->cols[c].header);
	if (text_grid_fill(t, &g, width) < 0)
		return -1;
	size_t last = 0;
	for (size_t c = 0; c < t->ncols; c++)
		if (t->cols[c].flags & DP_COL_TEXT)
			last = c;
	for (ssize_t r = -1; r < (ssize_t)t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			const char *s = r < 0 ? t->cols[c].header : g.cell[(size_t)r * t->ncols + c];
			if (c == last)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%s%*s", s, (int)(width[c] - utf8_width(s) + 2), "");
		}
	}
	return ferror(f) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static struct json_object *row_object(const struct dp_table *t, size_t r)
{
	struct json_object *o = json_object_new_object();
	for (size_t c = 0; o && c < t->ncols; c++)
		json_object_object_add(o, t->cols[c].key, cell_json(&t->rows[r][c]));
	return o;
}

struct json_object *dp_table_to_json(const struct dp_table *t)
{
	struct json_object *a = json_object_new_array_ext((int)t->nrows);
	for (size_t r = 0; a && r < t->nrows; r++)
		json_object_array_add(a, row_object(t, r));
	return a;
}

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

static bool out_grow(struct dp_table *t, size_t n)
{
	struct out_buf *o = &t->out;
	size_t cap = o->cap ? o->cap : OUT_FLUSH + 4096;
	while (cap - o->len < n)
		cap *= 2;
	char *grown = realloc(o->buf, cap);
	if (!grown) {
		t->failed = true;
		return false;
	}
	o->buf = grown;
	o->cap = cap;
	return true;
}

static inline bool out_reserve(struct dp_table *t, size_t n)
{
	return t->out.cap - t->out.len >= n || out_grow(t, n);
}

static inline void out_mem(struct dp_table *t, const char *s, size_t n)
{
	if (out_reserve(t, n)) {
		memcpy(t->out.buf + t->out.len, s, n);
		t->out.len += n;
	}
}

static void out_str(struct dp_table *t, const char *s)
{
	out_mem(t, s, strlen(s));
}

static void out_flush(struct dp_table *t, FILE *f)
{
	if (t->out.len && fwrite(t->out.buf, 1, t->out.len, f) != t->out.len)
		t->failed = true;
	t->out.len = 0;
}

/* Whether none of 8 bytes needs escaping: no control character, quote or backslash
 * (the "has a byte less than n" and "has a zero byte" word tricks). */
static inline bool word_plain(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	uint64_t found = ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b);
	return !(found & high);
}

static char *escaped_byte(char *w, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	if (c >= 0x20 && c != '"' && c != '\\') {
		*w++ = (char)c;
		return w;
	}
	*w++ = '\\';
	if (c == '"' || c == '\\')
		*w++ = (char)c;
	else if (c == '\n' || c == '\t')
		*w++ = c == '\n' ? 'n' : 't';
	else
		w = (char *)memcpy(w, (char[]){'u', '0', '0', hex[c >> 4], hex[c & 0xf]}, 5) + 5;
	return w;
}

/* A JSON string: quotes, backslashes and control characters escaped (RFC 8259), written
 * into room reserved for the worst case (every byte as \u00XX), eight plain bytes at a
 * time. */
static void out_json_string(struct dp_table *t, const char *s)
{
	size_t n = strlen(s), i = 0;
	if (!out_reserve(t, n * 6 + 2))
		return;
	char *w = t->out.buf + t->out.len;
	*w++ = '"';
	for (uint64_t v; i + 8 <= n && (memcpy(&v, s + i, 8), word_plain(v)); i += 8, w += 8)
		memcpy(w, &v, 8);
	for (; i < n; i++)
		w = escaped_byte(w, (unsigned char)s[i]);
	*w++ = '"';
	t->out.len = (size_t)(w - t->out.buf);
}

static void out_int(struct dp_table *t, long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	out_mem(t, p, (size_t)(buf + sizeof(buf) - p));
}

/* As json-c writes an array of strings with JSON_C_TO_STRING_SPACED: [ "a", "b" ] */
static void out_strv(struct dp_table *t, const struct cell *c)
{
	if (!c->sv.n) {
		out_mem(t, "[ ]", 3);
		return;
	}
	for (size_t i = 0; i < c->sv.n; i++) {
		out_mem(t, i ? ", " : "[ ", 2);
		out_json_string(t, c->sv.v[i]);
	}
	out_mem(t, " ]", 2);
}

static void cell_json_write(struct dp_table *t, const struct cell *c)
{
	switch (c->type) {
	case CELL_NULL: out_mem(t, "null", 4); break;
	case CELL_STR: out_json_string(t, c->s); break;
	case CELL_INT: out_int(t, c->i); break;
	case CELL_BOOL: c->b ? out_mem(t, "true", 4) : out_mem(t, "false", 5); break;
	case CELL_STRV: out_strv(t, c); break;
	case CELL_JSON:
		out_str(t, json_object_to_json_string_ext(c->j, JSON_C_TO_STRING_SPACED |
		                                          JSON_C_TO_STRING_NOSLASHESCAPE));
		break;
	}
}

/* Keys are plain identifiers chosen by the commands, written as they are: each column's
 * key line is made once per table. */
static bool key_text_make(struct dp_table *t)
{
	size_t total = 1;
	for (size_t c = 0; c < t->ncols; c++)
		total += strlen(t->cols[c].key) + 6;
	_cleanup_free_ char *text = malloc(total);
	_cleanup_free_ size_t *end = calloc(t->ncols + 1, sizeof(*end));
	if (!text || !end) {
		t->failed = true;
		return false;
	}
	char *p = text;
	for (size_t c = 0; c < t->ncols; c++) {
		p = stpcpy(stpcpy(stpcpy(p, "  \""), t->cols[c].key), "\": ");
		end[c] = (size_t)(p - text);
	}
	t->key_text = TAKE_PTR(text);
	t->key_end = TAKE_PTR(end);
	return true;
}

static void json_row_write(struct dp_table *t, size_t r)
{
	if (!t->key_text && !key_text_make(t))
		return;
	out_str(t, t->streamed ? ",\n{\n" : "[\n{\n");
	for (size_t c = 0, start = 0; c < t->ncols; start = t->key_end[c++]) {
		out_mem(t, t->key_text + start, t->key_end[c] - start);
		cell_json_write(t, &t->rows[r][c]);
		out_mem(t, c + 1 < t->ncols ? ",\n" : "\n", c + 1 < t->ncols ? 2 : 1);
	}
	out_mem(t, "}", 1);
	t->streamed++;
}

int dp_table_print(struct dp_table *t, FILE *f, bool json)
{
	if (!json)
		return print_text(t, f);
	if (t->stream && t->stream != f)
		out_flush(t, t->stream);
	for (size_t r = 0; r < t->nrows; r++) {
		json_row_write(t, r);
		if (t->out.len >= OUT_FLUSH)
			out_flush(t, f);
	}
	out_str(t, t->streamed ? "\n]\n" : "[]\n");
	out_flush(t, f);
	return ferror(f) || t->failed ? -1 : 0;
}

/* ---- records ------------------------------------------------------------------------ */

/* One line of an array of objects: each value in text form, flags by their name.
 * -ENOMEM when a text could not be made. */
static int record_item_print(FILE *f, struct json_object *item)
{
	const char *sep = "";
	json_object_object_foreach(item, key, val) {
		/* a flag reads as its name when set and is left out when not */
		if (val && json_object_get_type(val) == json_type_boolean) {
			if (json_object_get_boolean(val))
				fprintf(f, "%s[%s]", sep, key);
			continue;
		}
		_cleanup_free_ char *s = json_text(val);
		if (!s)
			return -ENOMEM;
		fprintf(f, "%s%s", sep, s);
		sep = "  ";
	}
	return 0;
}

/* -ENOMEM when a text could not be made. */
static int record_value_print(FILE *f, struct json_object *v, int indent)
{
	if (v && json_object_get_type(v) == json_type_array && json_object_array_length(v) &&
	    json_object_get_type(json_object_array_get_idx(v, 0)) == json_type_object) {
		fputc('\n', f);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			fprintf(f, "%*s", indent, "");
			if (record_item_print(f, json_object_array_get_idx(v, i)) < 0)
				return -ENOMEM;
			fputc('\n', f);
		}
		return 0;
	}
	if (v && json_object_get_type(v) == json_type_object) {
		fputc('\n', f);
		json_object_object_foreach(v, key, val) {
			_cleanup_free_ char *s = json_text(val);
			if (!s)
				return -ENOMEM;
			fprintf(f, "%*s%s: %s\n", indent, "", key, s);
		}
		return 0;
	}
	_cleanup_free_ char *s = json_text(v);
	if (!s)
		return -ENOMEM;
	fprintf(f, " %s\n", s);
	return 0;
}

DEFINE_CLEANUP_PTR(struct json_object, json_object_put, json_object_putp)

int dp_table_print_record(const struct dp_table *t, FILE *f, bool json)
{
	for (size_t r = 0; r < t->nrows; r++) {
		if (json) {
			_cleanup_(json_object_putp) struct json_object *o = row_object(t, r);
			if (!o)
				return -1;
			fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
			continue;
		}
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			fprintf(f, "%s:", t->cols[c].header);
			_cleanup_(json_object_putp) struct json_object *v = cell_json(&t->rows[r][c]);
			if (record_value_print(f, v, 8) < 0)
				return -1;
		}
		if (r + 1 < t->nrows)
			fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}
