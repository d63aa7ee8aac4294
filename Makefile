# fedgate — every target a developer or CI needs. `make help` lists them.
# Nothing is installed by hand: Go modules come from go.mod; moto_server
# (moto 5.2.1) is found on the machine image by shared/localaws, which fails
# with a clear message if no interpreter has it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
BUILD     := build
WORKSPACE ?= ws-1
ROLES     ?=
SUB       ?= dev-user
FUZZTIME  ?= 5s

export AWS_EC2_METADATA_DISABLED := true
export GOFLAGS := -buildvcs=false

WITHMOTO := $(GO) run ./infra/local/cmd/withmoto --

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: dev
dev: ## run moto_server, hub on :8081 and spoke on :8082 (state in .local/)
	$(GO) run ./infra/local/cmd/fedgate-dev -state .local

.PHONY: token
token: ## print a dev JWT: make -s token WORKSPACE=ws-1 [ROLES=admin] [SUB=dev-user]
	@$(GO) run ./infra/local/cmd/devtoken -state .local -workspace '$(WORKSPACE)' -roles '$(ROLES)' -sub '$(SUB)'

.PHONY: test
test: lint ## all tests against one moto_server, short fuzzing, then coverage of shared/
	@mkdir -p $(BUILD)
	$(WITHMOTO) $(GO) test -count=1 -coverpkg=./shared/... -coverprofile=$(BUILD)/cover.out ./...
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzCanonicalize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/incoming -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	@$(GO) tool cover -func=$(BUILD)/cover.out | tail -n 1 | awk '{print "coverage of shared/...: " $$3}'

.PHONY: lint
lint: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: build
build: $(addprefix $(BUILD)/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## every function as build/<name>/bootstrap (linux/arm64)

$(BUILD)/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o $@ ./functions/$*

.PHONY: fuzz
fuzz: ## fuzz envelope parsing, verification and canonicalization longer (FUZZTIME=1m)
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzCanonicalize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/incoming -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

.PHONY: clean
clean: ## remove build output and local state (.local/: identities, data, dev JWT key)
	rm -rf $(BUILD) .local

.PHONY: FORCE
FORCE:
