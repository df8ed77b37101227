/* devpass export — the pools as OpenStack Nova, KubeVirt or Proxmox VE configuration;
 * `export libvirt` (hostdev XML of devices, not of pools) lives in export-libvirt.c. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int target_parse(const char *text, enum dp_export_target *out)
{
	static const char *const names[] = {"nova", "kubevirt", "proxmox"};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(text, names[i]) == 0) {
			*out = (enum dp_export_target)i;
			return 0;
		}
	if (strcmp(text, "libvirt") == 0)
		return cli_error(EXIT_USAGE, "write 'devpass export libvirt ...' with libvirt first");
	return cli_error(EXIT_USAGE, "devpass export takes nova, kubevirt, proxmox or libvirt, not "
	                 "'%s'", text);
}

/* Each option belongs to one target: an option of another is a mistake, not a no-op. */
static int target_options_check(enum dp_export_target target, const struct dp_export_options *o)
{
	static const char *const names[] = {"nova", "kubevirt", "proxmox"};
	const char *option = target != DP_EXPORT_PROXMOX && o->node ? "--node (proxmox)"
	                   : target != DP_EXPORT_NOVA && o->numa_policy ? "--numa-policy (nova)"
	                   : target != DP_EXPORT_KUBEVIRT && o->resource_prefix
	                   ? "--resource-prefix (kubevirt)" : NULL;
	if (option)
		return cli_error(EXIT_USAGE, "%s does not apply to 'devpass export %s'", option,
		                 names[target]);
	return 0;
}

int cmd_export(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {
		{"pool", 0, true, 'p'}, {"node", 0, true, 'n'}, {"numa-policy", 0, true, 'N'},
		{"resource-prefix", 0, true, 'r'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	struct dp_export_options o = {0};
	enum dp_export_target target = DP_EXPORT_NOVA;
	int c;
	if (argc > 1 && strcmp(argv[1], "libvirt") == 0)
		return cmd_export_libvirt(argc, argv, ctx);
	cli_opts_init(&p, argc, argv, "export", opts);
	while ((c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'p': o.pool = p.value; break;
		case 'n': o.node = p.value; break;
		case 'N': o.numa_policy = p.value; break;
		case 'r': o.resource_prefix = p.value; break;
		}
	}
	if (c < 0)
		return p.exit;
	if (p.nargs != 1)
		return cli_error(EXIT_USAGE, "usage: devpass export nova|kubevirt|proxmox [--pool NAME]");
	int r = target_parse(p.args[0], &target);
	if (!r)
		r = target_options_check(target, &o);
	struct dp_pci_list list = {0};
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	char *text;
	struct json_object *json;
	struct dp_strv warnings = {0};
	r = dp_export(target, &list, &o, &text, &json, &warnings);
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", warnings.v[i]);
	if (r == 0 && ctx->json)
		printf("%s\n", json_object_to_json_string_ext(json, JSON_C_TO_STRING_PRETTY |
		                                                JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (r == 0)
		fputs(text, stdout);
	free(text);
	json_object_put(json);
	dp_strv_free(&warnings);
	dp_pci_list_free(&list);
	return r < 0 ? cli_lib_error(cli_exit_for(r)) : EXIT_OK;
}
