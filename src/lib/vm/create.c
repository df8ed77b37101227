/* Creating and destroying VMs. create validates first ("validate before create"), then
 * makes the state directory: a qcow2 overlay over the image (the image itself is never
 * written), a copy of the firmware's variable store, the cloud-init seed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "util/strutil.h"
#include "vm/vm.h"

#define CPUS_MAX 512

static const char *const state_files[] = { "disk.qcow2", "OVMF_VARS.fd", "seed.iso", "serial.log",
                                           "supervisor.log" };

/* gpu/nvme requests are settled at create: the chosen address is stored and shown. */
static int choose_devices(struct dp_vm_def *def, const struct dp_pci_list *list, struct dp_vm_report *r)
{
	_cleanup_(dp_strv_freep) struct dp_strv taken = {0};
	for (size_t i = 0; i < def->ndevices; i++) {
		struct dp_vm_device *d = &def->devices[i];
		if (d->want == DP_VM_WANT_ADDRESS && dp_strv_add(&taken, d->spec) < 0)
			return dp_oom();
		if ((d->want != DP_VM_WANT_GPU && d->want != DP_VM_WANT_NVME) || d->address[0])
			continue;
		int ret = dp_vm_pick(list, d->want, d->spec, &taken, d->address, &r->chosen, &r->rejected);
		const char *subject;
		if (ret < 0 && dp_error_remedy(&subject) == DP_REMEDY_PARAMETER)
			return ret;   /* a malformed request is bad usage, not a finding */
		if (ret < 0 && (ret = dp_vm_report_add(r, dp_vm_want_name(d->want), DP_VM_FAIL, NULL, "%s",
		                                       dp_error_message())) < 0)
			return ret;
		if (d->address[0] && dp_strv_add(&taken, d->address) < 0)
			return dp_oom();
	}
	return 0;
}

/* A VM's own files are not a base image: another VM writes them. */
static int check_image(struct dp_vm_def *def, struct dp_vm_report *r)
{
	if (!def->image)
		return 0;
	const char *rel = def->image + strspn(def->image, "/");
	if (strncmp(rel, DP_VM_STATE_DIR "/", strlen(DP_VM_STATE_DIR) + 1) == 0)
		return dp_vm_report_add(r, "image", DP_VM_FAIL, NULL, "/%s belongs to a VM's own state "
		                        "(a disk another VM writes); give the base image instead", rel);
	char format[32];
	if (dp_vm_image_probe(def->image, format, sizeof(format)) < 0)
		return dp_vm_report_add(r, "image", DP_VM_FAIL, NULL, "%s", dp_error_message());
	free(def->image_format);
	if (!(def->image_format = strdup(format)))
		return dp_oom();
	return dp_vm_report_add(r, "image", DP_VM_OK, NULL, "%s (%s): the VM writes to an overlay",
	                        def->image, format);
}

static int check_values(const struct dp_vm_def *def)
{
	int r = dp_vm_name_check(def->name);
	if (r == 0 && (def->cpus < 1 || def->cpus > CPUS_MAX))
		r = dp_error_set_remedy(-ERANGE, DP_REMEDY_PARAMETER, "cpus", "%u vCPUs: a VM has 1 to %d",
		                        def->cpus, CPUS_MAX);
	if (r == 0 && def->memory_mib < 64)
		r = dp_error_set_remedy(-ERANGE, DP_REMEDY_PARAMETER, "memory", "a VM needs at least 64 MiB");
	if (r == 0 && def->initrd && !def->kernel)
		r = dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "initrd", "an initrd needs a kernel");
	if (r == 0 && !def->image && !def->kernel)
		r = dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "image",
		                        "VM '%s' has nothing to boot: give an image or a kernel", def->name);
	return r;
}

