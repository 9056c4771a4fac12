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
DEMO_ARGS  ?=
BENCH_ARGS ?=

.PHONY: help build test lint image image-tar base-image kind-up kind-load deploy status logs \
        failover e2e undeploy kind-down demo bench control-plane clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the runnable jar target/leaderelection.jar (no tests)
	$(MVN) -q package -DskipTests

control-plane: ## Provide kube-apiserver, etcd and kubectl for the tests (built from Go modules if missing)
	scripts/provision-control-plane.sh

test: ## Unit and integration tests (real kube-apiserver + etcd on loopback)
	KUBEAPITEST_OFFLINE=$(KUBEAPITEST_OFFLINE) scripts/test.sh

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

kind-up: ## Create the kind cluster $(CLUSTER)
	scripts/kind.sh up

kind-load: ## Build the image and load it into the kind cluster
	scripts/kind.sh load

deploy: ## Apply RBAC and the 3-replica Deployment (kubectl apply -k k8s/)
	scripts/kind.sh deploy

status: ## Show the pods and who holds the Lease
	scripts/kind.sh status

logs: ## Tail the logs of all replicas
	scripts/kind.sh logs

failover: ## Delete the leader pod and report how long until a new holder
	scripts/kind.sh failover

e2e: ## End to end on kind: up, load, deploy, 3/3 Ready, failover, logs (needs Docker)
	scripts/kind.sh e2e

undeploy: ## Remove the Deployment and RBAC
	scripts/kind.sh undeploy

kind-down: ## Delete the kind cluster
	scripts/kind.sh down

clean: ## Remove build output
	$(MVN) -q clean
