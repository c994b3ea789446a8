//! Helpers shared by the end-to-end tests: run a task binary as a user would, with
//! the test server's credentials, and load the article's test bucket once.

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
    run_with_env_bytes(program, args, stdin.as_bytes(), server, env)
}

/// [`run`] with stdin as bytes (not necessarily UTF-8) and no extra environment.
pub fn run_bytes(program: &str, args: &[&str], stdin: &[u8], server: &S3Server) -> Run {
    run_with_env_bytes(program, args, stdin, server, &[])
}

fn run_with_env_bytes(
    program: &str,
    args: &[&str],
    stdin: &[u8],
    server: &S3Server,
    env: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("mapred_input_format_class")
        .env_remove("mapreduce_task_ismap")
        // Retried attempts pause before they start (jittered, up to a minute): briefly
        // here, so that a test whose task fails for good does not wait out every
        // pause. A test may set it again in `env`.
        .env("CAMPANILE_ATTEMPT_PAUSE_MAX", "0.2")
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
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
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

/// The task binaries: bucketlist.
pub const BUCKETLIST: &str = env!("CARGO_BIN_EXE_bucketlist");
/// multipartlist.
pub const MULTIPARTLIST: &str = env!("CARGO_BIN_EXE_multipartlist");
/// objectcopy.
pub const OBJECTCOPY: &str = env!("CARGO_BIN_EXE_objectcopy");
/// multipartcomplete.
pub const MULTIPARTCOMPLETE: &str = env!("CARGO_BIN_EXE_multipartcomplete");
/// objectindex.
pub const OBJECTINDEX: &str = env!("CARGO_BIN_EXE_objectindex");
/// objectverify.
pub const OBJECTVERIFY: &str = env!("CARGO_BIN_EXE_objectverify");
/// objectmap, `campanile map`'s task.
pub const OBJECTMAP: &str = env!("CARGO_BIN_EXE_objectmap");
/// objectdelete, the delete step's task (`rsync --delete` on a cluster).
pub const OBJECTDELETE: &str = env!("CARGO_BIN_EXE_objectdelete");

/// Source and destination arguments of the copy tasks on one server.
pub fn src_dst_args(server: &S3Server, src: &str, dst: &str) -> Vec<String> {
    [
        "--src-bucket",
        src,
        "--src-endpoint",
        &server.endpoint,
        "--dst-bucket",
        dst,
        "--dst-endpoint",
        &server.endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs one stage, asserting it succeeded; returns its stdout.
pub fn stage(program: &str, args: &[String], stdin: &str, server: &S3Server) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run(program, &args, stdin, server, &[]);
    assert_eq!(
        result.code, 0,
        "{program} {args:?} failed:\n{}",
        result.stderr
    );
    result
}

/// bucketlist of `bucket` over `part_file`, asserting it succeeded.
pub fn list_bucket(server: &S3Server, bucket: &str, part_file: &str) -> Run {
    stage(
        BUCKETLIST,
        &[
            "--bucket".into(),
            bucket.into(),
            "--endpoint".into(),
            server.endpoint.clone(),
        ],
        part_file,
        server,
    )
}

/// The article's pipeline, stage by stage: bucketlist | multipartlist | objectcopy |
/// multipartcomplete. Returns the four runs.
pub fn copy_pipeline(server: &S3Server, src: &str, dst: &str, part_file: &str) -> [Run; 4] {
    let both = src_dst_args(server, src, dst);
    let list = list_bucket(server, src, part_file);
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    // A memory budget smaller than a part (4 MiB for the task), so that parts spill.
    let spill = tempfile::tempdir().expect("tempdir");
    let config = spill.path().join("campanile.cfg");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nmaxtmpsize={}\nephemeral={}\n",
            4 * 1024 * 1024,
            spill.path().display()
        ),
    )
    .expect("write campanile.cfg");
    let mut copy_args = both.clone();
    copy_args.extend(["--config".into(), config.display().to_string()]);
    let copied = stage(OBJECTCOPY, &copy_args, &parts.stdout, server);
    let left: Vec<_> = std::fs::read_dir(spill.path())
        .expect("read spill dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "campanile.cfg")
        .collect();
    assert!(left.is_empty(), "spool files left behind: {left:?}");
    let complete = complete_uploads(server, dst, &copied.stdout);
    [list, parts, copied, complete]
}

/// multipartcomplete into `dst` over objectcopy's part lines, asserting it succeeded.
pub fn complete_uploads(server: &S3Server, dst: &str, part_lines: &str) -> Run {
    stage(
        MULTIPARTCOMPLETE,
        &[
            "--bucket".into(),
            dst.into(),
            "--endpoint".into(),
            server.endpoint.clone(),
        ],
        part_lines,
        server,
    )
}

/// Asserts that `dst/key` is identical to `src/key`: bytes, size, ETag, content
/// headers, user metadata and encryption.
pub async fn assert_same_object(client: &aws_sdk_s3::Client, src: &str, dst: &str, key: &str) {
    let head = |bucket: &str| {
        let client = client.clone();
        let bucket = bucket.to_string();
        let key = key.to_string();
        async move {
            client
                .head_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("HEAD s3://{bucket}/{key}: {e:?}"))
        }
    };
    let (a, b) = (head(src).await, head(dst).await);
    assert_eq!(a.e_tag(), b.e_tag(), "ETag of {key:?}");
    assert_eq!(a.content_length(), b.content_length(), "size of {key:?}");
    assert_eq!(
        a.content_type(),
        b.content_type(),
        "Content-Type of {key:?}"
    );
    assert_eq!(
        a.cache_control(),
        b.cache_control(),
        "Cache-Control of {key:?}"
    );
    assert_eq!(
        a.content_encoding(),
        b.content_encoding(),
        "Content-Encoding of {key:?}"
    );
    assert_eq!(
        a.content_disposition(),
        b.content_disposition(),
        "Content-Disposition of {key:?}"
    );
    assert_eq!(
        a.content_language(),
        b.content_language(),
        "Content-Language of {key:?}"
    );
    assert_eq!(a.metadata(), b.metadata(), "metadata of {key:?}");
    assert_eq!(
        a.server_side_encryption(),
        b.server_side_encryption(),
        "encryption of {key:?}"
    );
    assert_eq!(
        body(client, src, key).await,
        body(client, dst, key).await,
        "bytes of {key:?}"
    );
}

