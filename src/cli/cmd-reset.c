/* devpass reset ADDR — reset one function through the kernel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* the one step of a reset, reported like the steps of a bind */
static void reset_step(struct dp_bind_plan *plan, const struct dp_pci_device *dev)
{
	plan->steps = calloc(1, sizeof(*plan->steps));
	plan->n = 1;
	struct dp_bind_step *s = &plan->steps[0];
	snprintf(s->address, sizeof(s->address), "%s", dev->address);
	s->group = dev->iommu_group;
	snprintf(s->from, sizeof(s->from), "%s", dev->driver);
	snprintf(s->to, sizeof(s->to), "%s", dev->driver);
	s->action = DP_STEP_RESET;
	s->result = DP_STEP_PLANNED;
	s->requested = true;
}

int cmd_reset(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_bind_args args;
	int r = cli_bind_args_parse(argc, argv, "reset", "f", &args);
	if (r)
		return r;
	if (args.naddrs != 1)
		return cli_error(EXIT_USAGE, "devpass reset takes one address");
	struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, 0)))
		return r;
	struct dp_pci_device *dev = NULL;
	struct dp_bind_plan plan = {0};
	char methods[128] = "";
	int err = dp_pci_device_lookup(&list, args.addrs[0], &dev);
	if (err == 0) {
		reset_step(&plan, dev);
		if (dp_reset_methods(dev, methods, sizeof(methods)) < 0)
			snprintf(methods, sizeof(methods), "none");
		err = dp_reset_check(dev, args.opts.force, dp_reset_bus_shared(&list, dev), &plan.warnings);
		plan.steps[0].result = err ? DP_STEP_REFUSED : DP_STEP_PLANNED;
	}
	if (err == 0 && !args.opts.dry_run) {
		err = dp_reset_apply(dev, args.opts.timeout_ms);
		plan.steps[0].result = err ? DP_STEP_FAILED : DP_STEP_DONE;
	}
	r = cli_reset_report(&plan, ctx, args.opts.dry_run, err,
	                     dev ? (*methods ? methods : "(kernel default)") : NULL);
	dp_bind_plan_free(&plan);
	dp_pci_list_free(&list);
	return r;
}
