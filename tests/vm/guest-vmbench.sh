#!/bin/sh
# placeholder: the vmbench boot (bench/vm-bench.sh)
T="vm[vmbench]"
. /tests/guest-lib.sh
data_open vmbench
data_close
