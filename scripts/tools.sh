# shellcheck shell=bash
# Installs, when missing, the programs the tests and the quick start need, and puts
# them on PATH. Sourced by scripts/test, scripts/quickstart and .ci/run; reuses what a
# machine already has. Everything comes from the package registries (crates.io, PyPI).

CAMPANILE_TOOLS="${CAMPANILE_TOOLS:-$HOME/.cache/campanile}"
GARAGE_VERSION="2.5.0"
CFN_LINT_VERSION="1.51.0"
MOTO_VERSION="5.2.5"  # 5.2.1 answers CompleteMultipartUpload with a root element the SDK refuses
export PATH="$HOME/.cargo/bin:$CAMPANILE_TOOLS/venv/bin:$PATH"

# Garage, the S3 server most tests run against. Built from crates.io with only the
# features a single node needs (about 8 minutes on 2 cores; 17 with defaults): sqlite,
# which the tests use, and lmdb, Garage's default engine, which the benchmark uses.
ensure_garage() {
  if command -v garage >/dev/null 2>&1 \
    && garage --version 2>/dev/null | grep -q "cargo:2\..*lmdb.*sqlite"; then
    return 0
  fi
  echo "installing garage $GARAGE_VERSION from crates.io (takes several minutes)" >&2
  cargo install garage --version "$GARAGE_VERSION" --locked --force \
    --no-default-features --features bundled-libs,sqlite,lmdb
}

# moto's server mode, for what Garage lacks (storage classes, versioning, SSE echo,
# the EMR and CloudFormation APIs), and cfn-lint, pinned in a virtualenv of their own.
ensure_moto() {
  local venv="$CAMPANILE_TOOLS/venv"
  if "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null \
    && "$venv/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
  mkdir -p "$CAMPANILE_TOOLS"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION"
}

# sudo, for tests/bootstrap.rs: the bootstrap action runs there as a non-root user
# with password-less sudo, as EMR runs it as hadoop (Debian's package).
ensure_sudo() {
  command -v sudo >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "sudo is missing and only root can install it: tests/bootstrap.rs will fail" >&2
    return 0
  fi
  echo "installing sudo from Debian's packages" >&2
  apt-get update -qq && apt-get install -y -qq sudo >/dev/null
}

# The shell linter, for the bootstrap action and the scripts (Debian's package).
ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  echo "installing shellcheck from Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq shellcheck >/dev/null
  fi
}
