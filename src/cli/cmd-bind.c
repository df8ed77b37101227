/* devpass bind / unbind — move functions to vfio-pci (whole IOMMU groups), to another
 * driver, or to no driver at all. */
#include <stdio.h>

#include "cli.h"

static int binding_run(enum dp_bind_kind kind, int argc, char **argv, const char *verb,
                       const char *allow, const struct cli_ctx *ctx)
{
	struct cli_bind_args args;
	int r = cli_bind_args_parse(argc, argv, verb, allow, &args);
	if (r)
		return r;
	struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, 0)))
		return r;
	struct dp_bind_plan plan;
	int err = dp_bind_plan_make(kind, &list, args.addrs, args.naddrs, args.all, &args.opts, &plan);
	if (err == 0)
		err = dp_bind_plan_apply(&plan, &list, &args.opts);
	if (kind == DP_RESTORE && args.all && err == 0 && plan.n == 0 && !ctx->json)
		printf("Nothing to restore: devpass has no device on record as changed.\n");
	r = cli_plan_report(&plan, ctx, args.opts.dry_run, err);
	dp_bind_plan_free(&plan);
	dp_pci_list_free(&list);
	return r;
}

int cmd_bind(int argc, char **argv, const struct cli_ctx *ctx)
{
	return binding_run(DP_BIND, argc, argv, "bind", "dfo", ctx);
}

int cmd_unbind(int argc, char **argv, const struct cli_ctx *ctx)
{
	return binding_run(DP_UNBIND, argc, argv, "unbind", "f", ctx);
}

int cmd_restore(int argc, char **argv, const struct cli_ctx *ctx)
{
	return binding_run(DP_RESTORE, argc, argv, "restore", "fa", ctx);
}
