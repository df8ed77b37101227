/* SR-IOV VF settings without a kernel: parsing and validation, the RTM_SETLINK messages
 * as bytes (802.1ad's protocol big-endian on the wire, one setting per message), a
 * kernel's RTM_NEWLINK answer parsed through libnl, the stored settings' round trip in
 * the state database, and the kernel's errors said in words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "sriov/sriov.h"

static int parse(const char *name, const char *value, struct dp_vf_settings *s)
{
	return dp_vf_setting_parse(name, value, s);
}

static void test_mac_parse(void **state)
{
	struct dp_vf_settings s = {0};
	assert_int_equal(parse("mac", "02:00:00:00:01:0A", &s), 0);
	assert_memory_equal(s.mac, ((uint8_t[]){2, 0, 0, 0, 1, 10}), 6);
	assert_true(s.set & DP_VF_SET_MAC);
	assert_int_equal(parse("mac", "02-00-00-00-01-0b", &s), 0);
	static const char *const bad[] = {"01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
	                                  "02:00:00:00:01", "02:00:00:00:01:01:", "2:0:0:0:1:1",
	                                  "02:00:00:00:01:0g", "", "02:00:00:00:01:01 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dp_vf_settings t = {0};
		assert_int_equal(parse("mac", bad[i], &t), -EINVAL);
		assert_false(t.set & DP_VF_SET_MAC);
	}
	assert_non_null(strstr((parse("mac", "03:00:00:00:00:01", &s), dp_error_message()), "multicast"));
}

static void test_ranges(void **state)
{
	struct dp_vf_settings s = {0};
	assert_int_equal(parse("vlan", "4095", &s), 0);
	assert_int_equal(parse("vlan", "0", &s), 0);
	assert_int_equal(parse("vlan", "4096", &s), -EINVAL);
	assert_int_equal(parse("vlan", "-1", &s), -EINVAL);
	assert_int_equal(parse("vlan", "1x", &s), -EINVAL);
	assert_int_equal(parse("qos", "7", &s), 0);
	assert_int_equal(parse("qos", "8", &s), -EINVAL);
	assert_int_equal(parse("proto", "802.1AD", &s), 0);
	assert_int_equal(s.proto, ETH_P_8021AD);
	assert_int_equal(parse("proto", "8021q", &s), -EINVAL);
	assert_int_equal(parse("trust", "on", &s), 0);
	assert_int_equal(s.trust, 1);
	assert_int_equal(parse("spoofchk", "off", &s), 0);
	assert_int_equal(s.spoofchk, 0);
	assert_int_equal(parse("trust", "yes", &s), -EINVAL);
	assert_int_equal(parse("link-state", "disable", &s), 0);
	assert_int_equal(s.link_state, DP_VF_LINK_DISABLE);
	assert_int_equal(parse("link-state", "down", &s), -EINVAL);
	assert_int_equal(parse("max-rate", "99999999999", &s), -EINVAL);
	assert_int_equal(parse("colour", "red", &s), -EINVAL);
}

static void test_check(void **state)
{
	struct dp_vf_settings s = {0};
	assert_int_equal(dp_vf_settings_check(&s), -EINVAL);          /* nothing given */
	parse("qos", "3", &s);
	assert_int_equal(dp_vf_settings_check(&s), -EINVAL);          /* QoS without a VLAN */
	parse("vlan", "100", &s);
	assert_int_equal(dp_vf_settings_check(&s), 0);
	struct dp_vf_settings r = {0};
	parse("max-rate", "100", &r);
	parse("min-rate", "1000", &r);
	assert_int_equal(dp_vf_settings_check(&r), -EINVAL);
	parse("max-rate", "0", &r);                                   /* 0: no upper limit */
	assert_int_equal(dp_vf_settings_check(&r), 0);
}

/* ---- messages as bytes ------------------------------------------------------------- */

/* The one attribute inside IFLA_VFINFO_LIST > IFLA_VF_INFO of a built message. */
static struct nlattr *vf_attr(struct nl_msg *msg, int *count)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	assert_int_equal(h->nlmsg_type, RTM_SETLINK);
	assert_true(h->nlmsg_flags & NLM_F_ACK);
	struct ifinfomsg *ifi = nlmsg_data(h);
	assert_int_equal(ifi->ifi_index, 7);
	struct nlattr *list = nlmsg_find_attr(h, sizeof(*ifi), IFLA_VFINFO_LIST);
	assert_non_null(list);
	struct nlattr *info = nla_find(nla_data(list), nla_len(list), IFLA_VF_INFO);
	assert_non_null(info);
	struct nlattr *a, *first = NULL;
	int rem;
	*count = 0;
	nla_for_each_nested(a, info, rem) {
		if (!first)
			first = a;
		(*count)++;
	}
	return first;
}

