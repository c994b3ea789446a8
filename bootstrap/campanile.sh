#!/usr/bin/env bash
# Campanile EMR bootstrap action.
#
# Installs the Campanile task binaries (bucketlist, multipartlist, objectcopy,
# multipartcomplete, objectrestore, objectindex,
# objectverify, objectmap, objectdelete) from the code bucket into a directory on
# PATH and writes
# /etc/campanile.cfg for this instance:
#   maxtmpsize  bytes objectcopy keeps in memory per task before spilling to disk:
#               a sixteenth of the instance's memory, between 64 MiB and 1 GiB;
#   ephemeral   every mounted instance-store volume (found through the instance
#               metadata service, IMDSv2, and the /mnt, /mnt1, ... mounts EMR makes),
#               or /tmp when the instance has none.
# A task reads /etc/campanile.cfg before the campanile.cfg shipped with the code, so
# these per-instance values win over the staged sample (an explicit --config wins over
# both).
#
# EMR runs bootstrap actions as the hadoop user, which has password-less sudo: a file
# is written through `sudo -n` when this user cannot write its directory, and directly
# otherwise (as root, which needs no sudo installed, or under a writable test root).
# The submitter, rsync, is not installed: a binary of that name on PATH would shadow
# the system's rsync. Only x86_64 nodes are supported (scripts/build-emr builds
# x86_64 binaries, and every streaming step ships them with -files): the action fails
# on any other architecture (Graviton, aarch64) before writing anything.
#
# Before installing anything, every binary is checked against CODE/bin/x86_64/SHA256SUMS
# (written by campanile-stage); with -s, that file itself must have the SHA-256
# campanile-stage printed, so a node installs only the binaries that were staged.
#
# Usage (EMR: --bootstrap-actions Path=s3://codebucket/bootstrap/campanile.sh,Args=[-c,s3://codebucket,-s,DIGEST]):
#   campanile.sh [-c s3://codebucket] [-s SHA256SUMS_DIGEST] [-d /usr/local/bin] [-D] [-V] [-h]
# Testing anywhere: CAMPANILE_ROOT=<dir> (where /etc, /proc and the binary directory
# are read and written; tasks read $CAMPANILE_ROOT/etc/campanile.cfg too),
# CAMPANILE_IMDS_ENDPOINT=http://127.0.0.1:PORT (the metadata service) and
# CAMPANILE_ARCH (the node's architecture, default: uname -m).
set -euo pipefail

VERSION="0.1.0"
ROOT="${CAMPANILE_ROOT:-}"
IMDS="${CAMPANILE_IMDS_ENDPOINT:-http://169.254.169.254}"
CODE=""
SUMS_DIGEST=""
BIN_DIR="/usr/local/bin"
DEBUG=0
ARCH="${CAMPANILE_ARCH:-$(uname -m)}"
# The task binaries a node needs; the submitter (rsync) is left out on purpose.
TASKS=(bucketlist multipartlist objectcopy multipartcomplete objectrestore objectindex objectverify objectmap objectdelete)

usage() {
  cat <<USAGE
Usage: $(basename "$0") [-c CODE] [-s DIGEST] [-d BIN_DIR] [-D] [-V] [-h]
  -c CODE     s3:// prefix staged by campanile-stage: binaries under CODE/bin/x86_64/,
              checked against the SHA256SUMS there before any is installed
  -s DIGEST   the SHA-256 of that SHA256SUMS, as campanile-stage printed it
  -d BIN_DIR  where to install the task binaries (default /usr/local/bin)
  -D          debug: trace every command
  -V          print the version and exit
  -h          this help
Writes ${ROOT}/etc/campanile.cfg (maxtmpsize, ephemeral).
USAGE
}

while getopts "c:s:d:DVh" opt; do
  case "$opt" in
    c) CODE="$OPTARG" ;;
    s) SUMS_DIGEST="$OPTARG" ;;
    d) BIN_DIR="$OPTARG" ;;
    D) DEBUG=1 ;;
    V) echo "campanile bootstrap $VERSION"; exit 0 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ "$DEBUG" -eq 1 ] && set -x

log() { echo "campanile-bootstrap: $*" >&2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Runs "$@" as root when this user cannot write where $1 goes (the nearest existing
# directory above it), as the hadoop user cannot write /etc or /usr/local/bin.
as_writer_of() {
  local target=$1 dir
  shift
  dir=$(dirname "$target")
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  if [ -w "$dir" ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@" || { log "cannot write $target as $(id -un), even with sudo -n"; return 1; }
  else
    log "cannot write $target as $(id -un), and sudo is not installed"
    return 1
  fi
}

# Installs the file $1 at $2 with mode $3, creating the directories above it.
install_file() {
  as_writer_of "$2" install -D -m "$3" "$1" "$2"
}

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

sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

# Fetches every binary and SHA256SUMS, checks them all, then installs: a node gets the
# staged binaries or none.
install_binaries() {
  local task expected
  aws s3 cp --quiet "$CODE/bin/$ARCH/SHA256SUMS" "$WORK/SHA256SUMS" \
    || { log "no SHA256SUMS under $CODE/bin/$ARCH/ (stage the code with campanile-stage)"; return 1; }
  if [ -n "$SUMS_DIGEST" ] && [ "$(sha256_of "$WORK/SHA256SUMS")" != "$SUMS_DIGEST" ]; then
    log "$CODE/bin/$ARCH/SHA256SUMS is not the one staged (its SHA-256 differs from -s): installing nothing"
    return 1
  fi
  for task in "${TASKS[@]}"; do
    aws s3 cp --quiet "$CODE/bin/$ARCH/$task" "$WORK/$task" \
      || { log "no $task under $CODE/bin/$ARCH/ (stage the code with campanile-stage)"; return 1; }
    expected=$(awk -v name="$task" '$2 == name { print $1 }' "$WORK/SHA256SUMS")
    if [ -z "$expected" ]; then
      log "SHA256SUMS has no line for $task: installing nothing"
      return 1
    fi
    if [ "$(sha256_of "$WORK/$task")" != "$expected" ]; then
      log "$task does not match its SHA-256 in SHA256SUMS: installing nothing"
      return 1
    fi
  done
  for task in "${TASKS[@]}"; do
    install_file "$WORK/$task" "$ROOT$BIN_DIR/$task" 0755
  done
}

main() {
  if [ "$ARCH" != x86_64 ]; then
    log "this node is $ARCH: Campanile's EMR binaries are built for x86_64 only; use x86_64 instance types"
    return 1
  fi
  imds_token
  local instance_type size dirs
  instance_type=$(imds_get instance-type || echo unknown)
  size=$(max_tmp_size)
  dirs=$(ephemeral_dirs)
  cat >"$WORK/campanile.cfg" <<CFG
# Written by the Campanile bootstrap action for a $instance_type instance. Read before
# the campanile.cfg shipped with the code: these values win over it.
[DEFAULT]
maxtmpsize=$size
ephemeral=$dirs
CFG
  install_file "$WORK/campanile.cfg" "$ROOT/etc/campanile.cfg" 0644
  log "wrote $ROOT/etc/campanile.cfg: maxtmpsize=$size ephemeral=$dirs"
  if [ -n "$CODE" ]; then
    install_binaries
    log "installed ${TASKS[*]} into $BIN_DIR"
  fi
}

main
