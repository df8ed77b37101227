/* What goes into the cloud-init seed: an ssh-only #cloud-config for one public key, and
 * the meta-data naming the instance. The key is checked to be one OpenSSH public key line
 * (its base64 body names the same type as its first word), so that nothing but a key can
 * reach the YAML; it is written as a double-quoted YAML string. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "util/error.h"
#include "vm/vm.h"

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool key_type_known(const char *type)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(*key_types); i++)
		if (strcmp(type, key_types[i]) == 0)
			return true;
	return false;
}

static int base64_value(char c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Decodes the first bytes of a base64 text (enough for the type name inside); false when
 * the text is not base64: a length not a multiple of 4, a stray character or '='. */
static bool base64_head(const char *text, unsigned char *out, size_t size, size_t *got)
{
	size_t len = strlen(text), pad = 0;
	while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
		pad++;
	if (len == 0 || len % 4)
		return false;
	*got = 0;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = i + j >= len - pad ? 0 : base64_value(text[i + j]);
			if (d < 0)
				return false;
			v = v << 6 | (uint32_t)d;
		}
		size_t bytes = i + 4 < len ? 3 : 3 - pad;
		for (size_t k = 0; k < bytes && *got < size; k++)
			out[(*got)++] = (unsigned char)(v >> (16 - 8 * k));
	}
	return true;
}

/* The key blob starts with its type as an SSH string: a 32-bit length, then the name. */
static bool body_matches(const char *body, const char *type)
{
	unsigned char head[64];
	size_t got, tl = strlen(type);
	if (!base64_head(body, head, sizeof(head), &got) || got < 4 + tl)
		return false;
	uint32_t n = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
	return n == tl && memcmp(head + 4, type, tl) == 0;
}

/* Well-formed UTF-8: a comment must not break the YAML (whose text is Unicode). */
static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		int extra = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2
		            : (*s & 0xf8) == 0xf0 ? 3 : -1;
		if (extra < 0 || (extra == 1 && *s < 0xc2))
			return false;
		s++;
		for (int i = 0; i < extra; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static int key_refuse(const char *why)
{
	return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "ssh-key",
	                           "not an OpenSSH public key: %s", why);
}

/* line: the key with one final newline taken off; out: the same, checked. */
static int key_line_check(char *line)
{
	size_t len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	while (len && line[len - 1] == ' ')
		line[--len] = '\0';
	if (strchr(line, '\n'))
		return key_refuse("more than one line (give one key)");
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return key_refuse("it has a control character");
	if (!utf8_valid((const unsigned char *)line))
		return key_refuse("it is not UTF-8 text");
	return 0;
}

static int key_fields_check(const char *line)
{
	char type[64], body[16384];
	if (sscanf(line, "%63s %16383s", type, body) != 2)
		return key_refuse("expected 'TYPE BASE64 [COMMENT]'");
	if (!key_type_known(type))
		return key_refuse("unknown key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, "
		                  "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)");
	if (!body_matches(body, type))
		return key_refuse("its base64 body is not a key of the type it names");
	return 0;
}

/* The key as a double-quoted YAML scalar: no control characters are left by now, so
 * escaping the backslash and the quote is all it takes. */
static char *yaml_quote(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += (*p == '"' || *p == '\\') ? 2 : 1;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	*o++ = '"';
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

int dp_vm_seed_ssh_user_data(const char *public_key, char **out)
{
	_cleanup_free_ char *line = strdup(public_key ? public_key : "");
	if (!line)
		return dp_oom();
	const char *start = line + strspn(line, " ");
	int r = key_line_check(line);
	if (r == 0)
		r = key_fields_check(start);
	if (r < 0)
		return r;
	_cleanup_free_ char *quoted = yaml_quote(start);
	if (!quoted)
		return dp_oom();
	/* vm-lifecycle.md §3.3: no password anywhere, no packages (works offline) */
	if (asprintf(out,
	             "#cloud-config\n"
	             "users:\n"
	             "  - name: %s\n"
	             "    groups: [sudo]\n"
	             "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
	             "    lock_passwd: true\n"
	             "    ssh_authorized_keys:\n"
	             "      - %s\n"
	             "ssh_pwauth: false\n"
	             "disable_root: true\n", DP_VM_SEED_USER, quoted) < 0) {
		*out = NULL;
		return dp_oom();
	}
	return 0;
}

/* A host name from a VM name: letters, digits and '-' (RFC 1123), no '-' at either end,
 * at most 63 characters. */
static void host_name(const char *name, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = name; *p && o + 1 < size && o < 63; p++)
		out[o++] = (*p == '.' || *p == '_') ? '-' : *p;
	while (o && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	if (!o)
		snprintf(out, size, "%s", "vm");
}

int dp_vm_seed_meta_data(const char *name, const char *instance_id, char **out)
{
	int r = dp_vm_name_check(name);
	if (r < 0)
		return r;
	size_t len = instance_id ? strlen(instance_id) : 0;
	if (len == 0 || len > 128 ||
	    strspn(instance_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != len)
		return dp_error_set(-EINVAL, "instance id '%.128s' is not 1 to 128 letters, digits, "
		                    "'.', '_', ':' or '-'", instance_id ? instance_id : "");
	char host[64];
	host_name(name, host, sizeof(host));
	/* quoted: an id such as "1e3" would otherwise read as a number */
	if (asprintf(out, "instance-id: \"%s\"\nlocal-hostname: \"%s\"\n", instance_id, host) < 0) {
		*out = NULL;
		return dp_oom();
	}
	return 0;
}
