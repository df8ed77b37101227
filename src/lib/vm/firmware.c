/* UEFI firmware for a VM: OVMF's code (read-only) and a per-VM copy of its variable store.
 * QEMU's firmware descriptors (docs/interop/firmware.json in QEMU; Debian's ovmf installs
 * them in usr/share/qemu/firmware, admins override them in etc/qemu/firmware by file name)
 * say which files give which features, as libvirt reads them; when none fits, Debian 12's
 * file names are used (vm-lifecycle.md §2.1). Every path is root-relative. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define OVMF_DIR "usr/share/OVMF/"
#define OVMF_PACKAGE "ovmf"
/* any q35 machine version matches the descriptors' "pc-q35-*" */
#define Q35_MACHINE "pc-q35-7.2"

DEFINE_CLEANUP_PTR(json_object, json_object_put, json_putp)

static const char *const descriptor_dirs[] = { "etc/qemu/firmware", "usr/share/qemu/firmware" };

static bool json_array_has(json_object *arr, const char *word)
{
	size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)) ?: "", word) == 0)
			return true;
	return false;
}

static json_object *json_path(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;
	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (!b)
		return x;
	return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static bool targets_q35(json_object *desc)
{
	json_object *targets = json_path(desc, "targets", NULL);
	size_t n = json_object_is_type(targets, json_type_array) ? json_object_array_length(targets) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(targets, i);
		json_object *arch = json_path(t, "architecture", NULL);
		json_object *machines = json_path(t, "machines", NULL);
		if (strcmp(json_object_get_string(arch) ?: "", "x86_64") != 0)
			continue;
		size_t m = json_object_is_type(machines, json_type_array) ? json_object_array_length(machines) : 0;
		for (size_t j = 0; j < m; j++) {
			const char *glob = json_object_get_string(json_object_array_get_idx(machines, j));
			if (glob && fnmatch(glob, Q35_MACHINE, 0) == 0)
				return true;
		}
	}
	return false;
}

/* Secure Boot wants keys enrolled and the variables protected by SMM; plain UEFI wants
 * neither Secure Boot nor SMM (the machine is started without smm=on). */
static bool features_fit(json_object *desc, enum dp_vm_firmware fw)
{
	json_object *f = json_path(desc, "features", NULL);
	bool sb = json_array_has(f, "secure-boot"), smm = json_array_has(f, "requires-smm");
	if (fw == DP_VM_FW_SECURE_BOOT)
		return sb && smm && json_array_has(f, "enrolled-keys");
	return !sb && !smm;
}

/* A descriptor's absolute file name, made root-relative with its links resolved inside the
 * root (Debian's descriptor names OVMF_CODE_4M.ms.fd, a link to OVMF_CODE_4M.secboot.fd:
 * the command line names the file itself); false when it does not fit. */
static bool root_relative(json_object *file, char *out, size_t size)
{
	const char *name = json_object_get_string(json_path(file, "filename", NULL));
	const char *format = json_object_get_string(json_path(file, "format", NULL));
	char given[sizeof(((struct dp_vm_firmware_files *)0)->code)];
	if (!name || name[0] != '/' || (format && strcmp(format, "raw") != 0))
		return false;
	int n = snprintf(given, sizeof(given), "%s", name + 1);
	return n > 0 && (size_t)n < sizeof(given) && dp_fs_resolve(given, out, size) == 0 &&
	       dp_fs_exists(out);
}

static bool descriptor_fits(json_object *desc, enum dp_vm_firmware fw,
                            struct dp_vm_firmware_files *out)
{
	json_object *mapping = json_path(desc, "mapping", NULL);
	const char *device = json_object_get_string(json_path(mapping, "device", NULL));
	const char *mode = json_object_get_string(json_path(mapping, "mode", NULL));
	return json_array_has(json_path(desc, "interface-types", NULL), "uefi") &&
	       device && strcmp(device, "flash") == 0 && (!mode || strcmp(mode, "split") == 0) &&
	       targets_q35(desc) && features_fit(desc, fw) &&
	       root_relative(json_path(mapping, "executable", NULL), out->code, sizeof(out->code)) &&
	       root_relative(json_path(mapping, "nvram-template", NULL), out->vars_template,
	                     sizeof(out->vars_template));
}

