#!/bin/sh
# tests/unit/policy-purity.sh NM ARCHIVE
#
# policy/ is pure: no system call, no clock, no allocation, no I/O.  Check
# what its objects import: only pure libc/libm functions (and the
# sanitizers' runtime hooks in an instrumented build) may be undefined.
set -u
NM=$1 AR=$2
ALLOWED='^(memset|memcpy|memmove|memcmp|strcmp|__popcount[sd]i2|exp|expm1|log|log1p|floor|ceil|round|lround|fabs|sqrt|pow|fmin|fmax|_GLOBAL_OFFSET_TABLE_|__stack_chk_fail|__[a-z]+_chk|__(asan|ubsan|sanitizer|tsan|msan|lsan)_[A-Za-z0-9_]+)$'
syms=$("$NM" -u "$AR" | awk 'NF == 2 && $1 == "U" { print $2 }' | sed 's/@.*//' | sort -u)
echo "policy imports:" $syms
bad=$(printf '%s\n' "$syms" | grep -Ev "$ALLOWED" | grep -v '^$')
if [ -n "$bad" ]; then
	echo "FAIL: policy code calls impure functions:" $bad
	exit 1
fi
echo "ok: only pure functions are imported by $(basename "$AR")"
