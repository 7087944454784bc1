# pvsched - top-level entry points.  Everything real is in meson.build.
#   make demo    install deps, build, show pvschedd measuring preemption
#   make check   install deps, build (GCC) + sanitizer tier (Clang ASan+UBSan), run every test
#   make bench B=NAME   run bench/NAME (e.g. B=overhead)
#   make fuzz    run the libFuzzer targets longer (FUZZ_SECONDS, default 60 each)

BUILD      ?= build
SAN        ?= build-san
B          ?= overhead
FUZZ_SECONDS ?= 60
MESON_TEST_ARGS ?=

.PHONY: all deps build san check demo bench fuzz format clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(SAN)/build.ninja:
	CC=clang meson setup $(SAN) --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=true

san: deps $(SAN)/build.ninja
	ninja -C $(SAN)

# Both tiers run even if the first fails; the summary counts both.
check: build san
	@rm -f $(BUILD)/meson-logs/testlog.json $(SAN)/meson-logs/testlog.json
	-meson test -C $(BUILD) --print-errorlogs --no-rebuild --suite unit --suite integration --suite e2e $(MESON_TEST_ARGS)
	-ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(SAN) --print-errorlogs --no-rebuild --suite unit --suite integration --suite fuzz $(MESON_TEST_ARGS)
	@python3 scripts/test-summary.py $(BUILD)/meson-logs/testlog.json $(SAN)/meson-logs/testlog.json

demo: build
	./scripts/demo.sh $(BUILD)

# every bench plots its results with gnuplot (gnuplot-nox: no X libraries)
bench: build
	./scripts/install-deps.sh gnuplot-nox
	./bench/$(B)/run $(BUILD)

fuzz: san
	./tests/fuzz/run-fuzzers.sh $(SAN) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN)
