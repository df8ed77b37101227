/* devpass reset ADDR — reset one function through the kernel. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "cli.h"

static const struct dp_column reset_columns[] = {
	{"address", "Address", DP_COL_TEXT, 0},
	{"methods", "Reset methods", DP_COL_TEXT, 0},
	{"result", "Result", DP_COL_TEXT, 0},
	{"ok", "OK", 0, 0},
	{"error", "Error", 0, 0},
};

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
	struct dp_strv warnings = {0};
	char methods[128] = "";
	int err = dp_pci_device_lookup(&list, args.addrs[0], &dev);
	if (err == 0)
		err = dp_reset_methods(dev, methods, sizeof(methods)) < 0
		      ? dp_error_set(-ENOTSUP, "%s cannot be reset: the kernel offers no reset for it", dev->address)
		      : dp_reset_check(dev, args.opts.force, &warnings);
	if (err == 0 && !args.opts.dry_run)
		err = dp_reset_apply(dev, args.opts.timeout_ms);
	struct dp_table *t = dp_table_new(reset_columns, sizeof(reset_columns) / sizeof(reset_columns[0]));
	dp_table_add_row(t);
	dp_table_set_str(t, "address", dev ? dev->address : args.addrs[0]);
	dp_table_set_str(t, "methods", *methods ? methods : "(kernel default)");
	dp_table_set_str(t, "result", err ? "failed" : args.opts.dry_run ? "planned" : "done");
	dp_table_set_bool(t, "ok", err == 0);
	dp_table_set_str(t, "error", err ? dp_error_message() : NULL);
	dp_table_print_record(t, stdout, ctx->json);
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", warnings.v[i]);
	if (err)
		cli_lib_error(1);
	dp_table_free(t);
	dp_strv_free(&warnings);
	dp_pci_list_free(&list);
	return cli_exit_for(err);
}
