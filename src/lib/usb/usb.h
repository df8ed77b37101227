/* USB devices, internal to the usb unit: the text formats (usb-parse.c, no filesystem
 * access, unit-tested), names from udev's hwdb (usb-names.c) and what the host needs
 * (usb-critical.c); usb.c reads the devices. */
#ifndef DP_USB_H
#define DP_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devpass.h"

/* ---- usb-parse.c --------------------------------------------------------------- */
enum usb_name_kind { USB_NAME_OTHER, USB_NAME_ROOT_HUB, USB_NAME_DEVICE, USB_NAME_INTERFACE };
/* What a name of /sys/bus/usb/devices is: "usb3" (bus 3), "3-1.2" (bus 3, devpath
 * "1.2"), "3-1.2:1.0" (an interface of 3-1.2). Ports are 1..255, at most 7 tiers. */
enum usb_name_kind usb_name_parse(const char *name, int *busnum, char *devpath, size_t size);
/* "1d6b:0104" or "1d6b:0104:SERIAL" (hex, 1-4 digits each). False when malformed. */
bool usb_id_parse(const char *text, uint16_t *vid, uint16_t *pid, const char **serial);
/* Orders locations as a tree walk: bus, then each port number. */
int usb_location_compare(int bus_a, const char *devpath_a, int bus_b, const char *devpath_b);
/* "03" → 3; false unless one or two hex digits */
bool usb_hex_byte(const char *text, uint8_t *out);
/* The first word of capabilities/key ends the bitmap: a keyboard has KEY_ESC..KEY_D
 * (bits 1-31), as udev's input_id decides ID_INPUT_KEYBOARD. */
bool usb_key_bitmap_is_keyboard(const char *bitmap);

/* ---- usb-names.c ---------------------------------------------------------------- */
struct usb_names;
struct usb_names *usb_names_open(void);   /* NULL when the hwdb cannot be opened */
void usb_names_close(struct usb_names *n);
/* The hwdb's vendor and model names, malloc'ed ("" unknown); -ENOMEM. */
int usb_names_lookup(struct usb_names *n, uint16_t vid, uint16_t pid, char **vendor,
                     char **product);

/* ---- usb-critical.c ------------------------------------------------------------- */
/* Sets critical/critical_reason of every device of list: storage the host uses, the
 * only keyboard. sysdirs[i] is the resolved sysfs directory of list->d[i]. */
int usb_critical_mark(struct dp_usb_list *list, char *const *sysdirs);

#endif
