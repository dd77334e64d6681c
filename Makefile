.PHONY: setup up down status demo test lint codegen bench

setup:            ## install everything (idempotent): uv env, Kafka jars, redis-server
	bash scripts/setup.sh

up: setup         ## start the local stack (Kafka + Redis) and the five services
	uv run tailor local up --with-services

demo: setup       ## the main job: local stack + all five services + `tailor demo` (generated data)
	uv run tailor demo

down:             ## stop the local stack and services
	uv run tailor local down

status:
	uv run tailor local status

test:             ## set-up, stack, ruff, mypy, the whole pytest suite (real Kafka + Redis)
	bash scripts/test.sh

lint:
	uv run ruff check . && uv run mypy shared/src services tests bench

codegen:          ## regenerate protobuf code into shared/src/tailor
	bash scripts/codegen.sh

bench:            ## run every benchmark and rewrite docs/benchmarks.md (takes ~15 min)
	uv run python bench/run_all.py
