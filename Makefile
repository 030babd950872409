# The two commands of the README. Both install what is missing (Debian 12,
# as root), configure and build; `demo` then runs the main job on its
# embedded default, `test` runs every test (plain build, then ASan+UBSan,
# then the concurrent map tests under ThreadSanitizer).
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan

.PHONY: all build demo test test-plain test-asan test-tsan bench clean

all: build

build:
	scripts/setup.sh $(BUILD)

demo: build
	scripts/demo.sh $(BUILD)

test: test-plain test-asan test-tsan
	@echo "== all test runs (plain, ASan+UBSan, TSan) =="
	@awk '{p+=$$1; f+=$$2; s+=$$3} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' \
	  $(BUILD)/test-counts $(ASAN_BUILD)/test-counts $(TSAN_BUILD)/test-counts

test-plain: build
	scripts/run-tests.sh $(BUILD)

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer.
# The fuzz suite is left out: its targets are built with ASan+UBSan by their
# own scripts whatever the build, and already ran in test-plain.
test-asan:
	scripts/setup.sh $(ASAN_BUILD) -Dsanitize_checks=true -Dbench=false
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 scripts/run-tests.sh $(ASAN_BUILD) --no-suite fuzz

# The multi-threaded code under ThreadSanitizer: the maps (lock-free
# lookups, reclamation, LRU) and the switch's live chain swap (a worker and
# a swapper thread), and the taps' capture ring (workers and the writer
# thread). Only these test programs are built for it.
test-tsan:
	scripts/setup.sh --no-build $(TSAN_BUILD) -Dtsan=true -Dbench=false
	ninja -C $(TSAN_BUILD) maps/maps_tests dataplane/switch_tests dataplane/switch_progs.o \
		tests/taps_tests tests/tap_cb.o progs/fw.o pcaps/mixed.pcap
	TSAN_OPTIONS=halt_on_error=1 scripts/run-tests.sh $(TSAN_BUILD) --no-rebuild maps switch_tsan taps_tsan

bench: build
	taskset -c 1 $(BUILD)/bench/acl_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