/// The bytes of an object.
pub async fn body(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET s3://{bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Keys of a bucket.
pub async fn keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    fixtures::list_objects(client, bucket)
        .await
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// Multipart uploads in progress in a bucket.
pub async fn uploads_in_progress(client: &aws_sdk_s3::Client, bucket: &str) -> usize {
    client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .len()
}

/// The rsync binary.
pub const RSYNC: &str = env!("CARGO_BIN_EXE_rsync");
/// The `campanile JOB …` front end.
pub const CAMPANILE: &str = env!("CARGO_BIN_EXE_campanile");

/// `rsync` on the embedded local runner (`--json`), from `src` to `dst` through
/// `endpoint` (the server's own, or a proxy in front of it), with `part_file`, run and
/// output directories under `work`, extra arguments and environment.
pub fn rsync_local_at(
    server: &S3Server,
    endpoint: &str,
    work: &std::path::Path,
    part_file: &std::path::Path,
    buckets: (&str, &str),
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut args = vec![
        "--input".to_string(),
        part_file.display().to_string(),
        "--src-bucket".into(),
        buckets.0.into(),
        "--dst-bucket".into(),
        buckets.1.into(),
        "--src-endpoint".into(),
        endpoint.into(),
        "--dst-endpoint".into(),
        endpoint.into(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(RSYNC, &args, "", server, env)
}

/// Every stdout line of an rsync `--json` run, parsed: with `--json` stdout holds JSON
/// lines only, so a line that is not one fails the test.
pub fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line {l:?} is not JSON ({e}):\n{}", run.stdout))
        })
        .collect()
}

