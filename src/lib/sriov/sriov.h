/* Internal: SR-IOV VF settings. netlink.c speaks to the kernel (the one interface of
 * this unit that is not a file), store.c keeps the settings in the state database,
 * sriov.c names PFs through fs/ and ties the two together. */
#ifndef DP_SRIOV_H
#define DP_SRIOV_H

#include <stdbool.h>
#include <stdint.h>

#include "devpass.h"

struct nl_msg;
struct rtnl_link;

/* ---- netlink.c ---------------------------------------------------------------------- */
/* What RTM_GETLINK with RTEXT_FILTER_VF says of a PF. */
struct dp_nl_pf {
	int ifindex;
	bool up;
	int num_vf;                /* IFLA_NUM_VF, -1 when absent */
	struct dp_vf_info *vf;     /* indexed by VF number; n == num_vf when a list came */
	size_t n;
};
void dp_nl_pf_free(struct dp_nl_pf *pf);
int dp_nl_pf_read(const char *ifname, struct dp_nl_pf *out);
/* Converts a link object libnl parsed (RTM_NEWLINK) into out: tests feed it messages. */
int dp_nl_link_extract(struct rtnl_link *link, struct dp_nl_pf *out);
/* The RTM_SETLINK message that sets one setting (one DP_VF_SET_* bit) of VF vf. */
int dp_nl_vf_msg_build(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s,
                       struct nl_msg **out);
/* Sends it and waits for the kernel's answer: 0 or the kernel's -errno. */
int dp_nl_vf_set_one(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s);
/* Tests put a fake kernel behind both (NULL: the real one); with one installed, netlink is
 * used whatever the root. */
struct dp_nl_hooks {
	int (*read)(const char *ifname, struct dp_nl_pf *out);
	int (*set_one)(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s);
};
void dp_nl_set_hooks(const struct dp_nl_hooks *hooks);
bool dp_nl_hooked(void);
/* "MAC address", "VLAN", ...: the setting a DP_VF_SET_* bit stands for */
const char *dp_vf_setting_name(unsigned bit);
/* What the kernel's errno means for setting a VF's bit, in words. */
const char *dp_vf_errno_words(int err, unsigned bit);
/* A VF's current values as settings (all bits), for putting them back. */
void dp_vf_info_init(struct dp_vf_info *v, int index);
void dp_vf_info_to_settings(const struct dp_vf_info *vf, struct dp_vf_settings *out);

/* ---- store.c ------------------------------------------------------------------------ */
/* Merges s into what is stored for (pf_key, vf). */
int dp_vf_store_put(const char *pf_key, int vf, const struct dp_vf_settings *s);
/* 0 and *out filled, -ENOENT nothing stored. */
int dp_vf_store_get(const char *pf_key, int vf, struct dp_vf_settings *out);
int dp_vf_store_delete(const char *pf_key, int vf);
/* Every VF with stored settings of pf_key: parallel arrays, malloc'ed. */
int dp_vf_store_list(const char *pf_key, int **vfs, struct dp_vf_settings **settings, size_t *n);
/* The PF identities that have stored settings, sorted. */
int dp_vf_store_pfs(struct dp_strv *out);
/* Text forms of the stored columns (tests check the round trip). */
void dp_vf_mac_format(const uint8_t mac[6], char out[18]);

/* settings.c: whether the kernel's values of a VF are the stored ones; diff names the
 * first that differs ("MAC 52:...:01, stored 02:...:01"). Unreported values count as
 * in effect: nothing says otherwise. */
bool dp_vf_settings_in_effect(const struct dp_vf_info *v, const struct dp_vf_settings *want,
                              char *diff, size_t size);

/* ---- sriov.c: for persist's boot path ------------------------------------------------ */
/* Applies the stored settings of one VF (by its PCI address) through its PF, before the
 * VF goes to vfio-pci. 0 also when nothing is stored or the device is not a VF; msg
 * says what was done ("" nothing). */
int dp_sriov_apply_for_vf(const char *vf_address, char *msg, size_t size);

#endif
