/* SR-IOV VF settings over rtnetlink: the one kernel interface of devpass that is not a
 * file. Reading goes through libnl-route-3 (RTM_GETLINK with RTEXT_FILTER_VF, the
 * rtnl_link_vf_* accessors). Setting builds each RTM_SETLINK by hand with libnl's
 * attribute helpers, one setting per message: the kernel applies the attributes of one
 * message in a fixed order and stops at the first refusal without undoing the others, so
 * one per message is how the refused setting is known (libvirt does the same). Building
 * by hand also sidesteps libnl 3.7 writing the 802.1ad protocol in host byte order. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>
#include <netlink/route/rtnl.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "sriov.h"

#ifndef IFF_UP
#define IFF_UP 0x1
#endif

DEFINE_CLEANUP_PTR(struct nl_sock, nl_socket_free, nl_sock_freep)
DEFINE_CLEANUP_PTR(struct rtnl_link, rtnl_link_put, rtnl_link_putp)
DEFINE_CLEANUP_PTR(struct nl_msg, nlmsg_free, nlmsg_freep)

static const struct dp_nl_hooks *nl_hooks;

void dp_nl_set_hooks(const struct dp_nl_hooks *hooks)
{
	nl_hooks = hooks;
}

bool dp_nl_hooked(void)
{
	return nl_hooks != NULL;
}

/* a PF with a hundred VFs answers with tens of KiB: peek at the size before reading */
#define NL_RECV_BUFFER 65536

static int nl_open(struct nl_sock **out)
{
	_cleanup_(nl_sock_freep) struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0)
		return -EPROTO;
	nl_socket_enable_msg_peek(sk);
	nl_socket_set_msg_buf_size(sk, NL_RECV_BUFFER);
	*out = TAKE_PTR(sk);
	return 0;
}

void dp_nl_pf_free(struct dp_nl_pf *pf)
{
	free(pf->vf);
	pf->vf = NULL;
	pf->n = 0;
}

static void vf_vlan_extract(struct rtnl_link_vf *vf, struct dp_vf_info *out)
{
	nl_vf_vlans_t *vlans = NULL;
	out->proto = ETH_P_8021Q;
	if (rtnl_link_vf_get_vlans(vf, &vlans) < 0 || !vlans)
		return;
	if (vlans->size > 0) {
		out->vlan = (int)vlans->vlans[0].vf_vlan;
		out->qos = (int)vlans->vlans[0].vf_vlan_qos;
		/* libnl's parser turns the wire's big-endian protocol into host order */
		if (vlans->vlans[0].vf_vlan_proto)
			out->proto = vlans->vlans[0].vf_vlan_proto;
	}
	rtnl_link_vf_vlan_put(vlans);
}

/* libnl's getters fail for what the kernel left out; -1 is "not reported" */
static int vf_u32(int (*get)(struct rtnl_link_vf *, uint32_t *), struct rtnl_link_vf *vf)
{
	uint32_t v;
	return get(vf, &v) == 0 && v != (uint32_t)-1 ? (int)v : -1;
}

static void vf_extract(struct rtnl_link_vf *vf, struct dp_vf_info *out)
{
	struct nl_addr *addr = NULL;
	struct nl_vf_rate rate = {.api = RTNL_LINK_VF_RATE_API_NEW};
	out->reported = true;
	/* the address stays the VF object's (no reference is taken), the VLANs do not */
	if (rtnl_link_vf_get_addr(vf, &addr) == 0 && addr && nl_addr_get_len(addr) >= 6)
		memcpy(out->mac, nl_addr_get_binary_addr(addr), 6);
	vf_vlan_extract(vf, out);
	/* libnl reports no rate when both limits are 0 (none); a driver of the old API
	 * gives one maximum only */
	if (rtnl_link_vf_get_rate(vf, &rate) == 0) {
		out->min_rate = (int)rate.min_tx_rate;
		out->max_rate = (int)(rate.api == RTNL_LINK_VF_RATE_API_OLD ? rate.rate : rate.max_tx_rate);
	}
	out->spoofchk = vf_u32(rtnl_link_vf_get_spoofchk, vf);
	out->trust = vf_u32(rtnl_link_vf_get_trust, vf);
	out->link_state = vf_u32(rtnl_link_vf_get_linkstate, vf);
}