static struct nl_msg *build(unsigned bit, const struct dp_vf_settings *s)
{
	struct nl_msg *msg = NULL;
	assert_int_equal(dp_nl_vf_msg_build(7, 3, bit, s, &msg), 0);
	return msg;
}

static void test_msg_vlan_8021ad(void **state)
{
	struct dp_vf_settings s = {.set = DP_VF_SET_VLAN, .vlan = 100, .qos = 5, .proto = ETH_P_8021AD};
	struct nl_msg *msg = build(DP_VF_SET_VLAN, &s);
	int n;
	struct nlattr *a = vf_attr(msg, &n);
	assert_int_equal(n, 1);
	assert_int_equal(nla_type(a), IFLA_VF_VLAN_LIST);
	struct nlattr *info = nla_find(nla_data(a), nla_len(a), IFLA_VF_VLAN_INFO);
	assert_non_null(info);
	struct ifla_vf_vlan_info v;
	memcpy(&v, nla_data(info), sizeof(v));
	assert_int_equal(v.vf, 3);
	assert_int_equal(v.vlan, 100);
	assert_int_equal(v.qos, 5);
	/* the kernel reads a __be16: 0x88a8 must travel as the bytes 88 a8, which libnl 3.7's
	 * own rtnl_link_vf_set_vlans gets wrong (a8 88 on x86) */
	const uint8_t *proto = (const uint8_t *)&v.vlan_proto;
	assert_int_equal(proto[0], 0x88);
	assert_int_equal(proto[1], 0xa8);
	nlmsg_free(msg);
}

static void test_msg_vlan_8021q(void **state)
{
	struct dp_vf_settings s = {.set = DP_VF_SET_VLAN, .vlan = 42, .qos = 1, .proto = ETH_P_8021Q};
	struct nl_msg *msg = build(DP_VF_SET_VLAN, &s);
	int n;
	struct nlattr *a = vf_attr(msg, &n);
	assert_int_equal(nla_type(a), IFLA_VF_VLAN);
	struct ifla_vf_vlan v;
	memcpy(&v, nla_data(a), sizeof(v));
	assert_int_equal(v.vf, 3);
	assert_int_equal(v.vlan, 42);
	assert_int_equal(v.qos, 1);
	nlmsg_free(msg);
}

static void test_msg_one_setting_each(void **state)
{
	struct dp_vf_settings s = {.set = DP_VF_SET_ALL, .mac = {2, 0, 0, 0, 1, 1}, .vlan = 1,
	                           .proto = ETH_P_8021Q, .min_rate = 10, .max_rate = 500,
	                           .spoofchk = 1, .trust = 1, .link_state = DP_VF_LINK_ENABLE};
	static const struct { unsigned bit; int type; } want[] = {
		{DP_VF_SET_MAC, IFLA_VF_MAC}, {DP_VF_SET_MAX_RATE, IFLA_VF_RATE},
		{DP_VF_SET_SPOOFCHK, IFLA_VF_SPOOFCHK}, {DP_VF_SET_TRUST, IFLA_VF_TRUST},
		{DP_VF_SET_LINK_STATE, IFLA_VF_LINK_STATE},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct nl_msg *msg = build(want[i].bit, &s);
		int n;
		struct nlattr *a = vf_attr(msg, &n);
		assert_int_equal(n, 1);
		assert_int_equal(nla_type(a), want[i].type);
		assert_int_equal(*(uint32_t *)nla_data(a), 3);   /* every payload starts with vf */
		if (want[i].type == IFLA_VF_MAC)
			assert_memory_equal(((struct ifla_vf_mac *)nla_data(a))->mac, s.mac, 6);
		if (want[i].type == IFLA_VF_RATE) {
			struct ifla_vf_rate *r = nla_data(a);
			assert_int_equal(r->min_tx_rate, 10);
			assert_int_equal(r->max_tx_rate, 500);
		}
		if (want[i].type == IFLA_VF_LINK_STATE)
			assert_int_equal(((struct ifla_vf_link_state *)nla_data(a))->link_state, 1);
		nlmsg_free(msg);
	}
	struct nl_msg *msg = NULL;
	assert_int_equal(dp_nl_vf_msg_build(7, 3, 0x8000, &s, &msg), -EINVAL);
	assert_null(msg);
}

