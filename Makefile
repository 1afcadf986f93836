# dirsync — common tasks. `make run` starts the console, `make test` runs
# every test the way CI does.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
# golangci-lint is pinned and built from the Go module proxy into ./bin on
# first use (about a minute); `make lint GOLANGCI_LINT=golangci-lint` uses
# one on PATH instead.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT ?= bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

.PHONY: run demo build test test-short generate check-generated lint tools bench screenshots fuzz clean

## run: start the web console on http://127.0.0.1:8080 (SQLite in ./data)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/dirsync serve

## demo: start the console with a fake Okta and a fake Bitwarden already configured
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/dirsync --db ./data/demo.db serve --demo

## build: a static binary in ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/dirsync ./cmd/dirsync

## test: vet, generated-code check and the whole suite with the race detector
test: lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-short: the suite without -race (faster while developing)
test-short:
	$(GO) test -count=1 $(PKGS)

## generate: regenerate templ components
generate:
	$(GO) tool templ generate

## check-generated: fail if the committed templ output is stale
check-generated:
	@tmp=$$(mktemp -d); cp -r web $$tmp/; \
	$(GO) tool templ generate >/dev/null 2>&1; \
	if ! diff -r -q $$tmp/web web >/dev/null; then \
		diff -r $$tmp/web web | head -40; \
		echo "templ output is stale: run 'make generate' and commit the *_templ.go files"; rm -rf $$tmp; exit 1; \
	fi; rm -rf $$tmp

## lint: gofmt, go vet, the generated-code check and golangci-lint (.golangci.yml)
lint: check-generated $(GOLANGCI_LINT)
	@out=$$(gofmt -l $$(find . -name '*.go' -not -name '*_templ.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)

## tools: build the pinned golangci-lint (CI does it before the tests)
tools: $(GOLANGCI_LINT)

# The pinned golangci-lint, built once per version.
bin/golangci-lint-$(GOLANGCI_LINT_VERSION):
	@mkdir -p bin/.lint-install
	GOBIN=$(CURDIR)/bin/.lint-install GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv bin/.lint-install/golangci-lint $@ && rmdir bin/.lint-install

## bench: whole `dirsync sync` processes against the fake Okta (20 ms per request) at 10k and 100k users
## (requests vs lower bound, read time vs ideal, peak RSS), the console's peak RSS under 200 parallel logins,
## then the Go benchmarks (reads, plan, store, pages; the LDAP read of 10k users in 500 groups from a local slapd, the AD read of a 2,000-member group from a Samba DC)
bench:
	$(GO) build -o bin/dirsync ./cmd/dirsync
	$(GO) run ./cmd/dirsync-bench -dirsync bin/dirsync -sizes 10k,100k -v
	$(GO) run ./cmd/dirsync-bench -dirsync bin/dirsync -logins 200
	$(GO) test -run '^$$' -bench 'ReadOrg10k' -benchtime 1x -benchmem ./internal/directory/okta/
	$(GO) test -run '^$$' -bench 'ReadLDAP10k|ReadADBigGroup' -benchtime 1x -benchmem ./internal/directory/ldap/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/sync/ ./internal/store/ ./internal/server/

## screenshots: refresh docs/*.png from the end-to-end browser test
screenshots:
	DIRSYNC_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run 'TestBrowserFirstRunToScheduledSync|TestBrowserFirstRunGuided|TestBrowserLDAPSettingsToSync' ./internal/app/

## fuzz: fuzz the filter parser for a minute
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseFilter -fuzztime 60s ./internal/directory/

clean:
	rm -rf bin
