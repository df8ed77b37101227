/* libdevpass — public interface.
 *
 * Every function that can fail returns 0 (or a count) on success and a negative errno
 * on failure, after recording a message for dp_error_message(). The message names the
 * device or file concerned and, where there is one, what the user can do about it. */
#ifndef DEVPASS_H
#define DEVPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct json_object;

/* ---- errors ---------------------------------------------------------------- */
const char *dp_error_message(void);
int dp_error_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What would resolve the last failure, as a fact: the message says what is wrong in the
 * library's terms, and a front end turns the remedy into its own advice (a command to
 * run, an option to give). *subject (never NULL) is the device, pool or parameter it is
 * about, "" when none. dp_error_set clears it. */
enum dp_remedy {
	DP_REMEDY_NONE,
	DP_REMEDY_FORCE,          /* a safety refusal that the force option overrides */
	DP_REMEDY_RESTORE,        /* restoring subject (the devices, space-separated; ""
	                             when too many to name) gives them back */
	DP_REMEDY_CHECK_HOST,     /* the host is not ready: the readiness checks say why */
	DP_REMEDY_SETUP_IOMMU,    /* the IOMMU is off: set it up, then reboot */
	DP_REMEDY_SHOW_DEVICE,    /* subject's details say what holds it */
	DP_REMEDY_LIST_DEVICES,   /* no such device: the inventory lists them */
	DP_REMEDY_POOL_CREATE,    /* no pool subject: the pools list, or create it */
	DP_REMEDY_POOL_DEFINE,    /* no pool at all: create one and add rules */
	DP_REMEDY_POOL_SHOW,      /* pool subject's members, rules and owners explain it */
	DP_REMEDY_POOL_CLEAR,     /* subject ("" some) is quarantined until cleared */
	DP_REMEDY_POOL_GC,        /* claims of processes that are gone: collect them */
	DP_REMEDY_POOL_REPLACE,   /* the pool exists: an import that replaces redefines it */
	DP_REMEDY_PERSIST_LIST,   /* no persisted rule for subject: the rules are listed */
	DP_REMEDY_PARAMETER,      /* the parameter named subject ("owner", "count", "node",
	                             "by", ...) has a value that cannot be used, or is missing */
	DP_REMEDY_BIND,           /* binding subject (as DP_REMEDY_RESTORE) applies it now */
	DP_REMEDY_VM_STOP,        /* VM subject runs: stop it first (or force, which stops it) */
	DP_REMEDY_START_SERVICE,  /* the service subject ("libvirtd") is not running: start it */
};
enum dp_remedy dp_error_remedy(const char **subject);

/* ---- filesystem root (the one gateway to sysfs, procfs, devfs, /etc, /run) -- */
int dp_root_set(const char *dir);      /* NULL: $DEVPASS_ROOT, else "/" */
const char *dp_root_path(void);
bool dp_root_is_host(void);            /* true when the root is "/" */
bool dp_root_has_pci_bus(void);        /* sys/bus/pci exists under the root */

/* ---- PCI addresses ----------------------------------------------------------- */
#define DP_ADDR_LEN 16                 /* "0000:01:00.0"; VMD domains have 5 digits */
struct dp_pci_addr {
	unsigned domain, bus, slot, func;
};
int dp_pci_addr_parse(const char *text, struct dp_pci_addr *out);
void dp_pci_addr_format(const struct dp_pci_addr *addr, char out[DP_ADDR_LEN]);

/* ---- inventory ------------------------------------------------------------- */
#define DP_NO_GROUP (-1)
#define DP_NO_NUMA (-1)

struct dp_strv {
	char **v;
	size_t n;
};
/* 0, or -ENOMEM with the list unchanged */
int dp_strv_add(struct dp_strv *sv, const char *s);
int dp_strv_addf(struct dp_strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool dp_strv_contains(const struct dp_strv *sv, const char *s);
void dp_strv_free(struct dp_strv *sv);
char *dp_strv_join(const struct dp_strv *sv, const char *sep);   /* malloc'ed ("" when empty); NULL: no memory */

struct dp_pci_device {
	char address[DP_ADDR_LEN];
	struct dp_pci_addr addr;
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_device;
	bool has_subsys;
	uint32_t class_code;               /* 24 bits: base, sub, prog-if */
	uint8_t revision;
	char driver[64];                   /* "" when unbound */
	char *modalias;
	int iommu_group;                   /* DP_NO_GROUP */
	bool vfio_node;                    /* /dev/vfio/<group> exists */
	int numa_node;                     /* DP_NO_NUMA */
	char parent[DP_ADDR_LEN];          /* upstream bridge, "" on a root bus */
	char *sysfs_path;                  /* "sys/devices/pci0000:00/..." under the root */
	/* names are interned by the names module: shared, never freed by the device */
	const char *class_name, *vendor_name, *device_name;
	const char *subsys_vendor_name, *subsys_device_name;
	const char *description;
	struct dp_strv critical;           /* host-critical reasons; empty when not */
};

struct dp_pci_list {
	struct dp_pci_device *dev;
	size_t n;
};

int dp_pci_scan(struct dp_pci_list *out);   /* with names: dp_pci_scan_flags(out, DP_SCAN_NAMES) */
#define DP_SCAN_NAMES 0x1   /* look names up in pci.ids / hwdb (binding needs none) */
int dp_pci_scan_flags(struct dp_pci_list *out, unsigned flags);
void dp_pci_list_free(struct dp_pci_list *list);
struct dp_pci_device *dp_pci_list_find(const struct dp_pci_list *list, const char *address);
bool dp_pci_device_is_bridge(const struct dp_pci_device *dev);
unsigned dp_pci_device_base_class(const struct dp_pci_device *dev);
int dp_pci_device_lookup(const struct dp_pci_list *list, const char *text,
                         struct dp_pci_device **out);

/* selection, as `list` filters: AND across keys, OR among the values of one key (each
 * dp_filter_add_* takes a comma list and adds its values, like pool rules) */
#define DP_FILTER_MAX 32                 /* values per key */
struct dp_filter_class {
	unsigned value, mask;
};
struct dp_filter_id {
	int vendor, device;                 /* -1: any (lspci -d 10de: or :2204) */
};
struct dp_filter_slot {
	int domain, bus, slot, func;        /* -1: any */
};
struct dp_pci_filter {
	unsigned class_value, class_mask;   /* the class dp_filter_set_class parsed */
	struct dp_filter_class classes[DP_FILTER_MAX];
	size_t nclasses;
	int vendors[DP_FILTER_MAX];
	size_t nvendors;
	struct dp_filter_id ids[DP_FILTER_MAX];
	size_t nids;
	char drivers[DP_FILTER_MAX][64];     /* "none": unbound; '-' and '_' are the same */
	size_t ndrivers;
	int groups[DP_FILTER_MAX];
	size_t ngroups;
	struct dp_filter_slot slots[DP_FILTER_MAX];   /* lspci -s selectors */
	size_t nslots;
};
void dp_filter_init(struct dp_pci_filter *f);
/* one class name or hex class (03, 0300, 0x0300, 010802); it replaces the class list */
int dp_filter_set_class(struct dp_pci_filter *f, const char *name);
int dp_filter_add_class(struct dp_pci_filter *f, const char *list);
int dp_filter_add_vendor(struct dp_pci_filter *f, const char *list);
int dp_filter_add_device(struct dp_pci_filter *f, const char *list);   /* [V]:[D] */
int dp_filter_add_driver(struct dp_pci_filter *f, const char *list);
int dp_filter_add_group(struct dp_pci_filter *f, const char *list);
int dp_filter_add_selector(struct dp_pci_filter *f, const char *list);
bool dp_filter_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev);
/* driver names as modprobe compares them: '-' and '_' are the same */
bool dp_driver_name_equal(const char *a, const char *b);
const char *dp_filter_class_names(void);

