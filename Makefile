# Thin wrapper over Meson + Ninja. `make` installs what is missing, builds, and shows this
# host's readiness and devices; `make test` runs every test tier.
BUILD := build

.PHONY: all deps test-deps build run test bench install clean

all: build run

deps:
	@./scripts/install-deps.sh build

test-deps:
	@./scripts/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@ln -sf src/cli/devpass $(BUILD)/devpass

# check exits 1 on a host that is not ready: that is information here, not a build failure
run:
	-$(BUILD)/devpass check
	$(BUILD)/devpass list

test: test-deps build
	@./tests/run-all.sh

# the boot-time rules of `devpass persist` call the installed binary
install: build
	ninja -C $(BUILD) install
	ldconfig

bench: test-deps build
	./bench/list-bench.sh

clean:
	rm -rf $(BUILD)
