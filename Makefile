# nines: the common tasks. `make test` is what README and CI run.
GO ?= go

.PHONY: build test race vet fmt-check demo ci bench bench-probe bench-go

build:
	$(GO) build -o nines ./cmd/nines

test:
	$(GO) test ./...

race:
	$(GO) test -race -short ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

demo:
	$(GO) run ./cmd/nines demo

ci: fmt-check vet test race

# Benchmarks print figures; they are not part of CI. With NINES_TEST_PG_DSN
# set (e.g. postgres://postgres@127.0.0.1:5432/test) they also measure PostgreSQL.
bench: bench-probe bench-go

# One probe, 10,000 checks a minute against a loopback target.
bench-probe:
	$(GO) run ./bench/probeload -checks 10000 -duration 70s

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./controller/ ./controller/store/... ./dashboard/ ./transport/ ./probe/...
