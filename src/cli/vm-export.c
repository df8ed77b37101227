/* devpass vm export NAME --to libvirt|cloud-hypervisor [--json]: the VM as a libvirt domain
 * (XML for `virsh define`) or as a Cloud Hypervisor command line with the bodies of its
 * devices for PUT /api/v1/vm.add-device. Warnings go to stderr (and into --json). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cli.h"
#include "vm-cli.h"

enum { O_TO = 1 };
enum target { TO_NONE, TO_LIBVIRT, TO_CLOUDHV };

static const struct cli_option export_options[] = {
	{"to", 't', true, O_TO}, {NULL, 0, false, 0},
};

static int take(int id, const char *value, void *ctx)
{
	enum target *t = ctx;
	if (id != O_TO)
		return 0;
	if (strcmp(value, "libvirt") == 0)
		*t = TO_LIBVIRT;
	else if (strcmp(value, "cloud-hypervisor") == 0 || strcmp(value, "ch") == 0)
		*t = TO_CLOUDHV;
	else
		return cli_error(EXIT_USAGE, "--to: '%.100s' is neither libvirt nor cloud-hypervisor", value);
	return 0;
}

static json_object *strv_json(const struct dp_strv *sv)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	return a;
}

static void print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                              JSON_C_TO_STRING_NOSLASHESCAPE));
}

static json_object *answer(const char *name, const char *to, const struct dp_strv *warnings)
{
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "vm", json_object_new_string(name));
		json_object_object_add(o, "to", json_object_new_string(to));
		json_object_object_add(o, "warnings", strv_json(warnings));
	}
	return o;
}

static int export_libvirt(const char *name, const struct dp_pci_list *list,
                          const struct cli_ctx *ctx, struct dp_strv *warnings)
{
	_cleanup_free_ char *xml = NULL;
	int r = dp_vm_export_libvirt(name, list, &xml, warnings);
	if (r < 0)
		return r;
	if (!ctx->json) {
		fputs(xml, stdout);
		return 0;
	}
	json_object *o = answer(name, "libvirt", warnings);
	json_object_object_add(o, "xml", json_object_new_string(xml));
	print_json(o);
	json_object_put(o);
	return 0;
}

/* The command as a shell takes it (one option per line), then the API bodies as comments:
 * the same devices hot-added to a running Cloud Hypervisor instead. */
static void print_cloudhv(const char *cmdline, json_object *bodies)
{
	for (const char *p = cmdline; *p;) {
		size_t n = strcspn(p, "\n");
		printf("%s%.*s%s", p == cmdline ? "" : "    ", (int)n, p, p[n] ? " \\\n" : "\n");
		p += n + (p[n] != '\0');
	}
	size_t n = json_object_array_length(bodies);
	if (n)
		printf("# or, to a running VM: PUT /api/v1/vm.add-device on its API socket, one body "
		       "per device:\n");
	for (size_t i = 0; i < n; i++)
		printf("#   %s\n", json_object_to_json_string_ext(json_object_array_get_idx(bodies, i),
		                                                JSON_C_TO_STRING_PLAIN |
		                                                JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int export_cloudhv(const char *name, const struct dp_pci_list *list,
                          const struct cli_ctx *ctx, struct dp_strv *warnings)
{
	_cleanup_free_ char *cmdline = NULL;
	json_object *bodies = NULL;
	int r = dp_vm_export_cloudhv(name, list, &cmdline, &bodies, warnings);
	if (r < 0)
		return r;
	if (!ctx->json) {
		print_cloudhv(cmdline, bodies);
		json_object_put(bodies);
		return 0;
	}
	json_object *o = answer(name, "cloud-hypervisor", warnings), *lines = json_object_new_array();
	for (char *save = NULL, *l = strtok_r(cmdline, "\n", &save); l && lines; l = strtok_r(NULL, "\n", &save))
		json_object_array_add(lines, json_object_new_string(l));
	json_object_object_add(o, "command", lines);
	json_object_object_add(o, "add_device", bodies);
	print_json(o);
	json_object_put(o);
	return 0;
}

int vm_export(int argc, char **argv, const struct cli_ctx *ctx)
{
	enum target to = TO_NONE;
	struct cli_opts p;
	const char *name;
	int r = vm_opts_parse(argc, argv, "export", export_options, take, &to, &p) ?:
	        vm_name_arg(&p, "export", &name);
	if (r)
		return r;
	if (to == TO_NONE)
		return cli_error(EXIT_USAGE, "vm export needs --to libvirt or --to cloud-hypervisor");
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	_cleanup_(dp_strv_freep) struct dp_strv warnings = {0};
	r = to == TO_LIBVIRT ? export_libvirt(name, &list, ctx, &warnings)
	                     : export_cloudhv(name, &list, ctx, &warnings);
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "devpass: warning: %s\n", warnings.v[i]);
	if (r == -ENOENT)
		return cli_error(EXIT_FAILED, "%s (devpass vm list shows the VMs)", dp_error_message());
	if (r == -EOPNOTSUPP)   /* what Cloud Hypervisor cannot do, QEMU (and libvirt) can */
		return cli_error(EXIT_FAILED, "%s (devpass vm export %s --to libvirt keeps it)",
		                 dp_error_message(), name);
	return r < 0 ? cli_lib_error(cli_exit_for(r)) : EXIT_OK;
}
