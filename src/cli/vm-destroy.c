/* devpass vm destroy NAME [--force]: the definition, its disk overlay, firmware variables,
 * seed and console log go; a running VM only with --force (stopped first). */
#include <stdio.h>

#include "cli.h"
#include "vm-cli.h"

enum { O_FORCE = 1, O_DRY };

static const struct cli_option destroy_options[] = {
	{"force", 'f', false, O_FORCE}, {"dry-run", 'n', false, O_DRY}, {NULL, 0, false, 0},
};

static int take(int id, const char *value, void *ctx)
{
	(void)value;
	struct dp_vm_options *o = ctx;
	if (id == O_FORCE)
		o->force = true;
	if (id == O_DRY)
		o->dry_run = true;
	return 0;
}

int vm_destroy(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct dp_vm_options o = {0};
	struct cli_opts p;
	const char *name;
	int r = vm_opts_parse(argc, argv, "destroy", destroy_options, take, &o, &p) ?:
	        vm_name_arg(&p, "destroy", &name);
	if (r)
		return r;
	if (dp_vm_destroy(name, &o) < 0)
		return cli_lib_error(EXIT_FAILED);
	if (ctx->json)
		printf("{\"ok\": true, \"vm\": \"%s\", \"dry_run\": %s}\n", name, o.dry_run ? "true" : "false");
	else
		printf("%s VM %s.\n", o.dry_run ? "Would destroy" : "Destroyed", name);
	return EXIT_OK;
}
