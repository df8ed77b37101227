/* devpass vm start NAME | vm stop NAME: a VM's devices are taken at start and given back
 * at stop (or by its supervisor, when QEMU ends by itself). */
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "cli.h"
#include "vm-cli.h"

enum { O_DRY = 1, O_TIMEOUT, O_FORCE };

static const struct cli_option run_options[] = {
	{"dry-run", 'n', false, O_DRY}, {"timeout", 0, true, O_TIMEOUT}, {NULL, 0, false, 0},
};

static int take(int id, const char *value, void *ctx)
{
	struct dp_vm_options *o = ctx;
	if (id == O_DRY)
		o->dry_run = true;
	else if (id == O_TIMEOUT && cli_timeout_parse(value, &o->timeout_ms))
		return EXIT_USAGE;
	return 0;
}

int vm_start_named(const char *name, const struct dp_vm_options *o, const struct cli_ctx *ctx)
{
	struct dp_pci_list list = {0};
	int r = cli_inventory_load(&list, DP_SCAN_NAMES);
	if (r)
		return r;
	_cleanup_(dp_vm_report_freep) struct dp_vm_report rep = {0};
	int err = dp_vm_start(name, &list, o, &rep);
	struct vm_report_how how = { .dry_run = o->dry_run, .print_argv = o->dry_run };
	r = vm_report(name, &rep, ctx, &how, err);
	if (r == EXIT_OK && !ctx->json && !o->dry_run) {
		struct dp_vm_status st = {0};
		if (dp_vm_get(name, NULL, &st) == 0)
			printf("Started VM %s (QEMU pid %d, %zu device(s) passed through). Console: devpass vm "
			       "console %s; log: devpass vm log %s\n", name, (int)st.qemu_pid, st.ntaken, name, name);
		dp_vm_status_free(&st);
	}
	dp_pci_list_free(&list);
	return r;
}

int vm_start(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct dp_vm_options o = {0};
	struct cli_opts p;
	const char *name;
	int r = vm_opts_parse(argc, argv, "start", run_options, take, &o, &p) ?: vm_name_arg(&p, "start", &name);
	return r ? r : vm_start_named(name, &o, ctx);
}

int vm_stop(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct dp_vm_options o = {0};
	struct cli_opts p;
	const char *name;
	int r = vm_opts_parse(argc, argv, "stop", run_options, take, &o, &p) ?: vm_name_arg(&p, "stop", &name);
	if (r)
		return r;
	struct dp_claim_list released = {0};
	int err = dp_vm_stop(name, NULL, &o, &released);
	if (err < 0 && !ctx->json)
		return cli_lib_error(cli_exit_for(err));
	r = released.n || ctx->json ? cli_claims_report(&released, ctx, true, err) : EXIT_OK;
	if (r == EXIT_OK && !ctx->json)
		printf("%s VM %s%s.\n", o.dry_run ? "Would stop" : "Stopped", name,
		       released.n ? "; its devices are back" : "");
	dp_claim_list_free(&released);
	return r;
}