/* ---- an answer from the kernel, parsed ----------------------------------------------- */

static void put_vf(struct nl_msg *msg, uint32_t vf, uint16_t proto_wire, int trust)
{
	struct nlattr *info = nla_nest_start(msg, IFLA_VF_INFO);
	struct ifla_vf_mac mac = {.vf = vf, .mac = {2, 0, 0, 0, 1, (uint8_t)vf}};
	struct ifla_vf_vlan vlan = {.vf = vf, .vlan = 100 + vf, .qos = 2};
	struct ifla_vf_rate rate = {.vf = vf, .min_tx_rate = 0, .max_tx_rate = 1000};
	struct ifla_vf_tx_rate txrate = {.vf = vf, .rate = 1000};
	struct ifla_vf_spoofchk spoof = {.vf = vf, .setting = 1};
	struct ifla_vf_trust tr = {.vf = vf, .setting = (uint32_t)trust};
	struct ifla_vf_link_state ls = {.vf = vf, .link_state = 2};
	struct ifla_vf_vlan_info vi = {.vf = vf, .vlan = 100 + vf, .qos = 2, .vlan_proto = proto_wire};
	nla_put(msg, IFLA_VF_MAC, sizeof(mac), &mac);
	nla_put(msg, IFLA_VF_VLAN, sizeof(vlan), &vlan);
	struct nlattr *list = nla_nest_start(msg, IFLA_VF_VLAN_LIST);
	nla_put(msg, IFLA_VF_VLAN_INFO, sizeof(vi), &vi);
	nla_nest_end(msg, list);
	nla_put(msg, IFLA_VF_TX_RATE, sizeof(txrate), &txrate);
	nla_put(msg, IFLA_VF_RATE, sizeof(rate), &rate);
	nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(spoof), &spoof);
	nla_put(msg, IFLA_VF_LINK_STATE, sizeof(ls), &ls);
	nla_put(msg, IFLA_VF_TRUST, sizeof(tr), &tr);
	nla_nest_end(msg, info);
}

static void parsed(struct nl_object *obj, void *arg)
{
	nl_object_get(obj);
	*(struct nl_object **)arg = obj;
}

static void test_answer_parse(void **state)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	nlmsg_set_proto(msg, NETLINK_ROUTE);   /* which cache ops parse it */
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 9, .ifi_flags = 0x1003};
	nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	nla_put_string(msg, IFLA_IFNAME, "eth1");
	nla_put_u32(msg, IFLA_NUM_VF, 2);
	struct nlattr *list = nla_nest_start(msg, IFLA_VFINFO_LIST);
	put_vf(msg, 0, htons(ETH_P_8021Q), 0);
	put_vf(msg, 1, htons(ETH_P_8021AD), -1);   /* trust not reported */
	nla_nest_end(msg, list);
	struct nl_object *obj = NULL;
	assert_true(nl_msg_parse(msg, parsed, &obj) >= 0);
	assert_non_null(obj);
	struct dp_nl_pf pf;
	assert_int_equal(dp_nl_link_extract((struct rtnl_link *)obj, &pf), 0);
	assert_int_equal(pf.ifindex, 9);
	assert_true(pf.up);
	assert_int_equal(pf.num_vf, 2);
	assert_int_equal(pf.n, 2);
	assert_true(pf.vf[1].reported);
	assert_memory_equal(pf.vf[1].mac, ((uint8_t[]){2, 0, 0, 0, 1, 1}), 6);
	assert_int_equal(pf.vf[1].vlan, 101);
	assert_int_equal(pf.vf[1].qos, 2);
	assert_int_equal(pf.vf[0].proto, ETH_P_8021Q);
	assert_int_equal(pf.vf[1].proto, ETH_P_8021AD);   /* big-endian on the wire, host order here */
	assert_int_equal(pf.vf[1].max_rate, 1000);
	assert_int_equal(pf.vf[1].spoofchk, 1);
	assert_int_equal(pf.vf[0].trust, 0);
	assert_int_equal(pf.vf[1].trust, -1);
	assert_int_equal(pf.vf[1].link_state, DP_VF_LINK_DISABLE);
	dp_nl_pf_free(&pf);
	nl_object_put(obj);
	nlmsg_free(msg);
}

