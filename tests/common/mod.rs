//! Helpers shared by the end-to-end tests: run a task binary as a user would, with
//! the test server's credentials, and load the article's test bucket once.

#![allow(dead_code)] // each test file uses its own subset

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use campanile_testkit::{S3Server, fixtures};
use tokio::sync::OnceCell;

/// What a finished binary left behind.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Sum of the `reporter:counter:<group>,<counter>,N` lines on stderr.
    pub fn counter(&self, group: &str, counter: &str) -> i64 {
        self.stderr
            .lines()
            .filter_map(|line| match campanile::reporter::parse_line(line) {
                campanile::reporter::ReporterLine::Counter {
                    group: g,
                    counter: c,
                    amount,
                } if g == group && c == counter => Some(amount),
                _ => None,
            })
            .sum()
    }
}

/// Runs `program` with `args`, feeding `stdin`, with the server's credentials and
/// extra environment variables.
pub fn run(
    program: &str,
    args: &[&str],
    stdin: &str,
    server: &S3Server,
    env: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("mapred_input_format_class")
        .env_remove("mapreduce_task_ismap")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in server.command_env() {
        command.env(name, value);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start binary");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A bucket on the main test server holding the article's test data, loaded once per
/// test process.
pub async fn article_bucket() -> &'static str {
    static BUCKET: OnceCell<String> = OnceCell::const_new();
    BUCKET
        .get_or_init(|| async {
            let server = campanile_testkit::s3();
            let client = server.client().await;
            let bucket = campanile_testkit::unique_bucket("article");
            server.create_bucket(&client, &bucket).await;
            fixtures::upload_all(&client, &bucket, &fixtures::article_objects()).await;
            bucket
        })
        .await
}

/// The expected listing ETag of a fixture object.
pub fn expected_etag(object: &fixtures::FixtureObject) -> String {
    let data = object.bytes();
    match object.part_size {
        None => campanile::multipart::single_etag(&data),
        Some(part_size) => {
            let digests: Vec<[u8; 16]> = data
                .chunks(usize::try_from(part_size).expect("part size"))
                .map(campanile::multipart::md5)
                .collect();
            campanile::multipart::multipart_etag(&digests)
        }
    }
}
