/* One table type for every command: rows of typed cells, rendered as an aligned text
 * table, a "Header: value" record, or JSON. Scalar cells (strings, integers, booleans,
 * null) are stored as such and written straight out; nested values (objects, arrays)
 * are json-c objects. Long JSON arrays are written row by row as they are built, so a
 * 10,000-row listing never sits in memory whole. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"

enum cell_type { CELL_NULL, CELL_STR, CELL_INT, CELL_BOOL, CELL_JSON };

struct cell {
	enum cell_type type;
	union {
		char *s;
		long long i;
		bool b;
		struct json_object *j;
	};
};

struct dp_table {
	const struct dp_column *cols;
	size_t ncols;
	struct cell **rows;           /* rows[r][c] */
	size_t nrows, cap;
	FILE *stream;                 /* JSON rows go out as soon as they are complete */
	size_t streamed;              /* rows written out so far */
	size_t added;                 /* rows ever added */
	size_t hint;                  /* rows are usually filled in column order */
};

static void cell_clear(struct cell *c)
{
	if (c->type == CELL_STR)
		free(c->s);
	else if (c->type == CELL_JSON)
		json_object_put(c->j);
	c->type = CELL_NULL;
}

static void row_free(const struct dp_table *t, struct cell *row)
{
	for (size_t c = 0; c < t->ncols; c++)
		cell_clear(&row[c]);
	free(row);
}

static void json_row_write(struct dp_table *t, FILE *f, size_t r);

struct dp_table *dp_table_new(const struct dp_column *cols, size_t ncols)
{
	struct dp_table *t = calloc(1, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
	return t;
}

void dp_table_free(struct dp_table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		row_free(t, t->rows[r]);
	free(t->rows);
	free(t);
}

void dp_table_stream_json(struct dp_table *t, FILE *f)
{
	t->stream = f;
}

void dp_table_add_row(struct dp_table *t)
{
	if (t->stream && t->nrows) {
		json_row_write(t, t->stream, 0);
		row_free(t, t->rows[0]);
		t->nrows = 0;
	}
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->rows = realloc(t->rows, t->cap * sizeof(*t->rows));
	}
	t->rows[t->nrows++] = calloc(t->ncols, sizeof(struct cell));
	t->added++;
}

size_t dp_table_rows(const struct dp_table *t)
{
	return t->added;
}

static struct cell *cell_at(struct dp_table *t, const char *key)
{
	for (size_t k = 0; k < t->ncols; k++) {
		size_t c = (t->hint + k) % t->ncols;
		if (strcmp(t->cols[c].key, key) == 0) {
			t->hint = c + 1;
			struct cell *cell = &t->rows[t->nrows - 1][c];
			cell_clear(cell);
			return cell;
		}
	}
	fprintf(stderr, "devpass: internal error: no column '%s'\n", key);
	abort();
}