/* Reading only, from this machine's kernel: the loopback interface over RTM_GETLINK with
 * RTEXT_FILTER_VF (it has no VFs, so no IFLA_NUM_VF), and an interface that is not there. */
static void test_kernel_read_loopback(void **state)
{
	struct dp_nl_pf pf;
	assert_int_equal(dp_nl_pf_read("lo", &pf), 0);
	assert_int_equal(pf.ifindex, 1);
	assert_true(pf.up);
	assert_int_equal(pf.n, 0);
	dp_nl_pf_free(&pf);
	assert_int_equal(dp_nl_pf_read("devpass-none0", &pf), -ENODEV);
	assert_non_null(strstr(dp_error_message(), "devpass-none0"));
}

/* ---- stored settings ------------------------------------------------------------------ */

static char root[] = "/tmp/devpass-test-sriov-XXXXXX";

static void test_store_round_trip(void **state)
{
	struct dp_vf_settings a = {0}, b = {0}, got;
	parse("mac", "02:00:00:00:01:01", &a);
	parse("vlan", "100", &a);
	parse("qos", "3", &a);
	parse("proto", "802.1ad", &a);
	assert_int_equal(dp_vf_store_get("0000:04:00.0", 1, &got), -ENOENT);
	assert_int_equal(dp_vf_store_put("0000:04:00.0", 1, &a), 0);
	parse("trust", "on", &b);
	parse("link-state", "auto", &b);
	assert_int_equal(dp_vf_store_put("0000:04:00.0", 1, &b), 0);   /* merges */
	assert_int_equal(dp_vf_store_put("eth6", 0, &b), 0);
	assert_int_equal(dp_vf_store_get("0000:04:00.0", 1, &got), 0);
	assert_int_equal(got.set, DP_VF_SET_MAC | DP_VF_SET_VLAN | DP_VF_SET_TRUST | DP_VF_SET_LINK_STATE);
	assert_memory_equal(got.mac, a.mac, 6);
	assert_int_equal(got.vlan, 100);
	assert_int_equal(got.qos, 3);
	assert_int_equal(got.proto, ETH_P_8021AD);
	assert_int_equal(got.trust, 1);
	assert_int_equal(got.link_state, DP_VF_LINK_AUTO);
	struct dp_vf_settings c = {0};
	parse("vlan", "0", &c);                                        /* a later VLAN replaces */
	assert_int_equal(dp_vf_store_put("0000:04:00.0", 1, &c), 0);
	assert_int_equal(dp_vf_store_get("0000:04:00.0", 1, &got), 0);
	assert_int_equal(got.vlan, 0);
	assert_int_equal(got.proto, ETH_P_8021Q);
	assert_int_equal(got.qos, 0);
	int *vfs;
	struct dp_vf_settings *all;
	size_t n;
	assert_int_equal(dp_vf_store_list("eth6", &vfs, &all, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vfs[0], 0);
	assert_int_equal(all[0].set, DP_VF_SET_TRUST | DP_VF_SET_LINK_STATE);
	free(vfs);
	free(all);
	assert_int_equal(dp_vf_store_delete("0000:04:00.0", 1), 0);
	assert_int_equal(dp_vf_store_delete("0000:04:00.0", 1), -ENOENT);
	assert_int_equal(dp_vf_store_get("0000:04:00.0", 1, &got), -ENOENT);
}

/* ---- the VF count, behind a fake kernel -------------------------------------------- */

#define PF_DIR "sys/bus/pci/devices/0000:04:00.0"

/* shared memory: the writes run in the gateway's helper process (they have a time limit) */
struct fake_state {
	char log[512];          /* "attribute=value " per write, in order */
	int refuse_count;       /* a count the device refuses (ERANGE), 0 none */
};
static struct fake_state *fk;
#define fake (*fk)

static void file_put(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int file_int(const char *rel)
{
	char path[512], buf[32] = "";
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return atoi(buf);
}

/* sriov_numvfs as the PCI core takes it: a new count only from 0 (EBUSY otherwise) */
static int fake_write(const char *path, const char *data, void *ctx)
{
	const char *attr = strrchr(path, '/') + 1;
	int want = atoi(data);
	snprintf(fake.log + strlen(fake.log), sizeof(fake.log) - strlen(fake.log), "%s=%d ", attr, want);
	if (strcmp(attr, "sriov_numvfs") == 0) {
		int now = file_int(PF_DIR "/sriov_numvfs");
		if (now && want && now != want)
			return -EBUSY;
		if (want && want == fake.refuse_count)
			return -ERANGE;
	}
	char text[16];
	snprintf(text, sizeof(text), "%d\n", want);
	file_put(path, text);
	return 0;
}

static void pf_tree(int numvfs)
{
	char cmd[600], text[16];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/" PF_DIR, root);
	assert_int_equal(system(cmd), 0);
	snprintf(text, sizeof(text), "%d\n", numvfs);
	file_put(PF_DIR "/sriov_numvfs", text);
	file_put(PF_DIR "/sriov_totalvfs", "8\n");
	file_put(PF_DIR "/sriov_drivers_autoprobe", "1\n");
	memset(&fake, 0, sizeof(fake));
	dp_fs_set_write_hook(fake_write, NULL);
}

static void test_vfs_count(void **state)
{
	char msg[256];
	pf_tree(4);
	assert_int_equal(dp_sriov_vfs_set("0000:04:00.0", 2, false, 0, msg, sizeof(msg)), 0);
	assert_string_equal(fake.log, "sriov_numvfs=0 sriov_numvfs=2 ");   /* through 0 */
	assert_int_equal(file_int(PF_DIR "/sriov_numvfs"), 2);
	assert_non_null(strstr(msg, "2 VFs (was 4)"));
	fake.log[0] = '\0';
	assert_int_equal(dp_sriov_vfs_set("0000:04:00.0", 2, false, 0, msg, sizeof(msg)), 0);
	assert_string_equal(fake.log, "");                                   /* nothing to do */
	assert_int_equal(dp_sriov_vfs_set("0000:04:00.0", 9, false, 0, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "sriov_totalvfs"));
	assert_string_equal(fake.log, "");
	dp_fs_set_write_hook(NULL, NULL);
}

static void test_vfs_refused_count_restores(void **state)
{
	char msg[256];
	pf_tree(2);
	fake.refuse_count = 3;
	assert_int_equal(dp_sriov_vfs_set("0000:04:00.0", 3, false, 0, msg, sizeof(msg)), -ERANGE);
	assert_string_equal(fake.log, "sriov_numvfs=0 sriov_numvfs=3 sriov_numvfs=2 ");
	assert_int_equal(file_int(PF_DIR "/sriov_numvfs"), 2);               /* as it was */
	assert_non_null(strstr(dp_error_message(), "created again"));
	dp_fs_set_write_hook(NULL, NULL);
}

static void test_vfs_no_autoprobe_first(void **state)
{
	char msg[256];
	pf_tree(0);
	assert_int_equal(dp_sriov_vfs_set("0000:04:00.0", 4, true, 0, msg, sizeof(msg)), 0);
	assert_string_equal(fake.log, "sriov_drivers_autoprobe=0 sriov_numvfs=4 ");
	assert_non_null(strstr(msg, "autoprobe off"));
	dp_fs_set_write_hook(NULL, NULL);
}

/* ---- set and apply, behind a fake netlink kernel ------------------------------------- */

#define NPF "0000:05:00.0"
static struct {
	struct dp_vf_info vf[4];
	unsigned refuse;        /* a DP_VF_SET_* bit the driver refuses (EOPNOTSUPP) */
	char log[256];          /* the settings sent, in order */
	int last_min, last_max; /* the rate pair last sent */
} nk;

static int nk_read(const char *ifname, struct dp_nl_pf *out)
{
	assert_string_equal(ifname, "eth5");
	memset(out, 0, sizeof(*out));
	out->ifindex = 55;
	out->up = true;
	out->num_vf = 4;
	out->vf = calloc(4, sizeof(*out->vf));
	assert_non_null(out->vf);
	memcpy(out->vf, nk.vf, sizeof(nk.vf));
	out->n = 4;
	return 0;
}

static int nk_set(int ifindex, int vf, unsigned bit, const struct dp_vf_settings *s)
{
	struct dp_vf_info *v = &nk.vf[vf];
	assert_int_equal(ifindex, 55);
	snprintf(nk.log + strlen(nk.log), sizeof(nk.log) - strlen(nk.log), "%s;", dp_vf_setting_name(bit));
	if (bit == nk.refuse)
		return -EOPNOTSUPP;
	if (bit == DP_VF_SET_MAC)
		memcpy(v->mac, s->mac, 6);
	if (bit == DP_VF_SET_VLAN) {
		v->vlan = s->vlan;
		v->qos = s->qos;
		v->proto = s->proto;
	}
	if (bit == DP_VF_SET_MAX_RATE) {
		v->min_rate = nk.last_min = s->min_rate;
		v->max_rate = nk.last_max = s->max_rate;
	}
	if (bit == DP_VF_SET_TRUST)
		v->trust = s->trust;
	if (bit == DP_VF_SET_SPOOFCHK)
		v->spoofchk = s->spoofchk;
	if (bit == DP_VF_SET_LINK_STATE)
		v->link_state = s->link_state;
	return 0;
}

static const struct dp_nl_hooks nk_hooks = {nk_read, nk_set};

static void nk_tree(void)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd %s && D=sys/devices/pci0000:00/" NPF " && mkdir -p $D/net/eth5 "
	         "sys/bus/pci/devices sys/class/net && echo 4 > $D/sriov_numvfs && echo 8 > "
	         "$D/sriov_totalvfs && echo 0x1003 > $D/net/eth5/flags && ln -sfn ../../../bus/pci "
	         "$D/subsystem && ln -sfn ../../../0000:05:00.0 $D/net/eth5/device && ln -sfn "
	         "../../../devices/pci0000:00/" NPF " sys/bus/pci/devices/" NPF " && ln -sfn "
	         "../../devices/pci0000:00/" NPF "/net/eth5 sys/class/net/eth5", root);
	assert_int_equal(system(cmd), 0);
	memset(&nk, 0, sizeof(nk));
	for (int i = 0; i < 4; i++) {
		dp_vf_info_init(&nk.vf[i], i);
		nk.vf[i].reported = true;
		nk.vf[i].mac[0] = 0x52;
		nk.vf[i].mac[5] = (uint8_t)i;
		nk.vf[i].min_rate = 10;
		nk.vf[i].spoofchk = 1;
		nk.vf[i].trust = 0;
		nk.vf[i].link_state = DP_VF_LINK_AUTO;
	}
	dp_nl_set_hooks(&nk_hooks);
}

