/* Reading VMs: definitions and runs as stored, checked against the processes (a QEMU
 * holds the lock of its pidfile while it lives), the console log and the console socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "vm/vm.h"

/* A recorded run whose QEMU is gone: the devices are still taken until a release runs. */
static void status_check_alive(const char *name, struct dp_vm_status *st)
{
	char pidfile[512];
	pid_t pid = 0;
	if (st->state == DP_VM_STOPPED ||
	    dp_vm_path(name, DP_VM_RUN_DIR, "qemu.pid", pidfile, sizeof(pidfile)) < 0)
		return;
	if (dp_vm_pidfile_locked(pidfile, &pid) && (st->qemu_pid == 0 || pid == st->qemu_pid))
		return;
	if (st->state == DP_VM_RUNNING) {
		st->state = DP_VM_STOPPED;
		snprintf(st->last_exit, sizeof(st->last_exit), "QEMU (pid %d) is gone; %s",
		         (int)st->qemu_pid, st->ntaken ? "its devices are given back at the next stop "
		         "or start" : "nothing was taken");
	}
}

int dp_vm_get(const char *name, struct dp_vm_def *def, struct dp_vm_status *status)
{
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	struct dp_vm_def *defs = NULL;
	size_t n = 0;
	int r = dp_vm_name_check(name) ?: dp_vm_db_open(&db, false) ?: dp_vm_db_defs(db, name, &defs, &n);
	if (r == 0 && def)
		*def = defs[0];
	else if (r == 0)
		dp_vm_def_free(&defs[0]);
	free(defs);
	if (r < 0 || !status)
		return r;
	if ((r = dp_vm_db_status(db, name, status)) == 0)
		status_check_alive(name, status);
	return r;
}

int dp_vm_list_read(struct dp_vm_list *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	int r = dp_vm_db_open(&db, false) ?: dp_vm_db_defs(db, NULL, &out->defs, &out->n);
	if (r == 0 && out->n && !(out->status = calloc(out->n, sizeof(*out->status))))
		r = dp_oom();
	for (size_t i = 0; r == 0 && i < out->n; i++)
		if ((r = dp_vm_db_status(db, out->defs[i].name, &out->status[i])) == 0)
			status_check_alive(out->defs[i].name, &out->status[i]);
	if (r < 0)
		dp_vm_list_free(out);
	return r;
}

int dp_vm_log_read(const char *name, char **text, size_t *len)
{
	char path[512];
	*text = NULL;
	*len = 0;
	int r = dp_vm_get(name, NULL, NULL) ?:
	        dp_vm_path(name, DP_VM_STATE_DIR, "serial.log", path, sizeof(path));
	if (r < 0)
		return r;
	r = dp_fs_read_all(path, text, len);
	if (r == -ENOENT && (*text = strdup("")))
		return 0;   /* never started: nothing written yet */
	return r < 0 ? dp_error_set(r, "console log of VM '%s' (/%s): %s", name, path, strerror(-r)) : 0;
}

int dp_vm_console_open(const char *name)
{
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	char path[512];
	int r = dp_vm_get(name, NULL, &st) ?: dp_vm_path(name, DP_VM_RUN_DIR, "serial.sock", path, sizeof(path));
	if (r < 0)
		return r;
	if (st.state != DP_VM_RUNNING)
		return dp_error_set(-ENOTCONN, "VM '%s' is not running", name);
	r = dp_fs_unix_connect(path);
	return r < 0 ? dp_error_set(r, "console of VM '%s' (/%s): %s", name, path, strerror(-r)) : r;
}
