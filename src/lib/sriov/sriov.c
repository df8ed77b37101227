/* SR-IOV PFs: naming them (netdev or PCI address, through fs/), their VF count
 * (sriov_numvfs), and the VF settings applied over netlink and stored for the next time
 * the VFs are created. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "sriov.h"
#include "util/error.h"

#define SRIOV_WRITE_TIMEOUT_MS 30000

/* A PF as named on the command line, resolved through sysfs. */
struct pf_ref {
	char key[64];              /* stable identity: PCI address, else netdev name */
	char ifname[32];
	char address[16];
	char dir[256];             /* the device's sysfs directory, root-relative */
	int numvfs, totalvfs;
};

static int read_int(const char *dir, const char *name, int fallback)
{
	char path[320], buf[32];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (dp_fs_read_line(path, buf, sizeof(buf)) < 0)
		return fallback;
	char *end;
	long v = strtol(buf, &end, 0);
	return end != buf ? (int)v : fallback;
}

/* The first entry of DIR/net: the netdev a device has ("" none: no driver, vfio-pci). */
static void first_netdev(const char *dir, char *out, size_t size)
{
	char path[320];
	struct dp_strv names = {0};
	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/net", dir);
	if (dp_fs_list(path, "", &names) == 0 && names.n) {
		const char *slash = strrchr(names.v[0], '/');
		snprintf(out, size, "%s", slash ? slash + 1 : names.v[0]);
	}
	dp_strv_free(&names);
}

static bool ifname_valid(const char *text)
{
	size_t len = strlen(text);
	if (len == 0 || len >= 16 || strcmp(text, ".") == 0 || strcmp(text, "..") == 0)
		return false;
	for (const char *p = text; *p; p++)
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static int pf_by_address(const struct dp_pci_addr *a, struct pf_ref *pf)
{
	dp_pci_addr_format(a, pf->address);
	snprintf(pf->dir, sizeof(pf->dir), "sys/bus/pci/devices/%s", pf->address);
	if (!dp_fs_exists(pf->dir))
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, pf->address,
		                           "no PCI function %s on this host", pf->address);
	snprintf(pf->key, sizeof(pf->key), "%s", pf->address);
	first_netdev(pf->dir, pf->ifname, sizeof(pf->ifname));
	return 0;
}

/* A netdevsim device by its bus name ("netdevsim1"): the test kernel's stand-in for an
 * SR-IOV NIC, named after its netdev like any PF that is not PCI. */
static int pf_by_netdevsim(const char *name, struct pf_ref *pf)
{
	snprintf(pf->dir, sizeof(pf->dir), "sys/bus/netdevsim/devices/%s", name);
	if (!dp_fs_exists(pf->dir))
		return dp_error_set(-ENOENT, "no network interface %s on this host", name);
	first_netdev(pf->dir, pf->ifname, sizeof(pf->ifname));
	snprintf(pf->key, sizeof(pf->key), "%s", *pf->ifname ? pf->ifname : name);
	return 0;
}

static int pf_by_netdev(const char *name, struct pf_ref *pf)
{
	char path[128], subsystem[32];
	if (!ifname_valid(name))
		return dp_error_set(-EINVAL, "'%s' is neither a PCI address nor a network interface name",
		                    name);
	snprintf(pf->ifname, sizeof(pf->ifname), "%s", name);
	snprintf(path, sizeof(path), "sys/class/net/%s", name);
	if (!dp_fs_exists(path))
		return pf_by_netdevsim(name, pf);
	snprintf(path, sizeof(path), "sys/class/net/%s/device", name);
	if (dp_fs_resolve(path, pf->dir, sizeof(pf->dir)) < 0)
		return dp_error_set(-EOPNOTSUPP, "network interface %s has no device behind it (a "
		                    "virtual interface): it has no VFs", name);
	snprintf(path, sizeof(path), "%s/subsystem", pf->dir);
	bool pci = dp_fs_readlink_name(path, subsystem, sizeof(subsystem)) >= 0 &&
	           strcmp(subsystem, "pci") == 0;
	const char *base = strrchr(pf->dir, '/');
	if (pci)
		snprintf(pf->address, sizeof(pf->address), "%s", base ? base + 1 : pf->dir);
	/* a PF that is not PCI (netdevsim) keeps its netdev name as its identity */
	snprintf(pf->key, sizeof(pf->key), "%s", pci ? pf->address : name);
	return 0;
}

