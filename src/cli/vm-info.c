/* devpass vm list | vm show NAME | vm validate NAME */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "cli.h"
#include "vm-cli.h"

static const struct dp_column vm_columns[] = {
	{"name", "NAME", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
	{"memory_mib", "MEMORY(MiB)", DP_COL_TEXT, 0},
	{"cpus", "CPUS", DP_COL_TEXT, 0},
	{"firmware", "FIRMWARE", DP_COL_TEXT, 0},
	{"devices", "DEVICES", DP_COL_TEXT, 0},
	{"qemu_pid", "PID", DP_COL_TEXT, 0},
	{"image", "IMAGE", 0, 0},
	{"kernel", "KERNEL", 0, 0},
	{"taken", "TAKEN", 0, 0},
	{"supervisor_pid", "SUPERVISOR", 0, 0},
	{"started", "STARTED", 0, 0},
	{"started_at", "STARTED AT", 0, 0},
	{"last_exit", "LAST EXIT", 0, 0},
	{"numa", "NUMA", 0, 0},
	{"hugepages", "HUGEPAGES", 0, 0},
	{"graphics", "GRAPHICS", 0, 0},
	{"state_dir", "STATE DIR", 0, 0},
	{"run_dir", "RUN DIR", 0, 0},
};

/* show: every field, and what a start would meet now */
static const struct dp_column show_columns[] = {
	{"name", "Name", DP_COL_TEXT, 0},
	{"state", "State", DP_COL_TEXT, 0},
	{"memory_mib", "Memory (MiB)", DP_COL_TEXT, 0},
	{"cpus", "CPUs", DP_COL_TEXT, 0},
	{"firmware", "Firmware", DP_COL_TEXT, 0},
	{"devices", "Devices asked for", DP_COL_TEXT, 0},
	{"qemu_pid", "QEMU pid", DP_COL_TEXT, 0},
	{"image", "Base image", DP_COL_TEXT, 0},
	{"kernel", "Kernel", DP_COL_TEXT, 0},
	{"taken", "Devices held", DP_COL_TEXT, 0},
	{"supervisor_pid", "Supervisor pid", DP_COL_TEXT, 0},
	{"started", "Started (epoch s)", 0, 0},
	{"started_at", "Started", DP_COL_TEXT, 0},
	{"last_exit", "Last exit", DP_COL_TEXT, 0},
	{"numa", "NUMA", DP_COL_TEXT, 0},
	{"hugepages", "Huge pages", DP_COL_TEXT, 0},
	{"graphics", "Graphics", DP_COL_TEXT, 0},
	{"state_dir", "State dir", DP_COL_TEXT, 0},
	{"run_dir", "Run dir", DP_COL_TEXT, 0},
	{"checks", "Checks for a start now", DP_COL_TEXT, 0},
};

/* "gpu auto=0000:01:00.0, pool nvme-vfs:2, 0000:04:00.0" */
static void requests_describe(const struct dp_vm_def *def, struct dp_strv *out)
{
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *d = &def->devices[i];
		if (d->want == DP_VM_WANT_POOL)
			dp_strv_addf(out, "pool %s:%u", d->spec, d->count);
		else if (d->want == DP_VM_WANT_USB)   /* a port or an id as given, or a pool:count */
			dp_strv_addf(out, "usb %s%s%.0u", d->spec, d->count > 1 ? ":" : "",
			             d->count > 1 ? d->count : 0);
		else if (d->want == DP_VM_WANT_MDEV)
			dp_strv_addf(out, "mdev %s:%u", d->spec, d->count);
		else if (d->want == DP_VM_WANT_ADDRESS)
			dp_strv_addf(out, "%s%s%s", d->spec, d->options[0] ? "," : "", d->options);
		else
			dp_strv_addf(out, "%s %s=%s", dp_vm_want_name(d->want), d->spec, d->address);
	}
}

static void taken_describe(const struct dp_vm_status *st, struct dp_strv *out)
{
	for (size_t i = 0; i < st->ntaken; i++)
		dp_strv_addf(out, "%s%s%s", st->taken[i].address, st->taken[i].pool[0] ? " pool " : "",
		             st->taken[i].pool);
}

/* The start as a reader wants it (local time, ISO 8601 with the offset); JSON keeps the
 * epoch in "started" too. */
