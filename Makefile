# Convertix. `make run` starts the whole system; `make test` runs every test.
VENV    ?= .venv
PY      := $(VENV)/bin/python
NAMEKO  := $(VENV)/bin/nameko
STAMP   := $(VENV)/.installed

.PHONY: setup lock lint run stop migrate revision test test-fast test-deploy deploy deploy-down admin bench bench-scaling bench-thumbor bench-events clean

setup: $(STAMP)

# requirements.lock pins (with hashes) every package CI tested; the project
# itself goes in editable, with nothing more resolved.
$(STAMP): setup.cfg setup.py requirements.lock
	bash scripts/install-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade 'pip>=23'
	$(VENV)/bin/pip install -q --require-hashes -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Re-pin requirements.lock from setup.cfg (after changing a dependency there).
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q 'pip-tools>=7.4'
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --extra test --strip-extras \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock setup.cfg requirements-env.in

## ruff: pyflakes errors and import order (ruff.toml); part of make test.
lint: setup
	$(VENV)/bin/ruff check .

## Start RabbitMQ, then the services, the scaler and the gateway under supervisord
## (each started again when it exits); Ctrl-C or `make stop` stops all of it.
run: setup
	bash scripts/run.sh

stop:
	bash scripts/stop.sh

## Bring config.yaml's database(s) to this code's schema (make run does it too).
migrate: setup
	bash scripts/with-env.sh python -m infra.migrations upgrade

## A new schema revision from a model change: make revision SCHEMA=jobs MSG="add tasks.stage"
revision: setup
	@test -n "$(SCHEMA)" -a -n "$(MSG)" || (echo 'usage: make revision SCHEMA=accounts|jobs|notifier MSG="..."' >&2; exit 2)
	$(PY) -m infra.migrations revision "$(SCHEMA)" "$(MSG)"

## The whole suite: pure functions, services and gateway on real RabbitMQ
## and databases, the system started as processes, converters as a Docker
## Swarm service (scripts/start-docker.sh starts the engine and the swarm,
## and fails the run if it cannot), and the real three-node deployment
## (tests/deploy: the images built here, three engines as one swarm, the stack).
test: setup lint
	bash scripts/start-backends.sh --postgres
	bash scripts/start-docker.sh
	$(NAMEKO) test tests -p no:cacheprovider -ra $(PYTEST_ARGS)

## The real deployment's layer alone (tests/deploy): builds the images, three
## nodes, the stack, conversions, scaling and faults; tears it all down.
test-deploy: setup
	bash scripts/start-backends.sh --postgres
	bash scripts/start-docker.sh
	$(NAMEKO) test tests/deploy -p no:cacheprovider -ra -m deploy $(PYTEST_ARGS)

## Without what starts processes (faster while developing): the e2e, abuse,
## cli, scaling, swarm and deploy layers and the modules marked `processes`.
test-fast: setup
	bash scripts/start-backends.sh --postgres
	$(NAMEKO) test tests -p no:cacheprovider -m "not processes" $(PYTEST_ARGS)

## The real deployment on this machine: the images built from Debian's
## packages, three Docker engines as a three-node swarm, the stack on it
## (README "Deployment"). deploy-down removes all of it.
deploy:
	bash scripts/start-docker.sh
	bash scripts/build-images.sh
	bash scripts/deploy-stack.sh

deploy-down:
	bash scripts/swarm-nodes.sh down

## Give a user the admin role: make admin NAME=alice
admin: setup
	@test -n "$(NAME)" || (echo "usage: make admin NAME=<username>" >&2; exit 2)
	bash scripts/with-env.sh $(VENV)/bin/flask --app gateway make-admin "$(NAME)"

bench: setup
	bash scripts/start-backends.sh
	$(PY) -m bench.pipeline $(BENCH_ARGS)

## Live events: 500 open streams under load, /convert's wake-up gap and RPCs (bench/events.py).
bench-events: setup
	bash scripts/start-backends.sh
	$(PY) -m bench.events $(BENCH_ARGS)

## Burst and steady load: the scaler against a fixed worker (see bench/scaling.py).
bench-scaling: setup
	bash scripts/start-backends.sh
	$(PY) -m bench.scaling $(BENCH_ARGS)

## Side by side with thumbor 7 (installed into bench/results/thumbor-venv from PyPI).
bench-thumbor: setup
	bash scripts/start-backends.sh
	$(PY) -m bench.thumbor $(BENCH_ARGS)

clean:
	rm -rf var
