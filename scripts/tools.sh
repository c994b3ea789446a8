# shellcheck shell=bash
# Installs, when missing, the programs the tests and the quick start need, and puts
# them on PATH. Sourced by scripts/test, scripts/quickstart and .ci/run; reuses what a
# machine already has. Everything comes from the package registries (crates.io, PyPI).

CAMPANILE_TOOLS="${CAMPANILE_TOOLS:-$HOME/.cache/campanile}"
GARAGE_VERSION="2.5.0"
MOTO_VERSION="5.2.1"
export PATH="$HOME/.cargo/bin:$CAMPANILE_TOOLS/venv/bin:$PATH"

# Garage, the S3 server most tests run against. Built from crates.io with only the
# features a single test node needs (about 6 minutes on 2 cores; 17 with defaults).
ensure_garage() {
  if command -v garage >/dev/null 2>&1 && garage --version 2>/dev/null | grep -q "cargo:2\."; then
    return 0
  fi
  echo "installing garage $GARAGE_VERSION from crates.io (takes several minutes)" >&2
  cargo install garage --version "$GARAGE_VERSION" --locked \
    --no-default-features --features bundled-libs,sqlite
}

# moto's server mode, for what Garage lacks (storage classes, versioning, EMR API).
ensure_moto() {
  if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into $CAMPANILE_TOOLS/venv" >&2
  mkdir -p "$CAMPANILE_TOOLS"
  python3 -m venv "$CAMPANILE_TOOLS/venv"
  "$CAMPANILE_TOOLS/venv/bin/pip" install --quiet --upgrade pip
  "$CAMPANILE_TOOLS/venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION"
}
