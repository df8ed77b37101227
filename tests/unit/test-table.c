#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"

static const struct dp_column cols[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"group", "GROUP", DP_COL_TEXT, 0},
	{"name", "NAME", DP_COL_TEXT | DP_COL_ELLIPSIZE, 10},
	{"hidden", "HIDDEN", 0, 0},
};

static char *render(struct dp_table *t, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	dp_table_print(t, f, json);
	fclose(f);
	return buf;
}

static void sample_fill(struct dp_table *t)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "address", "0000:01:00.0");
	dp_table_set_int(t, "group", 7);
	dp_table_set_str(t, "name", "A very long device name");
	dp_table_set_bool(t, "hidden", true);
	dp_table_add_row(t);
	dp_table_set_str(t, "address", "0000:02:00.0");
	dp_table_set_null(t, "group");
	dp_table_set_str(t, "name", "short");
}

static struct dp_table *sample(void)
{
	struct dp_table *t = dp_table_new(cols, 4);
	sample_fill(t);
	return t;
}

static void text_aligns_and_hides_json_only_columns(void **state)
{
	struct dp_table *t = sample();
	char *out = render(t, false);
	assert_string_equal(out,
	                    "ADDRESS       GROUP  NAME\n"
	                    "0000:01:00.0  7      A very ...\n"
	                    "0000:02:00.0  -      short\n");
	free(out);
	dp_table_free(t);
}

static void json_has_every_column_with_types(void **state)
{
	struct dp_table *t = sample();
	char *out = render(t, true);
	struct json_object *a = json_tokener_parse(out);
	assert_non_null(a);
	assert_int_equal(json_object_array_length(a), 2);
	struct json_object *r0 = json_object_array_get_idx(a, 0), *v;
	assert_true(json_object_object_get_ex(r0, "group", &v));
	assert_int_equal(json_object_get_int(v), 7);
	assert_true(json_object_object_get_ex(r0, "name", &v));
	assert_string_equal(json_object_get_string(v), "A very long device name");
	assert_true(json_object_object_get_ex(r0, "hidden", &v));
	assert_true(json_object_get_boolean(v));
	struct json_object *r1 = json_object_array_get_idx(a, 1);
	assert_true(json_object_object_get_ex(r1, "group", &v));
	assert_null(v);
	json_object_put(a);
	free(out);
	dp_table_free(t);
}

static void json_strings_round_trip(void **state)
{
	static const char *const tricky[] = {"quote \" here", "back\\slash", "line\nbreak\ttab",
	                                     "ctl \x01\x1f", "UTF-8 caf\xc3\xa9 \xe2\x94\x9c", "/slash/", ""};
	struct dp_table *t = dp_table_new(cols, 4);
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		dp_table_add_row(t);
		dp_table_set_str(t, "name", tricky[i]);
	}
	char *out = render(t, true);
	struct json_object *a = json_tokener_parse(out);
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		struct json_object *v;
		assert_true(json_object_object_get_ex(json_object_array_get_idx(a, i), "name", &v));
		assert_string_equal(json_object_get_string(v), tricky[i]);
	}
	json_object_put(a);
	free(out);
	dp_table_free(t);
}

static void streamed_json_equals_buffered(void **state)
{
	struct dp_table *a = sample(), *b = dp_table_new(cols, 4);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	dp_table_stream_json(b, f);
	sample_fill(b);
	dp_table_print(b, f, true);
	fclose(f);
	char *whole = render(a, true);
	assert_string_equal(buf, whole);
	assert_int_equal(dp_table_rows(b), 2);
	free(buf);
	free(whole);
	dp_table_free(a);
	dp_table_free(b);
}

static void empty_table_is_an_empty_array(void **state)
{
	struct dp_table *t = dp_table_new(cols, 4);
	char *out = render(t, true);
	assert_string_equal(out, "[]\n");
	free(out);
	dp_table_free(t);
}

