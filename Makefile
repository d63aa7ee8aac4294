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
SCOPE     ?=
SUB       ?= dev-user
FUZZTIME  ?= 1m
# make test fuzzes a count of inputs, not a time: Go 1.26's fuzz coordinator
# can fail a run with a bare "context deadline exceeded" when a -fuzztime
# duration ends mid-input (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. 30000 inputs take a few seconds per target here.
TESTFUZZ  ?= 30000x

export AWS_EC2_METADATA_DISABLED := true
export GOFLAGS := -buildvcs=false
# The CDK runs its construct library in node (jsii): quiet and offline.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true

# Pinned tools, installed into .tools/ (Go ignores dot-directories, so a
# node_modules there cannot upset go vet ./...).
TOOLS   := $(CURDIR)/.tools
RIE     := $(TOOLS)/bin/aws-lambda-rie
RIE_VER := v0.0.0-20261030222936-bef5c4ba774d
CDK     := $(TOOLS)/node_modules/.bin/cdk
CDKFLAGS := --no-notices

# lint, unit and test build with the race detector, and so do the bootstraps
# the RIE test builds (tests/rie_test.go): one build configuration, so a first
# run compiles the standard library, the AWS SDK and the CDK bindings once
# (go vet type-checks against the same compiled packages). withmoto is built
# -race only to reuse them. make test names ./tests first: go test builds and
# starts packages in the order given, and the end-to-end tests, which mostly
# wait on moto_server, then run while the rest (the CDK bindings) compiles.
RACE     := -race
WITHMOTO := $(GO) run $(RACE) ./infra/local/cmd/withmoto --

# make clients: the client generators a user of the OpenAPI document would
# run, at pinned versions. The Go generators are installed per version (a new
# pin installs anew); openapi-typescript and TypeScript come from
# .tools/clients/package-lock.json; the generated Go clients build in the
# module .tools/clients/go.mod, kept out of the main go.mod.
CLIENTS          := $(TOOLS)/clients
OAPI_CODEGEN_VER := v2.8.2
OGEN_VER         := v1.25.0
OAPI_CODEGEN     := $(TOOLS)/bin/oapi-codegen-$(OAPI_CODEGEN_VER)/oapi-codegen
OGEN             := $(TOOLS)/bin/ogen-$(OGEN_VER)/ogen
OPENAPI_TS       := $(CLIENTS)/node_modules/.bin/openapi-typescript

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

.PHONY: dev
dev: ## run moto_server, hub on :8081 and spoke on :8082 (state in .local/)
	$(GO) run ./infra/local/cmd/fedgate-dev -state .local

.PHONY: token
token: ## print a dev JWT: make -s token WORKSPACE=ws-1 [SCOPE="fedgate:admin fedgate:instance"] [SUB=dev-user]
	@$(GO) run ./infra/local/cmd/devtoken -state .local -workspace '$(WORKSPACE)' -scope '$(SCOPE)' -sub '$(SUB)'

.PHONY: openapi
openapi: ## write the OpenAPI 3.1 document of the HTTP API to build/openapi.json (generated from the route table and Go types)
	$(GO) run ./infra/local/cmd/openapi -o $(BUILD)/openapi.json

.PHONY: clients
clients: openapi $(OAPI_CODEGEN) $(OGEN) $(OPENAPI_TS) ## generate clients from build/openapi.json as a user would (oapi-codegen, ogen, openapi-typescript) into build/clients, build and try them
	rm -rf $(BUILD)/clients
	mkdir -p $(BUILD)/clients/go/oapi $(BUILD)/clients/ts
	cp $(CLIENTS)/go.mod $(CLIENTS)/go.sum $(CLIENTS)/clients_test.go $(BUILD)/clients/go/
	$(OAPI_CODEGEN) -config $(CLIENTS)/oapi-codegen.yml $(BUILD)/openapi.json
	$(OGEN) -clean -config $(CLIENTS)/ogen.yml -package ogen -target $(BUILD)/clients/go/ogen $(BUILD)/openapi.json 2>$(BUILD)/clients/ogen.log || { cat $(BUILD)/clients/ogen.log; exit 1; }
	@if grep -h 'using any' $(BUILD)/clients/ogen.log; then echo "clients: ogen found schemas without a type (above)"; exit 1; fi
	@cd $(BUILD)/clients/go && if ! diff=$$($(GO) mod tidy -diff); then \
	  if [ -z "$$diff" ]; then echo "clients: go mod tidy -diff failed (see above)"; exit 1; fi; echo "$$diff"; \
	  echo "clients: the generated Go clients need other modules than .tools/clients/go.mod pins (diff above):"; \
	  echo "  cd $(BUILD)/clients/go && go mod tidy && cp go.mod go.sum ../../../.tools/clients/   # then review and commit"; exit 1; fi
	cd $(BUILD)/clients/go && OPENAPI_DOCUMENT=$(CURDIR)/$(BUILD)/openapi.json $(GO) test -count=1 ./...
	$(OPENAPI_TS) $(BUILD)/openapi.json -o $(BUILD)/clients/ts/fedgate.ts
	cp $(CLIENTS)/use.ts $(BUILD)/clients/ts/
	$(CLIENTS)/node_modules/.bin/tsc --strict --noEmit $(BUILD)/clients/ts/fedgate.ts $(BUILD)/clients/ts/use.ts