/* ---- the state directory ---------------------------------------------------------------- */
static void state_files_remove(const char *name)
{
	char path[512];
	for (size_t i = 0; i < sizeof(state_files) / sizeof(state_files[0]); i++)
		if (dp_vm_path(name, DP_VM_STATE_DIR, state_files[i], path, sizeof(path)) == 0)
			dp_fs_unlink(path);
	if (dp_vm_path(name, DP_VM_STATE_DIR, NULL, path, sizeof(path)) == 0)
		dp_fs_rmdir(path);
}

static int make_seed(const struct dp_vm_def *def, const char *path)
{
	_cleanup_free_ char *meta = NULL;
	char id[DP_VM_NAME_MAX + 24];
	snprintf(id, sizeof(id), "%s-%lld", def->name, def->created);   /* a new VM is a first boot */
	int r = dp_vm_seed_meta_data(def->name, id, &meta);
	return r < 0 ? r : dp_vm_seed_write(path, def->user_data, meta);
}

/* Makes what is missing: create makes everything, start remakes a file someone removed. */
int dp_vm_prepare_files(const struct dp_vm_def *def)
{
	char dir[512], path[512];
	int r = dp_vm_path(def->name, DP_VM_STATE_DIR, NULL, dir, sizeof(dir)) ?: dp_fs_mkdir_p(dir, 0700);
	if (r == 0 && def->image &&
	    (r = dp_vm_path(def->name, DP_VM_STATE_DIR, "disk.qcow2", path, sizeof(path))) == 0 &&
	    !dp_fs_exists(path))
		r = dp_vm_overlay_create(def->image, def->image_format ? def->image_format : "raw", path);
	struct dp_vm_firmware_files fw;
	if (r == 0 && def->firmware != DP_VM_FW_BIOS &&
	    (r = dp_vm_path(def->name, DP_VM_STATE_DIR, "OVMF_VARS.fd", path, sizeof(path))) == 0 &&
	    !dp_fs_exists(path))
		r = dp_vm_firmware_find(def->firmware, &fw) ?: dp_vm_firmware_vars_copy(&fw, path);
	if (r == 0 && def->user_data &&
	    (r = dp_vm_path(def->name, DP_VM_STATE_DIR, "seed.iso", path, sizeof(path))) == 0 &&
	    !dp_fs_exists(path))
		r = make_seed(def, path);
	return r;
}

static int create_locked(struct dp_vm_def *def, const struct dp_vm_options *o, struct dp_vm_report *out,
                         const struct dp_pci_list *list)
{
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	_cleanup_(dp_vm_plan_freep) struct dp_vm_plan p = {0};
	int r = dp_vm_get(def->name, NULL, NULL);
	if (r == 0)
		return dp_error_set(-EEXIST, "VM '%s' exists already", def->name);
	if ((r = check_image(def, out)) < 0 || (r = choose_devices(def, list, out)) < 0 ||
	    (r = dp_vm_plan_make(def, list, &p, out, true)) < 0)
		return r;
	/* a device binding refuses today (the root disk) makes a VM that can never start */
	if ((r = dp_vm_plan_check_devices(&p, list, out)) < 0 || (r = dp_vm_check_files(def, out)) < 0)
		return r;
	/* the command line names the hugetlbfs mount: without one there is no command line */
	if (def->hugepages && (r = dp_vm_check_hugepages(def->memory_mib, p.hugepages_dir,
	                                                 sizeof(p.hugepages_dir), out)) < 0)
		return r;
	const char *why = dp_vm_report_first_failure(out);
	if (why)
		return dp_error_set(-EPERM, "VM '%s' not created: %s", def->name, why);   /* 1, not usage */
	if ((r = dp_vm_plan_argv(&p, o, &out->argv)) < 0 || o->dry_run)
		return r;
	if ((r = dp_vm_prepare_files(def)) < 0 || (r = dp_vm_db_open(&db, true)) < 0 ||
	    (r = dp_vm_db_insert(db, def)) < 0) {
		_cleanup_free_ char *why = strdup(dp_error_message());
		state_files_remove(def->name);
		return dp_error_set(r, "%s", why ? why : "VM not created");
	}
	return 0;
}

