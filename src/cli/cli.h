/* The devpass command: a verb table (main.c) dispatching to one file per verb. */
#ifndef DEVPASS_CLI_H
#define DEVPASS_CLI_H

#include <stdbool.h>

#include "devpass.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct cli_ctx {
	bool json;
};

struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv, const struct cli_ctx *ctx);
	const char *summary;
	const char *usage;       /* printed by `devpass VERB --help` */
};

int cmd_list(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_show(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_groups(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_check(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_bind(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_unbind(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_restore(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_reset(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_pool(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_claim(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_release(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_export(int argc, char **argv, const struct cli_ctx *ctx);

/* output.c */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_lib_error(int code);   /* prints dp_error_message() */
int cli_print_usage(const char *verb);
/* --timeout SEC (fractions allowed, up to an hour) into milliseconds; prints the error */
int cli_timeout_parse(const char *text, int *timeout_ms);
/* Reads the inventory with host-critical marks; prints the error and returns non-zero. */
int cli_inventory_load(struct dp_pci_list *list, unsigned flags);
/* The (short) description list/groups print, without pci.ids' bracketed code names. */
void cli_json_add_device_summary(struct json_object *o, const struct dp_pci_device *dev);

/* binding-output.c: options and output shared by bind, unbind, restore and reset */
struct cli_bind_args {
	struct dp_bind_options opts;
	bool all;                  /* restore --all */
	char **addrs;
	size_t naddrs;
};
/* allow: a string of the options this verb takes, from "dfoa" (--driver, --force,
 * --owner, --all); --dry-run and --timeout are always taken. */
int cli_bind_args_parse(int argc, char **argv, const char *verb, const char *allow,
                        struct cli_bind_args *out);
/* Prints the plan (text table or JSON) and any warnings or error; returns the exit code. */
int cli_plan_report(const struct dp_bind_plan *plan, const struct cli_ctx *ctx, bool dry_run,
                    int error);
/* The same, for reset: also the kernel's reset methods. */
int cli_reset_report(const struct dp_bind_plan *plan, const struct cli_ctx *ctx, bool dry_run,
                     int error, const char *methods);
/* changeset-output.c: setup and persist. Record tables passed as summary end with these
 * columns, which the report fills (JSON only; the text shows a table or a diff). */
#define CLI_CHANGESET_COLUMN_LIST \
	{"ok", "OK", 0, 0}, {"dry_run", "Dry run", 0, 0}, {"error", "Error", 0, 0}, \
	{"files", "Files", 0, 0}, {"commands", "Commands", 0, 0}, \
	{"warnings", "Warnings", 0, 0}, {"notes", "Notes", 0, 0}, {"kept", "Kept", 0, 0}
#define CLI_CHANGESET_NCOLUMNS 8
extern const struct dp_column cli_changeset_columns[CLI_CHANGESET_NCOLUMNS];
int cli_changeset_report(const struct dp_changeset *cs, struct dp_table *summary,
                         const struct cli_ctx *ctx, bool dry_run, int error);
int cmd_setup(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_persist(int argc, char **argv, const struct cli_ctx *ctx);

/* claim-output.c: claim, release and pool gc (release: what was done to each) */
int cli_claims_report(const struct dp_claim_list *claims, const struct cli_ctx *ctx, bool release,
                      int error);

/* Exit code for a library error: bad input is usage (2), the rest failure (1). */
int cli_exit_for(int error);

#endif
