/* VF settings as text: parsing and checking what is asked before anything is sent. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sriov.h"

/* Six hex pairs separated by ':' (or '-'), nothing else. */
static int mac_parse(const char *text, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		const char *p = text + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 ? p[2] != ':' && p[2] != '-' : p[2] != '\0'))
			return dp_error_set(-EINVAL, "'%s' is not a MAC address (six hex pairs: "
			                    "02:00:00:00:01:01)", text);
		char pair[3] = {p[0], p[1], '\0'};
		mac[i] = (uint8_t)strtoul(pair, NULL, 16);
	}
	return 0;
}

/* A VF's MAC is a station address: never a group address, never all zeros */
static int mac_check(const char *text, const uint8_t mac[6])
{
	static const uint8_t zero[6];
	if (mac[0] & 1)
		return dp_error_set(-EINVAL, "MAC address %s is multicast (the first byte is odd): a "
		                    "VF needs a unicast address, e.g. 02:...", text);
	if (memcmp(mac, zero, 6) == 0)
		return dp_error_set(-EINVAL, "MAC address %s is all zeros: the VF's driver would pick "
		                    "a random one at every probe", text);
	return 0;
}

static int int_parse(const char *what, const char *text, long min, long max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (!*text || *end || errno || !isdigit((unsigned char)text[0]))
		return dp_error_set(-EINVAL, "%s '%s' is not a number", what, text);
	if (v < min || v > max)
		return dp_error_set(-EINVAL, "%s %ld is out of range %ld..%ld", what, v, min, max);
	*out = (int)v;
	return 0;
}

static int onoff_parse(const char *what, const char *text, int *out)
{
	if (strcasecmp(text, "on") == 0 || strcmp(text, "1") == 0)
		*out = 1;
	else if (strcasecmp(text, "off") == 0 || strcmp(text, "0") == 0)
		*out = 0;
	else
		return dp_error_set(-EINVAL, "%s '%s' is neither on nor off", what, text);
	return 0;
}