static void test_set_applies_then_stores(void **state)
{
	struct dp_vf_settings s = {0}, got;
	nk_tree();
	parse("trust", "on", &s);
	parse("mac", "02:00:00:00:05:01", &s);
	parse("vlan", "100", &s);
	parse("proto", "802.1ad", &s);
	parse("max-rate", "500", &s);
	assert_int_equal(dp_sriov_vf_set("eth5", 1, &s), 0);
	/* the kernel's order, one message each: MAC, VLAN, rate, trust */
	assert_string_equal(nk.log, "MAC address;VLAN;maximum rate;trust;");
	assert_memory_equal(nk.vf[1].mac, s.mac, 6);
	assert_int_equal(nk.vf[1].proto, ETH_P_8021AD);
	assert_int_equal(nk.last_min, 10);           /* the pair keeps the current minimum */
	assert_int_equal(nk.last_max, 500);
	assert_int_equal(dp_vf_store_get(NPF, 1, &got), 0);   /* under the PCI address */
	assert_int_equal(got.set, DP_VF_SET_MAC | DP_VF_SET_VLAN | DP_VF_SET_MAX_RATE | DP_VF_SET_TRUST);
	assert_int_equal(dp_sriov_vf_set("eth5", 4, &s), -ERANGE);
	struct dp_sriov_pf pf;
	assert_int_equal(dp_sriov_show(NPF, &pf), 0);
	assert_int_equal(pf.n, 4);
	assert_true(pf.vf[1].stored && pf.vf[1].reported && pf.vf[1].trust == 1);
	assert_false(pf.vf[0].stored);
	assert_string_equal(pf.note, "");
	char diff[160];
	assert_true(dp_vf_settings_in_effect(&pf.vf[1], &pf.vf[1].want, diff, sizeof(diff)));
	pf.vf[1].trust = 0;                           /* the VFs came back without it */
	assert_false(dp_vf_settings_in_effect(&pf.vf[1], &pf.vf[1].want, diff, sizeof(diff)));
	assert_string_equal(diff, "trust is off, stored on");
	pf.vf[1].mac[5] ^= 1;
	assert_false(dp_vf_settings_in_effect(&pf.vf[1], &pf.vf[1].want, diff, sizeof(diff)));
	assert_non_null(strstr(diff, "stored 02:00:00:00:05:01"));
	dp_sriov_pf_free(&pf);
	dp_nl_set_hooks(NULL);
}

