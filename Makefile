.PHONY: help setup up down status demo test test-unit lint fmt codegen bench
.DEFAULT_GOAL := help

help:             ## list the targets (this text)
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)$$/  \1\t\2/' | expand -t 16

setup:            ## install everything (idempotent): uv env, Kafka jars, redis-server
	bash scripts/setup.sh

up: setup         ## start the local stack (Kafka + Redis) and the five services
	uv run tailor local up --with-services

demo: setup       ## the main job: local stack + all services + `tailor demo` (generated data); prints the web console URL
	uv run tailor demo

down:             ## stop the local stack and services
	uv run tailor local down

status:           ## what of the local stack is running (processes, addresses, readiness)
	uv run tailor local status

test:             ## THE full check: set-up, stack, codegen, ruff, mypy, the whole pytest suite (real Kafka + Redis)
	bash scripts/test.sh

test-unit:        ## unit + contract tests only: no Kafka/Redis needed, about a minute
	uv run pytest tests/unit tests/contract -q -p no:cacheprovider

lint:             ## ruff + mypy (what `make test` runs before pytest)
	uv run ruff check . && uv run mypy shared/src services tests bench tools/src

fmt:              ## format and auto-fix: ruff format + ruff check --fix
	uv run ruff format . && uv run ruff check --fix .

codegen:          ## regenerate protobuf code into shared/src/tailor
	bash scripts/codegen.sh

bench:            ## run every benchmark and rewrite docs/benchmarks.md (takes ~15 min)
	uv run python bench/run_all.py
