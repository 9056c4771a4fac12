# leaderelection: Kubernetes leader election in Java. `make` (or `make help`) lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VERSION    := $(shell sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)
IMAGE      ?= leaderelection:$(VERSION)
CLUSTER    ?= leaderelection
MVN        ?= mvn -B
# true: tests use the control-plane binaries provisioned locally (built from Go modules when
# missing); false: kube-api-test downloads them itself (needs internet access).
KUBEAPITEST_OFFLINE ?= auto
# run: `make test` ends with the article on a local Kubernetes node (scripts/e2e.sh); skip: without it.
NODE_E2E   ?= run
# run: `make test` also runs the unit tests against fabric8 8.0 (the fabric8-8 profile); skip: not.
FABRIC8_8  ?= run
DEMO_ARGS  ?=
BENCH_ARGS ?=
MUTATION_ARGS ?=

.PHONY: help build test lint image image-tar base-image kind-up kind-load deploy status logs \
        failover e2e undeploy kind-down cluster-up cluster-down node-binaries demo bench control-plane clean \
        mutation

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the runnable jar target/leaderelection.jar (no tests)
	$(MVN) -q package -DskipTests

control-plane: ## Provide kube-apiserver, etcd and kubectl for the tests (built from Go modules if missing)
	scripts/provision-control-plane.sh

test: ## Unit + integration tests (real kube-apiserver + etcd), unit tests on fabric8 8.0 (FABRIC8_8=skip: not), then the e2e on a local node (NODE_E2E=skip: without it)
	KUBEAPITEST_OFFLINE=$(KUBEAPITEST_OFFLINE) NODE_E2E=$(NODE_E2E) FABRIC8_8=$(FABRIC8_8) scripts/test.sh

mutation: ## Mutation testing (PIT) of the election core by the unit tests -> target/pit-reports/ (MUTATION_ARGS="-DtargetClasses=...")
	$(MVN) -Pmutation test-compile org.pitest:pitest-maven:mutationCoverage $(MUTATION_ARGS)
	scripts/mutation-summary.py target/pit-reports/mutations.xml --survivors

lint: ## shellcheck every script
	scripts/lint.sh

image: ## Build the image $(IMAGE) into the local Docker daemon with Jib
	$(MVN) -q package jib:dockerBuild -DskipTests -Djib.to.image=$(IMAGE)

image-tar: ## Build the image as a tarball, offline (target/leaderelection-image.tar)
	scripts/build-image-tar.sh

base-image: ## Assemble the offline base image (jlink JRE + Debian libs, target/base-image/base.tar)
	scripts/build-base-image.sh

demo: ## See leader election in action, no cluster needed (DEMO_ARGS="--rounds 2 ...")
	scripts/demo.sh $(DEMO_ARGS)

bench: ## Benchmark failover, API load, memory vs fabric8's LeaderElector -> bench/
	scripts/bench.sh $(BENCH_ARGS)

cluster-up: ## Start a local single-node Kubernetes (offline, in its own namespaces; built from Go modules + Debian packages)
	scripts/node.sh up

cluster-down: ## Stop the local node, remove its state, check the host is as before
	scripts/node.sh down

node-binaries: ## Build the local node's binaries (kubelet, kube-proxy, ...) without starting it
	scripts/node.sh build

kind-up: ## Create the kind cluster $(CLUSTER)
	scripts/kind.sh up

kind-load: ## Build the image and load it into the kind cluster
	scripts/kind.sh load

deploy: ## Apply RBAC and the 3-replica Deployment (kubectl apply -k k8s/; local node, or kind where Docker runs)
	scripts/cluster.sh deploy

status: ## Show the pods and who holds the Lease
	scripts/cluster.sh status

logs: ## Tail the logs of all replicas
	scripts/cluster.sh logs

failover: ## Delete the leader pod and report how long until a new holder
	scripts/cluster.sh failover

e2e: ## The article end to end, checked -> target/e2e/results.json (local node; kind where Docker runs)
	scripts/cluster.sh e2e

undeploy: ## Remove the Deployment and RBAC
	scripts/cluster.sh undeploy

kind-down: ## Delete the kind cluster
	scripts/kind.sh down

clean: ## Remove build output
	$(MVN) -q clean
