# The two commands of the README: `make serve` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080

.PHONY: serve test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV) || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip

# Debian packages: espeak-ng speaks <Say> and the simulated callers of recordings; kannel's bearerbox and
# smsbox are the external SMPP ESME of tests/carriers/smpp; SIPp (sip-tester) is the SIP trunk and
# baresip the registered SIP phone of tests/carriers/sip; Kamailio the SIP load balancer of tests/deploy.
# The tests start their own peers on free loopback ports, so the system Kannel service the package may
# start (admin port 13000, WAP UDP 9200-9208) and the system Kamailio (SIP 5060) are stopped and disabled.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(VENV)/.system: | $(PY)
	{ command -v espeak-ng && command -v sipp && command -v baresip && { command -v bearerbox || test -x /usr/sbin/bearerbox; } && \
	  { command -v kamailio || test -x /usr/sbin/kamailio; }; } >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q espeak-ng kannel sip-tester baresip kamailio; }
	for service in kannel kamailio; do \
	  if [ -x /etc/init.d/$$service ]; then \
	    $(SUDO) /etc/init.d/$$service stop >/dev/null 2>&1; \
	    { $(SUDO) systemctl disable --now $$service || $(SUDO) update-rc.d $$service disable; } >/dev/null 2>&1 || true; \
	  fi; \
	done
	touch $@

$(VENV)/.installed: pyproject.toml | $(PY) $(VENV)/.system
	$(PY) -m pip install -q -e .
	touch $@

# Debian's chromium is the browser of the console and WebRTC tests (Playwright drives it; nothing is downloaded).
$(VENV)/.browser: | $(PY)
	command -v chromium >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }
	touch $@

# Debian's PostgreSQL server: the tests start a cluster of their own on a free port (tests/pgserver.py).
$(VENV)/.postgresql: | $(PY)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY) $(VENV)/.system $(VENV)/.browser $(VENV)/.postgresql
	$(PY) -m pip install -q -e '.[test]'
	touch $@

serve: $(VENV)/.installed
	$(VENV)/bin/telephonist serve --port $(PORT)

# pytest-xdist workers: the tests mostly wait (on timers, peers and webhooks), so four share two cores well.
WORKERS ?= 4

# The whole suite on SQLite, then again on PostgreSQL, then the linters; the exit status fails if any does.
test: $(VENV)/.test-installed
	$(PY) -m pytest -q -n $(WORKERS); status=$$?; \
	TELEPHONIST_TEST_STORE=postgresql $(PY) -m pytest -q -n $(WORKERS) || status=1; \
	$(MAKE) --no-print-directory lint || status=1; exit $$status

lint: $(VENV)/.test-installed
	$(PY) -m ruff check src tests bench tools
	$(PY) -m ruff format --check src tests bench tools
	$(PY) -m mypy

bench: $(VENV)/.test-installed
	$(PY) bench/rest.py
	$(PY) bench/sms.py
	$(PY) bench/sip.py
	$(PY) bench/scaling.py
	$(PY) bench/calls.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