static int pf_resolve(const char *text, struct pf_ref *pf)
{
	struct dp_pci_addr a;
	memset(pf, 0, sizeof(*pf));
	if (!text || !*text)
		return dp_error_set(-EINVAL, "no PF given (a network interface or a PCI address)");
	int r = dp_pci_addr_parse(text, &a) == 0 ? pf_by_address(&a, pf) : pf_by_netdev(text, pf);
	if (r < 0)
		return r;
	char path[320];
	snprintf(path, sizeof(path), "%s/sriov_numvfs", pf->dir);
	if (!dp_fs_exists(path))
		return dp_error_set(-EOPNOTSUPP, "%s has no SR-IOV capability (no sriov_numvfs)", text);
	pf->numvfs = read_int(pf->dir, "sriov_numvfs", 0);
	pf->totalvfs = read_int(pf->dir, "sriov_totalvfs", -1);
	return 0;
}

/* ---- the kernel's view over netlink --------------------------------------------------- */

/* Netlink reaches the kernel devpass runs on, whatever the root: only on the host's own
 * root do its interfaces and the tree's agree. */
static int netlink_usable(const struct pf_ref *pf, char *why, size_t size)
{
	if (!dp_root_is_host() && !dp_nl_hooked())
		snprintf(why, size, "VF settings travel over netlink to the running kernel, which "
		         "is not the kernel of the tree under %s", dp_root_path());
	else if (!*pf->ifname)
		snprintf(why, size, "%s has no network interface (no driver, or vfio-pci): the kernel "
		         "reports VF settings only through one", pf->key);
	else
		return 0;
	return -ENXIO;
}

static int pf_kernel_read(const struct pf_ref *pf, struct dp_nl_pf *nl)
{
	char why[256];
	if (netlink_usable(pf, why, sizeof(why)) < 0)
		return dp_error_set(-ENXIO, "%s", why);
	return dp_nl_pf_read(pf->ifname, nl);
}

/* IFF_UP in the netdev's flags */
static bool pf_is_up(const struct pf_ref *pf)
{
	char path[128];
	snprintf(path, sizeof(path), "sys/class/net/%s", pf->ifname);
	return *pf->ifname && (read_int(path, "flags", 0) & 1);
}

/* ---- show ----------------------------------------------------------------------------- */

static void vf_sysfs_fill(const struct pf_ref *pf, struct dp_vf_info *v)
{
	char path[320];
	snprintf(path, sizeof(path), "%s/virtfn%d", pf->dir, v->index);
	if (dp_fs_readlink_name(path, v->address, sizeof(v->address)) < 0)
		v->address[0] = '\0';
	if (*v->address) {
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s", v->address);
		first_netdev(path, v->netdev, sizeof(v->netdev));
	}
}

static void stored_fill(const struct pf_ref *pf, struct dp_sriov_pf *out)
{
	_cleanup_free_ int *vfs = NULL;
	_cleanup_free_ struct dp_vf_settings *s = NULL;
	size_t n = 0;
	if (dp_vf_store_list(pf->key, &vfs, &s, &n) < 0)
		return;   /* no database yet, or unreadable: nothing stored to show */
	for (size_t i = 0; i < n; i++)
		if (vfs[i] >= 0 && (size_t)vfs[i] < out->n) {
			out->vf[vfs[i]].stored = true;
			out->vf[vfs[i]].want = s[i];
		}
}

static int show_fill(const struct pf_ref *pf, const struct dp_nl_pf *nl, struct dp_sriov_pf *out)
{
	size_t n = pf->numvfs > 0 ? (size_t)pf->numvfs : 0;
	if (nl->num_vf > 0 && (size_t)nl->num_vf > n)
		n = (size_t)nl->num_vf;
	if (n && !(out->vf = calloc(n, sizeof(*out->vf))))
		return dp_oom();
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		if (i < nl->n)
			out->vf[i] = nl->vf[i];
		else
			dp_vf_info_init(&out->vf[i], (int)i);
		vf_sysfs_fill(pf, &out->vf[i]);
	}
	stored_fill(pf, out);
	return 0;
}

int dp_sriov_show(const char *text, struct dp_sriov_pf *out)
{
	struct pf_ref pf;
	struct dp_nl_pf nl = {.num_vf = -1};
	memset(out, 0, sizeof(*out));
	out->num_vf = -1;
	int r = pf_resolve(text, &pf);
	if (r < 0)
		return r;
	snprintf(out->key, sizeof(out->key), "%s", pf.key);
	snprintf(out->ifname, sizeof(out->ifname), "%s", pf.ifname);
	snprintf(out->address, sizeof(out->address), "%s", pf.address);
	out->numvfs = pf.numvfs;
	out->totalvfs = pf.totalvfs;
	if (pf_kernel_read(&pf, &nl) < 0) {
		snprintf(out->note, sizeof(out->note), "%s", dp_error_message());
		nl = (struct dp_nl_pf){.num_vf = -1};
	}
	out->num_vf = nl.num_vf;
	out->up = nl.ifindex ? nl.up : pf_is_up(&pf);
	r = show_fill(&pf, &nl, out);
	dp_nl_pf_free(&nl);
	if (r < 0)
		dp_sriov_pf_free(out);
	return r;
}

void dp_sriov_pf_free(struct dp_sriov_pf *pf)
{
	free(pf->vf);
	pf->vf = NULL;
	pf->n = 0;
}

/* ---- set ------------------------------------------------------------------------------ */

/* The order the kernel itself applies them in: MAC before spoof checking (Intel). */
static const unsigned apply_order[] = {DP_VF_SET_MAC, DP_VF_SET_VLAN, DP_VF_SET_MAX_RATE,
                                       DP_VF_SET_SPOOFCHK, DP_VF_SET_LINK_STATE, DP_VF_SET_TRUST};
#define NAPPLY (sizeof(apply_order) / sizeof(apply_order[0]))

/* One rate attribute carries both limits: MAX_RATE stands for the pair. */
static unsigned apply_bits(unsigned set)
{
	return set & DP_VF_SET_MIN_RATE ? (set | DP_VF_SET_MAX_RATE) & ~DP_VF_SET_MIN_RATE : set;
}

/* What to send: the VF's current values with the asked ones on top. */
static int settings_merge(const struct dp_vf_info *now, const struct dp_vf_settings *s,
                          struct dp_vf_settings *out)
{
	dp_vf_info_to_settings(now, out);
	out->set = apply_bits(s->set);
	if (s->set & DP_VF_SET_MAC)
		memcpy(out->mac, s->mac, 6);
	if (s->set & DP_VF_SET_VLAN) {
		out->vlan = s->vlan;
		out->qos = s->qos;
		out->proto = s->proto;
	}
	out->min_rate = s->set & DP_VF_SET_MIN_RATE ? s->min_rate : now->min_rate;
	out->max_rate = s->set & DP_VF_SET_MAX_RATE ? s->max_rate : now->max_rate;
	out->spoofchk = s->set & DP_VF_SET_SPOOFCHK ? s->spoofchk : now->spoofchk;
	out->trust = s->set & DP_VF_SET_TRUST ? s->trust : now->trust;
	out->link_state = s->set & DP_VF_SET_LINK_STATE ? s->link_state : now->link_state;
	if (out->max_rate && out->max_rate < out->min_rate)
		return dp_error_set(-EINVAL, "maximum rate %d Mbit/s would be below the minimum rate "
		                    "%d Mbit/s", out->max_rate, out->min_rate);
	return 0;
}

/* Puts back the settings sent before the one that failed, from the values read before. */
static void vf_rollback(int ifindex, int vf, const struct dp_vf_info *before, unsigned sent,
                        size_t failed_at)
{
	struct dp_vf_settings old;
	dp_vf_info_to_settings(before, &old);
	if (!before->reported)
		return;   /* nothing known to go back to */
	for (size_t i = 0; i < failed_at; i++)
		if (old.set & sent & apply_order[i])
			dp_nl_vf_set_one(ifindex, vf, apply_order[i], &old);
}

static int vf_apply(const struct pf_ref *pf, const struct dp_nl_pf *nl, int vf,
                    const struct dp_vf_settings *s)
{
	struct dp_vf_info now;
	struct dp_vf_settings want;
	if ((size_t)vf < nl->n)
		now = nl->vf[vf];
	else
		dp_vf_info_init(&now, vf);
	int r = settings_merge(&now, s, &want);
	for (size_t i = 0; r == 0 && i < NAPPLY; i++) {
		if (!(want.set & apply_order[i]))
			continue;
		if ((r = dp_nl_vf_set_one(nl->ifindex, vf, apply_order[i], &want)) < 0) {
			vf_rollback(nl->ifindex, vf, &now, want.set, i);
			return dp_error_set(r, "cannot set the %s of VF %d of %s: %s%s", dp_vf_setting_name(
			                    apply_order[i]), vf, pf->key, dp_vf_errno_words(r, apply_order[i]),
			                    i ? " (the settings before it were put back)" : "");
		}
	}
	return r;
}

static int vf_count_check(const struct pf_ref *pf, int count, int vf)
{
	if (vf < 0)
		return dp_error_set(-EINVAL, "VF number %d is negative", vf);
	if (vf >= count)
		return dp_error_set(-ERANGE, "%s has %d VF%s (sriov_numvfs): there is no VF %d",
		                    pf->key, count, count == 1 ? "" : "s", vf);
	return 0;
}

/* The PF must be up: drivers may silently drop changes made through a down PF. */
static int pf_up_check(const struct pf_ref *pf)
{
	if (!*pf->ifname)
		return dp_error_set(-ENODEV, "%s has no network interface (no driver, or vfio-pci): VF "
		                    "settings are set through the PF's interface", pf->key);
	if (!pf_is_up(pf))
		return dp_error_set(-ENETDOWN, "%s is down: bring the interface up first (VF settings "
		                    "made through a down PF may silently not apply)", pf->ifname);
	return 0;
}

static int vf_set_checked(const struct pf_ref *pf, int vf, const struct dp_vf_settings *s)
{
	struct dp_nl_pf nl = {.num_vf = -1};
	int r = pf_kernel_read(pf, &nl);
	/* netdevsim's VFs are not PCI functions: the kernel's own count rules there */
	if (r == 0 && nl.num_vf >= 0)
		r = vf_count_check(pf, nl.num_vf, vf);
	if (r == 0 && !nl.up)
		r = dp_error_set(-ENETDOWN, "%s is down: bring the interface up first", pf->ifname);
	if (r == 0)
		r = vf_apply(pf, &nl, vf, s);
	dp_nl_pf_free(&nl);
	return r;
}

int dp_sriov_vf_set(const char *text, int vf, const struct dp_vf_settings *s)
{
	struct pf_ref pf;
	int r = dp_vf_settings_check(s);
	if (r == 0)
		r = pf_resolve(text, &pf);
	if (r == 0 && *pf.address)
		r = vf_count_check(&pf, pf.numvfs, vf);
	if (r == 0)
		r = pf_up_check(&pf);
	if (r == 0)
		r = vf_set_checked(&pf, vf, s);
	if (r == 0)
		r = dp_vf_store_put(pf.key, vf, s);
	return r;
}

/* The key a PF's settings are stored under, from its name alone: for a PF that is gone. */
static int key_of_absent(const char *text, char *key, size_t size)
{
	struct dp_pci_addr a;
	char address[DP_ADDR_LEN];
	if (dp_pci_addr_parse(text, &a) == 0) {
		dp_pci_addr_format(&a, address);
		snprintf(key, size, "%s", address);
		return 0;
	}
	if (!ifname_valid(text))
		return -EINVAL;
	snprintf(key, size, "%s", text);
	return 0;
}

int dp_sriov_vf_unset_stored(const char *text, int vf)
{
	struct pf_ref pf;
	int r = pf_resolve(text, &pf);
	/* settings of a PF that left the host can be forgotten too, by the name stored */
	if (r == -ENOENT && key_of_absent(text, pf.key, sizeof(pf.key)) == 0 &&
	    dp_vf_store_delete(pf.key, vf) == 0)
		return 0;
	if (r < 0)
		return r;
	r = dp_vf_store_delete(pf.key, vf);
	if (r == -ENOENT)
		return dp_error_set(-ENOENT, "no settings are stored for VF %d of %s", vf, pf.key);
	return r;
}

/* ---- VF addresses --------------------------------------------------------------------- */

static int vf_index_find(const char *pf_address, const char *vf_address, int *vf)
{
	char path[128], name[32];
	for (int i = 0; i < 4096; i++) {
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/virtfn%d", pf_address, i);
		if (dp_fs_readlink_name(path, name, sizeof(name)) < 0)
			break;
		if (strcmp(name, vf_address) == 0) {
			*vf = i;
			return 0;
		}
	}
	return dp_error_set(-ENOENT, "%s names %s as its PF, which does not list it among its VFs",
	                    vf_address, pf_address);
}

int dp_sriov_vf_locate(const char *vf_address, char *pf, size_t size, int *vf)
{
	struct dp_pci_addr a;
	char address[DP_ADDR_LEN], path[128], physfn[32];
	if (!vf_address || dp_pci_addr_parse(vf_address, &a) < 0)
		return dp_error_set(-EINVAL, "'%s' is not a PCI address", vf_address ? vf_address : "");
	dp_pci_addr_format(&a, address);
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s", address);
	if (!dp_fs_exists(path))
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, address,
		                           "no PCI function %s on this host", address);
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/physfn", address);
	if (dp_fs_readlink_name(path, physfn, sizeof(physfn)) < 0)
		return dp_error_set(-EINVAL, "%s is not an SR-IOV VF (it has no physfn)", address);
	snprintf(pf, size, "%s", physfn);
	return vf_index_find(physfn, address, vf);
}

/* ---- apply stored settings, VF count ------------------------------------------------- */

static int stored_apply(const struct pf_ref *pf, int only_vf, int *applied)
{
	_cleanup_free_ int *vfs = NULL;
	_cleanup_free_ struct dp_vf_settings *s = NULL;
	struct dp_nl_pf nl = {.num_vf = -1};
	size_t n = 0;
	*applied = 0;
	int r = dp_vf_store_list(pf->key, &vfs, &s, &n);
	if (r < 0 || n == 0)
		return r;
	if ((r = pf_up_check(pf)) < 0 || (r = pf_kernel_read(pf, &nl)) < 0)
		return r;
	int count = nl.num_vf >= 0 ? nl.num_vf : pf->numvfs;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if ((only_vf >= 0 && vfs[i] != only_vf) || vfs[i] >= count)
			continue;   /* stored for a VF that does not exist now: kept for later */
		if ((r = vf_apply(pf, &nl, vfs[i], &s[i])) == 0)
			(*applied)++;
	}
	dp_nl_pf_free(&nl);
	return r;
}

int dp_sriov_apply(const char *text, char *msg, size_t size)
{
	struct pf_ref pf;
	int applied = 0;
	int r = pf_resolve(text, &pf);
	if (r == 0)
		r = stored_apply(&pf, -1, &applied);
	if (r == 0)
		snprintf(msg, size, "%s: stored settings applied to %d VF%s", pf.key, applied,
		         applied == 1 ? "" : "s");
	return r < 0 ? r : applied;
}

int dp_sriov_apply_for_vf(const char *vf_address, char *msg, size_t size)
{
	char pf_address[32];
	struct pf_ref pf;
	int vf, applied = 0;
	msg[0] = '\0';
	char physfn[128];
	snprintf(physfn, sizeof(physfn), "sys/bus/pci/devices/%s/physfn", vf_address);
	if (!dp_fs_exists(physfn))
		return 0;   /* not a VF: nothing of it is set through a PF */
	int r = dp_sriov_vf_locate(vf_address, pf_address, sizeof(pf_address), &vf);
	if (r == 0)
		r = pf_resolve(pf_address, &pf);
	if (r == 0)
		r = stored_apply(&pf, vf, &applied);
	if (r == 0 && applied)
		snprintf(msg, size, "stored settings of VF %d applied through %s", vf, pf.key);
	return r;
}