/* names from libpci (pci.ids / udev hwdb) */
void dp_names_release(void);

/* ---- details for `show` (config space and per-device sysfs extras) ---------- */
struct dp_pcie_link {
	bool present;
	unsigned cap_speed, cap_width;     /* speed as PCIe generation code (1 = 2.5GT/s) */
	unsigned sta_speed, sta_width;
};

struct dp_pci_details {
	bool config_read;                  /* config space was readable */
	unsigned header_type;
	int pcie_type;                     /* -1 conventional PCI; else PCI_EXP_TYPE_* */
	bool flr, pm_reset, af_flr, acs;
	unsigned acs_cap, acs_ctrl;
	bool sriov_cap;
	bool has_dsn;
	uint64_t dsn;
	struct dp_pcie_link link;
	char driver_override[64];
	char reset_methods[128];           /* the kernel's reset_method file, "" if absent */
	bool reset_method_file;
	int boot_vga;                      /* -1 no file */
	bool rom;
	char local_cpulist[128];
	int sriov_total, sriov_num;        /* -1 when not a PF */
	char physfn[DP_ADDR_LEN];
	struct dp_strv vfs;
	struct dp_strv modules;            /* modules matching the modalias */
	char nvme_serial[64];
};
int dp_pci_details_read(const struct dp_pci_device *dev, struct dp_pci_details *out);
void dp_pci_details_free(struct dp_pci_details *d);
const char *dp_pcie_speed_name(unsigned code);
const char *dp_pcie_type_name(int type);

/* ---- IOMMU groups ------------------------------------------------------------ */
struct dp_iommu_group {
	int number;
	size_t *members;                   /* indexes into the dp_pci_list */
	size_t n;
	bool viable;
	struct dp_strv not_viable_reasons;
	bool host_critical;                /* an endpoint in it is host-critical */
};
struct dp_group_list {
	struct dp_iommu_group *g;
	size_t n;
};
int dp_groups_build(const struct dp_pci_list *list, struct dp_group_list *out);
void dp_groups_free(struct dp_group_list *groups);
const struct dp_iommu_group *dp_groups_find(const struct dp_group_list *groups, int number);

/* ---- host-critical detection ------------------------------------------------ */
int dp_critical_mark(struct dp_pci_list *list);

/* ---- readiness checks ------------------------------------------------------- */
enum dp_check_status { DP_CHECK_PASS, DP_CHECK_WARN, DP_CHECK_FAIL };
struct dp_check {
	char *name;
	enum dp_check_status status;
	char *detail;
	char *fix;                         /* NULL when nothing to do */
};
struct dp_check_report {
	struct dp_check *c;
	size_t n;
};
int dp_check_run(struct dp_check_report *out);
bool dp_check_report_ready(const struct dp_check_report *r);
void dp_check_report_free(struct dp_check_report *r);
const char *dp_check_status_name(enum dp_check_status s);

/* ---- accounts (the root's etc/passwd and etc/group; numeric ids accepted) ---------- */
int dp_account_lookup(const char *user, const char *group, unsigned *uid, unsigned *gid);

/* ---- binding ----------------------------------------------------------------------- */
enum dp_bind_kind { DP_BIND, DP_UNBIND, DP_RESTORE };
enum dp_step_action { DP_STEP_BIND, DP_STEP_UNBIND, DP_STEP_RESTORE, DP_STEP_SKIP, DP_STEP_RESET };
enum dp_step_result { DP_STEP_PLANNED, DP_STEP_DONE, DP_STEP_SKIPPED, DP_STEP_ROLLED_BACK,
                      DP_STEP_FAILED, DP_STEP_REFUSED,
                      DP_STEP_NOT_RUN   /* planned, but an earlier step failed first */ };

struct dp_bind_step {
	char address[DP_ADDR_LEN];
	int group;
	char from[64];               /* driver now, "" when unbound */
	char from_override[64];      /* driver_override now, "" when clear */
	char to[64];                 /* driver wanted, "" for none */
	char to_override[64];        /* driver_override to leave behind, "" to clear */
	enum dp_step_action action;
	enum dp_step_result result;
	bool requested;              /* named by the user, not pulled in by its group */
	bool recorded;               /* this run created its ledger record */
	bool in_ledger;              /* restore: devpass has a record of it */
	bool touched;                /* a write was made to it */
	bool hung;                   /* a write to it did not finish: the kernel holds it */
};

struct dp_bind_options {
	const char *driver;          /* bind: NULL means vfio-pci */
	bool force;                  /* host-critical and in-use devices too */
	bool dry_run;
	int timeout_ms;              /* for writes that can block (unbind, probe) */
	bool only_named;             /* vfio-pci too: not the rest of the group (the boot
	                                path binds each function as it appears) */
	bool override_is_ours;       /* a driver_override equal to the target was set by
	                                devpass's udev rule: the ledger records "" */
	bool set_owner;              /* hand /dev/vfio/N to owner_uid:owner_gid */
	unsigned owner_uid, owner_gid;
};

struct dp_bind_plan {
	enum dp_bind_kind kind;
	struct dp_bind_step *steps;
	size_t n;
	struct dp_strv warnings;     /* what --force let through */
	int timeout_ms;              /* for reads and writes that can block */
	bool locked_error;           /* a function's attributes could not be read in time */
};

/* Computes what would change, without a single write. Errors name the device: bad
 * address (-EINVAL), unknown device (-ENODEV), refused (-EPERM: host-critical or in use
 * without force), no IOMMU group. */
int dp_bind_plan_make(enum dp_bind_kind kind, const struct dp_pci_list *list,
                      char *const *addrs, size_t naddrs, bool all,
                      const struct dp_bind_options *o, struct dp_bind_plan *out);
/* Carries the plan out under the group locks; on any failure every device touched is put
 * back and the error names the device and the step. */
int dp_bind_plan_apply(struct dp_bind_plan *plan, const struct dp_pci_list *list,
                       const struct dp_bind_options *o);
void dp_bind_plan_free(struct dp_bind_plan *plan);
const char *dp_step_action_name(enum dp_step_action a);
const char *dp_step_result_name(enum dp_step_result r);
/* reset: the kernel's methods ("" when it has `reset` but no `reset_method`; -ENOENT
 * when it has no reset at all), the safety check, and the reset itself. */
int dp_reset_methods(const struct dp_pci_device *dev, char *methods, size_t size);
/* Refuses (in this order) a device in use, host-critical or driven by a host driver
 * unless forced, then one the kernel offers no reset for; bus_shared
 * (dp_reset_bus_shared) makes that message name vfio's hot reset. */
int dp_reset_check(const struct dp_pci_device *dev, bool force, bool bus_shared,
                   struct dp_strv *warnings);
/* Another function sits on the device's bus: a bus reset of it alone is impossible. */
bool dp_reset_bus_shared(const struct dp_pci_list *list, const struct dp_pci_device *dev);
int dp_reset_apply(const struct dp_pci_device *dev, int timeout_ms);
/* The driver a device had before devpass changed it; "" when devpass has no record. */
void dp_ledger_original_drivers(const struct dp_pci_list *list, char (*out)[64]);
void dp_ledger_original_driver(const char *address, char out[64]);

/* ---- host setup that survives reboots ------------------------------------------------ */
/* A change set: every file a command would create, edit or delete under /etc and /boot,
 * computed before anything is written so that --dry-run can show it as a diff. Applying
 * it journals each file (its bytes before devpass first touched it) in the state
 * database, which is how `setup --undo` and `persist --remove` put back exactly what
 * devpass changed. */
