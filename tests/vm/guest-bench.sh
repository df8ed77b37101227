#!/bin/sh
T="vm[bench]"
. /tests/guest-lib.sh
data_open bench
data_close
