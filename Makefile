# labrun — one Makefile, out-of-tree build/. `make help` lists the targets.
#
# Toggles: CUDA ?= auto (build liblab_cuda.so when nvcc exists), SAN= (e.g.
# address,undefined), DEBUG=1 (-O0 -g), V=1 (show commands).

CUDA ?= auto
SAN ?=
DEBUG ?=
V ?=
PREFIX ?= /usr/local
BUILD ?= build
PYTHON ?= /usr/bin/python3

Q := $(if $(V),,@)
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_LIB ?= /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp

CC ?= cc
OPT := $(if $(DEBUG),-O0 -g,-O2 -g)
SANFLAGS := $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all,)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -fPIC -fopenmp $(OPT) $(SANFLAGS) \
  -Iframework/include -Iframework/core -Ikernels/cpu -I$(BLAS_INC) -MMD -MP
CFLAGS_ALL := $(CFLAGS_BASE) -DLAB_BUILD_PREFIX='"$(abspath $(BUILD))"' -DLAB_INSTALL_PREFIX='"$(PREFIX)"' $(CFLAGS)
LDLIBS_CORE := -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -liniparser -fopenmp -ldl -lpthread -lm
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

# --- sources ---------------------------------------------------------------
CORE_SRC := $(wildcard framework/core/*.c framework/autograd/*.c framework/nn/*.c \
  framework/optim/*.c framework/data/*.c framework/metrics/*.c framework/config/*.c \
  framework/run/*.c) $(wildcard kernels/cpu/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(wildcard framework/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
PLUGINS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/Makefile.inc plugins/*/*.c))))
PLUGINS := $(sort $(PLUGINS))
PLUGIN_SO := $(PLUGINS:%=$(BUILD)/plugins/lab_%.so)
TEST_SRC := $(wildcard tests/unit/test_*.c tests/plugins/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_HELPERS := $(wildcard tests/common/*.c)
PARITY_SRC := $(wildcard tests/parity/test_*.c)
PARITY_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(PARITY_SRC))
FIXTURE_SRC := $(wildcard tests/fixtures/plugins/*.c)
FIXTURE_SO := $(FIXTURE_SRC:tests/fixtures/plugins/%.c=$(BUILD)/fixtures/%.so)
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_SO := $(BUILD)/lib/liblab.so
LIB_A := $(BUILD)/lib/liblab.a
LABRUN := $(BUILD)/bin/labrun

# --- CUDA --------------------------------------------------------------------
NVCC ?= nvcc
CUDA_SRC := $(wildcard kernels/cuda/*.cu)
HAVE_NVCC := $(shell command -v $(NVCC) >/dev/null 2>&1 && echo 1)
ifeq ($(CUDA),auto)
  BUILD_CUDA := $(if $(and $(HAVE_NVCC),$(CUDA_SRC)),1,)
else ifeq ($(CUDA),1)
  BUILD_CUDA := 1
else
  BUILD_CUDA :=
endif
CUDA_SO := $(if $(BUILD_CUDA),$(BUILD)/lib/liblab_cuda.so,)
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o)
NVCCFLAGS ?= -O2 -std=c++17 -Xcompiler -fPIC -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_90,code=compute_90 -Iframework/include -Iframework/core

.PHONY: all lib cli plugins cuda test test-unit test-asan test-gpu bench bench-gpu deps help cuda-lint emu \
  install uninstall clean quickstart fuzz fuzz-smoke data check-deps fixtures

all: lib cli plugins cuda ## build liblab, labrun, the plugins (and liblab_cuda.so when nvcc exists)

lib: $(LIB_SO) $(LIB_A)
cli: $(LABRUN)
plugins: $(PLUGIN_SO)
cuda: $(CUDA_SO)
ifeq ($(HAVE_NVCC),)
	@echo "  skip  liblab_cuda.so: nvcc not found (CPU backend only)"
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB_SO): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(LDLIBS_CORE) -Wl,-soname,liblab.so -Wl,--no-undefined

$(LIB_A): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && ar rcs $@ $^

RPATH_LIB := -Wl,-rpath,'$$ORIGIN/../lib'
$(LABRUN): $(CLI_OBJ) $(LIB_SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) -o $@ $(CLI_OBJ) -L$(BUILD)/lib -llab $(RPATH_LIB) $(LDFLAGS_ALL) $(LDLIBS_CORE)

# A plugin is every .c in plugins/<name>/, built with hidden visibility so the
# entry point is its only export.
.SECONDEXPANSION:
$(BUILD)/plugins/lab_%.so: $$(wildcard plugins/$$*/*.c plugins/$$*/*.h) $(LIB_SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  PLUG  $@")
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) -fvisibility=hidden -shared -o $@ $(filter %.c,$^) \
	  -L$(BUILD)/lib -llab -Wl,-rpath,'$$ORIGIN/../lib' $(LDFLAGS_ALL) -lm

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC  $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/liblab_cuda.so: $(CUDA_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(NVCC) -shared -o $@ $^ -lcublas -lcusparse -lcudart

# --- CUDA emulator (tests/emu/README.md) ------------------------------------------
# The same kernels/cuda sources compiled as host C++ against a stand-in for
# CUDA that runs each CUDA thread as a fiber: liblab_cuda_emu.so, loaded with
# LAB_CUDA_LIB, runs the real kernels on any machine. Needs g++, not nvcc.
EMU_SO := $(BUILD)/lib/liblab_cuda_emu.so
EMU_OBJ := $(CUDA_SRC:kernels/cuda/%.cu=$(BUILD)/emu/%.o) $(BUILD)/emu/cuda_emu_rt.o
CXX ?= g++
EMU_CXXFLAGS := -std=c++17 -O1 -g -fPIC -ffp-contract=off -Wall -Wextra -Wno-unknown-pragmas -Werror \
  -include tests/emu/cuda_emu.h -Itests/emu/include -Ikernels/cuda -Iframework/include -Iframework/core -MMD -MP

$(BUILD)/emu/%.cpp: kernels/cuda/%.cu tests/emu/rewrite.sh
	@mkdir -p $(dir $@)
	$(Q)./tests/emu/rewrite.sh $< $@

$(BUILD)/emu/%.o: $(BUILD)/emu/%.cpp tests/emu/cuda_emu.h
	@$(if $(Q),echo "  EMU   $<")
	$(Q)$(CXX) $(EMU_CXXFLAGS) -c $< -o $@

$(BUILD)/emu/cuda_emu_rt.o: tests/emu/cuda_emu.cpp tests/emu/cuda_emu.h
	@mkdir -p $(dir $@)
	$(Q)$(CXX) -std=c++17 -O1 -g -fPIC -Wall -Wextra -Werror -Itests/emu -c $< -o $@

$(EMU_SO): $(EMU_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CXX) -shared -o $@ $^ -lpthread

emu: $(EMU_SO) ## the CUDA kernels built for the CPU emulator (tests/emu)
# Keep the rewritten sources: the objects' dependency files name them.
.SECONDARY: $(CUDA_SRC:kernels/cuda/%.cu=$(BUILD)/emu/%.cpp)

# --- tests -------------------------------------------------------------------
TEST_CFLAGS := $(CFLAGS_BASE) -Itests/common -Wno-missing-field-initializers $(CFLAGS)
$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) $(LIB_SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST  $@")
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_HELPERS) -L$(BUILD)/lib -llab -Wl,-rpath,$(abspath $(BUILD))/lib \
	  $(LDFLAGS_ALL) $(LDLIBS_CORE) -lcriterion

$(BUILD)/fixtures/%.so: tests/fixtures/plugins/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -fvisibility=hidden -shared -o $@ $< $(LDFLAGS_ALL)
fixtures: $(FIXTURE_SO)

DEPS_STAMP := $(BUILD)/.deps-ok
check-deps:
	@./tools/deps.sh

deps: ## install the Debian packages the build, tests and benchmarks need (quiet when present)
	@./tools/deps.sh --install

# The parity tests once more against the CPU table posing as "cuda"
# (tests/parity/fake_cuda_backend.c): no CUDA kernel runs, but every op's
# device path (copies, device-side index checks' contract, the loader's
# staging) runs on every machine. The allocator test needs real device memory.
FAKE_CUDA := $(BUILD)/lib/fake_cuda.so
# Its out-of-memory test asks the cpu allocator for 128 TiB: under ASan that
# must return NULL rather than abort.
FAKE_CUDA_RUN := LAB_CUDA_LIB=$(abspath $(FAKE_CUDA)) LAB_TEST_FILTER='!(parity_memory/caching*)' \
  LAB_TEST_TAG=' [fake cuda]' ASAN_OPTIONS=allocator_may_return_null=1

# And against the CUDA emulator: the real kernels, run on the CPU.
EMU_RUN := LAB_CUDA_LIB=$(abspath $(EMU_SO)) LAB_TEST_TAG=' [cuda emulator]'

$(FAKE_CUDA): tests/parity/fake_cuda_backend.c framework/core/backend.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $@")
	$(Q)$(CC) -std=c11 -Wall -Wextra -Werror -shared -fPIC -Iframework/core -Iframework/include -o $@ $<

test: deps ## install deps, build everything, run the unit, plugin and (skipping without a GPU) parity tests
	@$(MAKE) --no-print-directory all fixtures $(TEST_BIN) $(PARITY_BIN) $(FAKE_CUDA) $(EMU_SO)
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(if $(BUILD_CUDA),./tools/cuda-lint.sh $(NVCC),echo "  cuda-lint: skipped (no CUDA build)")
	@./tools/run-tests.sh $(BUILD) $(TEST_BIN) $(PARITY_BIN)
	@$(FAKE_CUDA_RUN) ./tools/run-tests.sh $(BUILD) $(PARITY_BIN)
	@$(EMU_RUN) ./tools/run-tests.sh $(BUILD) $(PARITY_BIN)

test-unit: all fixtures $(TEST_BIN) $(PARITY_BIN) $(FAKE_CUDA)
	@./tools/run-tests.sh $(BUILD) $(TEST_BIN)
	@$(FAKE_CUDA_RUN) ./tools/run-tests.sh $(BUILD) $(PARITY_BIN)

test-asan: deps ## the same tests under AddressSanitizer + UBSan (build-asan/)
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=address,undefined CUDA=0 test-unit

cuda-lint: ## the CUDA kernels' static checks (warnings as errors; no spills or unexpected stack frames)
	@./tools/cuda-lint.sh $(NVCC)

test-gpu: all $(PARITY_BIN) ## CPU-vs-CUDA parity tests (skipped with a reason without a GPU)
	@./tools/run-tests.sh $(BUILD) $(PARITY_BIN)

bench: all $(BENCH_BIN) ## benchmarks against PyTorch CPU -> build/bench/*.json
	@./tests/bench/run.sh $(BUILD)

bench-gpu: all $(BENCH_BIN) ## GPU benchmarks -> build/bench/gpu.json
	@./tests/bench/run-gpu.sh $(BUILD)

$(BUILD)/bench/%: tests/bench/%.c $(LIB_SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH $@")
	$(Q)$(CC) $(TEST_CFLAGS) -O3 -o $@ $< -L$(BUILD)/lib -llab -Wl,-rpath,$(abspath $(BUILD))/lib \
	  $(LDFLAGS_ALL) $(LDLIBS_CORE)

FUZZ_TIME ?= 10
fuzz: ## run every libFuzzer target for FUZZ_TIME seconds each (needs clang)
	@./tools/fuzz.sh $(FUZZ_TIME) $(FUZZ_SRC)

fuzz-smoke:
	@./tools/fuzz.sh 5 $(FUZZ_SRC)

quickstart: deps ## install deps, build, run a real experiment end to end, print its results table
	@$(MAKE) --no-print-directory all
	@./tools/quickstart.sh

data: deps ## put the data sets in data/ (from $$LAB_DATA_MIRROR, ../shared/data or system packages); builds first (pal's clips are made by its plugin)
	@$(MAKE) --no-print-directory all
	@./tools/data.sh

install: all ## install headers, liblab, labrun, plugins and lab.pc under PREFIX
	@./tools/install.sh "$(PREFIX)" "$(BUILD)"

clean: ## remove build outputs
	rm -rf build build-asan

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-12s %s\n", $$1, $$2}'

# The noprop test and benchmark compile the plugin's sources in: rebuild them when those change.
$(BUILD)/tests/plugins/test_noprop $(BUILD)/bench/bench_noprop: $(wildcard plugins/noprop/*.c plugins/noprop/*.h)
# The same for the pal tests and benchmark.
$(BUILD)/tests/plugins/test_pal $(BUILD)/tests/plugins/test_pal_words $(BUILD)/bench/bench_pal: $(wildcard plugins/pal/*.c plugins/pal/*.h)

-include $(CORE_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(CUDA_OBJ:.o=.d)
# Tests, fixtures and benchmarks: a changed header (e.g. lab/plugin.h's ABI)
# rebuilds them too.
-include $(FIXTURE_SO:.so=.d) $(TEST_BIN:=.d) $(PARITY_BIN:=.d) $(BENCH_BIN:=.d) $(EMU_OBJ:.o=.d)
