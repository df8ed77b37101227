/* The devpass command: a verb table (main.c) dispatching to one file per verb. */
#ifndef DEVPASS_CLI_H
#define DEVPASS_CLI_H

#include <stdbool.h>
#include <stdio.h>

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
/* export-libvirt.c: `devpass export libvirt ...` (argv[1] is "libvirt") */
int cmd_export_libvirt(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_vm(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_usb(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_sriov(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_mdev(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_libvirt(int argc, char **argv, const struct cli_ctx *ctx);

/* options.c: the one option parser of every verb. Long names match exactly (no
 * abbreviations); values come as --name VALUE, --name=VALUE, -s VALUE or -sVALUE; a
 * value that starts with '--' must use the = form. --json, --root and --help are
 * understood everywhere. Positional arguments are gathered, in order, in args. */
enum { CLI_OPT_GLOBAL = 1000, CLI_OPT_JSON, CLI_OPT_ROOT, CLI_OPT_HELP };
struct cli_option {
	const char *name;         /* long name without "--"; NULL ends the table */
	char short_name;          /* 0: none */
	bool takes_value;
	int id;                   /* > 0 and < CLI_OPT_GLOBAL */
};
struct cli_opts {
	int argc;
	char **argv;
	int next;                 /* the argv element read next */
	int short_pos;            /* inside a group of short options (-ab), or 0 */
	bool no_more_options;     /* after "--" */
	bool stop_at_arg;         /* main: stop at the first positional argument (the verb) */
	bool help;                /* main: --help was given before the verb */
	const char *verb;         /* for messages: "list", "pool create" */
	char help_verb[32];       /* the verb whose --help the messages point to */
	char help_cmd[48];        /* "devpass list --help" */
	const struct cli_option *options;
	const char *value;        /* the value of the option just returned */
	char name[80];            /* that option as named: "--class" or "-s" */
	char **args;              /* positional arguments (stored over argv) */
	size_t nargs;
	int exit;                 /* after -1: the exit code */
};
void cli_opts_init(struct cli_opts *p, int argc, char **argv, const char *verb,
                   const struct cli_option *options);
/* The next option's id, 0 when done (the root is then in effect), -1 when the verb must
 * return p->exit (the message is printed). --help after the verb prints the verb's help
 * and exits 0. */
int cli_opts_next(struct cli_opts *p);
/* For verbs without options: parses, then checks the argument count. Returns an exit code. */
int cli_opts_none(int argc, char **argv, const char *verb, size_t min_args, size_t max_args,
                  struct cli_opts *p);
int cli_opts_count(const struct cli_opts *p, size_t min_args, size_t max_args, const char *what);
size_t cli_edit_distance(const char *a, const char *b);
bool cli_is_near_miss(const char *typed, const char *name);
/* main.c: what global options met after the verb change */
void cli_json_request(void);
int cli_root_request(const char *dir);   /* prints the error and returns non-zero */
int cli_root_apply(void);                /* once: --root, else DEVPASS_ROOT, else / */

/* output.c */
/* A text table; on a terminal, lines longer than its width are cut (with "...") unless
 * wide; into a pipe or file nothing is ever cut. */
int cli_table_print_fitted(struct dp_table *t, FILE *f, bool wide);
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_lib_error(int code);   /* prints cli_error_text() */
/* advice.c: the last library error with the advice its remedy calls for (the command to
 * run, the option concerned), into buf */
const char *cli_error_text(char *buf, size_t size);
/* advice.c: the command or option that remedy r about subject calls for ("" none) */
const char *cli_advice(enum dp_remedy r, const char *subject, char *buf, size_t size);
/* advice.c: a change set's notes, the one that names a step with its command */
int cli_notes_render(const struct dp_changeset *cs, struct dp_strv *out);
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

/* console-relay.c: `vm console`. Joins the terminal (in_fd, out_fd) to a console socket:
 * in_fd's tty goes raw and is restored on every way out, bytes flow both ways until the
 * escape byte is typed (not sent; ^] = 0x1d, as virsh console), the console closes ("the
 * console closed" on stderr) or SIGINT/SIGTERM/SIGHUP arrives. In_fd ending (a pipe) stops
 * only the keyboard side. Returns one of these, or -errno. */
#define CLI_CONSOLE_ESCAPE 0x1d
enum { CLI_CONSOLE_ESCAPED = 0, CLI_CONSOLE_CLOSED = 1, CLI_CONSOLE_SIGNALLED = 2 };
int cli_console_relay(int sock, int in_fd, int out_fd, unsigned char escape);

#endif