static void test_set_refused_rolls_back(void **state)
{
	struct dp_vf_settings s = {0}, got;
	nk_tree();
	dp_vf_store_delete(NPF, 2);
	nk.refuse = DP_VF_SET_TRUST;
	parse("mac", "02:00:00:00:05:02", &s);
	parse("vlan", "7", &s);
	parse("trust", "on", &s);
	assert_int_equal(dp_sriov_vf_set(NPF, 2, &s), -EOPNOTSUPP);
	const char *m = dp_error_message();
	assert_non_null(strstr(m, "cannot set the trust of VF 2 of " NPF));
	assert_non_null(strstr(m, "put back"));
	/* MAC and VLAN went out, then came back to what they were */
	assert_string_equal(nk.log, "MAC address;VLAN;trust;MAC address;VLAN;");
	assert_int_equal(nk.vf[2].mac[0], 0x52);
	assert_int_equal(nk.vf[2].vlan, 0);
	assert_int_equal(dp_vf_store_get(NPF, 2, &got), -ENOENT);   /* nothing stored */
	dp_nl_set_hooks(NULL);
}

static void test_apply_stored(void **state)
{
	struct dp_vf_settings s = {0};
	char msg[160];
	nk_tree();
	parse("link-state", "disable", &s);
	assert_int_equal(dp_vf_store_put(NPF, 3, &s), 0);
	assert_int_equal(dp_vf_store_put(NPF, 9, &s), 0);   /* a VF that does not exist now */
	nk.log[0] = '\0';
	int n = dp_sriov_apply("eth5", msg, sizeof(msg));
	assert_true(n >= 1);
	assert_int_equal(nk.vf[3].link_state, DP_VF_LINK_DISABLE);
	assert_non_null(strstr(msg, "stored settings applied"));
	assert_int_equal(dp_vf_store_get(NPF, 9, &s), 0);   /* kept for later */
	dp_nl_set_hooks(NULL);
}