/* Every ASCII byte at every position around the 8-byte words the writer copies whole */
static void json_escapes_every_byte_at_every_offset(void **state)
{
	struct dp_table *t = dp_table_new(cols, 4);
	char text[128][24];
	size_t n = 0;
	for (int c = 1; c < 0x80; c++) {
		int at = c % 20;
		memset(text[n], 'x', 23);
		text[n][23] = '\0';
		text[n][at] = (char)c;
		text[n][at + 3] = '\0';   /* lengths 4..23 */
		dp_table_add_row(t);
		dp_table_set_str(t, "name", text[n++]);
	}
	char *out = render(t, true);
	struct json_object *a = json_tokener_parse(out);
	assert_non_null(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v;
		assert_true(json_object_object_get_ex(json_object_array_get_idx(a, i), "name", &v));
		assert_string_equal(json_object_get_string(v), text[i]);
	}
	json_object_put(a);
	free(out);
	dp_table_free(t);
}

/* String lists are written as json-c writes an array of strings, and read as text as
 * "a, b" (or "-" when empty). */
static void string_lists_render_like_json_c(void **state)
{
	static const char *const items[] = {"plain", "with \"quote\" and /slash", "caf\xc3\xa9"};
	struct dp_strv sv = {(char **)items, 3}, none = {0};
	struct dp_table *t = dp_table_new(cols, 4);
	dp_table_add_row(t);
	dp_table_set_str(t, "address", "0000:01:00.0");
	dp_table_set_strv(t, "name", &sv);
	dp_table_add_row(t);
	dp_table_set_str(t, "address", "0000:02:00.0");
	dp_table_set_strv(t, "name", &none);
	char *out = render(t, true);
	struct json_object *a = json_tokener_parse(out), *v;
	assert_non_null(a);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(a, 0), "name", &v));
	const char *expect = json_object_to_json_string_ext(v, JSON_C_TO_STRING_SPACED |
	                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_non_null(strstr(out, expect));
	assert_non_null(strstr(out, "\"name\": [ ]"));
	assert_int_equal(json_object_array_length(v), 3);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), items[1]);
	json_object_put(a);
	free(out);
	out = render(t, false);
	assert_string_equal(out, "ADDRESS       GROUP  NAME\n"
	                         "0000:01:00.0  -      plain, ...\n"
	                         "0000:02:00.0  -      -\n");
	free(out);
	struct json_object *whole = dp_table_to_json(t);
	v = json_object_object_get(json_object_array_get_idx(whole, 0), "name");
	assert_int_equal(json_object_array_length(v), 3);
	json_object_put(whole);
	dp_table_free(t);
}

/* Rows past the writer's buffer and the string arena's block, streamed and whole. */
static void long_output_streams_like_it_buffers(void **state)
{
	static char big[40000];
	memset(big, 'b', sizeof(big) - 1);
	struct dp_table *a = dp_table_new(cols, 4), *b = dp_table_new(cols, 4);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	dp_table_stream_json(b, f);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 3000; i++) {
			struct dp_table *t = pass ? b : a;
			dp_table_add_row(t);
			dp_table_set_strf(t, "address", "0000:%02x:%02x.%x", i >> 8, (i >> 3) & 0x1f, i & 7);
			dp_table_set_int(t, "group", -i);
			dp_table_set_str(t, "name", i % 1000 == 7 ? big : "name");
			dp_table_set_strf(t, "hidden", "%s-%d", i % 1000 == 9 ? big : "", i);
		}
	dp_table_print(b, f, true);
	fclose(f);
	char *whole = render(a, true);
	assert_int_equal(strlen(buf), strlen(whole));
	assert_string_equal(buf, whole);
	assert_int_equal(dp_table_rows(b), 3000);
	struct json_object *arr = json_tokener_parse(whole), *v;
	assert_non_null(arr);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 2999), "group", &v));
	assert_int_equal(json_object_get_int(v), -2999);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 1007), "name", &v));
	assert_string_equal(json_object_get_string(v), big);
	json_object_put(arr);
	free(buf);
	free(whole);
	dp_table_free(a);
	dp_table_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_aligns_and_hides_json_only_columns),
		cmocka_unit_test(json_has_every_column_with_types),
		cmocka_unit_test(json_strings_round_trip),
		cmocka_unit_test(streamed_json_equals_buffered),
		cmocka_unit_test(empty_table_is_an_empty_array),
		cmocka_unit_test(json_escapes_every_byte_at_every_offset),
		cmocka_unit_test(string_lists_render_like_json_c),
		cmocka_unit_test(long_output_streams_like_it_buffers),
	};
	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