struct dp_journal_list;
enum dp_file_op { DP_FILE_CREATE, DP_FILE_MODIFY, DP_FILE_DELETE };
struct dp_file_change {
	char *path;                  /* "/etc/..." */
	enum dp_file_op op;
	char *before, *after;        /* before: NULL on create; after: NULL on delete */
	size_t before_len, after_len;
	unsigned before_mode, mode;
	bool restore;                /* puts the journaled original back (undo, remove) */
};
struct dp_command {
	char *line;                  /* "update-grub": run through the root's PATH */
	int status;                  /* exit status; -1 not run */
	bool run;
	bool optional;               /* a failure is a warning (a reload of a daemon that is
	                                not running: the next boot reads the files anyway) */
};
struct dp_changeset {
	char feature[32];            /* "setup-iommu", "persist", "persist-ids" */
	struct dp_file_change *files;
	size_t n;
	struct dp_strv mkdirs;       /* directories to create, parents first */
	struct dp_strv rmdirs;       /* devpass-made directories to remove if empty */
	struct dp_command *commands;
	size_t ncommands;
	struct dp_strv warnings;     /* said loudly, on stderr */
	struct dp_strv notes;        /* what the user should know next (reboot, ...) */
	/* the step that note next_note names, as a fact a front end turns into its command
	 * (DP_REMEDY_NONE: none) */
	enum dp_remedy next;
	size_t next_note;
	char next_subject[128];
	struct dp_strv kept;         /* files changed since devpass wrote them, left alone */
	bool manual;                 /* nothing could be written: the user has steps to do */
	struct dp_journal_list *journal;   /* the feature's journal, read once when needed */
};
void dp_changeset_init(struct dp_changeset *cs, const char *feature);
void dp_changeset_free(struct dp_changeset *cs);
bool dp_changeset_empty(const struct dp_changeset *cs);
/* Unified diff of every change, as `diff -u` would print it; -ENOMEM when one could not
 * be made (the output stops there). */
int dp_changeset_diff(const struct dp_changeset *cs, FILE *f);
/* Writes the files (journal first), creates and removes directories, then runs the
 * commands when the root is "/" (under --root they are reported, not run). A failed write
 * puts back the files written before it. */
int dp_changeset_apply(struct dp_changeset *cs);
const char *dp_file_op_name(enum dp_file_op op);

/* setup iommu: kernel arguments through the boot loader in use */
struct dp_setup_info {
	char iommu[8];               /* "intel", "amd", "" unknown */
	char loader[32];             /* "grub-dropin", "grub-bls", "grub", "systemd-boot",
	                                "kernel-install", "unknown" */
	struct dp_strv wanted;       /* arguments this host needs */
	struct dp_strv configured;   /* of those, already in the boot configuration */
	struct dp_strv active;       /* of those, on the running kernel's command line */
	struct dp_strv instructions; /* unknown boot loader: what to do by hand */
};
int dp_setup_iommu_plan(bool passthrough_mode, struct dp_setup_info *info,
                        struct dp_changeset *cs);
int dp_setup_undo_plan(struct dp_changeset *cs);
void dp_setup_info_free(struct dp_setup_info *info);

/* persist: bindings and VF counts applied at every boot by udev + a systemd unit */
enum dp_persist_key { DP_KEY_ADDRESS, DP_KEY_ID, DP_KEY_SERIAL };
struct dp_persist_rule {
	char name[96];               /* file name without .conf: "pci-0000:01:00.0" */
	enum dp_persist_key key;
	char address[DP_ADDR_LEN];   /* key address; else where it was seen when persisted */
	uint16_t vendor, device, subsys_vendor, subsys_device;
	bool has_subsys;
	uint64_t serial;
	char driver[64];             /* "" when the rule only sets a VF count */
	int sriov_numvfs;            /* -1: none */
};
struct dp_persist_rules {
	struct dp_persist_rule *r;
	size_t n;
	struct dp_strv invalid;      /* files that could not be read: skipped, with why */
};
struct dp_persist_options {
	const char *driver;          /* NULL: vfio-pci */
	enum dp_persist_key key;
	int vfs;                     /* -1: persist a binding; else a VF count */
	bool force;
};
int dp_persist_rules_read(struct dp_persist_rules *out);
void dp_persist_rules_free(struct dp_persist_rules *rules);
const char *dp_persist_key_name(enum dp_persist_key key);
int dp_persist_key_parse(const char *text, enum dp_persist_key *out);
/* The key as printed: "0000:01:00.0", "10de:2204 subsystem 147d:10de", "serial ..." */
void dp_persist_rule_describe(const struct dp_persist_rule *rule, char *out, size_t size);
/* Whether a rule took effect this boot; devices gets the addresses it matches now. */
enum dp_persist_state { DP_PERSIST_ACTIVE, DP_PERSIST_INACTIVE, DP_PERSIST_ABSENT };
enum dp_persist_state dp_persist_rule_state(const struct dp_persist_rule *rule,
                                            const struct dp_pci_list *list, struct dp_strv *devices);
const char *dp_persist_state_name(enum dp_persist_state s);
int dp_persist_plan(const struct dp_pci_list *list, char *const *addrs, size_t n,
                    const struct dp_persist_options *o, struct dp_changeset *cs);
/* Rules for these devices (and their groups), or all of them. */
int dp_persist_remove_plan(const struct dp_pci_list *list, char *const *addrs, size_t n,
                           bool all, struct dp_changeset *cs);
int dp_persist_ids_plan(const struct dp_pci_list *list, char *const *addrs, size_t n,
                        bool force, struct dp_changeset *cs);
int dp_persist_ids_remove_plan(struct dp_changeset *cs);
/* The boot path: what the unit runs when the device appears. *message says what was
 * done (or why nothing). */
int dp_persist_apply(const char *address, char *message, size_t size);
/* The driver a rule wants for this device ("" none), for udev's IMPORT{program}. */
int dp_persist_match(const char *address, char *driver, size_t size);
/* vfio-pci configuration other tools made: "options vfio-pci ids=" lines in modprobe.d
 * files other than devpass's (kind "ids", key the ids, driver vfio-pci) and driverctl
 * overrides in etc/driverctl.d (kind "driverctl", key the address, driver the file's). */
struct dp_foreign_config {
	char *source;                /* the file, "/etc/..." */
	char *kind;                  /* "ids" or "driverctl" */
	char *key;
	char *driver;
};
struct dp_foreign_list {
	struct dp_foreign_config *f;
	size_t n;
};
int dp_foreign_config_read(struct dp_foreign_list *out);
void dp_foreign_list_free(struct dp_foreign_list *l);

/* ---- resource pools: devices chosen by rules, claimed by owners ------------------------ */
/* A rule is space-separated key=value terms that must all match (AND); a pool matches a
 * device when any of its rules does (OR). Values are globs, several separated by commas
 * (any of them). IOMMU group numbers are deliberately not a key: they change across boots. */
enum dp_rule_key {
	DP_RK_VENDOR, DP_RK_DEVICE, DP_RK_ID, DP_RK_SUBSYSTEM, DP_RK_CLASS, DP_RK_NAME,
	DP_RK_ADDRESS, DP_RK_SERIAL, DP_RK_DRIVER, DP_RK_NUMA, DP_RK_PHYSFN,
	DP_RK_PORT, DP_RK_CONTROLLER,            /* usb pools */
	DP_RK_PARENT, DP_RK_TYPE,                /* mdev pools */
	DP_RK_COUNT
};
struct dp_rule_term {
	enum dp_rule_key key;
	struct dp_strv values;       /* normalised: lower-case hex, full addresses */
	size_t pos;                  /* byte offset of the term in the text */
};
struct dp_rule {
	struct dp_rule_term *terms;
	size_t n;
	char *text;                  /* canonical form: "key=v1,v2 key=v" */
};
/* Parses a rule. On error returns -EINVAL, sets *error_pos (byte offset of the offending
 * term) and a message naming the term, with the rule and a caret under it. */
