#!/bin/sh
# tests/fuzz/run-fuzzers.sh BUILDDIR [SECONDS] [TARGET...]
#
# Run the libFuzzer targets of BUILDDIR (configured with -Dfuzz=true) for
# SECONDS each (default 60).  New inputs go to BUILDDIR/fuzz-corpus/TARGET
# (kept between runs, never the repository's tests/fuzz/corpus, which is
# only read); crashes to BUILDDIR/fuzz-artifacts/.  Exit status 1 if any
# target found a crash.  To keep a finding as a seed, minimise it and copy
# it into tests/fuzz/corpus/TARGET/ by hand.
set -u
BUILD=${1:?usage: $0 BUILDDIR [SECONDS] [TARGET...]}
SECS=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
TARGETS=${*:-region proto config}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$BUILD" && pwd) || exit 2
ART="$BUILD/fuzz-artifacts"
mkdir -p "$ART"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ ! -f "$BUILD/build.ninja" ]; then
	echo "$BUILD is not a meson build dir (make san first)" >&2
	exit 2
fi
ninja -C "$BUILD" $(for t in $TARGETS; do printf 'tests/fuzz/fuzz_%s ' "$t"; done) >/dev/null || exit 2

fail=0
for t in $TARGETS; do
	exe="$BUILD/tests/fuzz/fuzz_$t"
	if ! "$exe" -help=1 2>&1 | grep -q max_total_time; then
		echo "$exe is not a libFuzzer binary: configure $BUILD with -Dfuzz=true (clang)" >&2
		exit 2
	fi
	out="$BUILD/fuzz-corpus/$t"
	mkdir -p "$out"
	before=$(ls "$out" | wc -l)
	echo "== fuzz_$t for ${SECS}s (corpus $out + $HERE/corpus/$t)"
	"$exe" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -create_missing_dirs=1 \
		-dict="$HERE/$t.dict" -artifact_prefix="$ART/$t-" "$out" "$HERE/corpus/$t" \
		>"$ART/$t.log" 2>&1
	rc=$?
	grep -E '^(stat::|#[0-9]+ +DONE)' "$ART/$t.log" | sed 's/^/   /'
	echo "   corpus: $before -> $(ls "$out" | wc -l) inputs"
	if [ $rc -ne 0 ]; then
		echo "   FAILED (exit $rc): see $ART/$t.log and $ART/$t-*" >&2
		tail -n 30 "$ART/$t.log" | sed 's/^/   | /' >&2
		fail=1
	fi
done
exit $fail
