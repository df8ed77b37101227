/* Output shared by the verbs that write configuration files (setup, persist): the files
 * and commands of a change set, as a table, a diff (--dry-run) or JSON. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct dp_column file_columns[] = {
	{"change", "CHANGE", DP_COL_TEXT, 0},
	{"path", "PATH", DP_COL_TEXT, 0},
	{"diff", "DIFF", 0, 0},
};

static const struct dp_column command_columns[] = {
	{"command", "COMMAND", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
	{"status", "EXIT", 0, 0},
};

static char *change_diff(const struct dp_file_change *c)
{
	struct dp_changeset one = {.files = (struct dp_file_change *)c, .n = 1};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dp_changeset_diff(&one, f);
	fclose(f);
	return text;
}

static struct dp_table *files_table(const struct dp_changeset *cs)
{
	struct dp_table *t = dp_table_new(file_columns, sizeof(file_columns) / sizeof(*file_columns));
	for (size_t i = 0; i < cs->n; i++) {
		char *diff = change_diff(&cs->files[i]);
		dp_table_add_row(t);
		dp_table_set_str(t, "change", dp_file_op_name(cs->files[i].op));
		dp_table_set_str(t, "path", cs->files[i].path);
		dp_table_set_str(t, "diff", diff);
		free(diff);
	}
	return t;
}

static const char *command_state(const struct dp_command *c, bool dry_run)
{
	if (c->run)
		return c->status == 0 ? "done" : "failed";
	if (dry_run)
		return "would run";
	return dp_root_is_host() ? "not run" : "not run (--root)";
}

static struct dp_table *commands_table(const struct dp_changeset *cs, bool dry_run)
{
	struct dp_table *t = dp_table_new(command_columns, sizeof(command_columns) / sizeof(*command_columns));
	for (size_t i = 0; i < cs->ncommands; i++) {
		dp_table_add_row(t);
		dp_table_set_str(t, "command", cs->commands[i].line);
		dp_table_set_str(t, "state", command_state(&cs->commands[i], dry_run));
		if (cs->commands[i].run)
			dp_table_set_int(t, "status", cs->commands[i].status);
		else
			dp_table_set_null(t, "status");
	}
	return t;
}

static void lines_print(FILE *f, const char *prefix, const struct dp_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		fprintf(f, "%s%s\n", prefix, sv->v[i]);
}

static void text_report(const struct dp_changeset *cs, struct dp_table *summary, bool dry_run,
                        struct dp_table *files, struct dp_table *commands,
                        const struct dp_strv *notes)
{
	if (summary) {
		dp_table_print_record(summary, stdout, false);
		printf("\n");
	}
	if (dry_run && cs->n) {
		dp_changeset_diff(cs, stdout);
		printf("\n");
	} else if (cs->n)
		dp_table_print(files, stdout, false);
	if (cs->ncommands) {
		printf("%s", cs->n && !dry_run ? "\n" : "");
		dp_table_print(commands, stdout, false);
	}
	if (!cs->n && !cs->ncommands && !cs->kept.n)
		printf("%s\n", cs->manual ? "Nothing was written."
		                           : "Nothing to change: the configuration is already as wanted.");
	lines_print(stdout, "Note: ", notes);
	if (dry_run)
		printf("(dry run: nothing was changed)\n");
}

int cli_changeset_report(const struct dp_changeset *cs, struct dp_table *summary,
                         const struct cli_ctx *ctx, bool dry_run, int error)
{
	struct dp_table *files = files_table(cs), *commands = commands_table(cs, dry_run);
	for (size_t i = 0; i < cs->warnings.n; i++)
		fprintf(stderr, "devpass: WARNING: %s\n", cs->warnings.v[i]);
	for (size_t i = 0; i < cs->kept.n; i++)
		fprintf(stderr, "devpass: left %s alone: it was changed after devpass wrote it; "
		        "take devpass's change out of it by hand (see 'devpass ... --dry-run' for what "
		        "devpass wrote)\n",
		        cs->kept.v[i]);
	struct dp_table *owned = NULL;
	struct dp_strv notes = {0};
	if (cli_notes_render(cs, &notes) < 0) {
		dp_strv_free(&notes);
		dp_table_free(files);
		dp_table_free(commands);
		return cli_error(EXIT_FAILED, "out of memory");
	}
	if (ctx->json) {
		if (!summary) {
			summary = owned = dp_table_new(cli_changeset_columns, CLI_CHANGESET_NCOLUMNS);
			dp_table_add_row(summary);
		}
		dp_table_set_bool(summary, "ok", error == 0 && !cs->kept.n);
		dp_table_set_bool(summary, "dry_run", dry_run);
		char error_text[2048];
		dp_table_set_str(summary, "error", error ? cli_error_text(error_text, sizeof(error_text)) : NULL);
		dp_table_set_json(summary, "files", dp_table_to_json(files));
		dp_table_set_json(summary, "commands", dp_table_to_json(commands));
		dp_table_set_strv(summary, "warnings", &cs->warnings);
		dp_table_set_strv(summary, "notes", &notes);
		dp_table_set_strv(summary, "kept", &cs->kept);
		dp_table_print_record(summary, stdout, true);
	} else if (!error)
		text_report(cs, summary, dry_run, files, commands, &notes);
	dp_strv_free(&notes);
	dp_table_free(owned);
	dp_table_free(files);
	dp_table_free(commands);
	if (error)
		return cli_lib_error(cli_exit_for(error));
	return cs->kept.n ? EXIT_FAILED : EXIT_OK;
}

const struct dp_column cli_changeset_columns[CLI_CHANGESET_NCOLUMNS] = {CLI_CHANGESET_COLUMN_LIST};