int dp_rule_parse(const char *text, struct dp_rule *out, size_t *error_pos);
void dp_rule_free(struct dp_rule *rule);
const char *dp_rule_key_name(enum dp_rule_key key);
bool dp_rule_uses(const struct dp_rule *rule, enum dp_rule_key key);
/* What a rule is matched against: the device plus facts read separately. */
struct dp_rule_subject {
	const struct dp_pci_device *dev;
	const char *driver;          /* the driver devpass found it on, else the bound one */
	const char *serial;          /* NVMe serial, "" unknown */
	const char *dsn;             /* PCIe Device Serial Number "xx-xx-..", "" none */
	const char *physfn;          /* the PF's address for a VF, else "" */
};
bool dp_rule_match(const struct dp_rule *rule, const struct dp_rule_subject *s);

/* identity facts a pool fingerprints and rules match on (sysfs reads, no libkmod) */
struct dp_pci_identity {
	char serial[64];             /* NVMe serial while nvme drives it, else "" */
	char dsn[24];                /* Device Serial Number, else "" */
	char physfn[DP_ADDR_LEN];    /* "" unless a VF */
	int sriov_total;             /* -1 unless an SR-IOV PF */
};
int dp_pci_identity_read(const struct dp_pci_device *dev, struct dp_pci_identity *out);

enum dp_pool_type { DP_POOL_PCI, DP_POOL_SRIOV_VF, DP_POOL_USB, DP_POOL_MDEV };
enum dp_release_policy { DP_RELEASE_RESTORE, DP_RELEASE_KEEP_VFIO, DP_RELEASE_QUARANTINE };
const char *dp_pool_type_name(enum dp_pool_type t);
int dp_pool_type_parse(const char *text, enum dp_pool_type *out);
const char *dp_release_policy_name(enum dp_release_policy p);
int dp_release_policy_parse(const char *text, enum dp_release_policy *out);

#define DP_POOL_NAME_MAX 64
struct dp_pool {
	char name[DP_POOL_NAME_MAX + 1];
	enum dp_pool_type type;
	char *description;
	enum dp_release_policy on_release;
	struct dp_strv rules;        /* canonical rule texts, in the order added */
	long long created_at;
};
struct dp_pool_list {
	struct dp_pool *p;
	size_t n;
};
int dp_pool_create(const char *name, enum dp_pool_type type, const char *description,
                   enum dp_release_policy on_release);
/* Refused (-EBUSY) while devices of the pool are claimed or quarantined. */
int dp_pool_delete(const char *name);
int dp_pool_set(const char *name, const char *description, const enum dp_release_policy *on_release);
/* Adds a rule (appended; an identical rule is refused) and records the fingerprints of
 * devices that join. Returns the number of devices the rule matches now. */
int dp_pool_rule_add(const char *name, const char *rule, const struct dp_pci_list *list);
/* How many present devices this rule alone brings into the pool (its type considered;
 * bridges never count). */
int dp_pool_rule_matches(const char *name, const char *rule, const struct dp_pci_list *list);
/* which: the rule's text (any spacing) or its 1-based number as `pool show` lists it */
int dp_pool_rule_remove(const char *name, const char *which, const struct dp_pci_list *list);
int dp_pools_read(struct dp_pool_list *out);
void dp_pool_list_free(struct dp_pool_list *pools);
/* The pools' definitions as JSON ({"version":1,"pools":[...]}); import takes the same,
 * all or nothing. replace: a pool of the same name is redefined (its claims kept). */
int dp_pools_export(struct json_object **out);
int dp_pools_import(struct json_object *in, bool replace, const struct dp_pci_list *list);
/* The rule that selects this device ("--by"): id (+ subsystem), address or serial. */
int dp_pool_rule_for_device(const struct dp_pci_device *dev, const char *by, char **rule);

enum dp_member_state {
	DP_MEMBER_FREE, DP_MEMBER_CLAIMED, DP_MEMBER_QUARANTINED, DP_MEMBER_CHANGED,
	DP_MEMBER_MISSING, DP_MEMBER_CONFLICT, DP_MEMBER_UNAVAILABLE
};
const char *dp_member_state_name(enum dp_member_state s);
struct dp_pool_member {
	char pool[DP_POOL_NAME_MAX + 1];
	char address[DP_ADDR_LEN];
	enum dp_member_state state;
	const struct dp_pci_device *dev;   /* NULL when missing */
	char *reason;                /* why not free: what changed, the other pools, ... */
	char *label;                 /* a member that is no PCI function: what it is (a USB
	                                device's vendor and product names), else NULL */
	char owner[128];             /* claimed: by whom */
	int pid;                     /* claimed: the owner's process, 0 none */
	bool stale;                  /* claimed by a process that is gone */
	long long since;             /* claimed or quarantined at (epoch s), else joined */
	uint16_t vendor, device;     /* fingerprint (also for missing devices) */
	uint16_t subsys_vendor, subsys_device;
	uint32_t class_code;
	int numa;
	int group;
	char physfn[DP_ADDR_LEN];
	int sriov_total;
};
struct dp_pool_members {
	struct dp_pool_member *m;
	size_t n;
	struct dp_strv conflicts;    /* "ADDR: pools a, b" */
};
/* Members of one pool (or of all, pool NULL) with their state, ordered by pool, address. */
int dp_pool_members_read(const struct dp_pci_list *list, const char *pool,
                         struct dp_pool_members *out);
void dp_pool_members_free(struct dp_pool_members *m);

struct dp_claim_request {
	const char *pool;
	const char *owner;           /* the VM or tenant; free text up to 127 characters */
	unsigned count;              /* devices (each with its whole IOMMU group) */
	int numa;                    /* preferred NUMA node, DP_NO_NUMA for any */
	const char *address;         /* this member only, NULL any */
	pid_t pid;                   /* the process the claim lives with; 0: until released */
	int timeout_ms;              /* for the binding writes */
	const struct dp_vf_settings *vf;   /* sriov-vf pools: MAC/VLAN set on the VF before
	                                      it is bound, cleared at release; NULL none */
};
struct dp_claim {
	char address[DP_ADDR_LEN];   /* the pool member */
	char pool[DP_POOL_NAME_MAX + 1];
	char owner[128];
	int pid;
	long long claimed_at;
	int group, numa;
	struct dp_strv functions;    /* every function claimed with it (its IOMMU group) */
	char action[48];             /* release: "restored", "kept on vfio-pci", "quarantined" */
	bool reset;                  /* release: the device was reset */
	bool took_over;              /* claim: from a stale claim */
	bool held;                   /* claim: the owner held it already (claim again after a
	                                restart or a reboot: bound again, pid updated) */
};
struct dp_claim_list {
	struct dp_claim *c;
	size_t n;
	struct dp_strv warnings;
	enum dp_remedy next;         /* what the warnings call for (DP_REMEDY_POOL_GC: claims
	                                of processes that are gone), for a front end to name */
};
/* Makes the owner hold count members of the pool: those it holds already count (bound to
 * vfio-pci again if a reboot took them off it, tied to the new pid), free ones make up the
 * rest. The choice is recorded in one transaction (no device can be claimed twice), then
 * bound; a failed bind takes the new claims back. */
int dp_pool_claim(const struct dp_pci_list *list, const struct dp_claim_request *req,
                  struct dp_claim_list *out);
/* Releases an owner's claims (all, or those of these members): reset, then the pool's
 * policy. out lists what was released and how. */