void dp_vf_info_init(struct dp_vf_info *v, int index)
{
	memset(v, 0, sizeof(*v));
	v->index = index;
	v->spoofchk = v->trust = v->link_state = -1;
	v->proto = ETH_P_8021Q;
}

int dp_nl_link_extract(struct rtnl_link *link, struct dp_nl_pf *out)
{
	uint32_t num = 0;
	memset(out, 0, sizeof(*out));
	out->ifindex = rtnl_link_get_ifindex(link);
	out->up = rtnl_link_get_flags(link) & IFF_UP;
	out->num_vf = rtnl_link_get_num_vf(link, &num) == 0 ? (int)num : -1;
	if (out->num_vf <= 0)
		return 0;
	if (!(out->vf = calloc(num, sizeof(*out->vf))))
		return -ENOMEM;
	out->n = num;
	for (uint32_t i = 0; i < num; i++) {
		dp_vf_info_init(&out->vf[i], (int)i);
		struct rtnl_link_vf *vf = rtnl_link_vf_get(link, i);
		if (!vf)
			continue;   /* no ndo_get_vf_config: a count and no list */
		vf_extract(vf, &out->vf[i]);
		rtnl_link_vf_put(vf);
	}
	return 0;
}

int dp_nl_pf_read(const char *ifname, struct dp_nl_pf *out)
{
	_cleanup_(nl_sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
	if (nl_hooks)
		return nl_hooks->read(ifname, out);
	int r = nl_open(&sk);
	if (r < 0)
		return dp_error_set(r, "cannot open a netlink socket to read %s: %s", ifname, strerror(-r));
	/* rtnl_link_get_kernel asks with IFLA_EXT_MASK = RTEXT_FILTER_VF */
	if ((r = rtnl_link_get_kernel(sk, 0, ifname, &link)) < 0)
		return dp_error_set(r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV ? -ENODEV : -EIO,
		                    "cannot read network interface %s over netlink: %s", ifname,
		                    nl_geterror(r));
	return dp_nl_link_extract(link, out);
}

/* ---- setting: one attribute per message --------------------------------------------- */

static int vlan_put(struct nl_msg *msg, int vf, const struct dp_vf_settings *s)
{
	if (s->proto != ETH_P_8021AD) {
		struct ifla_vf_vlan v = {.vf = (uint32_t)vf, .vlan = (uint32_t)s->vlan, .qos = (uint32_t)s->qos};
		return nla_put(msg, IFLA_VF_VLAN, sizeof(v), &v);
	}
	/* 802.1ad exists only in the list form, whose protocol is big-endian on the wire */
	struct ifla_vf_vlan_info v = {.vf = (uint32_t)vf, .vlan = (uint32_t)s->vlan,
	                              .qos = (uint32_t)s->qos, .vlan_proto = htons(ETH_P_8021AD)};
	struct nlattr *list = nla_nest_start(msg, IFLA_VF_VLAN_LIST);
	if (!list || nla_put(msg, IFLA_VF_VLAN_INFO, sizeof(v), &v) < 0)
		return -ENOMEM;
	return nla_nest_end(msg, list);
}

static int attr_put(struct nl_msg *msg, int vf, unsigned bit, const struct dp_vf_settings *s)
{
	uint32_t n = (uint32_t)vf;
	switch (bit) {
	case DP_VF_SET_MAC: {
		struct ifla_vf_mac m = {.vf = n};
		memcpy(m.mac, s->mac, 6);
		return nla_put(msg, IFLA_VF_MAC, sizeof(m), &m);
	}
	case DP_VF_SET_VLAN:
		return vlan_put(msg, vf, s);
	case DP_VF_SET_MIN_RATE:
	case DP_VF_SET_MAX_RATE: {
		/* one attribute carries both: the caller passes the other's current value */
		struct ifla_vf_rate r = {.vf = n, .min_tx_rate = (uint32_t)s->min_rate,
		                         .max_tx_rate = (uint32_t)s->max_rate};
		return nla_put(msg, IFLA_VF_RATE, sizeof(r), &r);
	}
	case DP_VF_SET_SPOOFCHK: {
		struct ifla_vf_spoofchk v = {.vf = n, .setting = (uint32_t)s->spoofchk};
		return nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(v), &v);
	}
	case DP_VF_SET_TRUST: {
		struct ifla_vf_trust v = {.vf = n, .setting = (uint32_t)s->trust};
		return nla_put(msg, IFLA_VF_TRUST, sizeof(v), &v);
	}
	case DP_VF_SET_LINK_STATE: {
		struct ifla_vf_link_state v = {.vf = n, .link_state = (uint32_t)s->link_state};
		return nla_put(msg, IFLA_VF_LINK_STATE, sizeof(v), &v);
	}
	}
	return -EINVAL;
}

