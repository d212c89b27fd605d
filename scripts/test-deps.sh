#!/usr/bin/env bash
# Installs the Debian packages the test suite needs and starts the services it uses.
# As root it installs what is missing; otherwise it only reports, and the tests that
# need a missing tool skip with a reason (under CI=true they fail instead).
set -euo pipefail

PACKAGES=(
  xvfb xauth xdotool libxss1    # the notice window on a virtual screen; X11 idle time (libXss)
  fonts-noto-core               # Noto fonts for every shipped script
  chromium chromium-driver      # dashboard tests in headless Chromium
  firefox-esr libnss3-tools     # the browser guard in Firefox (WebDriver BiDi); certutil
  postgresql                    # the regional server on PostgreSQL
  dnsmasq dnsperf               # DNS peer and load generator for resolver tests/benchmarks
  binutils                      # objdump, for PyInstaller
  libfribidi0 util-linux        # FriBiDi the program carries; unshare for the shaping checks
  nftables                      # the outbound DNS guard and its network-namespace test (issue 17)
  iproute2                      # the café in a box: namespaces, tc shaping (nft counts its bytes)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "not root: cannot install ${missing[*]}; tests that need them will skip" >&2
  fi
fi

# dnsmasq's Debian package starts a system instance on port 53; the tests start their
# own on loopback ports, so the system one is not needed.
if [ "$(id -u)" = "0" ] && command -v systemctl >/dev/null && systemctl is-active -q dnsmasq 2>/dev/null; then
  systemctl stop dnsmasq || true
fi

# PostgreSQL for the regional server's storage tests: start Debian's cluster and create
# the test role and database (tests make a fresh schema each; see tests/regional_server).
# KIOSK_TEST_PG_URL overrides where the tests connect.
if [ "$(id -u)" = "0" ] && command -v pg_lsclusters >/dev/null; then
  pg_version="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
  if [ -n "$pg_version" ]; then
    pg_ctlcluster "$pg_version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do
      runuser -u postgres -- pg_isready -q -h 127.0.0.1 && break
      sleep 0.5
    done
    runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='kiosk_test'" | grep -q 1 \
      || runuser -u postgres -- psql -qc "CREATE ROLE kiosk_test LOGIN PASSWORD 'kiosk_test'"
    runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_database WHERE datname='kiosk_test'" | grep -q 1 \
      || runuser -u postgres -- psql -qc "CREATE DATABASE kiosk_test OWNER kiosk_test"
  fi
fi

# Node.js runs the browser guard's JavaScript against the Python canonicalization, and
# npm installs its test tooling (addons-linter, Mozilla's extension validator) from the
# committed lock. Node 20 or newer: Debian 12's own nodejs is 18, so it is not installed
# here; without node the browser-guard tests skip (under CI=true they fail).
if command -v npm >/dev/null && [ -f browser_guard/package-lock.json ]; then
  if [ ! -d browser_guard/node_modules ] || [ browser_guard/package-lock.json -nt browser_guard/node_modules ]; then
    (cd browser_guard && npm ci --no-audit --no-fund --loglevel=error) \
      || echo "npm ci failed in browser_guard/: the Firefox package check will skip" >&2
  fi
fi
