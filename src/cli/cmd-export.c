/* devpass export — the pools as OpenStack Nova, KubeVirt or Proxmox VE configuration. */
#include <getopt.h>
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
	return cli_error(EXIT_USAGE, "devpass export takes nova, kubevirt or proxmox, not '%s'", text);
}

int cmd_export(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct option opts[] = {
		{"pool", required_argument, NULL, 'p'}, {"node", required_argument, NULL, 'n'},
		{"numa-policy", required_argument, NULL, 'N'},
		{"resource-prefix", required_argument, NULL, 'r'}, {0}};
	struct dp_export_options o = {0};
	enum dp_export_target target = DP_EXPORT_NOVA;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.pool = optarg; break;
		case 'n': o.node = optarg; break;
		case 'N': o.numa_policy = optarg; break;
		case 'r': o.resource_prefix = optarg; break;
		case ':': return cli_error(EXIT_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_error(EXIT_USAGE, "unknown option '%s' (see 'devpass export --help')",
			                 argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_error(EXIT_USAGE, "usage: devpass export nova|kubevirt|proxmox [--pool NAME]");
	int r = target_parse(argv[optind], &target);
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