int dp_pool_release(const struct dp_pci_list *list, const char *owner, char *const *addrs,
                    size_t naddrs, int timeout_ms, struct dp_claim_list *out);
/* Releases every claim whose process is gone. */
int dp_pool_gc(const struct dp_pci_list *list, int timeout_ms, struct dp_claim_list *out);
/* The claims as they stand (one per member, with its functions), of one owner or all;
 * took_over is unused, reset says nothing. */
int dp_claims_read(const struct dp_pci_list *list, const char *owner, struct dp_claim_list *out);
/* Makes a quarantined device claimable again. */
int dp_pool_clear(const char *address);
void dp_claim_list_free(struct dp_claim_list *l);

/* exports for cloud platforms, generated from the pools' members */
enum dp_export_target { DP_EXPORT_NOVA, DP_EXPORT_KUBEVIRT, DP_EXPORT_PROXMOX };
struct dp_export_options {
	const char *node;            /* proxmox node name; NULL: this host's name */
	const char *numa_policy;     /* nova: legacy (default), preferred, required, socket */
	const char *resource_prefix; /* kubevirt: "devpass.io" */
	const char *pool;            /* only this pool, NULL all */
};
/* text: the configuration snippet; json: the same as data. */
int dp_export(enum dp_export_target target, const struct dp_pci_list *list,
              const struct dp_export_options *o, char **text, struct json_object **json,
              struct dp_strv *warnings);

/* ---- virtual machines on QEMU (docs/vm.md) ---------------------------------------- */
#define DP_VM_NAME_MAX 64               /* [A-Za-z0-9._-]{1,64} */
#define DP_VM_NUMA_NONE (-1)            /* no pinning */
#define DP_VM_NUMA_AUTO (-2)            /* the passed devices' node */
enum dp_vm_firmware { DP_VM_FW_BIOS, DP_VM_FW_UEFI, DP_VM_FW_SECURE_BOOT };
enum dp_vm_graphics { DP_VM_GRAPHICS_NONE, DP_VM_GRAPHICS_VNC };
/* What a VM asks for: one entry per --gpu / --nvme / --passthrough / --pool. */
enum dp_vm_want { DP_VM_WANT_ADDRESS, DP_VM_WANT_GPU, DP_VM_WANT_NVME, DP_VM_WANT_POOL,
                  DP_VM_WANT_USB /* spec: a port "1-1.2", an id "046d:c52b" or a usb pool */,
                  DP_VM_WANT_MDEV /* spec: an mdev pool; devices made at start, removed at stop */ };
struct dp_vm_device {
	enum dp_vm_want want;
	char spec[128];              /* "auto", an address, a vendor ("nvidia", "10de"), a pool */
	unsigned count;              /* pools: members wanted (default 1) */
	char address[DP_ADDR_LEN];   /* gpu/nvme: the device chosen at create; "" for pools */
	char options[256];           /* vfio-pci options on function 0: "x-vga=on,rombar=0,
	                                romfile=PATH" (only these keys), "" none */
};
struct dp_vm_def {
	char name[DP_VM_NAME_MAX + 1];
	char *image;                 /* the base image (never written), NULL: none */
	char *image_format;          /* "qcow2", "raw" (from qemu-img info), NULL: none */
	unsigned long long memory_mib;
	unsigned cpus;
	struct dp_vm_device *devices;
	size_t ndevices;
	enum dp_vm_firmware firmware;
	char *user_data;             /* cloud-init user-data as given (or made from an ssh key), NULL: no seed */
	enum dp_vm_graphics graphics;
	char *kernel, *initrd, *append;   /* direct kernel boot, NULL: none */
	int numa;                    /* DP_VM_NUMA_NONE, DP_VM_NUMA_AUTO or a host node */
	bool hugepages;
	long long created;           /* epoch seconds */
};
void dp_vm_def_free(struct dp_vm_def *def);
/* Reads a cloud-init user-data file, or (ssh_key) makes an ssh-only one from a public key
 * file, into def->user_data. */
int dp_vm_def_load_user_data(struct dp_vm_def *def, const char *path, bool ssh_key);
int dp_vm_name_check(const char *name);
/* "512M", "16G", "1T", a bare number = MiB; 64 MiB .. 16 TiB */
int dp_vm_size_parse(const char *text, unsigned long long *mib);
/* "x-vga=on,rombar=0,romfile=/path": only those keys, values checked; normalized into out */
int dp_vm_device_options_parse(const char *text, char *out, size_t size);

enum dp_vm_state { DP_VM_STOPPED, DP_VM_STARTING, DP_VM_RUNNING, DP_VM_STOPPING };
const char *dp_vm_state_name(enum dp_vm_state s);
struct dp_vm_taken {                 /* a device a running VM holds */
	char address[DP_ADDR_LEN];
	char pool[65];               /* "" when named explicitly (taken through binding) */
	char driver_before[64];      /* explicit: the driver it goes back to */
};
struct dp_vm_status {
	enum dp_vm_state state;
	pid_t qemu_pid, supervisor_pid;   /* 0 when none */
	long long started;
	struct dp_vm_taken *taken;
	size_t ntaken;
	char rundir[256];            /* root-relative: run/devpass/vm/NAME */
	char statedir[256];          /* root-relative: var/lib/devpass/vm/NAME */
	char last_exit[256];         /* how the last run ended, "" none */
};
void dp_vm_status_free(struct dp_vm_status *st);
struct dp_vm_list {
	struct dp_vm_def *defs;
	struct dp_vm_status *status;
	size_t n;
};
void dp_vm_list_free(struct dp_vm_list *l);
int dp_vm_list_read(struct dp_vm_list *out);
int dp_vm_get(const char *name, struct dp_vm_def *def, struct dp_vm_status *status);

/* One line of a validation: a check, its verdict and what would help. */
enum dp_vm_verdict { DP_VM_OK, DP_VM_WARN, DP_VM_FAIL };
struct dp_vm_finding {
	char check[48];              /* "memlock", "group 5 viable", "firmware", ... */
	enum dp_vm_verdict verdict;
	char *detail;                /* what was found */
	char *advice;                /* what would help, NULL none */
};
struct dp_vm_report {
	struct dp_vm_finding *f;
	size_t n;
	struct dp_strv chosen;       /* "gpu auto: 0000:01:00.0 (NVIDIA ...)" */
	struct dp_strv rejected;     /* "0000:02:00.0: host-critical (boot VGA)" */
	struct dp_strv argv;         /* the QEMU command line */
};
void dp_vm_report_free(struct dp_vm_report *r);
bool dp_vm_report_ok(const struct dp_vm_report *r);

struct dp_vm_options {
	bool dry_run;                /* decide, report, change nothing */
	bool force;                  /* destroy a running VM; take host-critical devices: never */
	int timeout_ms;              /* stop: powerdown wait (default 60 s); binding writes */
	const char *qemu;            /* QEMU binary, NULL: $DEVPASS_QEMU or qemu-system-x86_64 */
};
/* Validates the definition (and resolves gpu/nvme "auto" into def->devices[].address),
 * stores it and prepares its state directory (disk overlay, firmware vars, seed). */
int dp_vm_create(struct dp_vm_def *def, const struct dp_pci_list *list,
                 const struct dp_vm_options *o, struct dp_vm_report *out);
/* What start would do and whether it can: host, devices, groups, memory, firmware. */
int dp_vm_validate(const char *name, const struct dp_pci_list *list,
                   const struct dp_vm_options *o, struct dp_vm_report *out);
/* validate -> take every device (all or nothing) -> launch QEMU -> supervise -> record */
int dp_vm_start(const char *name, const struct dp_pci_list *list,
                const struct dp_vm_options *o, struct dp_vm_report *out);
