//! Bad input for every task, end to end against Garage: each bad line is refused with
//! exit code 2 and an error naming the line and the field, before anything is written
//! (no output line, no object, no upload created or completed), even when valid lines
//! come first; CRLF line ends and a UTF-8 BOM are read as Hadoop reads them.

use crate::common::*;
use campanile_testkit::fixtures::{self, FixtureObject};
use tokio::sync::OnceCell;

/// Source with one small and one multipart object; each test copies into its own
/// destination.
struct Buckets {
    src: String,
    small: String,
    multi: Vec<String>,
}

async fn source() -> &'static Buckets {
    static SOURCE: OnceCell<Buckets> = OnceCell::const_new();
    SOURCE
        .get_or_init(|| async {
            let server = campanile_testkit::s3();
            let client = server.client().await;
            let src = campanile_testkit::unique_bucket("bad-input-src");
            server.create_bucket(&client, &src).await;
            let mib = 1024 * 1024;
            let objects = [
                FixtureObject::whole("small", 1000),
                FixtureObject::multipart("multi", 5 * mib + 10, 5 * mib),
            ];
            fixtures::upload_all(&client, &src, &objects).await;
            let listing = list_bucket(server, &src, ",\n");
            let line = |key: &str| {
                listing
                    .lines()
                    .into_iter()
                    .find(|l| l.starts_with(&format!("{key}\t")))
                    .expect("listed")
                    .to_string()
            };
            let small = line("small");
            let multi = line("multi");
            Buckets {
                src,
                small,
                multi: vec![multi],
            }
        })
        .await
}

async fn empty_destination(tag: &str) -> String {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket(tag);
    server.create_bucket(&client, &dst).await;
    dst
}

/// Asserts `run` was refused for `line` with `text` in the message, printed nothing on
/// stdout, and exited 2.
fn assert_refused(run: &Run, line: u64, text: &str) {
    assert_eq!(run.code, 2, "exit code; stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("line {line}")),
        "the error names line {line}:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(text),
        "the error says {text:?}:\n{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "no partial output");
}

/// Asserts `run` succeeded and printed nothing (empty input).
fn assert_did_nothing(run: &Run) {
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
}

/// Asserts nothing was written to `dst`: no object, no upload in progress.
async fn assert_untouched(dst: &str) {
    let client = campanile_testkit::s3().client().await;
    assert!(keys(&client, dst).await.is_empty(), "objects in {dst}");
    assert_eq!(
        uploads_in_progress(&client, dst).await,
        0,
        "uploads in {dst}"
    );
}

/// The mtime field of a listing line (it changes with every upload: snapshots redact it).
fn mtime(line: &str) -> &str {
    line.split('\t').nth(3).expect("mtime field")
}

fn with_fields(line: &str, change: impl Fn(&mut Vec<String>)) -> String {
    let mut fields: Vec<String> = line.split('\t').map(str::to_string).collect();
    change(&mut fields);
    fields.join("\t")
}

#[tokio::test(flavor = "multi_thread")]
async fn bucketlist_refuses_bad_part_files() {
    let server = campanile_testkit::s3();
    let src = &source().await.src;
    let args = ["--bucket", src.as_str(), "--endpoint", &server.endpoint];
    let cases: [(&[u8], u64, &str); 3] = [
        (b",small\nno comma here\n", 2, "comma"),
        (b",small\n,m\xff\n", 2, "not valid UTF-8"),
        (b"\xEF\xBB\xBF,small\r\n,m\x80x\r\n", 2, "not valid UTF-8"),
    ];
    let mut messages = String::new();
    for (input, line, text) in cases {
        let result = run_bytes(BUCKETLIST, &args, input, server);
        assert_refused(&result, line, text);
        messages.push_str(&result.stderr);
    }
    insta::assert_snapshot!(redact(&messages, &[(src, "[src]")]));
    // A BOM, CRLF line ends and a missing last newline are read as Hadoop does.
    let result = run_bytes(BUCKETLIST, &args, b"\xEF\xBB\xBF,small\r\n,multi", server);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let keys: Vec<&str> = result
        .lines()
        .iter()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(keys, ["small", "multi"]);
    // Empty input: nothing to do, nothing printed.
    let result = run_bytes(BUCKETLIST, &args, b"", server);
    assert_did_nothing(&result);
}

#[tokio::test(flavor = "multi_thread")]
async fn multipartlist_refuses_bad_listings_before_creating_any_upload() {
    let server = campanile_testkit::s3();
    let source = source().await;
    let dst = empty_destination("bad-mlist").await;
    let args = src_dst_args(server, &source.src, &dst);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let multi = &source.multi[0];
    let long_key = format!(
        "{}\t{}",
        "k".repeat(1025),
        multi.split_once('\t').expect("tab").1
    );
    let cases: Vec<(String, &str)> = vec![
        (
            with_fields(multi, |f| f.truncate(3)),
            "expected 4 TAB-separated fields",
        ),
        (
            with_fields(multi, |f| f.push("x".into())),
            "field 5 (dstEtag) is not an S3 ETag",
        ),
        (
            with_fields(multi, |f| f.extend(["-".into(), "x".into()])),
            "expected 4 TAB-separated fields",
        ),
        (
            with_fields(multi, |f| f[2] = "12a".into()),
            "field 3 (size) is not a number",
        ),
        (
            with_fields(multi, |f| f[2] = "-5".into()),
            "field 3 (size) is not a number",
        ),
        (
            with_fields(multi, |f| f[1] = "xyz-2".into()),
            "field 2 (etag)",
        ),
        (
            with_fields(multi, |f| f[1] = format!("{}-0", &f[1][..32])),
            "field 2 (etag)",
        ),
        (
            with_fields(multi, |f| f[1] = format!("{}-10001", &f[1][..32])),
            "field 2 (etag)",
        ),
        (
            with_fields(multi, |f| f[3] = "yesterday".into()),
            "field 4 (mtime)",
        ),
        (
            with_fields(multi, |f| f[0] = String::new()),
            "field 1 (key) is empty",
        ),
        (long_key, "S3 keys are at most 1024"),
    ];
    let mut messages = String::new();
    for (bad, text) in cases {
        // A valid multipart line first: it must not get an upload either.
        let input = format!("{multi}\n{bad}\n");
        let result = run(MULTIPARTLIST, &args, &input, server, &[]);
        assert_refused(&result, 2, text);
        messages.push_str(&result.stderr);
    }
    let invalid = [multi.as_bytes(), b"\nab\xC3(\tcd\n"].concat();
    let result = run_bytes(MULTIPARTLIST, &args, &invalid, server);
    assert_refused(&result, 2, "not valid UTF-8");
    messages.push_str(&result.stderr);
    // A line longer than the reader buffers.
    let huge = format!(
        "{multi}\n{}\n",
        "x".repeat(campanile::input::MAX_LINE_BYTES + 10)
    );
    let result = run(MULTIPARTLIST, &args, &huge, server, &[]);
    assert_refused(&result, 2, "longer than");
    messages.push_str(&result.stderr);
    assert_untouched(&dst).await;
    // The messages in full, one refusal after the other (the mtime of the valid line
    // changes with every upload).
    insta::assert_snapshot!(redact(
        &messages,
        &[
            (&source.src, "[src]"),
            (&dst, "[dst]"),
            (mtime(multi), "[mtime]")
        ]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn objectcopy_refuses_bad_part_lines_before_copying_anything() {
    let server = campanile_testkit::s3();
    let source = source().await;
    let dst = empty_destination("bad-copy").await;
    let args = src_dst_args(server, &source.src, &dst);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = format!("{}\t\\N\t\\N\t\\N\t\\N\t\\N", source.small);
    let part = |number: &str, count: &str, first: &str, last: &str| {
        format!(
            "{}\tupload-1\t{number}\t{count}\t{first}\t{last}",
            source.multi[0]
        )
    };
    let size = 5 * 1024 * 1024 + 10;
    let cases: Vec<(String, &str)> = vec![
        (
            with_fields(&whole, |f| f.truncate(8)),
            "expected 9 TAB-separated fields",
        ),
        (
            with_fields(&whole, |f| f[2] = "ten".into()),
            "field 3 (size) is not a number",
        ),
        (
            with_fields(&whole, |f| f[1] = "0".repeat(31)),
            "field 2 (etag)",
        ),
        (
            with_fields(&whole, |f| f[5] = "1".into()),
            "all \\N (whole object) or all set",
        ),
        (part("0", "2", "0", "9"), "field 6 (partNumber)"),
        (part("3", "2", "0", "9"), "field 6 (partNumber)"),
        (part("1", "10001", "0", "9"), "field 7 (partCount)"),
        (part("1", "2", "0", &size.to_string()), "does not fit"),
        (part("1", "2", "20", "10"), "does not fit"),
        (
            part("1", "2", "x", "10"),
            "field 8 (firstByte) is not a number",
        ),
    ];
    let mut messages = String::new();
    for (bad, text) in cases {
        let input = format!("{whole}\n{bad}\n");
        let result = run(OBJECTCOPY, &args, &input, server, &[]);
        assert_refused(&result, 2, text);
        messages.push_str(&result.stderr);
    }
    assert_untouched(&dst).await;
    insta::assert_snapshot!(redact(
        &messages,
        &[
            (&source.src, "[src]"),
            (&dst, "[dst]"),
            (mtime(&source.small), "[mtime]"),
            (mtime(&source.multi[0]), "[mtime]"),
        ]
    ));
    // CRLF is read as Hadoop reads it: the copy happens (a U+FEFF would be part of
    // the key: see copy::keys_that_start_with_a_byte_order_mark_keep_it).
    let result = run(OBJECTCOPY, &args, &format!("{whole}\r\n"), server, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let client = server.client().await;
    assert_same_object(&client, &source.src, &dst, "small").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn multipartcomplete_refuses_bad_lines_before_completing_anything() {
    let server = campanile_testkit::s3();
    let source = source().await;
    let client = server.client().await;
    let dst = empty_destination("bad-complete").await;
    let both = src_dst_args(server, &source.src, &dst);
    let parts = stage(
        MULTIPARTLIST,
        &both,
        &format!("{}\n", source.multi[0]),
        server,
    );
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    let lines: Vec<&str> = copied.lines();
    assert_eq!(lines.len(), 2, "two parts copied");
    let args = ["--bucket", dst.as_str(), "--endpoint", &server.endpoint];
    let first = lines[0];
    let cases: Vec<(String, &str)> = vec![
        (
            with_fields(first, |f| f.truncate(6)),
            "expected 7 TAB-separated fields",
        ),
        (
            with_fields(first, |f| f[4] = "9".into()),
            "above the 2 parts",
        ),
        (
            with_fields(first, |f| f[4] = "0".into()),
            "field 5 (partNumber)",
        ),
        (
            with_fields(first, |f| f[1] = f[1].replace("-2", "")),
            "not a multipart ETag",
        ),
        (
            with_fields(first, |f| f[1] = f[1].replace("-2", "-3")),
            "differs from",
        ),
        (
            with_fields(first, |f| f[3] = "nope".into()),
            "field 4 (partEtag)",
        ),
        (
            with_fields(first, |f| f[5] = "1".repeat(30)),
            "field 6 (firstByte) is out of range",
        ),
    ];
    for (bad, text) in cases {
        // Both good parts first: streaming, the upload would be completed before the
        // bad line is read.
        let input = format!("{}\n{}\n{bad}\n", lines[0], lines[1]);
        let result = run(MULTIPARTCOMPLETE, &args, &input, server, &[]);
        assert_refused(&result, 3, text);
    }
    assert!(keys(&client, &dst).await.is_empty(), "nothing completed");
    // The upload is still there for a correct retry, which completes it.
    assert_eq!(uploads_in_progress(&client, &dst).await, 1);
    // CRLF line ends are fine (a U+FEFF would be part of the key: see
    // copy::keys_that_start_with_a_byte_order_mark_keep_it).
    let good = format!("{}\r\n{}\r\n", lines[0], lines[1]);
    let result = run(MULTIPARTCOMPLETE, &args, &good, server, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_same_object(&client, &source.src, &dst, "multi").await;
    // Empty input: a reducer with no input succeeds and does nothing.
    let result = run(MULTIPARTCOMPLETE, &args, "", server, &[]);
    assert_did_nothing(&result);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_memory_budget_from_the_environment_is_used_or_refused() {
    let server = campanile_testkit::s3();
    let source = source().await;
    let dst = empty_destination("budget").await;
    let mut args = src_dst_args(server, &source.src, &dst);
    args.push("--debug".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run(
        OBJECTCOPY,
        &args,
        "",
        server,
        &[("CAMPANILE_MAXTMPSIZE", "12345")],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("maxtmpsize=12345 (from $CAMPANILE_MAXTMPSIZE)"),
        "{}",
        result.stderr
    );
    let result = run(
        OBJECTCOPY,
        &args,
        "",
        server,
        &[("CAMPANILE_MAXTMPSIZE", "lots")],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("CAMPANILE_MAXTMPSIZE"),
        "{}",
        result.stderr
    );
}
