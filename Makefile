# nines: the common tasks. `make test` is what README and CI run.
GO ?= go

.PHONY: build test race vet fmt-check demo ci

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
