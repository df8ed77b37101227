/* libFuzzer target for the USB text formats (usb-parse.c): sysfs names, ids and key
 * bitmaps come from the command line and from captured trees, so none may crash.
 *   clang -g -fsanitize=fuzzer,address,undefined -Isrc/lib -Isrc/lib/include -Isrc/common \
 *         tests/fuzz/fuzz-usb.c src/lib/usb/usb-parse.c -o build/fuzz/fuzz-usb */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usb/usb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int bus;
	char devpath[32];
	uint16_t vid, pid;
	const char *serial;
	uint8_t byte;
	usb_name_parse(text, &bus, devpath, sizeof(devpath));
	usb_id_parse(text, &vid, &pid, &serial);
	usb_hex_byte(text, &byte);
	usb_key_bitmap_is_keyboard(text);
	if (usb_name_parse(text, &bus, devpath, sizeof(devpath)) == USB_NAME_DEVICE)
		usb_location_compare(bus, devpath, 1, "1.2.3");
	free(text);
	return 0;
}