int dp_vm_create(struct dp_vm_def *def, const struct dp_pci_list *list, const struct dp_vm_options *o,
                 struct dp_vm_report *out)
{
	struct dp_vm_options none = {0};
	o = o ? o : &none;
	int r = check_values(def);
	if (r < 0)
		return r;
	def->created = (long long)time(NULL);
	int lock = o->dry_run ? 0 : dp_vm_lock(def->name);
	if (lock < 0)
		return lock;
	r = create_locked(def, o, out, list);
	if (lock > 0)
		dp_fs_unlock(lock);
	return r;
}

/* UTF-8 lines without control characters: what a YAML file or a key file holds */
static bool text_lines_valid(const char *text)
{
	_cleanup_free_ char *copy = strdup(text);
	char *save = NULL;
	if (!copy)
		return false;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		l[strcspn(l, "\r")] = '\0';
		if (!dp_utf8_text_valid(l))
			return false;
	}
	return true;
}

int dp_vm_def_load_user_data(struct dp_vm_def *def, const char *path, bool ssh_key)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = dp_fs_read_all(path, &text, &len);
	if (r < 0)
		return dp_error_set_remedy(r, DP_REMEDY_PARAMETER, ssh_key ? "ssh-key" : "cloud-init",
		                           "cannot read %s: %s", path, strerror(-r));
	if (strlen(text) != len || !text_lines_valid(text))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, ssh_key ? "ssh-key" : "cloud-init",
		                           "%s is not UTF-8 text", path);
	char *made = NULL;
	if (ssh_key && (r = dp_vm_seed_ssh_user_data(text, &made)) < 0)
		return r;
	free(def->user_data);
	def->user_data = ssh_key ? made : TAKE_PTR(text);
	return 0;
}

/* ---- destroy -------------------------------------------------------------------------- */
static int destroy_locked(const char *name, const struct dp_vm_options *o)
{
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	int r = dp_vm_get(name, NULL, &st);
	if (r < 0)
		return r;
	if (st.state != DP_VM_STOPPED && !o->force)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_VM_STOP, name, "VM '%s' is running", name);
	if (o->dry_run)
		return 0;
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	if ((r = dp_vm_release(name, "destroyed", 0, NULL)) < 0 || (r = dp_vm_db_open(&db, true)) < 0 ||
	    (r = dp_vm_db_delete(db, name)) < 0)
		return r;
	state_files_remove(name);
	dp_vm_run_files_remove(name);
	char run[512];
	if (dp_vm_path(name, DP_VM_RUN_DIR, NULL, run, sizeof(run)) == 0)
		dp_fs_rmdir(run);
	return 0;
}

int dp_vm_destroy(const char *name, const struct dp_vm_options *o)
{
	struct dp_vm_options none = {0};
	o = o ? o : &none;
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	int r = dp_vm_get(name, NULL, &st);
	if (r < 0)
		return r;
	if (st.state != DP_VM_STOPPED && o->force && !o->dry_run &&
	    (r = dp_vm_stop(name, NULL, o, NULL)) < 0 && r != -EALREADY)
		return r;
	int lock = dp_vm_lock(name);
	if (lock < 0)
		return lock;
	r = destroy_locked(name, o);
	dp_fs_unlock(lock);
	return r;
}

int dp_vm_validate(const char *name, const struct dp_pci_list *list, const struct dp_vm_options *o,
                   struct dp_vm_report *out)
{
	_cleanup_(dp_vm_def_freep) struct dp_vm_def def = {0};
	_cleanup_(dp_vm_plan_freep) struct dp_vm_plan p = {0};
	int r = dp_vm_get(name, &def, NULL) ?: dp_vm_plan_make(&def, list, &p, out, true) ?:
	        dp_vm_plan_check(&p, list, out) ?: dp_vm_plan_argv(&p, o, &out->argv);
	if (r < 0)
		return r;
	return dp_vm_report_ok(out) ? 0 : dp_vm_report_error(out, name);
}
