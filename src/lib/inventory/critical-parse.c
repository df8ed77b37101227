/* The kernel's text formats host-critical detection reads: mountinfo lines, mount
 * options, the server of a network filesystem, the routing tables. No filesystem access
 * here, so the unit tests take these as they are. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory/critical.h"

/* mountinfo and /proc/swaps escape space, tab, newline and backslash as \ooo */
void crit_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else
			*w++ = *r;
	}
	*w = '\0';
}

static char *next_field(char **save)
{
	return strtok_r(NULL, " ", save);
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue":
 * id, parent, major:minor, root, mount point, mount options, optional fields up to "-",
 * then fstype, source and the superblock's options. */
bool crit_mountinfo_parse_line(char *line, struct crit_mount *m)
{
	char *save = NULL, *tok[6];
	for (int i = 0; i < 6; i++)
		if (!(tok[i] = i ? next_field(&save) : strtok_r(line, " ", &save)))
			return false;
	if (sscanf(tok[2], "%u:%u", &m->major, &m->minor) != 2)
		return false;
	char *t;
	while ((t = next_field(&save)) && strcmp(t, "-") != 0)
		;
	char *fstype = t ? next_field(&save) : NULL;
	char *source = fstype ? next_field(&save) : NULL;
	char *options = source ? next_field(&save) : NULL;
	if (!fstype)
		return false;
	crit_unescape(tok[3]);
	crit_unescape(tok[4]);
	if (source)
		crit_unescape(source);
	m->root = tok[3];
	m->point = tok[4];
	m->fstype = fstype;
	m->source = source ? source : "";
	m->options = options ? options : "";
	m->ns = 0;
	return true;
}

bool crit_option(const char *options, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	for (const char *p = options; p && *p;) {
		const char *end = strchrnul(p, ',');
		if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			snprintf(buf, size, "%.*s", (int)(end - p - (ptrdiff_t)klen - 1), p + klen + 1);
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

bool crit_fstype_is_netfs(const char *fstype)
{
	static const char *const types[] = {"nfs", "nfs4", "cifs", "smb3", "ceph", NULL};
	for (size_t i = 0; types[i]; i++)
		if (strcmp(fstype, types[i]) == 0)
			return true;
	return false;
}

static bool is_ip(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* host of "host:/path", "host:port,host2:port:/path" (ceph), "//host/share", "[v6]:/p",
 * "host" (9p over tcp) */
static bool source_host(const char *source, char *buf, size_t size)
{
	const char *p = source, *end;
	if (strncmp(p, "//", 2) == 0) {
		p += 2;
		end = strchrnul(p, '/');
	} else if (*p == '[') {
		end = strchr(++p, ']');
		if (!end)
			return false;
	} else {
		end = strchr(p, ':');
		const char *comma = strchr(p, ',');
		if (!end || (comma && comma < end))
			end = comma ? comma : end;
		if (!end)
			end = p + strlen(p);   /* 9p over tcp: the bare address */
	}
	snprintf(buf, size, "%.*s", (int)(end - p), p);
	return is_ip(buf);
}

bool crit_netfs_server(const char *fstype, const char *source, const char *options, char *buf,
                       size_t size)
{
	bool nine_tcp = strcmp(fstype, "9p") == 0 && crit_option(options, "trans", buf, size) &&
	                (strcmp(buf, "tcp") == 0 || strcmp(buf, "rdma") == 0);
	if (!crit_fstype_is_netfs(fstype) && !nine_tcp)
		return false;
	if (crit_option(options, "addr", buf, size) && is_ip(buf))
		return true;
	if (crit_option(options, "mon_addr", buf, size)) {
		buf[strcspn(buf, ":/")] = '\0';   /* mon_addr=10.0.0.1:6789/10.0.0.2:6789 */
		if (is_ip(buf))
			return true;
	}
	return source_host(source, buf, size);
}

bool crit_nvme_traddr(const char *address, char *buf, size_t size)
{
	return crit_option(address, "traddr", buf, size) && is_ip(buf);
}

/* ---- routes ------------------------------------------------------------------- */

static void mask_from_plen(uint8_t mask[16], unsigned plen)
{
	memset(mask, 0, 16);
	for (unsigned i = 0; i < plen && i < 128; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* "eth0 0001A8C0 00000000 0001 0 0 100 00FFFFFF 0 0 0": the kernel prints each
 * __be32 as a host-order word, so the word's bytes in memory are the address's. */
bool crit_route4_parse(const char *line, struct crit_route *r)
{
	unsigned dest, mask, flags, metric;
	char ifname[32];
	if (sscanf(line, "%31s %x %*x %x %*d %*d %u %x", ifname, &dest, &flags, &metric, &mask) != 5 ||
	    !(flags & 0x1))   /* RTF_UP */
		return false;
	memset(r, 0, sizeof(*r));
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	memcpy(r->dest, &dest, 4);
	memcpy(r->mask, &mask, 4);
	r->plen = (unsigned)__builtin_popcount(mask);
	r->metric = metric;
	return true;
}

static bool hex_bytes(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return false;
		out[i] = (uint8_t)b;
	}
	return true;
}

/* "dest plen src srclen nexthop metric refcnt use flags iface", hex throughout */
bool crit_route6_parse(const char *line, struct crit_route *r)
{
	char dest[33], ifname[32];
	unsigned plen, metric, flags;
	if (sscanf(line, "%32s %x %*s %*x %*s %x %*x %*x %x %31s", dest, &plen, &metric, &flags,
	           ifname) != 5 || strlen(dest) != 32 || plen > 128 || !(flags & 0x1) ||
	    (flags & 0x200))   /* RTF_UP, not RTF_REJECT */
		return false;
	memset(r, 0, sizeof(*r));
	if (!hex_bytes(dest, r->dest, 16))
		return false;
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	mask_from_plen(r->mask, plen);
	r->plen = plen;
	r->metric = metric;
	r->v6 = true;
	return true;
}

static bool route_matches(const struct crit_route *r, const uint8_t *addr, bool v6)
{
	if (r->v6 != v6)
		return false;
	for (size_t i = 0; i < (v6 ? 16u : 4u); i++)
		if ((addr[i] & r->mask[i]) != (r->dest[i] & r->mask[i]))
			return false;
	return true;
}

const struct crit_route *crit_route_lookup(const struct crit_route *routes, size_t n,
                                           const char *addr)
{
	uint8_t a[16];
	bool v6 = false;
	if (inet_pton(AF_INET, addr, a) != 1) {
		if (inet_pton(AF_INET6, addr, a) != 1)
			return NULL;
		v6 = true;
	}
	const struct crit_route *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct crit_route *r = &routes[i];
		if (!route_matches(r, a, v6))
			continue;
		if (!best || r->plen > best->plen || (r->plen == best->plen && r->metric < best->metric))
			best = r;
	}
	return best;
}
