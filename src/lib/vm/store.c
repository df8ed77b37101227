/* VMs in the state database: a definition is stored as JSON (one column, so a new field
 * needs no migration), the current run and the devices it took by name as rows. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "statedb/statedb.h"
#include "util/error.h"
#include "vm/vm.h"

DEFINE_CLEANUP_PTR(json_object, json_object_put, json_putp)

static const char *const want_names[] = { "address", "gpu", "nvme", "pool", "usb", "mdev" };
static const char *const firmware_names[] = { "bios", "uefi", "secure-boot" };

const char *dp_vm_want_name(enum dp_vm_want w)
{
	return (unsigned)w < 6 ? want_names[w] : "?";
}

const char *dp_vm_firmware_name(enum dp_vm_firmware f)
{
	return (unsigned)f < 3 ? firmware_names[f] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* ---- definition <-> JSON ------------------------------------------------------------ */
static int add_str(json_object *o, const char *key, const char *value)
{
	if (!value)
		return 0;
	json_object *v = json_object_new_string(value);
	return v && json_object_object_add(o, key, v) == 0 ? 0 : -ENOMEM;
}

static int add_int(json_object *o, const char *key, long long value)
{
	json_object *v = json_object_new_int64(value);
	return v && json_object_object_add(o, key, v) == 0 ? 0 : -ENOMEM;
}

