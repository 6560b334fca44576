# dispatch-proxy -- see README.md. `make` builds, `make run` runs, `make test` tests.

CC      ?= cc
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -DDP_VERSION=\"$(VERSION)\" $(WARN) -MMD -MP
LDLIBS  += -lpthread

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer for everything built.
ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

# NOBIND=1: a deliberately broken build that only binds the source address (never the
# device). The namespace suite must fail against it; see tests/integration.
ifeq ($(NOBIND),1)
BUILD   := build-nobind
CFLAGS  += -DDP_DISABLE_BINDTODEVICE
endif

SRCS     := $(wildcard src/*.c)
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(filter-out src/main.c,$(SRCS)))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

BIN := dispatch-proxy

.PHONY: all run test unit integration deps clean format check-format fuzz bench

all: $(BIN)

$(BUILD)/dispatch-proxy: $(BUILD)/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN): $(BUILD)/dispatch-proxy
	cp $< $@

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD):
	@mkdir -p $(BUILD)

# Builds and runs the proxy on the default: every interface with a default route.
run: $(BIN)
	./$(BIN) $(ARGS)

deps:
	@sh scripts/ensure-deps.sh

unit: $(UNIT_BIN)
	@sh scripts/run-unit.sh $(UNIT_BIN)

integration: $(BUILD)/dispatch-proxy
	@DP_BIN=$(abspath $(BUILD)/dispatch-proxy) $(PYTHON) -m pytest -q tests/integration

test: deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h

check-format:
	clang-format --dry-run --Werror src/*.c src/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build build-san build-nobind build-fuzz $(BIN)

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