static void started_at_set(struct dp_table *t, long long started)
{
	char text[64];
	time_t when = (time_t)started;
	struct tm tm;
	if (!started || !localtime_r(&when, &tm) || !strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S%z", &tm))
		dp_table_set_null(t, "started_at");
	else
		dp_table_set_str(t, "started_at", text);
}

static void row_fill(struct dp_table *t, const struct dp_vm_def *def, const struct dp_vm_status *st)
{
	_cleanup_(dp_strv_freep) struct dp_strv req = {0}, taken = {0};
	requests_describe(def, &req);
	taken_describe(st, &taken);
	dp_table_add_row(t);
	dp_table_set_str(t, "name", def->name);
	dp_table_set_str(t, "state", dp_vm_state_name(st->state));
	dp_table_set_int(t, "memory_mib", (long long)def->memory_mib);
	dp_table_set_int(t, "cpus", def->cpus);
	dp_table_set_str(t, "firmware", dp_vm_firmware_name(def->firmware));
	dp_table_set_strv(t, "devices", &req);
	st->qemu_pid ? dp_table_set_int(t, "qemu_pid", st->qemu_pid) : dp_table_set_null(t, "qemu_pid");
	dp_table_set_str(t, "image", def->image);
	dp_table_set_str(t, "kernel", def->kernel);
	dp_table_set_strv(t, "taken", &taken);
	st->supervisor_pid ? dp_table_set_int(t, "supervisor_pid", st->supervisor_pid)
	                   : dp_table_set_null(t, "supervisor_pid");
	st->started ? dp_table_set_int(t, "started", st->started) : dp_table_set_null(t, "started");
	started_at_set(t, st->started);
	dp_table_set_str(t, "last_exit", st->last_exit[0] ? st->last_exit : NULL);
	def->numa == DP_VM_NUMA_AUTO ? dp_table_set_str(t, "numa", "auto")
	: def->numa == DP_VM_NUMA_NONE ? dp_table_set_null(t, "numa") : dp_table_set_int(t, "numa", def->numa);
	dp_table_set_bool(t, "hugepages", def->hugepages);
	dp_table_set_str(t, "graphics", def->graphics == DP_VM_GRAPHICS_VNC ? "vnc" : "none");
	dp_table_set_strf(t, "state_dir", "/%s", st->statedir);
	dp_table_set_strf(t, "run_dir", "/%s", st->rundir);
}

int vm_list(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	int r = cli_opts_none(argc, argv, "vm list", 0, 0, &p);
	if (r)
		return r;
	_cleanup_(dp_vm_list_freep) struct dp_vm_list l = {0};
	if (dp_vm_list_read(&l) < 0)
		return cli_lib_error(EXIT_FAILED);
	struct dp_table *t = dp_table_new(vm_columns, sizeof(vm_columns) / sizeof(vm_columns[0]));
	if (!t)
		return cli_error(EXIT_FAILED, "out of memory");
	for (size_t i = 0; i < l.n; i++)
		row_fill(t, &l.defs[i], &l.status[i]);
	if (!ctx->json && l.n == 0)
		printf("No VMs. Create one: devpass vm create NAME [IMAGE] --memory SIZE --cpus N ...\n");
	else
		ctx->json ? dp_table_print(t, stdout, true) : cli_table_print_fitted(t, stdout, false);
	dp_table_free(t);
	return EXIT_OK;
}

/* validate's findings; one that failed before any check has its error as the one finding */
static json_object *checks_json(const struct dp_vm_report *rep, int err)
{
	json_object *a = vm_findings_json(rep), *f = NULL;
	if (!a || err >= 0 || rep->n || !(f = json_object_new_object()))
		return a;
	json_object_object_add(f, "check", json_object_new_string("vm"));
	json_object_object_add(f, "result", json_object_new_string("FAIL"));
	json_object_object_add(f, "detail", json_object_new_string(dp_error_message()));
	json_object_object_add(f, "advice", NULL);
	json_object_array_add(a, f);
	return a;
}

/* show: the record, and what a start would meet now (validate's findings) */
int vm_show(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	const char *name;
	int r = cli_opts_none(argc, argv, "vm show", 1, 1, &p) ?: vm_name_arg(&p, "show", &name);
	if (r)
		return r;
	_cleanup_(dp_vm_def_freep) struct dp_vm_def def = {0};
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	_cleanup_(dp_vm_report_freep) struct dp_vm_report rep = {0};
	struct dp_pci_list list = {0};
	if (dp_vm_get(name, &def, &st) < 0)
		return cli_lib_error(EXIT_FAILED);
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	struct dp_vm_options o = { .dry_run = true };
	int err = st.state == DP_VM_STOPPED ? dp_vm_validate(name, &list, &o, &rep) : 0;
	dp_pci_list_free(&list);
	struct dp_table *t = dp_table_new(show_columns, sizeof(show_columns) / sizeof(show_columns[0]));
	if (!t)
		return cli_error(EXIT_FAILED, "out of memory");
	row_fill(t, &def, &st);
	dp_table_set_json(t, "checks", checks_json(&rep, err));
	dp_table_print_record(t, stdout, ctx->json);
	dp_table_free(t);
	return EXIT_OK;
}

int vm_validate(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	const char *name;
	int r = cli_opts_none(argc, argv, "vm validate", 1, 1, &p) ?: vm_name_arg(&p, "validate", &name);
	if (r)
		return r;
	struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	_cleanup_(dp_vm_report_freep) struct dp_vm_report rep = {0};
	struct dp_vm_options o = { .dry_run = true };
	int err = dp_vm_validate(name, &list, &o, &rep);
	struct vm_report_how how = { .dry_run = true, .all_findings = true, .print_argv = true };
	r = vm_report(name, &rep, ctx, &how, err);
	dp_pci_list_free(&list);
	return r;
}
