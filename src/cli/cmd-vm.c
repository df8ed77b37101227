/* devpass vm — VMs on QEMU with passed-through devices. The sub-verbs live in vm-*.c and
 * dispatch through their own table; this file holds what they share: the options, the
 * report of a validation, and the QEMU command line as a shell would take it. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vm-cli.h"

int vm_opts_parse(int argc, char **argv, const char *verb, const struct cli_option *options,
                  int (*take)(int id, const char *value, void *ctx), void *ctx, struct cli_opts *p)
{
	char name[32];
	snprintf(name, sizeof(name), "vm %s", verb);
	cli_opts_init(p, argc, argv, name, options);
	int c;
	while ((c = cli_opts_next(p)) > 0) {
		int r = take(c, p->value, ctx);
		if (r)
			return r;
	}
	return c < 0 ? p->exit : 0;
}

int vm_name_arg(const struct cli_opts *p, const char *verb, const char **name)
{
	if (p->nargs != 1)
		return cli_error(EXIT_USAGE, "usage: devpass vm %s NAME (devpass vm --help)", verb);
	*name = p->args[0];
	return 0;
}

/* ---- the report of a validation (create, validate, start) ------------------------------ */
static const struct dp_column finding_columns[] = {
	{"check", "CHECK", DP_COL_TEXT, 0},
	{"result", "RESULT", DP_COL_TEXT, 0},
	{"detail", "DETAIL", DP_COL_TEXT, 0},
	{"advice", "ADVICE", DP_COL_TEXT, 0},
};

static const char *verdict_name(enum dp_vm_verdict v)
{
	return v == DP_VM_OK ? "ok" : v == DP_VM_WARN ? "warn" : "FAIL";
}

static struct dp_table *findings_table(const struct dp_vm_report *r)
{
	struct dp_table *t = dp_table_new(finding_columns, sizeof(finding_columns) / sizeof(finding_columns[0]));
	for (size_t i = 0; t && i < r->n; i++) {
		dp_table_add_row(t);
		dp_table_set_str(t, "check", r->f[i].check);
		dp_table_set_str(t, "result", verdict_name(r->f[i].verdict));
		dp_table_set_str(t, "detail", r->f[i].detail);
		dp_table_set_str(t, "advice", r->f[i].advice);
	}
	return t;
}

struct json_object *vm_findings_json(const struct dp_vm_report *r)
{
	struct dp_table *t = findings_table(r);
	json_object *a = t ? dp_table_to_json(t) : NULL;
	dp_table_free(t);
	return a;
}

/* One argument as a POSIX shell reads it back: bare when safe, else single-quoted. */
static void shell_word(FILE *f, const char *s)
{
	if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                      "_-+=/.,:@%") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++)
		*s == '\'' ? fputs("'\\''", f) : fputc(*s, f);
	fputc('\'', f);
}

/* The command line, an option and its value per line, as a shell script would hold it. */
void vm_print_argv(FILE *f, const struct dp_strv *argv)
{
	for (size_t i = 0; i < argv->n; i++) {
		shell_word(f, argv->v[i]);
		bool value_next = i + 1 < argv->n && argv->v[i][0] == '-' && argv->v[i + 1][0] != '-';
		if (value_next) {
			fputc(' ', f);
			shell_word(f, argv->v[++i]);
		}
		fputs(i + 1 < argv->n ? " \\\n    " : "\n", f);
	}
}

static void print_lines(const char *title, const struct dp_strv *sv)
{
	if (!sv->n)
		return;
	printf("%s\n", title);
	for (size_t i = 0; i < sv->n; i++)
		printf("  %s\n", sv->v[i]);
}

static json_object *strv_json(const struct dp_strv *sv)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	return a;
}

static int report_json(const char *name, const struct dp_vm_report *r, bool dry_run, int error,
                       json_object *extra)
{
	json_object *o = json_object_new_object();
	struct dp_table *t = findings_table(r);
	char buf[1024];
	json_object_object_add(o, "ok", json_object_new_boolean(error == 0));
	json_object_object_add(o, "vm", json_object_new_string(name));
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
	json_object_object_add(o, "error", error ? json_object_new_string(cli_error_text(buf, sizeof(buf))) : NULL);
	json_object_object_add(o, "findings", t ? dp_table_to_json(t) : NULL);
	json_object_object_add(o, "chosen", strv_json(&r->chosen));
	json_object_object_add(o, "rejected", strv_json(&r->rejected));
	json_object_object_add(o, "qemu_command", strv_json(&r->argv));
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(o, k, json_object_get(v));
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	dp_table_free(t);
	return error ? cli_exit_for(error) : EXIT_OK;
}

/* Prints what was chosen and rejected, the findings (all of them when verbose or on a
 * failure, else only those that are not ok), and the command line when asked. */
int vm_report(const char *name, const struct dp_vm_report *r, const struct cli_ctx *ctx,
              const struct vm_report_how *how, int error)
{
	if (ctx->json)
		return report_json(name, r, how->dry_run, error, how->extra);
	print_lines("Chosen:", &r->chosen);
	print_lines(error ? "Rejected:" : "Not chosen:", &r->rejected);
	struct dp_vm_report shown = *r;
	struct dp_vm_finding *keep = calloc(r->n ? r->n : 1, sizeof(*keep));
	shown.f = keep;
	shown.n = 0;
	for (size_t i = 0; keep && i < r->n; i++)
		if (how->all_findings || error || r->f[i].verdict != DP_VM_OK)
			keep[shown.n++] = r->f[i];
	struct dp_table *t = shown.n ? findings_table(&shown) : NULL;
	if (t)
		cli_table_print_fitted(t, stdout, true);
	dp_table_free(t);
	free(keep);
	if (how->print_argv && r->argv.n && !error)
		vm_print_argv(stdout, &r->argv);
	return error ? cli_lib_error(cli_exit_for(error)) : EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------------------ */
static const struct cli_verb vm_verbs[] = {
	{"create", vm_create, NULL, NULL},
	{"start", vm_start, NULL, NULL},
	{"stop", vm_stop, NULL, NULL},
	{"console", vm_console, NULL, NULL},
	{"log", vm_log, NULL, NULL},
	{"destroy", vm_destroy, NULL, NULL},
	{"list", vm_list, NULL, NULL},
	{"show", vm_show, NULL, NULL},
	{"validate", vm_validate, NULL, NULL},
	{"export", vm_export, NULL, NULL},
};

int cmd_vm(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const char names[] = "create, start, stop, console, log, destroy, list, show, validate or export";
	if (argc >= 2 && argv[1][0] == '-') {   /* vm --help; or an option before the sub-command */
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "vm", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass vm needs a sub-command first: %s (devpass vm --help)", names);
	for (size_t i = 0; i < sizeof(vm_verbs) / sizeof(vm_verbs[0]); i++)
		if (strcmp(vm_verbs[i].name, argv[1]) == 0)
			return vm_verbs[i].run(argc - 1, argv + 1, ctx);
	for (size_t i = 0; i < sizeof(vm_verbs) / sizeof(vm_verbs[0]); i++)
		if (cli_is_near_miss(argv[1], vm_verbs[i].name))
			return cli_error(EXIT_USAGE, "unknown vm sub-command '%.100s' (did you mean %s?)",
			                 argv[1], vm_verbs[i].name);
	return cli_error(EXIT_USAGE, "unknown vm sub-command '%.100s': %s (devpass vm --help)", argv[1], names);
}