static bool descriptor_file_fits(const char *path, enum dp_vm_firmware fw,
                                 struct dp_vm_firmware_files *out)
{
	_cleanup_free_ char *text = NULL;
	if (dp_fs_read_all(path, &text, NULL) < 0)
		return false;
	_cleanup_(json_putp) json_object *desc = json_tokener_parse(text);
	return desc && descriptor_fits(desc, fw, out);   /* an empty file masks one, as in QEMU */
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Is the descriptor at paths->v[i] overridden by an earlier one of the same name? */
static bool masked(const struct dp_strv *paths, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(base_name(paths->v[j]), base_name(paths->v[i])) == 0)
			return true;
	return false;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(base_name(*(char *const *)a), base_name(*(char *const *)b));
}

/* Descriptors in priority order: by file name, etc before usr/share for the same name. */
static bool descriptors_find(enum dp_vm_firmware fw, struct dp_vm_firmware_files *out)
{
	_cleanup_(dp_strv_freep) struct dp_strv paths = {0};
	for (size_t d = 0; d < sizeof(descriptor_dirs) / sizeof(*descriptor_dirs); d++)
		if (dp_fs_list(descriptor_dirs[d], ".json", &paths) == -ENOMEM)
			return false;
	/* a stable sort keeps etc's file ahead of usr/share's one of the same name */
	for (size_t i = 1; i < paths.n; i++)
		for (size_t j = i; j > 0 && name_cmp(&paths.v[j - 1], &paths.v[j]) > 0; j--) {
			char *t = paths.v[j];
			paths.v[j] = paths.v[j - 1];
			paths.v[j - 1] = t;
		}
	for (size_t i = 0; i < paths.n; i++)
		if (!masked(&paths, i) && descriptor_file_fits(paths.v[i], fw, out))
			return true;
	return false;
}

static int fixed_names(enum dp_vm_firmware fw, struct dp_vm_firmware_files *out)
{
	bool sb = fw == DP_VM_FW_SECURE_BOOT;
	snprintf(out->code, sizeof(out->code), OVMF_DIR "%s",
	         sb ? "OVMF_CODE_4M.secboot.fd" : "OVMF_CODE_4M.fd");
	snprintf(out->vars_template, sizeof(out->vars_template), OVMF_DIR "%s",
	         sb ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd");
	const char *missing = !dp_fs_exists(out->code) ? out->code
	                      : !dp_fs_exists(out->vars_template) ? out->vars_template : NULL;
	if (missing)
		return dp_error_set(-ENOENT, "%s firmware file /%s is missing (Debian package %s)",
		                    sb ? "Secure Boot" : "UEFI", missing, OVMF_PACKAGE);
	return 0;
}

int dp_vm_firmware_find(enum dp_vm_firmware fw, struct dp_vm_firmware_files *out)
{
	memset(out, 0, sizeof(*out));
	if (fw != DP_VM_FW_UEFI && fw != DP_VM_FW_SECURE_BOOT)
		return dp_error_set(-EINVAL, "BIOS boot uses no firmware files");
	if (descriptors_find(fw, out))
		return 0;
	return fixed_names(fw, out);
}

int dp_vm_firmware_vars_copy(const struct dp_vm_firmware_files *fw, const char *dest)
{
	if (!dp_fs_exists(fw->vars_template))
		return dp_error_set(-ENOENT, "firmware variables template /%s is missing (Debian "
		                    "package %s)", fw->vars_template, OVMF_PACKAGE);
	int r = dp_fs_copy_file(fw->vars_template, dest, 0600);
	if (r == -EEXIST)
		return dp_error_set(r, "firmware variables /%s exist already: they hold the VM's "
		                    "boot settings and are never replaced", dest);
	if (r < 0)
		return dp_error_set(r, "cannot copy firmware variables /%s to /%s: %s",
		                    fw->vars_template, dest, strerror(-r));
	return 0;
}