/// The JSON lines of an rsync `--json` run (step reports among them).
pub fn reports(run: &Run) -> Vec<serde_json::Value> {
    json_lines(run)
}

/// The `{"run_dir":…,"output":…}` line of an rsync `--json` run.
pub fn run_paths(run: &Run) -> serde_json::Value {
    json_lines(run)
        .into_iter()
        .find(|line| line.get("run_dir").is_some())
        .unwrap_or_else(|| panic!("no run_dir line:\n{}\n{}", run.stdout, run.stderr))
}

/// The summary (`{"summary":{…}}` line) of an rsync `--json` run.
pub fn summary(run: &Run) -> serde_json::Value {
    let mut found: Vec<serde_json::Value> = json_lines(run)
        .into_iter()
        .filter_map(|mut line| line.get_mut("summary").map(serde_json::Value::take))
        .collect();
    assert_eq!(found.len(), 1, "one summary line:\n{}", run.stdout);
    found.remove(0)
}

/// A counter of the step whose name starts with `step`.
pub fn counter(reports: &[serde_json::Value], step: &str, group: &str, name: &str) -> i64 {
    reports
        .iter()
        .find(|r| r["step"].as_str().is_some_and(|s| s.starts_with(step)))
        .and_then(|r| r["counters"][group][name].as_i64())
        .unwrap_or(0)
}

/// Listing or part lines with the 4th field (the object's mtime, which changes with
/// every upload) replaced by `[mtime]`, so that they can be compared as snapshots.
pub fn redact_mtimes(lines: &str) -> String {
    lines
        .lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split('\t').collect();
            if fields.len() >= 4 {
                fields[3] = "[mtime]";
            }
            fields.join("\t") + "\n"
        })
        .collect()
}

/// `text` with each of `names` (bucket names made unique per run, cluster ids, upload
/// ids) replaced by its placeholder, so that messages can be compared as snapshots.
pub fn redact(text: &str, names: &[(&str, &str)]) -> String {
    names
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .fold(text.to_string(), |text, (name, placeholder)| {
            text.replace(name, placeholder)
        })
}

/// Kills (SIGKILL) every running process of `program` whose arguments include
/// `marker`; returns how many.
pub fn kill_tasks(program: &str, marker: &str) -> u64 {
    let mut killed = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        let is_program = args.first().is_some_and(|a| {
            std::path::Path::new(a)
                .file_name()
                .is_some_and(|n| n == program)
        });
        if is_program && args.iter().any(|a| a == marker) && sigkill(pid) {
            killed += 1;
        }
    }
    killed
}

fn sigkill(pid: i32) -> bool {
    std::process::Command::new("kill")
        .args(["-s", "KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Every file under `dir`, gzip members decompressed, as bytes. Symbolic links are not
/// followed: they are the `-files` links to the binaries in each task's directory.
pub fn files_under(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    use std::io::Read;
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            let bytes = if path.extension().is_some_and(|e| e == "gz") {
                let mut text = Vec::new();
                flate2::read::MultiGzDecoder::new(bytes.as_slice())
                    .read_to_end(&mut text)
                    .expect("gunzip");
                text
            } else {
                bytes
            };
            found.push((path, bytes));
        }
    }
    found
}

/// The sum of counter `name` over every step and group of an rsync `--json` run.
pub fn counter_total(run: &Run, name: &str) -> i64 {
    reports(run)
        .iter()
        .filter_map(|report| report["counters"].as_object().cloned())
        .flat_map(|groups| groups.into_iter().map(|(_, counters)| counters))
        .filter_map(|counters| counters[name].as_i64())
        .sum()
}

/// A client of `server` and two new buckets on it, `<tag>-src…` and `<tag>-dst…`.
pub async fn fresh_buckets(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket(&format!("{tag}-src"));
    let dst = campanile_testkit::unique_bucket(&format!("{tag}-dst"));
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    (client, src, dst)
}