static int numvfs_write(const struct pf_ref *pf, int count, int timeout_ms)
{
	char path[320], value[16];
	snprintf(path, sizeof(path), "%s/sriov_numvfs", pf->dir);
	snprintf(value, sizeof(value), "%d", count);
	int r = dp_fs_write(path, value, timeout_ms);
	if (r < 0)
		return dp_error_set(r, "%s: cannot set sriov_numvfs to %d: %s%s", pf->key, count,
		                    strerror(-r), r == -ENOMEM || r == -ERANGE
		                    ? " (more than the device offers)" : "");
	return 0;
}

static int autoprobe_off(const struct pf_ref *pf, int timeout_ms, char *note, size_t size)
{
	char path[320];
	snprintf(path, sizeof(path), "%s/sriov_drivers_autoprobe", pf->dir);
	if (!dp_fs_exists(path)) {
		snprintf(note, size, "; %s has no sriov_drivers_autoprobe", pf->key);
		return 0;
	}
	int r = dp_fs_write(path, "0", timeout_ms);
	if (r < 0)
		return dp_error_set(r, "%s: cannot clear sriov_drivers_autoprobe: %s", pf->key, strerror(-r));
	snprintf(note, size, "; the VFs get no driver (autoprobe off)");
	return 0;
}

/* Going from one non-zero count to another passes through 0 (the kernel refuses N→M).
 * When the new count is refused, the old VFs are gone already: as many as there were
 * are created again, so the PF is left as it was found. */
static int count_change(const struct pf_ref *pf, int count, int timeout_ms)
{
	int r = 0;
	if (pf->numvfs != 0)
		r = numvfs_write(pf, 0, timeout_ms);
	if (r < 0 || count == 0 || (r = numvfs_write(pf, count, timeout_ms)) == 0 || pf->numvfs == 0)
		return r;
	char why[512];
	snprintf(why, sizeof(why), "%s", dp_error_message());
	bool back = numvfs_write(pf, pf->numvfs, timeout_ms) == 0;
	return dp_error_set(r, "%s; %s", why, back ? "its previous VFs were created again"
	                    : "its previous VFs could not be created again");
}

static void count_msg(const struct pf_ref *pf, int count, const char *note, char *msg, size_t size)
{
	snprintf(msg, size, "%s: %d VF%s (was %d)%s", pf->key, count, count == 1 ? "" : "s",
	         pf->numvfs, note);
}

int dp_sriov_vfs_set(const char *text, int count, bool no_autoprobe, int timeout_ms,
                     char *msg, size_t size)
{
	struct pf_ref pf;
	char note[128] = "", more[160];
	int applied = 0, r = pf_resolve(text, &pf);
	if (r < 0)
		return r;
	if (count < 0 || (pf.totalvfs >= 0 && count > pf.totalvfs))
		return dp_error_set(-EINVAL, "%s supports 0..%d VFs (sriov_totalvfs), not %d", pf.key,
		                    pf.totalvfs, count);
	/* autoprobe matters only to VFs being created: the existing ones keep their drivers */
	if (count == pf.numvfs) {
		snprintf(msg, size, "%s has %d VF%s already", pf.key, count, count == 1 ? "" : "s");
		return 0;
	}
	if ((r = dp_fs_require_kernel()) < 0)
		return r;
	/* the write can hang in the driver: always through the helper, with a limit */
	timeout_ms = timeout_ms > 0 ? timeout_ms : SRIOV_WRITE_TIMEOUT_MS;
	if (no_autoprobe && (r = autoprobe_off(&pf, timeout_ms, note, sizeof(note))) < 0)
		return r;
	if (count != pf.numvfs && (r = count_change(&pf, count, timeout_ms)) < 0)
		return r;
	count_msg(&pf, count, note, msg, size);
	pf.numvfs = count;
	if (count == 0 || (!dp_root_is_host() && !dp_nl_hooked()))
		return 0;
	/* the kernel forgot every VF's settings with the old VFs: give them back */
	if ((r = stored_apply(&pf, -1, &applied)) < 0)
		return dp_error_set(r, "%s, but its stored VF settings were not applied: %s", msg,
		                    dp_error_message());
	snprintf(more, sizeof(more), "; stored settings applied to %d VF%s", applied, applied == 1 ? "" : "s");
	snprintf(msg + strlen(msg), size - strlen(msg), "%s", more);
	return 0;
}
