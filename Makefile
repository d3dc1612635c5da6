# pi-crm — every target exports the Go toolchain it needs (the machine's own Go
# may be older; the module proxy serves go1.27.3).
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED := 0

BIN      ?= bin/pi-crm
DATA_DIR ?= pb_data
HTTP     ?= 127.0.0.1:8090
LDFLAGS  := -s -w

.PHONY: run build build-pi pi-bundle pi-test install-pi test test-go test-js e2e-deps lint ui clean bench bench-smoke bench-tools bench-render crash-test

## run: build, seed the demo data when it is missing, serve on $(HTTP)
run: build
	$(BIN) demo --dir $(DATA_DIR)
	@echo "pi-crm: http://$(HTTP)/  (admin dashboard: http://$(HTTP)/_/)"
	$(BIN) serve --dir $(DATA_DIR) --http $(HTTP)

## ui: the web UI (ui/, Svelte + Vite) built into pb_public/, which the binary
## embeds; rebuilt only when its sources or lock file changed
UI_SRC := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/vite.config.js ui/svelte.config.js ui/scripts/clean-out.mjs

ui: pb_public/index.html

ui/node_modules/.installed: ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	touch $@

pb_public/index.html: ui/node_modules/.installed $(UI_SRC)
	cd ui && npm run build

## build: the binary for this machine (with the UI embedded), in bin/pi-crm
build: ui
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## build-pi: static binaries for a Raspberry Pi (64-bit and 32-bit OS)
build-pi: ui
	GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/pi-crm-linux-arm64 .
	GOOS=linux GOARCH=arm GOARM=7 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/pi-crm-linux-armv7 .

## pi-bundle: what to copy to a Pi (README, "Raspberry Pi"): both binaries,
## deploy/install.sh, deploy/pi-crm-ctl and the unit, in bin/pi-crm-pi.tar.gz
pi-bundle: build-pi
	tar -czf bin/pi-crm-pi.tar.gz --transform 's,^\([^/]*/\)*,pi-crm/,' bin/pi-crm-linux-arm64 bin/pi-crm-linux-armv7 \
		deploy/install.sh deploy/pi-crm-ctl deploy/pi-crm.service README.md

## pi-test: the arm64 binary under qemu user emulation (Debian's qemu-user):
## installed by install.sh under a scratch root, migrations, the demo, serve
## and /api/health, a backup, a restore refused while serving. The cross
## build costs 1-4 minutes on 2 cores with a cold cache, the test ~45 s.
pi-test: ui
	GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/pi-crm-linux-arm64 .
	PICRM_ARM64_BIN=$(CURDIR)/bin/pi-crm-linux-arm64 go test -count=1 -v -run TestArm64BinaryUnderQemu ./deploy/

## install-pi: on the Pi itself, from a checkout: build for it and install the
## service (deploy/install.sh: user, binary, key file, unit; keeps the previous binary)
install-pi: build
	$(if $(filter 0,$(shell id -u)),,sudo) deploy/install.sh $(CURDIR)/$(BIN)

## test: Go tests (real SQLite, real migrations), the JS SDK tests against a
## real server, then the arm64 binary under qemu
test: test-go test-js pi-test

# e2e's node modules: the browser tests' and Prism, which the Go tests of the
# Mailgun and Twilio senders start (internal/prismtest fails without it)
e2e-deps:
	cd e2e && npm ci --no-audit --no-fund

# after build: the crash trials (internal/crashtest) run the real binary
test-go: build e2e-deps
	go vet ./...
	go test -count=1 -timeout 30m ./...

test-js: build e2e-deps
	cd e2e && BIN=../$(BIN) node run.mjs

## crash-test: a real pi-crm serve killed with SIGKILL at random moments of a
## 2,000-recipient send to the outbox, restarted until sent, CRASH_TRIALS times
## (20); every recipient must have one final ledger row and one outbox message.
## `go test ./...` (make test) runs 2 trials when bin/pi-crm exists, else skips.
CRASH_TRIALS ?= 20
crash-test: build
	CRASH_TRIALS=$(CRASH_TRIALS) PICRM_BIN=$(CURDIR)/$(BIN) go test -count=1 -timeout 30m -v -run TestCrashTrials ./internal/crashtest/

## lint: golangci-lint (.golangci.yml, close to PocketBase's own: govet,
## staticcheck, unused, ineffassign, ... and gofmt/goimports as formatter checks);
## fails on any finding. The tool is pinned in tools/go.mod (its own module, so
## the app's go.mod stays clean) and built by `go tool` on first use, then cached.
## `make lint LINT_ARGS=--fix` applies the fixes it can (formatting included).
LINT_ARGS ?=
lint:
	go tool -modfile=tools/go.mod golangci-lint run -c .golangci.yml $(LINT_ARGS) ./...

## bench: measure DESIGN.md's performance targets against baselines in the same
## run, print one markdown table (docs/BENCHMARKS.md). Not part of `make test`.
## BENCH_N (contacts, 100000), BENCH_SECONDS (per measurement, 10), BENCH_SEED,
## BENCH_CONNS, BENCH_DIR (data cache, $$TMPDIR/pi-crm-bench), BENCH_OUT (file),
## BENCH_ONLY=send (only the campaign send rows: outbox and the SMTP sink)
bench: build bench-tools bench-render
	go build -o bin/pi-crm-bench ./bench/cmd/bench
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/pocketbase-plain ./bench/cmd/plainpb
	go build -o bin/smtpsink ./bench/cmd/smtpsink
	bin/pi-crm-bench

## bench-render: the template renderer on one core (5 kB HTML, 10 placeholders:
## renders/s), beside Go's html/template running the same body unchecked
bench-render:
	go test -run '^$$' -bench 'Render|Compile' -cpu 1 -benchtime 3s -count 3 ./services/templates/

## bench-smoke: the whole harness end to end at a tiny size, in about a minute
bench-smoke: build bench-tools
	go build -o bin/pi-crm-bench ./bench/cmd/bench
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/pocketbase-plain ./bench/cmd/plainpb
	go build -o bin/smtpsink ./bench/cmd/smtpsink
	BENCH_N=500 BENCH_SECONDS=1 BENCH_MERGES=3 bin/pi-crm-bench

# the sqlite3 CLI is the import/export baseline; without it those baselines are skipped
bench-tools:
	@command -v sqlite3 >/dev/null 2>&1 || apt-get install -y sqlite3 >/dev/null 2>&1 || \
		(apt-get update >/dev/null 2>&1 && apt-get install -y sqlite3 >/dev/null 2>&1) || \
		echo "bench: sqlite3 could not be installed; its baselines are skipped"

clean:
	rm -rf bin e2e/node_modules e2e/screenshots ui/node_modules
	find pb_public -mindepth 1 -not -name .placeholder.html -delete
