#!/bin/sh
# tests/unit/abi-standalone.sh VARIANT INCLUDE_DIR CC [CC-ARGS...]
#
# Compile <pvsched/abi.h> on its own as strict C11 with CC, so its
# _Static_asserts are evaluated for another data model than the build's:
#   native  -std=c11 -pedantic-errors -Wall -Wextra -Werror
#   ilp32   the same for i386 (-m32: uint64_t is only 4-byte aligned there)
#   x32     the same for the x32 ABI
#   cross   clang only: aarch64, armv7, ppc64 (big endian), riscv64
# The 32-bit and cross variants use -ffreestanding so no target libc
# headers are needed (abi.h uses only <stddef.h> and <stdint.h>).  A
# variant the compiler cannot target at all is skipped (exit 77).
set -u
VARIANT=$1 INC=$2
shift 2
CC="$*"
STRICT="-std=c11 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only -x c"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf '#include <pvsched/abi.h>\n' >"$tmp/abi_only.c"
printf 'int x;\n' >"$tmp/probe.c"

run() { # FLAGS...
	if ! $CC $STRICT "$@" "$tmp/probe.c" 2>/dev/null; then
		echo "skip: $CC cannot compile for: $*"
		return 77
	fi
	echo "check: $CC $STRICT $* -I $INC abi_only.c"
	if $CC $STRICT "$@" -I "$INC" "$tmp/abi_only.c"; then
		echo "ok: abi.h compiles standalone and its static asserts hold ($*)"
		return 0
	fi
	echo "FAIL: abi.h does not compile standalone for: $*"
	return 1
}

case $VARIANT in
native) run ;;
ilp32) run -m32 -ffreestanding ;;
x32) run -mx32 -ffreestanding ;;
cross)
	rc=77
	for t in aarch64-linux-gnu armv7-linux-gnueabihf powerpc64-linux-gnu riscv64-linux-gnu; do
		run --target=$t -ffreestanding
		r=$?
		[ $r = 1 ] && exit 1
		[ $r = 0 ] && rc=0
	done
	exit $rc
	;;
*) echo "unknown variant $VARIANT"; exit 2 ;;
esac