static json_object *device_to_json(const struct dp_vm_device *d)
{
	_cleanup_(json_putp) json_object *o = json_object_new_object();
	if (!o || add_str(o, "want", dp_vm_want_name(d->want)) < 0 || add_str(o, "spec", d->spec) < 0 ||
	    add_int(o, "count", d->count) < 0 || add_str(o, "address", d->address) < 0 ||
	    add_str(o, "options", d->options) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static int devices_to_json(const struct dp_vm_def *def, json_object *o)
{
	json_object *a = json_object_new_array();
	if (!a || json_object_object_add(o, "devices", a) < 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < def->ndevices; i++) {
		json_object *d = device_to_json(&def->devices[i]);
		if (!d || json_object_array_add(a, d) < 0) {
			json_object_put(d);
			return -ENOMEM;
		}
	}
	return 0;
}

json_object *dp_vm_def_to_json(const struct dp_vm_def *def)
{
	_cleanup_(json_putp) json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	bool vnc = def->graphics == DP_VM_GRAPHICS_VNC;
	int r = add_str(o, "name", def->name) | add_str(o, "image", def->image) |
	        add_str(o, "image_format", def->image_format) |
	        add_int(o, "memory_mib", (long long)def->memory_mib) | add_int(o, "cpus", def->cpus) |
	        add_str(o, "firmware", dp_vm_firmware_name(def->firmware)) |
	        add_str(o, "user_data", def->user_data) | add_str(o, "graphics", vnc ? "vnc" : "none") |
	        add_str(o, "kernel", def->kernel) | add_str(o, "initrd", def->initrd) |
	        add_str(o, "append", def->append) | add_int(o, "numa", def->numa) |
	        add_int(o, "hugepages", def->hugepages) | add_int(o, "created", def->created) |
	        devices_to_json(def, o);
	return r ? NULL : TAKE_PTR(o);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	       ? json_object_get_string(v) : NULL;
}

static long long get_int(json_object *o, const char *key, long long def)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : def;
}

static int dup_opt(char **dst, json_object *o, const char *key)
{
	const char *s = get_str(o, key);
	*dst = NULL;
	return s && !(*dst = strdup(s)) ? -ENOMEM : 0;
}

static int device_from_json(json_object *o, struct dp_vm_device *d)
{
	int want = name_index(want_names, 6, get_str(o, "want"));
	if (want < 0)
		return -EINVAL;
	d->want = (enum dp_vm_want)want;
	snprintf(d->spec, sizeof(d->spec), "%s", get_str(o, "spec") ? get_str(o, "spec") : "");
	snprintf(d->address, sizeof(d->address), "%s", get_str(o, "address") ? get_str(o, "address") : "");
	snprintf(d->options, sizeof(d->options), "%s", get_str(o, "options") ? get_str(o, "options") : "");
	d->count = (unsigned)get_int(o, "count", 1);
	return 0;
}

static int devices_from_json(json_object *o, struct dp_vm_def *def)
{
	json_object *a;
	if (!json_object_object_get_ex(o, "devices", &a) || !json_object_is_type(a, json_type_array))
		return 0;
	size_t n = json_object_array_length(a);
	if (n && !(def->devices = calloc(n, sizeof(*def->devices))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (device_from_json(json_object_array_get_idx(a, i), &def->devices[def->ndevices++]) < 0)
			return -EINVAL;
	return 0;
}

int dp_vm_def_from_json(json_object *o, struct dp_vm_def *def)
{
	memset(def, 0, sizeof(*def));
	const char *name = get_str(o, "name");
	int fw = name_index(firmware_names, 3, get_str(o, "firmware"));
	if (!name || fw < 0)
		return -EINVAL;
	snprintf(def->name, sizeof(def->name), "%s", name);
	def->memory_mib = (unsigned long long)get_int(o, "memory_mib", 0);
	def->cpus = (unsigned)get_int(o, "cpus", 1);
	def->firmware = (enum dp_vm_firmware)fw;
	const char *g = get_str(o, "graphics");
	def->graphics = g && strcmp(g, "vnc") == 0 ? DP_VM_GRAPHICS_VNC : DP_VM_GRAPHICS_NONE;
	def->numa = (int)get_int(o, "numa", DP_VM_NUMA_NONE);
	def->hugepages = get_int(o, "hugepages", 0) != 0;
	def->created = get_int(o, "created", 0);
	if (dup_opt(&def->image, o, "image") < 0 || dup_opt(&def->image_format, o, "image_format") < 0 ||
	    dup_opt(&def->user_data, o, "user_data") < 0 || dup_opt(&def->kernel, o, "kernel") < 0 ||
	    dup_opt(&def->initrd, o, "initrd") < 0 || dup_opt(&def->append, o, "append") < 0)
		return -ENOMEM;
	return devices_from_json(o, def);
}

/* ---- the database ------------------------------------------------------------------- */
struct vm_db {
	sqlite3 *db;
	int dirfd;
};

int dp_vm_db_open(struct vm_db **out, bool write)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return dp_oom();
	int r = dp_statedb_open(write ? DP_STATEDB_CREATE | DP_STATEDB_DURABLE : 0, &(*out)->db,
	                        &(*out)->dirfd);
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

void dp_vm_db_close(struct vm_db *d)
{
	if (!d)
		return;
	if (d->db)
		dp_statedb_close(d->db, d->dirfd);
	free(d);
}

static sqlite3_stmt *prepare(struct vm_db *d, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (!d->db || sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		if (d->db)
			dp_statedb_error(d->db, "prepare a query");
		return NULL;
	}
	return st;
}

/* Binds text parameters (NULL binds NULL) and runs a statement that returns no rows. */
static int run_text(struct vm_db *d, const char *what, const char *sql, int n, const char **args)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d, sql);
	if (!st)
		return -EIO;
	for (int i = 0; i < n; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(d->db, what);
}

int dp_vm_db_begin(struct vm_db *d)
{
	return dp_statedb_exec(d->db, "BEGIN IMMEDIATE", "begin a VM change");
}

int dp_vm_db_commit(struct vm_db *d)
{
	return dp_statedb_exec(d->db, "COMMIT", "commit a VM change");
}

void dp_vm_db_rollback(struct vm_db *d)
{
	sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

int dp_vm_db_insert(struct vm_db *d, const struct dp_vm_def *def)
{
	_cleanup_(json_putp) json_object *o = dp_vm_def_to_json(def);
	if (!o)
		return dp_oom();
	char created[24];
	snprintf(created, sizeof(created), "%lld", def->created);
	const char *args[] = { def->name, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), created };
	int r = run_text(d, "store the VM", "INSERT INTO vms (name, definition, created_at) "
	                 "VALUES (?, ?, CAST(? AS INTEGER))", 3, args);
	if (r == -EEXIST)
		return dp_error_set(-EEXIST, "VM '%s' exists already", def->name);
	return r;
}

int dp_vm_db_delete(struct vm_db *d, const char *name)
{
	const char *args[] = { name };
	return run_text(d, "remove the VM", "DELETE FROM vms WHERE name = ?", 1, args);
}

static int def_from_text(const char *text, struct dp_vm_def *def)
{
	_cleanup_(json_putp) json_object *o = text ? json_tokener_parse(text) : NULL;
	int r = o ? dp_vm_def_from_json(o, def) : -EINVAL;
	if (r == -EINVAL)
		return dp_error_set(-EINVAL, "VM definition in the state database is damaged");
	return r < 0 ? dp_oom() : 0;
}

/* Every VM's definition (name NULL) or one; -ENOENT when that one does not exist. */
int dp_vm_db_defs(struct vm_db *d, const char *name, struct dp_vm_def **defs, size_t *n)
{
	*defs = NULL;
	*n = 0;
	if (!d->db)
		return name ? dp_error_set(-ENOENT, "no VM named '%s'", name) : 0;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d, name
		? "SELECT definition FROM vms WHERE name = ?" : "SELECT definition FROM vms ORDER BY name");
	if (!st)
		return -EIO;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	int rc, r = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = dp_array_grow(defs, *n, 1, sizeof(**defs))) < 0)
			return dp_oom();
		r = def_from_text((const char *)sqlite3_column_text(st, 0), &(*defs)[*n]);
		if (r == 0)
			(*n)++;
	}
	if (r == 0 && name && *n == 0)
		r = dp_error_set_remedy(-ENOENT, DP_REMEDY_PARAMETER, "name", "no VM named '%s'", name);
	return r;
}

