#!/bin/bash
# Runs every test tier and prints one verdict line: "N passed, N failed".
# Each suite prints "ok - NAME" / "not ok - NAME: WHY" lines (cmocka's TAP lines count too).
set -u
cd "$(dirname "$0")/.."
export DEVPASS="$PWD/build/devpass"
log=$(mktemp -d /tmp/devpass-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

run_suite() {
	local name=$1; shift
	echo "=== $name"
	local start=$SECONDS
	"$@" >"$log/$name.out" 2>"$log/$name.err"
	local rc=$?
	cat "$log/$name.out"
	if ! grep -qE '^(not )?ok\b' "$log/$name.out"; then
		echo "not ok - $name: the suite ran no test (exit $rc): $(tail -n 3 "$log/$name.err" | tr '\n' ' ')" | tee -a "$log/$name.out"
	elif [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$log/$name.out"; then
		echo "not ok - $name: the suite exited $rc: $(tail -n 3 "$log/$name.err" | tr '\n' ' ')" | tee -a "$log/$name.out"
	fi
	echo "    ($name took $((SECONDS - start)) s)"
}

unit_tests() {
	local rc=0
	for t in build/tests/unit/test-*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" || rc=1
	done
	return $rc
}

run_suite unit unit_tests
run_suite boundary tests/boundary/run.sh
run_suite fixture python3 tests/fixture/test_cli.py
run_suite critical python3 tests/fixture/test_critical.py
run_suite setup python3 tests/fixture/test_setup.py
run_suite stress tests/stress/run.sh
run_suite fuzz tests/fuzz/run.sh 20
run_suite pools python3 tests/fixture/test_pools.py
run_suite pools-review python3 tests/fixture/test_pools_review.py
run_suite libvirt /usr/bin/python3 tests/fixture/test_libvirt.py
run_suite pools-kinds python3 tests/fixture/test_pools_kinds.py
run_suite vm-fixture python3 tests/fixture/test_vm.py
run_suite vm-export python3 tests/fixture/test_vm_export.py
run_suite usb python3 tests/fixture/test_usb.py
run_suite sriov python3 tests/fixture/test_sriov.py
run_suite mdev python3 tests/fixture/test_mdev.py
run_suite libvirt-xml python3 tests/fixture/test_libvirt_xml.py
run_suite nova /usr/bin/python3 tests/nova/test_nova_export.py
run_suite peer tests/peer/run.sh
if [ "${DEVPASS_SKIP_VM:-0}" = 1 ]; then
	echo "=== vm skipped (DEVPASS_SKIP_VM=1)"
else
	run_suite vm tests/vm/run.sh
	# two boots side by side, one image preparation: the kinds and the libvirt machines
	run_suite vm-kinds-libvirt tests/vm/run.sh kinds libvirt
	run_suite vm-secureboot tests/vm/secureboot.sh
fi

passed=$(cat "$log"/*.out | grep -cE '^ok\b')
failed=$(cat "$log"/*.out | grep -cE '^not ok\b')
if [ "$failed" -gt 0 ]; then
	echo
	echo "Failures:"
	cat "$log"/*.out | grep -E '^not ok\b'
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