/* powerdown, wait, quit, SIGTERM, SIGKILL; then the devices are given back. */
int dp_vm_stop(const char *name, const struct dp_pci_list *list,
               const struct dp_vm_options *o, struct dp_claim_list *released);
int dp_vm_destroy(const char *name, const struct dp_vm_options *o);
/* The serial console: what the guest wrote so far (malloc'ed), and a connected socket. */
int dp_vm_log_read(const char *name, char **text, size_t *len);
int dp_vm_console_open(const char *name);
/* Also for front ends: the names of the enums, and a definition as JSON. */
const char *dp_vm_want_name(enum dp_vm_want w);
const char *dp_vm_firmware_name(enum dp_vm_firmware f);
struct json_object *dp_vm_def_to_json(const struct dp_vm_def *def);

/* ---- tables: one type renders text and JSON ----------------------------------- */
#define DP_COL_TEXT 0x1     /* shown in the text table (JSON always has every column) */
#define DP_COL_ELLIPSIZE 0x2
struct dp_column {
	const char *key;         /* JSON key */
	const char *header;      /* text header */
	unsigned flags;
	int max_width;           /* with DP_COL_ELLIPSIZE */
};
struct dp_table;
struct dp_table *dp_table_new(const struct dp_column *cols, size_t ncols);
void dp_table_free(struct dp_table *t);
void dp_table_add_row(struct dp_table *t);
void dp_table_set_str(struct dp_table *t, const char *key, const char *value);  /* NULL→null */
void dp_table_set_strf(struct dp_table *t, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dp_table_set_int(struct dp_table *t, const char *key, long long value);
void dp_table_set_bool(struct dp_table *t, const char *key, bool value);
void dp_table_set_null(struct dp_table *t, const char *key);
void dp_table_set_strv(struct dp_table *t, const char *key, const struct dp_strv *sv);
void dp_table_set_json(struct dp_table *t, const char *key, struct json_object *value);
size_t dp_table_rows(const struct dp_table *t);
/* The rows as a JSON array (new reference), for nesting a table inside a record. */
struct json_object *dp_table_to_json(const struct dp_table *t);
/* JSON only: write each row to f as soon as the next one starts, so a long listing is
 * never held whole; dp_table_print then writes the rest and closes the array. */
void dp_table_stream_json(struct dp_table *t, FILE *f);
/* text: aligned columns; json: an array of objects */
int dp_table_print(struct dp_table *t, FILE *f, bool json);
/* one row rendered as "Header: value" lines, or a JSON object */
int dp_table_print_record(const struct dp_table *t, FILE *f, bool json);

/* ---- USB devices (src/lib/usb) --------------------------------------------------------- */
/* The USB devices of /sys/bus/usb/devices: names from udev's hwdb (else the device's own
 * strings), the interfaces and their drivers, the host controller each hangs off, whether a
 * process holds it (an interface on usbfs) and whether the host needs it (a usb-storage disk
 * backing a mount or swap, the only boot keyboard). */
struct dp_usb_interface {
	char name[40];                     /* "3-1.2:1.0" */
	uint8_t cls, subclass, protocol;
	char driver[64];                   /* "" when no driver is bound */
};
struct dp_usb_device {
	char location[40];                 /* busnum-devpath, "3-1.2"; "usb3" for a root hub */
	int busnum, devnum;
	char devpath[32];                  /* "1.2"; "0" for a root hub */
	uint16_t vendor_id, product_id;
	char *vendor, *product;            /* names, "" unknown */
	char serial[128];
	bool has_serial;
	char speed[12];                    /* Mbit/s as the kernel says: "1.5", "480", "5000" */
	uint8_t cls, subclass, protocol;
	bool hub;                          /* QEMU cannot pass a hub: pass its controller */
	char controller[64];               /* "0000:00:14.0", or the platform device "dummy_hcd.0" */
	bool controller_pci;
	struct dp_usb_interface *ifs;
	size_t nifs;
	bool in_use;                       /* an interface is claimed through usbfs */
	char in_use_by[64];                /* "qemu-system-x86 (pid 4242)", else "usbfs" */
	bool critical;
	char *critical_reason;             /* NULL when not critical */
};
struct dp_usb_list {
	struct dp_usb_device *d;
	size_t n;
};
#define DP_USB_SCAN_ROOT_HUBS 1u   /* include the root hubs (usbN) */
/* Every USB device, sorted by location (bus, then port chain). 0 or -errno with the error
 * set; a host without USB gives an empty list. */
int dp_usb_scan(struct dp_usb_list *out, unsigned flags);
void dp_usb_list_free(struct dp_usb_list *list);
/* text: a location "3-1.2" (or "usb3"), "vid:pid" or "vid:pid:serial" (hex ids).
 * -EINVAL malformed, -ENOENT no such device, -EEXIST vid:pid matches more than one. */
int dp_usb_lookup(const struct dp_usb_list *list, const char *text, struct dp_usb_device **out);

/* ---- pools of every kind: USB devices and mediated devices as members ------------------ */
/* Whether every key of the rule means something for pools of this type; -EINVAL naming the
 * key and the keys the type takes. */
int dp_rule_check_type(const struct dp_rule *rule, enum dp_pool_type type);
/* A USB device as rules see it (usb pools: vendor, device, id, serial, port, class, name,
 * controller; class matches the device's class or any interface's). */
struct dp_rule_usb_subject {
	uint16_t vendor, product;
	const char *serial;          /* "" none */
	const char *port;            /* sysfs name "1-1.2": bus, then the hub ports */
	uint8_t cls, subclass, protocol;
	const uint8_t *if_classes;   /* one per interface */
	size_t nifs;
	const char *name;            /* "vendor product", "" unknown */
	const char *controller;      /* the host controller: PCI address or platform device */
};
bool dp_rule_match_usb(const struct dp_rule *rule, const struct dp_rule_usb_subject *s);
/* An mdev type on a parent as rules see it (mdev pools: parent, type, name). */
struct dp_rule_mdev_subject {
	const char *parent;          /* the parent device's name ("0000:00:02.0") */
	const char *type;            /* the type id ("i915-GVTg_V5_4") */
	const char *name;            /* the type's name attribute, "" none */
};
bool dp_rule_match_mdev(const struct dp_rule *rule, const struct dp_rule_mdev_subject *s);
/* Pool tags "key=value" (physnet=NAME on an sriov-vf pool: the VFs' physical network). */
int dp_pool_tag_check(const char *text);
int dp_pool_create_tagged(const char *name, enum dp_pool_type type, const char *description,
                          enum dp_release_policy on_release, char *const *tags, size_t ntags);
int dp_pool_tags_read(const char *pool, struct dp_strv *out);   /* sorted by key */
const char *dp_pool_tag_value(const struct dp_strv *tags, const char *key);   /* NULL none */

/* ---- SR-IOV NIC VFs: settings through the PF over netlink (sriov) -------------------- */
/* A PF is named by its netdev ("eth1") or its PCI address; its stable identity (the key
 * settings are stored under) is the PCI address, or the netdev name for a PF that is not
 * a PCI function (netdevsim). Settings are applied to the PF's VF entry (the "admin"
 * values the VF driver takes at its next probe) and stored, so they come back whenever
 * the VFs are re-created. */
#define DP_VF_SET_MAC        0x01u
#define DP_VF_SET_VLAN       0x02u    /* vlan, qos and proto together */
#define DP_VF_SET_MAX_RATE   0x04u
#define DP_VF_SET_MIN_RATE   0x08u
#define DP_VF_SET_SPOOFCHK   0x10u
#define DP_VF_SET_TRUST      0x20u
#define DP_VF_SET_LINK_STATE 0x40u
#define DP_VF_SET_ALL        0x7fu
enum { DP_VF_LINK_AUTO = 0, DP_VF_LINK_ENABLE = 1, DP_VF_LINK_DISABLE = 2 };
struct dp_vf_settings {
	unsigned set;              /* DP_VF_SET_* bits: which of the fields below count */
	uint8_t mac[6];
	int vlan, qos;             /* 0..4095 (0: no VLAN), 0..7 */
	uint16_t proto;            /* ETH_P_8021Q or ETH_P_8021AD, host byte order */
	int min_rate, max_rate;    /* Mbit/s, 0: no limit */
	int spoofchk, trust;       /* 0 or 1 */
	int link_state;            /* DP_VF_LINK_* */
};
/* Parses one setting into s and sets its bit: name is one of "mac", "vlan", "qos",
 * "proto" (802.1Q, 802.1ad), "max-rate", "min-rate", "spoofchk", "trust" (on, off),
 * "link-state" (auto, enable, disable). -EINVAL with a message on bad values (a MAC that
 * is malformed, multicast or zero; a VLAN past 4095; a QoS past 7). */
int dp_vf_setting_parse(const char *name, const char *value, struct dp_vf_settings *s);
/* The checks between fields: qos and proto only with a VLAN, max_rate >= min_rate. */
int dp_vf_settings_check(const struct dp_vf_settings *s);
const char *dp_vf_link_state_name(int state);   /* "auto", "enable", "disable", "?" */
const char *dp_vf_proto_name(uint16_t proto);   /* "802.1Q", "802.1ad", "?" */
/* Applies s to VF vf of pf (one netlink message per setting, so a refusal names the
 * setting; the ones already applied are put back) and stores them merged with what was
 * stored before. -ENOENT unknown PF, -ERANGE vf past the PF's VF count, -ENETDOWN the PF
 * is down, -EOPNOTSUPP the driver cannot set one of them. */
int dp_sriov_vf_set(const char *pf, int vf, const struct dp_vf_settings *s);
/* Forgets the stored settings of one VF (the kernel keeps what it has). 0, -ENOENT none. */
int dp_sriov_vf_unset_stored(const char *pf, int vf);
/* The PF and VF index of a VF's PCI address (its physfn link). */
int dp_sriov_vf_locate(const char *vf_address, char *pf, size_t size, int *vf);

struct dp_vf_info {
	int index;
	char address[16];          /* the VF's PCI function, "" when it has none (netdevsim) */
	char netdev[32];           /* the VF's own netdev on the host, "" none */
	bool reported;             /* the kernel reported the fields below (netlink) */
	uint8_t mac[6];
	int vlan, qos;
	uint16_t proto;
	int min_rate, max_rate;
	int spoofchk, trust, link_state;   /* -1: the driver does not report it */
	bool stored;               /* settings are stored for this VF: */
	struct dp_vf_settings want;
};
struct dp_sriov_pf {
	char key[64];              /* the stable identity settings are stored under */
	char ifname[32];           /* "" when the PF has no netdev (bound to vfio-pci) */
	char address[16];          /* "" when the PF is not a PCI function */
	int numvfs, totalvfs;      /* sriov_numvfs, sriov_totalvfs (-1: not there) */
	int num_vf;                /* the VF count the kernel reports over netlink, -1 unread */
	bool up;
	char note[192];            /* why the kernel's view is missing, "" when it is there */
	struct dp_vf_info *vf;
	size_t n;
};
int dp_sriov_show(const char *pf, struct dp_sriov_pf *out);
void dp_sriov_pf_free(struct dp_sriov_pf *pf);
/* Sets the PF's VF count: through 0 when it changes from one non-zero count to another;
 * no_autoprobe keeps the VFs' drivers away (for vfio-pci) by clearing
 * sriov_drivers_autoprobe first. Then re-applies the stored settings. msg says what was
 * done. */
int dp_sriov_vfs_set(const char *pf, int count, bool no_autoprobe, int timeout_ms,
                     char *msg, size_t size);
/* Re-applies the stored settings of every existing VF of pf; the count applied. */
int dp_sriov_apply(const char *pf, char *msg, size_t size);
/* ---- mediated devices (mdev) and NVIDIA vGPU -------------------------------------- */
/* Parents are the names in /sys/class/mdev_bus ("mtty", "0000:81:00.0"). Where a GPU has
 * NVIDIA's VF layout (VF/nvidia/creatable_vgpu_types), each such VF is a parent too: its
 * types are "nvidia-<id>", creating writes the id to current_vgpu_type, and the device's
 * "uuid" is the VF's PCI address (the VF itself goes to the VM). */
#define DP_MDEV_UUID_LEN 36
struct dp_mdev_type {
	char parent[64];
	char type[96];               /* "mtty-2", "nvidia-63" */
	char *name, *description;    /* "" when the driver gives none */
	int available;               /* available_instances */
	char device_api[32];         /* "vfio-pci" */
};
struct dp_mdev_type_list {
	struct dp_mdev_type *t;
	size_t n;
};
/* Every type of parent (NULL: of every parent), sorted by parent then type. -ENOENT
 * when parent is given and is no mdev parent. */
int dp_mdev_types_read(const char *parent, struct dp_mdev_type_list *out);
void dp_mdev_type_list_free(struct dp_mdev_type_list *l);

struct dp_mdev {
	char uuid[37];
	char parent[64];
	char type[96];
	bool active;                 /* exists in the kernel now */
	bool defined;                /* has a stored definition */
	bool auto_start;             /* the definition is started when its parent appears */
	int group;                   /* IOMMU group; -1 when none (or not active) */
};
struct dp_mdev_list {
	struct dp_mdev *m;
	size_t n;
};
/* The active devices and the stored definitions, one entry per uuid, sorted by parent
 * then uuid. */
int dp_mdev_list_read(struct dp_mdev_list *out);
void dp_mdev_list_free(struct dp_mdev_list *l);
/* Creates a device of type on parent; uuid NULL makes a new random one. uuid_out gets
 * the device's uuid (for the VF layout: the VF's address). -EINVAL malformed uuid,
 * -ENOENT no such parent or type, -EEXIST the uuid exists, -EUSERS no capacity left. */
int dp_mdev_create(const char *parent, const char *type, const char *uuid, char uuid_out[37]);
/* Removes an active device. The kernel's remove waits while a VFIO user (QEMU) holds
 * the device: after timeout_ms, -EBUSY (the removal stays pending until it is released). */
int dp_mdev_remove(const char *uuid, int timeout_ms);
/* true when text is a 36-character uuid (8-4-4-4-12 hex digits) */
bool dp_mdev_uuid_valid(const char *text);

/* Definitions (as mdevctl keeps them): stored in the state database, created again by
 * dp_mdev_start_parent when their parent appears (auto) or on request (manual). */
struct dp_mdev_def {
	char uuid[37];
	char parent[64];
	char type[96];
	bool auto_start;
	char *attrs;                 /* JSON array of one-key objects, in write order: "[]" */
	char source[16];             /* "devpass" or "mdevctl" (imported) */
};
struct dp_mdev_def_list {
	struct dp_mdev_def *d;
	size_t n;
};
/* Stores a definition (uuid NULL: a new one; an active device's uuid adopts it, checked
 * against its parent and type). -EEXIST when uuid is defined already. */
int dp_mdev_define(const char *parent, const char *type, const char *uuid, bool auto_start,
                   char uuid_out[37]);
int dp_mdev_undefine(const char *uuid);          /* -ENOENT when not defined */
int dp_mdev_defs_read(struct dp_mdev_def_list *out);
void dp_mdev_def_list_free(struct dp_mdev_def_list *l);
/* Creates every auto definition of parent that is not active, then writes its attrs;
 * the uuids created are added to started. A definition that fails is removed again and
 * the others still go on; the first error is returned. */
int dp_mdev_start_parent(const char *parent, struct dp_strv *started);
/* Imports mdevctl's definitions from dir (NULL: etc/mdevctl.d): <parent>/<uuid> JSON
 * files. The uuids stored are added to imported; one already defined is skipped. */
int dp_mdev_import(const char *dir, struct dp_strv *imported);
/* Parents that have definitions both in the state database and in etc/mdevctl.d (the
 * two would both start devices on them). */
int dp_mdev_dual_managed(struct dp_strv *parents);

/* ---- libvirt and Cloud Hypervisor renderings (docs/libvirt.md) ---------------------- */
/* What one libvirt device element passes to a guest. */
enum dp_hostdev_kind { DP_HOSTDEV_PCI, DP_HOSTDEV_USB, DP_HOSTDEV_MDEV, DP_HOSTDEV_NET };
struct dp_guest_pci {
	bool set;
	int bus, slot, function;
	bool multifunction;
};
struct dp_hostdev {
	enum dp_hostdev_kind kind;
	char address[DP_ADDR_LEN];        /* PCI, NET: the host function "0000:41:00.0" */
	uint16_t usb_vendor, usb_product; /* USB */
	int usb_bus, usb_device;          /* USB: >0 only when vid:pid alone is ambiguous */
	char uuid[37];                    /* MDEV */
	char mac[18];                     /* NET: a VF with a MAC to set; "" none */
	int vlan;                         /* NET: the VLAN to set, -1 none */
	char alias[64];                   /* "ua-devpass-" + a stable name: [A-Za-z0-9_.-] */
	char pool[DP_POOL_NAME_MAX + 1];  /* the pool it came from, "" none */
	int group;                        /* PCI/NET: IOMMU group, -1 none */
	struct dp_guest_pci guest;        /* set by dp_hostdev_set_place */
};
struct dp_hostdev_set {
	struct dp_hostdev *h;
	size_t n;
	struct dp_strv warnings;
};
void dp_hostdev_set_free(struct dp_hostdev_set *s);
/* devices: PCI addresses (every endpoint of each IOMMU group joins, bridges excluded), USB
 * locations or vid:pid[:serial], mdev UUIDs. -ENOENT unknown device (named), -EINVAL bad text. */
int dp_hostdev_set_from_devices(const struct dp_pci_list *list, char *const *devices,
                                size_t n, struct dp_hostdev_set *out);
/* Everything an owner holds through claims (PCI groups, usb, mdev, VFs with their claim
 * MAC/VLAN). */
int dp_hostdev_set_from_owner(const struct dp_pci_list *list, const char *owner,
                              struct dp_hostdev_set *out);
/* The devices of a devpass VM definition: explicit and chosen addresses, the members a
 * running VM took from its pools (a stopped VM's pool wants: a warning each). */
int dp_hostdev_set_from_vm(const struct dp_pci_list *list, const char *vm,
                           struct dp_hostdev_set *out);
/* Guest PCI addresses on q35 root ports: one root-port bus per host slot starting at
 * first_bus; the functions of one host slot keep their function numbers on that bus's
 * slot 0, multifunction on function 0; USB entries get none. Never two entries on one
 * guest address; -E2BIG past bus 0xff. (Functions of one slot in different IOMMU groups,
 * such as VFs, are separate devices: a bus each. Without function 0 the passed functions
 * are numbered from 0.) -EINVAL first_bus outside 1..0xff. */
int dp_hostdev_set_place(struct dp_hostdev_set *s, int first_bus);
#define DP_HOSTDEV_XML_NO_ADDRESS 1u    /* leave guest addresses to libvirt */
/* One complete element (<hostdev> or <interface type='hostdev'>), managed='no' for PCI. */
int dp_hostdev_xml(const struct dp_hostdev *h, unsigned flags, char **xml);
/* All of them, each on its own lines, with a comment naming its pool/group. */
int dp_hostdev_set_xml(const struct dp_hostdev_set *s, unsigned flags, char **xml);
/* libvirt node-device XML (`virsh nodedev-dumpxml` form) of one PCI function. */
int dp_nodedev_xml(const struct dp_pci_list *list, const char *address, char **xml);
/* The VM definition as a complete libvirt domain (type kvm, or qemu when /dev/kvm is
 * absent under the root), its devices as hostdevs on root ports from bus 1 and one spare
 * root port; a stopped VM's pool members are those a claim would take now (a warning
 * each: nothing is claimed). -ENOENT: no such VM. */
int dp_vm_export_libvirt(const char *name, const struct dp_pci_list *list, char **xml,
                         struct dp_strv *warnings);
/* cmdline: cloud-hypervisor's arguments, one per line; bodies: a JSON array of the
 * PUT /api/v1/vm.add-device bodies. -EOPNOTSUPP (naming the device or setting) for what
 * Cloud Hypervisor cannot do: USB devices, x-vga, Secure Boot. */
int dp_vm_export_cloudhv(const char *name, const struct dp_pci_list *list, char **cmdline,
                         struct json_object **bodies, struct dp_strv *warnings);

/* ---- libvirt domains: pool devices attached through libvirt, the qemu hook (docs/libvirt.md) */
/* The connection: uri, else $LIBVIRT_DEFAULT_URI, else qemu:///system (into out). */
const char *dp_libvirt_uri(const char *uri, char *out, size_t size);
struct dp_libvirt_request {
	const char *uri;             /* NULL: as dp_libvirt_uri */
	const char *domain;          /* its name; the owner of the claims */
	const char *pool;            /* claim count members of it ... */
	unsigned count;
	char *const *devices;        /* ... or these pool members (PCI addresses) */
	size_t ndevices;
	int numa;                    /* preferred NUMA node for a pool claim, DP_NO_NUMA any */
	int timeout_ms;              /* for the binding writes */
};
struct dp_libvirt_result {
	struct dp_hostdev_set set;   /* the elements attached or detached, with guest addresses */
	struct dp_claim_list claims; /* attach: what was claimed; detach: what was released */
	bool live;                   /* the domain runs: the change was made live too */
};
void dp_libvirt_result_free(struct dp_libvirt_result *r);
/* Claims for the domain, binds, adds the elements to its persistent definition (and live
 * when it runs). All or nothing: any failure puts the old definition back and releases
 * what was claimed. -ENOENT unknown domain, -ECONNREFUSED no libvirt at the URI,
 * -EOPNOTSUPP a multi-function device for a running domain (refused before any claim). */
int dp_libvirt_attach(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                      struct dp_libvirt_result *out);
/* Takes devpass's elements (all, or those of req->devices) out of the domain, live and
 * persistent, then releases their claims (the pools' policies apply). */
int dp_libvirt_detach(const struct dp_pci_list *list, const struct dp_libvirt_request *req,
                      struct dp_libvirt_result *out);
/* The qemu hook (libvirt runs it with the domain XML on stdin; it never calls libvirt).
 * prepare/begin: free pool members named in the XML are claimed for the domain again;
 * then every problem (a device claimed by another owner, host-critical, or not on
 * vfio-pci) is one line of problems and the result is -EPERM. release/end: the domain's
 * claims are released (nothing held is no error). Other operations: 0. */
int dp_libvirt_hook(const struct dp_pci_list *list, const char *domain, const char *op,
                    const char *subop, const char *xml, int timeout_ms,
                    struct dp_strv *problems, struct dp_strv *notes);
/* Writes (or with uninstall removes) etc/libvirt/hooks/qemu.d/devpass under the root: a
 * script running this program's hook; path gets the file written or removed. */
int dp_libvirt_hook_install(bool uninstall, char *path, size_t size);

#endif
