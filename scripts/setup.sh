#!/usr/bin/env bash
# One-command set-up for a fresh machine (Debian 12, Python 3.11, Java 17): idempotent, the second run
# changes nothing. Installs uv, the pinned Python workspace (.venv from uv.lock), Apache Kafka's broker
# jars from Maven Central (scripts/kafka/pom.xml), Debian's redis-server and the versitygw S3 server when missing,
# Debian's chromium and the web console's build (npm).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${TAILOR_STATE_DIR:-$PWD/.tailor}"
say() { printf '[setup] %s\n' "$*"; }

apt_install() {
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. System packages: Java + Maven for the broker, redis-server.
command -v java >/dev/null || { say "installing Java 17"; apt_install openjdk-17-jre-headless; }
command -v mvn >/dev/null || { say "installing Maven"; apt_install maven; }
if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then
  say "installing redis-server (Debian)"; apt_install redis-server
fi
# kcat: the shell producer the inbound-topic tests and the README use (ADR 0024).
command -v kcat >/dev/null || { say "installing kcat (Debian)"; apt_install kcat; }

# 2. Python workspace, pinned by uv.lock.
if ! command -v uv >/dev/null; then
  say "installing uv"; python3 -m pip install -q --disable-pip-version-check uv
fi
say "syncing the Python environment (.venv)"
uv sync --all-packages --frozen -q

# 3. The local S3 server: Versity Gateway (Apache-2.0) built from its Go module, cached outside the checkout so a
#    fresh clone (CI) reuses it; built only when missing (about 4 minutes on 2 cores the first time).
VGW_VERSION=v1.8.0
VGW_DIR="${TAILOR_CACHE_DIR:-$HOME/.cache/tailor}/versitygw-$VGW_VERSION"
if [ ! -x "$VGW_DIR/versitygw" ]; then
  if ! go version 2>/dev/null | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; then
    say "versitygw needs Go >= 1.21 (it fetches the toolchain the module asks for): see https://go.dev/dl/"; exit 1
  fi
  say "building versitygw $VGW_VERSION into $VGW_DIR (go install; a few minutes)"
  mkdir -p "$VGW_DIR"
  GOBIN="$VGW_DIR.tmp" go install "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION"
  mv "$VGW_DIR.tmp/versitygw" "$VGW_DIR/versitygw" && rmdir "$VGW_DIR.tmp"
fi

# 3b. The Schema Registry (ADR 0024 §7): tools/schema-registry serves Conduit's Confluent-compatible registry
#     (Apache-2.0, a Go module); rebuilt when its sources change. `tailor local up` runs it with
#     TAILOR_SCHEMA_REGISTRY=1.
SR_VERSION=v0.2.6
SR_DIR="${TAILOR_CACHE_DIR:-$HOME/.cache/tailor}/schema-registry-$SR_VERSION"
SR_SUM="$(cat tools/schema-registry/go.mod tools/schema-registry/go.sum tools/schema-registry/main.go | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$SR_DIR/.complete" 2>/dev/null || true)" != "$SR_SUM" ]; then
  say "building the schema registry into $SR_DIR (go build)"
  mkdir -p "$SR_DIR"
  (cd tools/schema-registry && go build -o "$SR_DIR/tailor-schema-registry" .)
  echo "$SR_SUM" > "$SR_DIR/.complete"
fi

# 4. Kafka broker jars (Maven Central), re-fetched only when the pom changes.
LIBS="$STATE/kafka-libs"
POM_SUM="$(sha256sum scripts/kafka/pom.xml | cut -d' ' -f1)"
if [ "$(cat "$LIBS/.complete" 2>/dev/null || true)" != "$POM_SUM" ]; then
  say "fetching Apache Kafka broker jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -B -q -f scripts/kafka/pom.xml dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS"
  ls "$LIBS"/kafka_2.13-*.jar >/dev/null
  echo "$POM_SUM" > "$LIBS/.complete"
fi
# 5. The web console (ADR 0029): Debian's Chromium for its real-browser test (tests/browser), and the Vite build
#    in console/dist that the gateway serves, rebuilt with `npm ci && npm run build` only when its sources change
#    (the hash of package-lock.json, the configs and src/ is kept in dist/.build-sha256, which is not served).
command -v chromium >/dev/null || { say "installing chromium (Debian)"; apt_install chromium; }
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  say "the console's build (Vite) needs Node.js 20.19+ or 22.12+ with npm: see https://nodejs.org/"; exit 1
fi
CONSOLE_SUM="$( (cd console && cat package.json package-lock.json index.html vite.config.ts tsconfig.json \
  && find src -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -d' ' -f1)"
if [ "$(cat console/dist/.build-sha256 2>/dev/null || true)" != "$CONSOLE_SUM" ]; then
  say "building the web console (npm ci && npm run build in console/)"
  (cd console && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build --silent >/dev/null)
  echo "$CONSOLE_SUM" > console/dist/.build-sha256
fi

say "ready: $(ls "$LIBS"/kafka_2.13-*.jar | xargs -n1 basename), $(redis-server --version | cut -d' ' -f1-3), versitygw $VGW_VERSION, $(uv run python --version)"