.PHONY: cli
cli: ## build the operators' command line into build/fedgate (go install github.com/fedgate/fedgate/infra/cmd/fedgate works too)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BUILD)/fedgate ./infra/cmd/fedgate

.PHONY: conformance
conformance: cli ## run the protocol conformance suite: make conformance TARGET=https://… TOKEN=… [ARGS=--dev]
	$(BUILD)/fedgate conformance --target '$(TARGET)' --token '$(TOKEN)' $(ARGS)

.PHONY: test
test: lint clients $(RIE) ## lint, clients, then all tests with -race (unit, moto, infra, RIE smoke, end-to-end), short fuzzing, coverage of shared/
	@mkdir -p $(BUILD)
	FEDGATE_RIE=$(RIE) $(WITHMOTO) $(GO) test $(RACE) -count=1 -timeout 20m -coverpkg=./shared/... -coverprofile=$(BUILD)/cover.out ./tests ./...
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(TESTFUZZ) -parallel 1
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzCanonicalize$$' -fuzztime $(TESTFUZZ) -parallel 1
	$(GO) test ./shared/incoming -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(TESTFUZZ) -parallel 1
	@$(GO) tool cover -func=$(BUILD)/cover.out | tail -n 1 | awk '{print "coverage of shared/...: " $$3}'

.PHONY: unit
unit: ## the tests that need no local AWS server (go test -short: they skip), with -race; starts nothing
	$(GO) test $(RACE) -short ./...

.PHONY: lint
lint: ## go.mod/go.sum tidy, gofmt check and go vet
	@if ! diff=$$($(GO) mod tidy -diff); then \
	  if [ -z "$$diff" ]; then echo "lint: go mod tidy -diff failed (see above)"; exit 1; fi; \
	  echo "$$diff"; echo "lint: go.mod/go.sum are not tidy (diff above): run 'go mod tidy' and commit the result"; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(RACE) ./...

.PHONY: build
build: $(addprefix $(BUILD)/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## every function as build/<name>/bootstrap (linux/arm64)

$(BUILD)/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o $@ ./functions/$*

# Settings beyond cdk.json's, for synth/deploy/destroy, e.g. a second instance:
# make deploy CDKARGS="-c fedgate:instanceName=spoke -c fedgate:domainName=spoke.example.org ..."
CDKARGS ?=

.PHONY: synth
synth: build $(CDK) ## build the functions and synthesize the stack offline (settings checked, CloudFormation validation and cdk-nag on)
	$(CDK) synth $(CDKFLAGS) $(CDKARGS) -q -o $(BUILD)/cdk.out
	@echo "templates: $(BUILD)/cdk.out/FedgateStack*.template.json; cdk-nag report: $(BUILD)/cdk.out/AwsSolutions-*-NagReport.csv"

.PHONY: deploy
deploy: build $(CDK) ## deploy (AWS credentials, bootstrapped account); prints the instance URL, its identity address and the next step
	$(CDK) deploy $(CDKFLAGS) $(CDKARGS) --require-approval never -o $(BUILD)/cdk.out --outputs-file $(BUILD)/outputs.json
	@$(GO) run ./infra/cmd/deployed $(BUILD)/outputs.json

.PHONY: destroy
destroy: build $(CDK) ## delete the stack; under fedgate:deletionProtection its tables and signing-key KMS key stay
	$(CDK) destroy $(CDKFLAGS) $(CDKARGS) --force -o $(BUILD)/cdk.out
	@echo "Deleted. Under fedgate:deletionProtection the tables and the KMS key that seals the signing keys stay:"
	@echo "the KeptOnDestroy output of the last make deploy ($(BUILD)/outputs.json) names them; delete them by hand once the data is not needed."

$(RIE):
	GOBIN=$(TOOLS)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VER)

$(CDK): $(TOOLS)/package-lock.json
	cd $(TOOLS) && npm ci --no-audit --no-fund
	@touch $@

$(OAPI_CODEGEN):
	GOBIN=$(dir $@) $(GO) install github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@$(OAPI_CODEGEN_VER)

$(OGEN):
	GOBIN=$(dir $@) $(GO) install github.com/ogen-go/ogen/cmd/ogen@$(OGEN_VER)

$(OPENAPI_TS): $(CLIENTS)/package-lock.json
	cd $(CLIENTS) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: bench
bench: build $(RIE) ## benchmarks as ratios (signing, fan-out with counted AWS calls, incoming-event CPU, binary sizes, init times); build/bench/results.md
	FEDGATE_RIE=$(RIE) $(GO) run ./infra/local/cmd/bench

EVENTS ?= 1000

.PHONY: soak
soak: ## fault-injection soak: hub + 3 spokes, EVENTS events (default 1000) under outages, suspension, key rotations, crashes, doubled jobs
	$(GO) run ./infra/local/cmd/soak -events $(EVENTS)

.PHONY: fuzz
fuzz: ## fuzz envelope parsing, verification and canonicalization longer (FUZZTIME=1m)
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/signing -run '^$$' -fuzz '^FuzzCanonicalize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/incoming -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

.PHONY: clean
clean: ## remove build output, local state (.local/: identities, data, dev JWT key) and installed tools
	rm -rf $(BUILD) .local $(TOOLS)/bin $(TOOLS)/node_modules $(CLIENTS)/node_modules

.PHONY: FORCE
FORCE:
