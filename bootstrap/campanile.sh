#!/usr/bin/env bash
# Campanile EMR bootstrap action.
#
# Installs the Campanile task binaries from the code bucket into a directory on PATH
# and writes /etc/campanile.cfg for this instance:
#   maxtmpsize  bytes objectcopy keeps in memory per task before spilling to disk:
#               a sixteenth of the instance's memory, between 64 MiB and 1 GiB;
#   ephemeral   every mounted instance-store volume (found through the instance
#               metadata service, IMDSv2, and the /mnt, /mnt1, ... mounts EMR makes),
#               or /tmp when the instance has none.
#
# Usage (EMR: --bootstrap-actions Path=s3://codebucket/bootstrap/campanile.sh,Args=[-c,s3://codebucket]):
#   campanile.sh [-c s3://codebucket] [-d /usr/local/bin] [-D] [-V] [-h]
# Testing anywhere: CAMPANILE_ROOT=<dir> (where /etc and /proc are read and written)
# and CAMPANILE_IMDS_ENDPOINT=http://127.0.0.1:PORT (the metadata service).
set -euo pipefail

VERSION="0.1.0"
ROOT="${CAMPANILE_ROOT:-}"
IMDS="${CAMPANILE_IMDS_ENDPOINT:-http://169.254.169.254}"
CODE=""
BIN_DIR="/usr/local/bin"
DEBUG=0

usage() {
  cat <<USAGE
Usage: $(basename "$0") [-c CODE] [-d BIN_DIR] [-D] [-V] [-h]
  -c CODE     s3:// prefix staged by 'rsync --stage-code': binaries under CODE/bin/<arch>/
  -d BIN_DIR  where to install the binaries (default /usr/local/bin)
  -D          debug: trace every command
  -V          print the version and exit
  -h          this help
Writes ${ROOT}/etc/campanile.cfg (maxtmpsize, ephemeral).
USAGE
}

while getopts "c:d:DVh" opt; do
  case "$opt" in
    c) CODE="$OPTARG" ;;
    d) BIN_DIR="$OPTARG" ;;
    D) DEBUG=1 ;;
    V) echo "campanile bootstrap $VERSION"; exit 0 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ "$DEBUG" -eq 1 ] && set -x

log() { echo "campanile-bootstrap: $*" >&2; }

# IMDSv2: a session token first, then every request carries it. Retries with
# timeouts: the service can be slow to answer while an instance boots.
TOKEN=""
imds_token() {
  TOKEN=$(curl -fsS --connect-timeout 2 --max-time 5 --retry 5 --retry-delay 1 \
    --retry-all-errors -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 21600" \
    "$IMDS/latest/api/token") || { log "no IMDSv2 token from $IMDS"; return 1; }
}

imds_get() {
  curl -fsS --connect-timeout 2 --max-time 5 --retry 5 --retry-delay 1 --retry-all-errors \
    -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/$1"
}

# Bytes of memory, from /proc/meminfo (kB).
memory_bytes() {
  awk '/^MemTotal:/ { printf "%.0f\n", $2 * 1024 }' "$ROOT/proc/meminfo"
}

max_tmp_size() {
  local memory min=$((64 * 1024 * 1024)) max=$((1024 * 1024 * 1024)) size
  memory=$(memory_bytes)
  size=$((memory / 16))
  [ "$size" -lt "$min" ] && size=$min
  [ "$size" -gt "$max" ] && size=$max
  echo "$size"
}

# Mount points of the instance-store volumes: the devices IMDS lists as ephemeralN
# (sdb, xvdb, nvme...) and the /mnt, /mnt1, ... mounts EMR makes on them.
ephemeral_dirs() {
  local devices=() name device mounts=()
  while read -r name || [ -n "$name" ]; do
    case "$name" in
      ephemeral*)
        device=$(imds_get "block-device-mapping/$name") || continue
        devices+=("${device#/dev/}")
        ;;
    esac
  done < <(imds_get "block-device-mapping/" || true)
  while read -r source target _; do
    local base=${source#/dev/}
    local matched=0
    for device in "${devices[@]}"; do
      # sdb is attached as xvdb on Xen instances
      if [ "$base" = "$device" ] || [ "$base" = "xvd${device#sd}" ]; then matched=1; fi
    done
    if [[ "$target" =~ ^/mnt[0-9]*$ ]]; then matched=1; fi
    if [ "$matched" -eq 1 ]; then mounts+=("$target"); fi
  done <"$ROOT/proc/mounts"
  if [ "${#mounts[@]}" -eq 0 ]; then
    echo "/tmp"
  else
    printf '%s\n' "${mounts[@]}" | sort -u | paste -sd, -
  fi
}

install_binaries() {
  local arch
  arch=$(uname -m)
  mkdir -p "$ROOT$BIN_DIR"
  if aws s3 ls "$CODE/bin/$arch/" >/dev/null 2>&1; then
    aws s3 cp --recursive --quiet "$CODE/bin/$arch/" "$ROOT$BIN_DIR/"
  else
    # No prebuilt binaries for this architecture (e.g. Graviton, aarch64): build them
    # from the staged source with a Rust toolchain.
    log "no binaries for $arch under $CODE/bin: building from $CODE/src/campanile.tar.gz"
    local src
    src=$(mktemp -d)
    aws s3 cp --quiet "$CODE/src/campanile.tar.gz" "$src/"
    tar -C "$src" -xzf "$src/campanile.tar.gz"
    if ! command -v cargo >/dev/null 2>&1; then
      curl -fsS https://sh.rustup.rs | sh -s -- -y --profile minimal
      # shellcheck source=/dev/null
      . "$HOME/.cargo/env"
    fi
    (cd "$src" && cargo build --release --locked -p campanile-cli)
    for task in bucketlist multipartlist objectcopy multipartcomplete rsync; do
      cp "$src/target/release/$task" "$ROOT$BIN_DIR/"
    done
  fi
  chmod 0755 "$ROOT$BIN_DIR"/bucketlist "$ROOT$BIN_DIR"/multipartlist \
    "$ROOT$BIN_DIR"/objectcopy "$ROOT$BIN_DIR"/multipartcomplete
}

main() {
  imds_token
  local instance_type size dirs
  instance_type=$(imds_get instance-type || echo unknown)
  size=$(max_tmp_size)
  dirs=$(ephemeral_dirs)
  mkdir -p "$ROOT/etc"
  cat >"$ROOT/etc/campanile.cfg" <<CFG
# Written by the Campanile bootstrap action for a $instance_type instance.
[DEFAULT]
maxtmpsize=$size
ephemeral=$dirs
CFG
  log "wrote $ROOT/etc/campanile.cfg: maxtmpsize=$size ephemeral=$dirs"
  if [ -n "$CODE" ]; then
    install_binaries
    log "installed the task binaries into $BIN_DIR"
  fi
}

main
