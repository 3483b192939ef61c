# nines: the common tasks. `make test` is what README and CI run.
GO ?= go

.PHONY: build test race hostile vet fmt-check demo ci bench bench-probe bench-go bench-crowd bench-scale bench-storage

build:
	$(GO) build -o nines ./cmd/nines

test:
	$(GO) test ./...

race:
	$(GO) test -race -short ./...

# The hostile input suite: bodies that would exhaust memory, gzip bombs,
# slow clients, guessed passwords, secrets in URLs, made-up probes,
# implausible results and a second deployment on one NATS server, each sent
# to the real server (the end-to-end ones to the real binary, whose peak RSS
# they read). Its tests are named TestHostile*; `make test` runs them too.
hostile:
	$(GO) test -count=1 -run '^TestHostile' ./controller/... ./dashboard/... ./e2e/...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

demo:
	$(GO) run ./cmd/nines demo

ci: fmt-check vet test race hostile

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

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./controller/ ./controller/store/... ./dashboard/ ./transport/ ./probe/...
