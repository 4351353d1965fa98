# Two commands on a fresh Debian machine (root, Python 3.11): `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := mariadb-server php-cli php-mysql phpunit libxml2-utils
export AMAZON_XSD_DIR ?= $(abspath ../shared/reference/amazon/xsd)
export MAGENTO_XSD_DIR ?= $(abspath ../shared/reference/magento/xsd)

.PHONY: all setup venv system-deps run test lint test-python test-php test-xml test-reliability bench migrate clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Test-only system packages: the real MariaDB server, PHP and xmllint (Debian's).
system-deps:
	@missing=""; \
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v php >/dev/null 2>&1 || missing="$$missing php-cli"; \
	php -m 2>/dev/null | grep -qi pdo_mysql || missing="$$missing php-mysql"; \
	command -v phpunit >/dev/null 2>&1 || missing="$$missing phpunit"; \
	command -v xmllint >/dev/null 2>&1 || missing="$$missing libxml2-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

setup: venv system-deps

# The sidecar on its embedded default: SQLite + built-in SP-API emulator + demo data,
# health page on http://127.0.0.1:8080
run: venv
	$(VENV)/bin/sidecar demo

lint: venv
	$(VENV)/bin/ruff check sidecar tests
	$(VENV)/bin/mypy

test-xml: system-deps
	bash magento_module/Test/validate_xml.sh

test-python: venv
	$(PY) -m pytest --ignore=tests/reliability

# The reliability suite (tests/reliability, ~8 min on 2 cores): load with faults, SIGKILLs at
# each feed state, database outages, two sidecars on one seller, hostile payloads. Prints
# the table duplicates / lost / stuck / parked per scenario (also in var/reliability.txt).
test-reliability: venv
	mkdir -p var
	RELIABILITY_TABLE=var/reliability.txt $(PY) -m pytest -p no:cacheprovider -q tests/reliability

test-php: system-deps
	cd magento_module && phpunit -c phpunit.xml.dist

# One throwaway mariadbd for every suite (tests/support/mariadb.py); TEST_DATABASE_URL
# points the suites at an existing server instead.
test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-xml
	$(PY) -m tests.support.mariadb -- $(MAKE) --no-print-directory test-python test-php test-reliability

bench: venv
	$(PY) -m tests.bench

migrate: venv
	$(VENV)/bin/sidecar migrate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