static enum dp_vm_state state_parse(const char *s)
{
	if (!s)
		return DP_VM_STOPPED;
	return strcmp(s, "running") == 0 ? DP_VM_RUNNING
	     : strcmp(s, "starting") == 0 ? DP_VM_STARTING : DP_VM_STOPPING;
}

static int taken_read(struct vm_db *d, const char *name, struct dp_vm_status *st_out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d,
		"SELECT address, pool, driver_before FROM vm_devices WHERE vm = ? ORDER BY address");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (dp_array_grow(&st_out->taken, st_out->ntaken, 1, sizeof(*st_out->taken)) < 0)
			return dp_oom();
		struct dp_vm_taken *t = &st_out->taken[st_out->ntaken++];
		snprintf(t->address, sizeof(t->address), "%s", sqlite3_column_text(st, 0));
		snprintf(t->pool, sizeof(t->pool), "%s", sqlite3_column_text(st, 1));
		snprintf(t->driver_before, sizeof(t->driver_before), "%s", sqlite3_column_text(st, 2));
	}
	return 0;
}

static void exit_read(struct vm_db *d, const char *name, struct dp_vm_status *out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d, "SELECT how FROM vm_exits WHERE name = ?");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out->last_exit, sizeof(out->last_exit), "%s", sqlite3_column_text(st, 0));
}

/* The run as recorded (not yet checked against the processes). */
int dp_vm_db_status(struct vm_db *d, const char *name, struct dp_vm_status *out)
{
	memset(out, 0, sizeof(*out));
	dp_vm_path(name, DP_VM_RUN_DIR, NULL, out->rundir, sizeof(out->rundir));
	dp_vm_path(name, DP_VM_STATE_DIR, NULL, out->statedir, sizeof(out->statedir));
	if (!d->db)
		return 0;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d,
		"SELECT state, qemu_pid, supervisor_pid, started_at FROM vm_runs WHERE name = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->state = state_parse((const char *)sqlite3_column_text(st, 0));
		out->qemu_pid = sqlite3_column_int(st, 1);
		out->supervisor_pid = sqlite3_column_int(st, 2);
		out->started = sqlite3_column_int64(st, 3);
	}
	exit_read(d, name, out);
	return taken_read(d, name, out);
}

int dp_vm_db_run_set(struct vm_db *d, const char *name, const char *state, pid_t qemu, pid_t sup)
{
	char q[16], s[16], now[24];
	snprintf(q, sizeof(q), "%d", (int)qemu);
	snprintf(s, sizeof(s), "%d", (int)sup);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *args[] = { name, state, q, s, now };
	return run_text(d, "record the VM's run",
	                "INSERT INTO vm_runs (name, state, qemu_pid, supervisor_pid, started_at) "
	                "VALUES (?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS INTEGER)) "
	                "ON CONFLICT (name) DO UPDATE SET state = excluded.state, "
	                "qemu_pid = excluded.qemu_pid, supervisor_pid = excluded.supervisor_pid", 5, args);
}

/* The run is over: its row goes, and how it ended is kept. */
int dp_vm_db_run_end(struct vm_db *d, const char *name, const char *how)
{
	char now[24];
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *args[] = { name, now, how };
	int r = run_text(d, "record how the VM ended", "INSERT OR REPLACE INTO vm_exits "
	                 "(name, ended_at, how) VALUES (?, CAST(? AS INTEGER), ?)", 3, args);
	return r < 0 ? r : run_text(d, "end the VM's run", "DELETE FROM vm_runs WHERE name = ?", 1, args);
}

/* -EEXIST (with the holder named) when another VM holds the device. */
int dp_vm_db_take(struct vm_db *d, const char *name, const struct dp_vm_taken *t)
{
	const char *args[] = { t->address, name, t->pool, t->driver_before };
	int r = run_text(d, "record a device taken", "INSERT INTO vm_devices "
	                 "(address, vm, pool, driver_before) VALUES (?, ?, ?, ?)", 4, args);
	if (r != -EEXIST)
		return r;
	char holder[DP_VM_NAME_MAX + 1] = "";
	dp_vm_db_holder(d, t->address, holder, sizeof(holder));
	return dp_error_set(-EBUSY, "%s is taken by VM '%s'", t->address, holder);
}

void dp_vm_db_holder(struct vm_db *d, const char *address, char *out, size_t size)
{
	out[0] = '\0';
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = prepare(d, "SELECT vm FROM vm_devices WHERE address = ?");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, size, "%s", sqlite3_column_text(st, 0));
}

int dp_vm_db_give_back(struct vm_db *d, const char *address)
{
	const char *args[] = { address };
	return run_text(d, "record a device given back", "DELETE FROM vm_devices WHERE address = ?", 1, args);
}
