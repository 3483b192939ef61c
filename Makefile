# nines: the common tasks. `make test` is what README and CI run.
GO ?= go

.PHONY: build test test-stress race hostile vet fmt-check tree-check lint vulncheck demo ci bench bench-probe bench-go bench-crowd bench-scale bench-storage bench-ttd bench-oncall bench-firstread bench-browser bench-events

# The version the binaries report (`nines --version`): the nearest tag and
# the commits since, or the commit when there is no tag.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/nines-sre/nines/internal/cli.version=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o nines ./cmd/nines
	$(GO) build -ldflags "$(LDFLAGS)" -o nines-probe ./cmd/nines-probe

test:
	$(GO) test ./...

# The README's test command with every core busy with other work (a
# spinning `yes` per core), as on a shared machine: a test that leans on
# wall-clock slack fails here before a user finds it. LOAD=0 runs it alone.
LOAD ?= $(shell nproc)
test-stress:
	@pids=""; for i in $$(seq 1 $(LOAD)); do yes > /dev/null & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "go test -count=1 ./... beside $(LOAD) busy loops"; \
	$(GO) test -count=1 ./...

race:
	$(GO) test -race -short ./...

# The hostile input suite: bodies that would exhaust memory, gzip bombs,
# slow clients, guessed passwords, secrets in URLs, made-up probes,
# implausible results and a second deployment on one NATS server, each sent
# to the real server (the end-to-end ones to the real binary, whose peak RSS
# they read). Its tests are named TestHostile*; `make test` runs them too.
hostile:
	$(GO) test -count=1 -run '^TestHostile' ./alerting/... ./model/... ./probe/... ./controller/... ./dashboard/... ./internal/... ./transport/... ./e2e/...

vet:
	$(GO) vet ./...

# No build output, database or profile checked in: no tracked file over 1 MiB.
tree-check:
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB:"; echo "$$big"; exit 1; fi

# Linters at pinned versions, installed into bin/ (ignored) on first use.
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
BIN := $(CURDIR)/bin
lint:
	@test -x $(BIN)/staticcheck-$(STATICCHECK_VERSION) || { GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && mv $(BIN)/staticcheck $(BIN)/staticcheck-$(STATICCHECK_VERSION); }
	$(BIN)/staticcheck-$(STATICCHECK_VERSION) ./...

vulncheck:
	@test -x $(BIN)/govulncheck-$(GOVULNCHECK_VERSION) || { GOBIN=$(BIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) && mv $(BIN)/govulncheck $(BIN)/govulncheck-$(GOVULNCHECK_VERSION); }
	$(BIN)/govulncheck-$(GOVULNCHECK_VERSION) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/nines demo

ci: tree-check fmt-check vet lint test race hostile

# Benchmarks print figures; they are not part of CI. With NINES_TEST_PG_DSN
# set (e.g. postgres://postgres@127.0.0.1:5432/test) they also measure PostgreSQL.
bench: bench-probe bench-go bench-crowd

# One probe at 5,000 and 10,000 checks a minute against a loopback target,
# each against a bare net/http GET at the same rate.
bench-probe:
	$(GO) run ./bench/probeload -checks 5000 -duration 70s -baseline
	$(GO) run ./bench/probeload -checks 10000 -duration 70s -baseline

# The status page, status API and a badge under an outage's crowd.
bench-crowd:
	$(GO) run ./bench/crowd -checks 5000 -clients 64 -duration 10s

# The controller's cost at each size (checks × 7 regions, one result per
# check and region a minute), then the crowd: e.g.
#   make bench-scale SIZES=1000,5000 SCALE_DURATION=2m
# With DATABASE=postgres://... on PostgreSQL (a schema per size).
SIZES ?= 1000,5000,20000,50000
SCALE_DURATION ?= 5m
DATABASE ?=
bench-scale:
	$(GO) run ./bench/scale -sizes $(SIZES) -duration $(SCALE_DURATION) $(if $(DATABASE),-database $(DATABASE))
	$(GO) run ./bench/crowd -checks 5000 -clients 64 -duration 10s

# Bytes per raw result on disk: SQLite, and with DATABASE=postgres://...
# PostgreSQL rows and packed days.
bench-storage:
	$(GO) run ./bench/storage -checks 100 $(if $(DATABASE),-database $(DATABASE))

# Time to detect and to recover with the real binaries: seven probes check
# a target every minute; it is stopped, then started again, at random
# offsets within the minute, TRIALS times with confirmation on demand and
# as many without (about an hour). With HANG=1000 (confirmation on only),
# the page also goes to a Slack webhook and an SMTP server that never
# answer and 1,000 status page subscribers that never answer hear of each
# incident.
TRIALS ?= 10
HANG ?= 0
bench-ttd:
	$(GO) run ./bench/ttd -trials $(TRIALS) $(if $(filter-out 0,$(HANG)),-hang $(HANG) -modes on)

# What reaches people in the demo's own scenarios at the demo's own timing
# (3-minute outages, 10 minutes of one region's fault, 5 minutes watched
# after each recovery): PagerDuty incidents, triggers, level 2, public
# incidents, tickets (about 50 minutes).
bench-oncall:
	NINES_E2E_REAL_DEMO=1 $(GO) test -count=1 -run 'TestDemoScenarios$$' -v -timeout 150m ./e2e/scenario

# What the first reader of each public document gets after a quiet
# minute: one read each 5 s, 40 s and 75 s into a staged outage (about
# three minutes); with DATABASE=postgres://... read from the replica the
# probes do not talk to.
bench-firstread:
	$(GO) run ./bench/firstread $(if $(DATABASE),-database $(DATABASE))

# What a browser check costs a probe: CPU-seconds and the browser's peak
# memory per run, and the checks a minute one probe sustains with
# BROWSER_PAGES pages at once (needs Chromium), for the demo host page and
# a storefront-weight page; BROWSER_PAGE=DIR measures a page saved there.
BROWSER_RUNS ?= 60
BROWSER_PAGES ?= 2
BROWSER_PAGE ?= app heavy
bench-browser:
	@for p in $(BROWSER_PAGE); do $(GO) run ./bench/browser -runs $(BROWSER_RUNS) -pages $(BROWSER_PAGES) -page $$p || exit 1; done

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./controller/ ./controller/store/... ./dashboard/ ./transport/ ./probe/...

# contentsvc's event pipeline under faults: simulated SDKs send render
# events while contentsvc is killed (SIGKILL) twice, on the embedded queue
# and on NATS JetStream (its server restarted once too); every event made
# is counted once. Then the intake's throughput, with no fault.
bench-events:
	$(GO) run ./bench/events -rate 2000 -duration 60s -kills 2
	$(GO) run ./bench/events -rate 2000 -duration 60s -kills 2 -nats
	$(GO) run ./bench/events -rate 20000 -senders 100 -duration 30s -kills 0