int dp_nl_vf_msg_build(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s,
                       struct nl_msg **out)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	_cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_ACK);
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		return -ENOMEM;
	struct nlattr *list = nla_nest_start(msg, IFLA_VFINFO_LIST);
	struct nlattr *info = list ? nla_nest_start(msg, IFLA_VF_INFO) : NULL;
	if (!info)
		return -ENOMEM;
	int r = attr_put(msg, vf, bit, s);
	if (r < 0)
		return r == -EINVAL ? -EINVAL : -ENOMEM;
	nla_nest_end(msg, info);
	nla_nest_end(msg, list);
	*out = TAKE_PTR(msg);
	return 0;
}

/* the kernel's own errno, which libnl's default handler would fold into its codes */
static int ack_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	*(int *)arg = e->error;
	return NL_STOP;
}

int dp_nl_vf_set_one(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s)
{
	_cleanup_(nl_sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
	int kernel_error = 0;
	if (nl_hooks)
		return nl_hooks->set_one(ifindex, vf, bit, s);
	int r = nl_open(&sk);
	if (r == 0)
		r = dp_nl_vf_msg_build(ifindex, vf, bit, s, &msg);
	if (r < 0)
		return r;
	nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, ack_error, &kernel_error);
	if (nl_send_auto(sk, msg) < 0)
		return -EIO;
	r = nl_wait_for_ack(sk);
	if (kernel_error)
		return kernel_error;
	return r < 0 ? -EIO : 0;
}

const char *dp_vf_setting_name(unsigned bit)
{
	switch (bit) {
	case DP_VF_SET_MAC: return "MAC address";
	case DP_VF_SET_VLAN: return "VLAN";
	case DP_VF_SET_MAX_RATE: return "maximum rate";
	case DP_VF_SET_MIN_RATE: return "minimum rate";
	case DP_VF_SET_SPOOFCHK: return "spoof checking";
	case DP_VF_SET_TRUST: return "trust";
	case DP_VF_SET_LINK_STATE: return "link state";
	}
	return "setting";
}

const char *dp_vf_errno_words(int err, unsigned bit)
{
	switch (-err) {
	case EOPNOTSUPP: return "the PF's driver cannot set this for its VFs";
	case EINVAL: return bit == DP_VF_SET_MIN_RATE || bit == DP_VF_SET_MAX_RATE
	                    ? "the driver refused the value (some NICs have no minimum rate)"
	                    : "the driver refused the value";
	case EPERM: return "not permitted (devpass changes run as root; the NIC may not let the "
	                   "host control its switch)";
	case EBUSY: return "the device is busy (try again once the VF's driver has settled)";
	case ENODEV: return "the network interface is gone";
	case ERANGE: return "the VF number is past the VFs the PF has";
	case EAGAIN: return "the driver asked to try again later";
	}
	return strerror(-err);
}

void dp_vf_info_to_settings(const struct dp_vf_info *vf, struct dp_vf_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->set = DP_VF_SET_MAC | DP_VF_SET_VLAN | DP_VF_SET_MAX_RATE | DP_VF_SET_MIN_RATE;
	memcpy(out->mac, vf->mac, 6);
	out->vlan = vf->vlan;
	out->qos = vf->qos;
	out->proto = vf->proto;
	out->min_rate = vf->min_rate;
	out->max_rate = vf->max_rate;
	/* only what the driver reports can be put back */
	out->spoofchk = vf->spoofchk;
	out->trust = vf->trust;
	out->link_state = vf->link_state;
	out->set |= (vf->spoofchk >= 0 ? DP_VF_SET_SPOOFCHK : 0) | (vf->trust >= 0 ? DP_VF_SET_TRUST : 0) |
	            (vf->link_state >= 0 ? DP_VF_SET_LINK_STATE : 0);
}