static int link_state_parse(const char *text, int *out)
{
	static const char *const names[] = {"auto", "enable", "disable"};
	for (int i = 0; i < 3; i++)
		if (strcasecmp(text, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return dp_error_set(-EINVAL, "link state '%s' is not one of auto, enable, disable", text);
}

static int proto_parse(const char *text, uint16_t *out)
{
	if (strcasecmp(text, "802.1Q") == 0)
		*out = ETH_P_8021Q;
	else if (strcasecmp(text, "802.1ad") == 0)
		*out = ETH_P_8021AD;
	else
		return dp_error_set(-EINVAL, "VLAN protocol '%s' is not 802.1Q or 802.1ad", text);
	return 0;
}

/* the rates are Mbit/s in a __u32; INT_MAX keeps them in an int */
static int parse_one(const char *name, const char *value, struct dp_vf_settings *s)
{
	if (strcmp(name, "mac") == 0) {
		int r = mac_parse(value, s->mac);
		return r < 0 ? r : mac_check(value, s->mac);
	}
	if (strcmp(name, "vlan") == 0)
		return int_parse("VLAN", value, 0, 4095, &s->vlan);
	if (strcmp(name, "qos") == 0)
		return int_parse("VLAN QoS", value, 0, 7, &s->qos);
	if (strcmp(name, "proto") == 0)
		return proto_parse(value, &s->proto);
	if (strcmp(name, "max-rate") == 0)
		return int_parse("maximum rate (Mbit/s)", value, 0, INT_MAX, &s->max_rate);
	if (strcmp(name, "min-rate") == 0)
		return int_parse("minimum rate (Mbit/s)", value, 0, INT_MAX, &s->min_rate);
	if (strcmp(name, "spoofchk") == 0)
		return onoff_parse("spoof checking", value, &s->spoofchk);
	if (strcmp(name, "trust") == 0)
		return onoff_parse("trust", value, &s->trust);
	if (strcmp(name, "link-state") == 0)
		return link_state_parse(value, &s->link_state);
	return dp_error_set(-EINVAL, "'%s' is not a VF setting", name);
}

static unsigned setting_bit(const char *name)
{
	static const struct { const char *name; unsigned bit; } bits[] = {
		{"mac", DP_VF_SET_MAC}, {"vlan", DP_VF_SET_VLAN}, {"max-rate", DP_VF_SET_MAX_RATE},
		{"min-rate", DP_VF_SET_MIN_RATE}, {"spoofchk", DP_VF_SET_SPOOFCHK},
		{"trust", DP_VF_SET_TRUST}, {"link-state", DP_VF_SET_LINK_STATE},
	};
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (strcmp(name, bits[i].name) == 0)
			return bits[i].bit;
	return 0;   /* qos and proto belong to the VLAN: its check needs them given with it */
}

int dp_vf_setting_parse(const char *name, const char *value, struct dp_vf_settings *s)
{
	if (!s->proto)
		s->proto = ETH_P_8021Q;
	int r = parse_one(name, value, s);
	if (r == 0)
		s->set |= setting_bit(name);
	return r;
}

int dp_vf_settings_check(const struct dp_vf_settings *s)
{
	if (!(s->set & DP_VF_SET_VLAN) && (s->qos || (s->proto && s->proto != ETH_P_8021Q)))
		return dp_error_set(-EINVAL, "a VLAN QoS or protocol needs a VLAN");
	if (!(s->set & DP_VF_SET_ALL))
		return dp_error_set(-EINVAL, "no VF setting was given");
	if (s->set & DP_VF_SET_VLAN && s->proto != ETH_P_8021Q && s->proto != ETH_P_8021AD)
		return dp_error_set(-EINVAL, "VLAN protocol 0x%04x is not 802.1Q or 802.1ad", s->proto);
	if ((s->set & (DP_VF_SET_MIN_RATE | DP_VF_SET_MAX_RATE)) == (DP_VF_SET_MIN_RATE | DP_VF_SET_MAX_RATE) &&
	    s->max_rate && s->max_rate < s->min_rate)
		return dp_error_set(-EINVAL, "maximum rate %d Mbit/s is below the minimum rate %d Mbit/s",
		                    s->max_rate, s->min_rate);
	if (s->set & DP_VF_SET_VLAN && (s->vlan < 0 || s->vlan > 4095 || s->qos < 0 || s->qos > 7))
		return dp_error_set(-EINVAL, "VLAN %d QoS %d is out of range (0..4095, 0..7)", s->vlan, s->qos);
	return 0;
}

const char *dp_vf_link_state_name(int state)
{
	switch (state) {
	case DP_VF_LINK_AUTO: return "auto";
	case DP_VF_LINK_ENABLE: return "enable";
	case DP_VF_LINK_DISABLE: return "disable";
	}
	return "?";
}

const char *dp_vf_proto_name(uint16_t proto)
{
	return proto == ETH_P_8021Q ? "802.1Q" : proto == ETH_P_8021AD ? "802.1ad" : "?";
}

static bool flag_differs(const char *what, int now, int want, char *diff, size_t size)
{
	if (now < 0 || now == want)
		return false;
	snprintf(diff, size, "%s is %s, stored %s", what, now ? "on" : "off", want ? "on" : "off");
	return true;
}

bool dp_vf_settings_in_effect(const struct dp_vf_info *v, const struct dp_vf_settings *want,
                              char *diff, size_t size)
{
	char now[18], stored[18];
	if (!v->reported)
		return true;
	if (want->set & DP_VF_SET_MAC && memcmp(v->mac, want->mac, 6) != 0) {
		dp_vf_mac_format(v->mac, now);
		dp_vf_mac_format(want->mac, stored);
		snprintf(diff, size, "MAC is %s, stored %s", now, stored);
		return false;
	}
	if (want->set & DP_VF_SET_VLAN && (v->vlan != want->vlan || v->qos != want->qos ||
	                                   (want->vlan && v->proto != want->proto))) {
		snprintf(diff, size, "VLAN is %d (QoS %d, %s), stored %d (QoS %d, %s)", v->vlan, v->qos,
		         dp_vf_proto_name(v->proto), want->vlan, want->qos, dp_vf_proto_name(want->proto));
		return false;
	}
	if ((want->set & DP_VF_SET_MAX_RATE && v->max_rate != want->max_rate) ||
	    (want->set & DP_VF_SET_MIN_RATE && v->min_rate != want->min_rate)) {
		snprintf(diff, size, "rates are %d..%d Mbit/s, stored differently", v->min_rate, v->max_rate);
		return false;
	}
	if ((want->set & DP_VF_SET_SPOOFCHK && flag_differs("spoof checking", v->spoofchk, want->spoofchk,
	                                                    diff, size)) ||
	    (want->set & DP_VF_SET_TRUST && flag_differs("trust", v->trust, want->trust, diff, size)))
		return false;
	if (want->set & DP_VF_SET_LINK_STATE && v->link_state >= 0 && v->link_state != want->link_state) {
		snprintf(diff, size, "link state is %s, stored %s", dp_vf_link_state_name(v->link_state),
		         dp_vf_link_state_name(want->link_state));
		return false;
	}
	return true;
}
