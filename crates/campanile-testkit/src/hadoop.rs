//! The single-node Hadoop cluster of `scripts/hadoop-cluster` (HDFS, YARN, MapReduce
//! and Hive on 127.0.0.1), for the tests and benchmarks that run Campanile's cluster
//! path on the real engines.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::S3Server;

/// The variables `scripts/hadoop-cluster start` exports that a client of the cluster
/// needs (`hadoop` and `hive` on PATH, their configuration, the streaming jar).
pub const CLUSTER_VARIABLES: [&str; 7] = [
    "PATH",
    "JAVA_HOME",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
    "HIVE_HOME",
    "HIVE_CONF_DIR",
    "HADOOP_STREAMING_JAR",
];

/// Starts the cluster whose state lives in `dir` (or leaves a running one up), with
/// S3A pointed at `server`, and returns the [`CLUSTER_VARIABLES`] its start exports.
/// `repo` is the repository holding `scripts/hadoop-cluster`. Panics, with the
/// script's stderr, when the start fails.
pub fn start(repo: &Path, dir: &Path, server: &S3Server) -> Vec<(String, String)> {
    let output = Command::new("bash")
        .arg("-c")
        .arg(
            r#"set -euo pipefail
               exports="$(bash "$0" start --dir "$1" --s3-endpoint "$2" --access-key "$3" --secret-key "$4" --region "$5")"
               eval "$exports"
               env -0"#,
        )
        .arg(repo.join("scripts/hadoop-cluster"))
        .arg(dir)
        .args([
            &server.endpoint,
            &server.access_key,
            &server.secret_key,
            &server.region,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/hadoop-cluster");
    assert!(
        output.status.success(),
        "scripts/hadoop-cluster start failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            CLUSTER_VARIABLES
                .contains(&name)
                .then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}