void dp_table_set_json(struct dp_table *t, const char *key, struct json_object *value)
{
	struct cell *c = cell_at(t, key);
	if (!value)
		return;
	switch (json_object_get_type(value)) {   /* scalars are kept as scalars */
	case json_type_string:
		c->type = CELL_STR;
		c->s = strdup(json_object_get_string(value));
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
	struct cell *c = cell_at(t, key);
	if (value) {
		c->type = CELL_STR;
		c->s = strdup(value);
	}
}

void dp_table_set_strf(struct dp_table *t, const char *key, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	struct cell *c = cell_at(t, key);
	if (n >= 0) {
		c->type = CELL_STR;
		c->s = s;
	}
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
	struct json_object *a = json_object_new_array_ext((int)sv->n);
	for (size_t i = 0; i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	dp_table_set_json(t, key, a);
}

/* ---- cells as json-c values and as text --------------------------------------- */

static struct json_object *cell_json(const struct cell *c)
{
	switch (c->type) {
	case CELL_STR: return json_object_new_string(c->s);
	case CELL_INT: return json_object_new_int64(c->i);
	case CELL_BOOL: return json_object_new_boolean(c->b);
	case CELL_JSON: return json_object_get(c->j);
	default: return NULL;
	}
}

/* Text form of a value: "-" for null, yes/no, arrays joined with commas. */
static char *json_text(struct json_object *v)
{
	if (!v)
		return strdup("-");
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
	case json_type_string:
		return strdup(json_object_get_string(v));
	case json_type_array: {
		size_t n = json_object_array_length(v), len = 1;
		if (!n)
			return strdup("-");
		char **parts = calloc(n, sizeof(*parts));
		for (size_t i = 0; i < n; i++) {
			parts[i] = json_text(json_object_array_get_idx(v, i));
			len += strlen(parts[i]) + 2;
		}
		char *out = calloc(1, len);
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(out, ", ");
			strcat(out, parts[i]);
			free(parts[i]);
		}
		free(parts);
		return out;
	}
	default:
		return strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
}

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

static int print_text(const struct dp_table *t, FILE *f)
{
	size_t *width = calloc(t->ncols, sizeof(*width));
	char ***text = calloc(t->nrows + 1, sizeof(*text));
	for (size_t c = 0; c < t->ncols; c++)
		width[c] = utf8_width(t->cols[c].header);
	for (size_t r = 0; r < t->nrows; r++) {
		text[r] = calloc(t->ncols, sizeof(char *));
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			text[r][c] = cell_text(&t->rows[r][c]);
			if (t->cols[c].flags & DP_COL_ELLIPSIZE)
				ellipsize(text[r][c], t->cols[c].max_width);
			size_t w = utf8_width(text[r][c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	size_t last = 0;
	for (size_t c = 0; c < t->ncols; c++)
		if (t->cols[c].flags & DP_COL_TEXT)
			last = c;
	for (ssize_t r = -1; r < (ssize_t)t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			const char *s = r < 0 ? t->cols[c].header : text[r][c];
			if (c == last)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%s%*s", s, (int)(width[c] - utf8_width(s) + 2), "");
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			free(text[r][c]);
		free(text[r]);
	}
	free(text);
	free(width);
	return ferror(f) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static struct json_object *row_object(const struct dp_table *t, size_t r)
{
	struct json_object *o = json_object_new_object();
	for (size_t c = 0; c < t->ncols; c++)
		json_object_object_add(o, t->cols[c].key, cell_json(&t->rows[r][c]));
	return o;
}

struct json_object *dp_table_to_json(const struct dp_table *t)
{
	struct json_object *a = json_object_new_array_ext((int)t->nrows);
	for (size_t r = 0; r < t->nrows; r++)
		json_object_array_add(a, row_object(t, r));
	return a;
}

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A JSON string: quotes, backslashes and control characters escaped (RFC 8259). Runs
 * of plain characters go out in one write. */
static void json_string_write(FILE *f, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	fputc_unlocked('"', f);
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		fwrite_unlocked(run, 1, (size_t)((const char *)p - run), f);
		char esc[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 0xf], 0};
		if (*p == '"' || *p == '\\') {
			esc[1] = (char)*p;
			esc[2] = 0;
		}
		fputs_unlocked(*p == '\n' ? "\\n" : *p == '\t' ? "\\t" : esc, f);
		run = (const char *)p + 1;
	}
	fputs_unlocked(run, f);
	fputc_unlocked('"', f);
}

static void cell_json_write(FILE *f, const struct cell *c)
{
	switch (c->type) {
	case CELL_NULL: fputs("null", f); break;
	case CELL_STR: json_string_write(f, c->s); break;
	case CELL_INT: fprintf(f, "%lld", c->i); break;
	case CELL_BOOL: fputs(c->b ? "true" : "false", f); break;
	case CELL_JSON:
		fputs(json_object_to_json_string_ext(c->j, JSON_C_TO_STRING_SPACED |
		                                     JSON_C_TO_STRING_NOSLASHESCAPE), f);
		break;
	}
}

/* Keys are plain identifiers chosen by the commands, written as they are. */
static void json_row_write(struct dp_table *t, FILE *f, size_t r)
{
	fputs_unlocked(t->streamed ? ",\n{\n" : "[\n{\n", f);
	for (size_t c = 0; c < t->ncols; c++) {
		fputs_unlocked("  \"", f);
		fputs_unlocked(t->cols[c].key, f);
		fputs_unlocked("\": ", f);
		cell_json_write(f, &t->rows[r][c]);
		fputs_unlocked(c + 1 < t->ncols ? ",\n" : "\n", f);
	}
	fputc_unlocked('}', f);
	t->streamed++;
}

int dp_table_print(struct dp_table *t, FILE *f, bool json)
{
	if (!json)
		return print_text(t, f);
	for (size_t r = 0; r < t->nrows; r++)
		json_row_write(t, f, r);
	fputs(t->streamed ? "\n]\n" : "[]\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---- records ------------------------------------------------------------------------ */

static void record_value_print(FILE *f, struct json_object *v, int indent)
{
	if (v && json_object_get_type(v) == json_type_array && json_object_array_length(v) &&
	    json_object_get_type(json_object_array_get_idx(v, 0)) == json_type_object) {
		fputc('\n', f);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			fprintf(f, "%*s", indent, "");
			const char *sep = "";
			json_object_object_foreach(json_object_array_get_idx(v, i), key, val) {
				/* a flag reads as its name when set and is left out when not */
				if (val && json_object_get_type(val) == json_type_boolean) {
					if (json_object_get_boolean(val))
						fprintf(f, "%s[%s]", sep, key);
					continue;
				}
				char *s = json_text(val);
				fprintf(f, "%s%s", sep, s);
				free(s);
				sep = "  ";
			}
			fputc('\n', f);
		}
		return;
	}
	if (v && json_object_get_type(v) == json_type_object) {
		fputc('\n', f);
		json_object_object_foreach(v, key, val) {
			char *s = json_text(val);
			fprintf(f, "%*s%s: %s\n", indent, "", key, s);
			free(s);
		}
		return;
	}
	char *s = json_text(v);
	fprintf(f, " %s\n", s);
	free(s);
}

int dp_table_print_record(const struct dp_table *t, FILE *f, bool json)
{
	for (size_t r = 0; r < t->nrows; r++) {
		if (json) {
			struct json_object *o = row_object(t, r);
			fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
			json_object_put(o);
			continue;
		}
		for (size_t c = 0; c < t->ncols; c++) {
			if (!(t->cols[c].flags & DP_COL_TEXT))
				continue;
			fprintf(f, "%s:", t->cols[c].header);
			struct json_object *v = cell_json(&t->rows[r][c]);
			record_value_print(f, v, 8);
			json_object_put(v);
		}
		if (r + 1 < t->nrows)
			fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}
