# LE BOOM v2 — the daily loop. `./dev RECIPE` runs these on a machine without `just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Make sure PostgreSQL, Redis and NATS (JetStream) run here (installs and starts them).
services:
    ./scripts/services.sh

# Make sure headless Chromium and chromedriver are here (dashboard tests).
[doc('Make sure headless Chromium, chromedriver and axe-core are here (dashboard tests).')]
browser:
    ./scripts/browser.sh

# Install schemathesis (PyPI, pinned, in a virtualenv beside the build cache) for the API
# fuzzing test.
[doc('Install schemathesis (pinned, beside the build cache) for the API fuzzing test.')]
api-fuzzer:
    ./scripts/schemathesis.sh >/dev/null

# Install the local OpenID Connect provider (oidc-provider from npm, pinned by its lock file)
# that the single sign-on tests and `BOOM_DEMO_SSO=1 ./dev up` run; installs Node.js when missing.
[doc('Install the local OpenID Connect provider (oidc-provider, npm) of the single sign-on tests.')]
sso-provider:
    ./scripts/sso-provider.sh >/dev/null

# Build boom-agent.exe for the booth PCs (Windows) and the Wine prefix the tests run it in;
# installs MinGW-w64 and Wine when missing. Prints the .exe's path (a .sha256 lies beside it).
[doc('Build boom-agent.exe for the booth PCs (installs MinGW-w64 and Wine when missing).')]
agent-windows:
    ./scripts/agent-windows.sh

# Build every binary.
build:
    cargo build --workspace --bins

# Everything CI checks: formatting, clippy, then all tests against the real services, a
# headless browser, the Windows agent under Wine, schemathesis over the OpenAPI document and a
# local OpenID Connect provider. Dashboard screenshots land in screenshots/.
[doc('Everything CI checks: fmt, clippy, every test on the real services, browser, Wine, schemathesis.')]
test: services browser agent-windows api-fuzzer sso-provider
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo build --workspace --bins --quiet
    cargo nextest run --workspace --no-fail-fast

# The tests alone, without the lints (the quick loop while coding).
test-only *ARGS: services browser agent-windows api-fuzzer sso-provider
    cargo build --workspace --bins --quiet
    cargo nextest run --workspace {{ARGS}}

# Formatting and clippy.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Apply the database migrations to the local stack's database.
migrate: services
    ./scripts/up.sh migrate-only

# Start the whole stack locally (Ctrl-C stops it).
up: services
    ./scripts/up.sh

# Benchmarks beside their references (docs/benchmarks.md, target/bench/report.json).
# `just bench --quick` for a smoke run; `--clients 10000` for the big fan-out. Installs Node.js,
# the Socket.IO peer (npm) and perf when missing (scripts/bench-tools.sh).
[doc('Benchmarks beside their references (--quick, --clients N, --only NAME); writes docs/benchmarks.md.')]
bench *ARGS: services browser
    ./scripts/bench-tools.sh
    cargo build --profile bench-run --workspace --bins --quiet
    ${CARGO_TARGET_DIR:-target}/bench-run/boom-bench {{ARGS}}

# Regenerate proto/ from the message types in crates/contracts.
proto:
    BOOM_UPDATE_PROTO=1 cargo test --quiet -p boom-contracts proto_directory_matches_the_code

# Create a user: `just user-add marie installer` (the password is asked on standard input).
user-add USERNAME ROLE:
    cargo run --quiet -p boom-gateway -- users add --username {{USERNAME}} --role {{ROLE}}