static void test_errors_in_words(void **state)
{
	assert_non_null(strstr(dp_vf_errno_words(-EOPNOTSUPP, DP_VF_SET_TRUST), "cannot set"));
	assert_non_null(strstr(dp_vf_errno_words(-EINVAL, DP_VF_SET_MIN_RATE), "minimum rate"));
	assert_null(strstr(dp_vf_errno_words(-EINVAL, DP_VF_SET_MAC), "minimum rate"));
	assert_non_null(strstr(dp_vf_errno_words(-EPERM, DP_VF_SET_VLAN), "not permitted"));
	assert_string_equal(dp_vf_setting_name(DP_VF_SET_MAC), "MAC address");
	assert_string_equal(dp_vf_proto_name(ETH_P_8021AD), "802.1ad");
	assert_string_equal(dp_vf_link_state_name(DP_VF_LINK_ENABLE), "enable");
}

int main(void)
{
	fk = mmap(NULL, sizeof(*fk), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fk == MAP_FAILED || !mkdtemp(root) || dp_root_set(root) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_parse),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_msg_vlan_8021ad),
		cmocka_unit_test(test_msg_vlan_8021q),
		cmocka_unit_test(test_msg_one_setting_each),
		cmocka_unit_test(test_answer_parse),
		cmocka_unit_test(test_kernel_read_loopback),
		cmocka_unit_test(test_store_round_trip),
		cmocka_unit_test(test_vfs_count),
		cmocka_unit_test(test_vfs_refused_count_restores),
		cmocka_unit_test(test_vfs_no_autoprobe_first),
		cmocka_unit_test(test_set_applies_then_stores),
		cmocka_unit_test(test_set_refused_rolls_back),
		cmocka_unit_test(test_apply_stored),
		cmocka_unit_test(test_errors_in_words),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		failed++;
	return failed;
}
