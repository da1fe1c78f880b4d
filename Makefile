# carve — build, test and install rules.
#   make          build ./carve
#   make deps     install the Debian packages carve needs (root)
#   make test     build and run every test (calls `make deps` first when root and packages are missing)
#   make asan     run the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make MPI=0    the plain build without MPI, in build-plain/ (also: make test MPI=0, make asan MPI=0)
#   make models   fill models/ and data/ (scripts/fetch.manifest) from $CARVE_MIRROR or the public sources
#   make tasks    only the zero-shot task files (data/tasks/)
#   make fuzz     build the libFuzzer harnesses of tests/fuzz/ (clang) into build-fuzz/ and run each
#                 for FUZZ_SECONDS (default 60) seconds; `make fuzz-build` only builds them
CC      ?= cc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
BASE_XCFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp -MMD -MP -I. $(shell pkg-config --cflags jansson yaml-0.1 sqlite3 libpcre2-8 libutf8proc 2>/dev/null)
BASE_LDLIBS  := -lopenblas -llapacke $(shell pkg-config --libs jansson yaml-0.1 sqlite3 libpcre2-8 libutf8proc 2>/dev/null) -lbz2 -lm -lpthread
XCFLAGS := $(BASE_XCFLAGS)
LDLIBS  += $(BASE_LDLIBS)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

# MPI (OpenMPI, or MPICH): used when its pkg-config file is found; `make MPI=0` forces the plain
# build (in build-plain/, so the two builds never share objects). search/mpi/ is compiled only
# with MPI; see search/mpi/mpi_pool.h.
MPI_PKG := $(firstword $(foreach p,ompi-c mpich,$(shell pkg-config --exists $(p) 2>/dev/null && echo $(p))))
MPI     ?= $(if $(MPI_PKG),1,0)
ifeq ($(origin MPI)$(MPI),command line0)
BUILD   := build-plain

endif
ifeq ($(MPI),1)
ifeq ($(MPI_PKG),)
$(error MPI=1 but no MPI found (pkg-config ompi-c / mpich); run make deps)
endif
XCFLAGS += -DCARVE_MPI $(shell pkg-config --cflags $(MPI_PKG))
LDLIBS  += $(shell pkg-config --libs $(MPI_PKG))
endif

DEB_PACKAGES = build-essential pkg-config libopenblas-dev liblapacke-dev libyaml-dev libsqlite3-dev \
               sqlite3 check libsubunit-dev libjansson-dev libpcre2-dev libutf8proc-dev libbz2-dev \
               python3-numpy curl openmpi-bin libopenmpi-dev clang libclang-rt-14-dev libomp-dev

LIB_SRC  := $(sort $(wildcard runtime/*/*.c eval/*.c reform/*.c search/*.c results/*.c) \
                   $(if $(filter 1,$(MPI)),$(wildcard search/mpi/*.c)))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test asan models tasks clean bench carve fuzz fuzz-build
all: carve

# The binary is built per build directory (build/ or build-asan/); ./carve links to the default one.
carve: $(BUILD)/carve
	@if [ "$(BUILD)" = build ]; then ln -sf build/carve carve; fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -c $< -o $@

# The forward-pass elementwise kernels: vectorised (libmvec expf); see runtime/base/fwd_kernels.h.
$(BUILD)/runtime/base/fwd_kernels.o: XCFLAGS += -O3 -ffast-math
# dtype conversion runs per layer in the forward pass (integer loops: -O3, no fast-math).
$(BUILD)/runtime/base/dtype.o: XCFLAGS += -O3

$(BUILD)/libcarve.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/carve: $(CLI_OBJ) $(BUILD)/libcarve.a
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcarve.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libcarve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $< $(BUILD)/libcarve.a $(CHECK_LIBS) $(LDLIBS)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null \
	      || { echo "make deps: apt-get failed" >&2; exit 1; }; \
	  else echo "make deps: run as root (or: sudo apt-get install $$missing)" >&2; exit 1; fi; \
	fi

test: deps
	$(MAKE) --no-print-directory carve $(TEST_BIN)
	PYTHON=$(PYTHON) BUILD=$(BUILD) CARVE=$(CURDIR)/$(BUILD)/carve tests/run_all.sh

asan:
	$(MAKE) --no-print-directory test BUILD=build-asan$(if $(filter 0,$(MPI)),-plain) OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -DCARVE_ASAN" \
	  CARVE_ASAN=1

models:
	$(PYTHON) scripts/fetch.py

# only the zero-shot task files (data/tasks/; also part of `make models`)
tasks:
	$(PYTHON) scripts/fetch.py data/tasks/

clean:
	rm -rf build build-asan build-plain build-asan-plain build-fuzz carve

# libFuzzer harnesses (tests/fuzz/fuzz_*.c, one per parser): the library compiled by clang with
# coverage, ASan and UBSan (no MPI) into build-fuzz/, each harness linked with libFuzzer; the seed
# corpus of each is generated by the harness itself (CARVE_FUZZ_SEEDS); tests/fuzz/run.sh runs them.
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_SAN) $(filter-out -MMD -MP,$(BASE_XCFLAGS)) -Wno-unknown-pragmas
FUZZ_LIB_SRC := $(sort $(wildcard runtime/*/*.c eval/*.c reform/*.c search/*.c results/*.c))
FUZZ_OBJ     := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_SEEDS   := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/seeds/%/.done)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libcarve.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

# (fuzz_stats includes reform/stats.c; the archive's copy is then never pulled in)
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libcarve.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libcarve.a $(BASE_LDLIBS)

$(FUZZ_BUILD)/seeds/%/.done: $(FUZZ_BUILD)/%
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	CARVE_FUZZ_SEEDS=$(CURDIR)/$(dir $@) ASAN_OPTIONS=detect_leaks=1 $< >/dev/null
	@touch $@

fuzz-build: $(FUZZ_BIN) $(FUZZ_SEEDS)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# Benchmark programs (bench/*.c), each linked against libcarve; `make bench` builds them all.
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
bench: $(BENCH_BIN)
$(BUILD)/bench/%: bench/%.c $(BUILD)/libcarve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $< $(BUILD)/libcarve.a $(LDLIBS)
