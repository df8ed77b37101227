/* devpass vm: the sub-verbs (vm-*.c) and what they share (cmd-vm.c). */
#ifndef DEVPASS_VM_CLI_H
#define DEVPASS_VM_CLI_H

#include "cli.h"

int vm_create(int argc, char **argv, const struct cli_ctx *ctx);
int vm_start(int argc, char **argv, const struct cli_ctx *ctx);
int vm_stop(int argc, char **argv, const struct cli_ctx *ctx);
int vm_console(int argc, char **argv, const struct cli_ctx *ctx);
int vm_log(int argc, char **argv, const struct cli_ctx *ctx);
int vm_destroy(int argc, char **argv, const struct cli_ctx *ctx);
int vm_list(int argc, char **argv, const struct cli_ctx *ctx);
int vm_show(int argc, char **argv, const struct cli_ctx *ctx);
int vm_validate(int argc, char **argv, const struct cli_ctx *ctx);
int vm_export(int argc, char **argv, const struct cli_ctx *ctx);

/* Parses options, handing each to take (non-zero from it stops with that exit code). */
int vm_opts_parse(int argc, char **argv, const char *verb, const struct cli_option *options,
                  int (*take)(int id, const char *value, void *ctx), void *ctx, struct cli_opts *p);
int vm_name_arg(const struct cli_opts *p, const char *verb, const char **name);

struct vm_report_how {
	bool dry_run;
	bool all_findings;           /* ok findings too (validate) */
	bool print_argv;             /* the QEMU command line (--dry-run, validate) */
	struct json_object *extra;   /* more keys for the JSON answer */
};
/* The findings as validate --json has them: [{check, result, detail, advice}] (NULL: no memory) */
struct json_object *vm_findings_json(const struct dp_vm_report *r);
int vm_report(const char *name, const struct dp_vm_report *r, const struct cli_ctx *ctx,
              const struct vm_report_how *how, int error);
void vm_print_argv(FILE *f, const struct dp_strv *argv);
/* vm-run.c: start a VM already defined (create --start too) */
int vm_start_named(const char *name, const struct dp_vm_options *o, const struct cli_ctx *ctx);

#endif
