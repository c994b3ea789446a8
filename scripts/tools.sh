# shellcheck shell=bash
# Installs, when missing, the programs the tests and the quick start need, and puts
# them on PATH. Sourced by scripts/test, scripts/quickstart and .ci/run; reuses what a
# machine already has. Everything comes from the package registries (crates.io, PyPI).

CAMPANILE_TOOLS="${CAMPANILE_TOOLS:-$HOME/.cache/campanile}"
GARAGE_VERSION="2.5.0"
CFN_LINT_VERSION="1.51.0"
MOTO_VERSION="5.2.5"  # 5.2.1 answers CompleteMultipartUpload with a root element the SDK refuses
# Hadoop: the 3.4 line EMR 7 ships (3.4.1-amzn-N); 3.4.2 because hadoop-streaming 3.4.0
# and 3.4.1 were never published to Maven Central. Hive: EMR 7 runs 3.1.3, which stops on
# Java 17 (SessionState casts the class loader to URLClassLoader); 4.0.1 is the newest
# Hive whose CLI and its dependencies are all on Maven Central. See docs/hadoop.md.
HADOOP_VERSION="3.4.2"
HIVE_VERSION="4.0.1"
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

# Apache Hadoop and Apache Hive for scripts/hadoop-cluster, from their released jars on
# Maven Central (the Apache download sites' tarballs are not reachable from every machine
# the project runs on): Maven copies each one's jars and their dependencies into
# $CAMPANILE_TOOLS/{hadoop,hive}-<version>/lib, and the launchers in scripts/hadoop stand
# in for the tarballs' bin/ scripts. About 900 MB, 2-3 minutes the first time. Sets
# CAMPANILE_HADOOP_HOME and CAMPANILE_HIVE_HOME.
ensure_hadoop() {
  local repo jars
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  jars="$repo/scripts/hadoop"
  CAMPANILE_HADOOP_HOME="$CAMPANILE_TOOLS/hadoop-$HADOOP_VERSION"
  CAMPANILE_HIVE_HOME="$CAMPANILE_TOOLS/hive-$HIVE_VERSION"
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    echo "installing Java 17 and Maven from Debian's packages" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
  fi
  # A failed Maven run stops here (`|| return 1` below) whether or not the caller has
  # `set -e`: an install marked complete without its jars would fail every later run.
  local m2="$CAMPANILE_TOOLS/m2" installed="" log="$CAMPANILE_TOOLS/maven-install.log"
  mkdir -p "$CAMPANILE_TOOLS"
  # Maven, quiet, with its output kept for when it fails.
  _mvn() {
    if ! mvn -B -q -Dmaven.repo.local="$m2" -Dcampanile.maven.dir="$CAMPANILE_TOOLS/maven-work" \
      "$@" >"$log" 2>&1; then
      echo "maven failed (mvn $*):" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
  }
  if [ ! -f "$CAMPANILE_HADOOP_HOME/.complete" ]; then
    echo "installing Apache Hadoop $HADOOP_VERSION from Maven Central into $CAMPANILE_HADOOP_HOME" >&2
    local partial="$CAMPANILE_HADOOP_HOME.partial"
    rm -rf "$partial"
    mkdir -p "$partial"
    _mvn -f "$jars/hadoop-pom.xml" -Dhadoop.version="$HADOOP_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$partial/lib" || return 1
    # The NameNode's and DataNode's web resources, which the hadoop-hdfs jar leaves out
    # (the tarball has them in share/hadoop/hdfs/webapps): its tests jar carries them.
    _mvn -f "$jars/hadoop-pom.xml" -Dhadoop.version="$HADOOP_VERSION" \
      dependency:unpack -Dartifact="org.apache.hadoop:hadoop-hdfs:$HADOOP_VERSION:jar:tests" \
      -Dmdep.unpack.includes='webapps/**' -DoutputDirectory="$partial/share/hadoop/hdfs" || return 1
    touch "$partial/.complete"
    rm -rf "$CAMPANILE_HADOOP_HOME"
    mv "$partial" "$CAMPANILE_HADOOP_HOME"
    installed=1
  fi
  if [ ! -f "$CAMPANILE_HIVE_HOME/.complete" ]; then
    echo "installing Apache Hive $HIVE_VERSION from Maven Central into $CAMPANILE_HIVE_HOME" >&2
    local partial="$CAMPANILE_HIVE_HOME.partial"
    rm -rf "$partial"
    mkdir -p "$partial"
    _mvn -f "$jars/hive-pom.xml" -Dhive.version="$HIVE_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$partial/lib" || return 1
    touch "$partial/.complete"
    rm -rf "$CAMPANILE_HIVE_HOME"
    mv "$partial" "$CAMPANILE_HIVE_HOME"
    installed=1
  fi
  # Maven's own copy of the jars is not needed once they are in lib/: it would double the size.
  [ -z "$installed" ] || rm -rf "$m2" "$CAMPANILE_TOOLS/maven-work"
  # The launchers and their settings are refreshed from the repository every time (cheap),
  # so a change to them needs no reinstall.
  mkdir -p "$CAMPANILE_HADOOP_HOME/bin" "$CAMPANILE_HADOOP_HOME/etc/hadoop" \
    "$CAMPANILE_HADOOP_HOME/share/hadoop/tools/lib" "$CAMPANILE_HIVE_HOME/bin"
  install -m 755 "$jars/hadoop" "$CAMPANILE_HADOOP_HOME/bin/hadoop"
  local name
  for name in hdfs yarn mapred; do
    ln -sfn hadoop "$CAMPANILE_HADOOP_HOME/bin/$name"
  done
  install -m 644 "$jars/java-opens" "$CAMPANILE_HADOOP_HOME/etc/java-opens"
  install -m 644 "$jars/log4j.properties" "$CAMPANILE_HADOOP_HOME/etc/hadoop/log4j.properties"
  # Where the tarball keeps the streaming jar, for whoever looks for it there.
  ln -sfn "../../../../lib/hadoop-streaming-$HADOOP_VERSION.jar" \
    "$CAMPANILE_HADOOP_HOME/share/hadoop/tools/lib/hadoop-streaming-$HADOOP_VERSION.jar"
  install -m 755 "$jars/hive" "$CAMPANILE_HIVE_HOME/bin/hive"
}
