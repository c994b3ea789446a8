//! partfile end to end against Garage: a part file made for a bucket of a mixed layout
//! lists every key exactly once through bucketlist; `--check` passes it and the
//! article's part file on the article's bucket, and names the overlapping lines and
//! the ranges left out of a bad one.

use std::collections::HashMap;

use campanile::record::ListingRecord;
use campanile_testkit::fixtures;

use crate::common::{article_bucket, fresh_buckets, list_bucket, run, run_paths};

/// The partfile binary.
pub const PARTFILE: &str = env!("CARGO_BIN_EXE_partfile");

/// Keys of a mixed layout: a dense log directory, flat hex keys, sequential numbers,
/// and awkward keys (TAB, unicode, before `0`, after `f`, prefixes of others).
pub fn mixed_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..1_200 {
        keys.push(format!("logs/2026/11/30/{:010x}.json", next() >> 24));
    }
    for _ in 0..600 {
        keys.push(format!("{:012x}", next() >> 16));
    }
    for i in 0..400 {
        keys.push(format!("z/{i:06}"));
    }
    for key in [
        "!",
        "!bang",
        " space",
        "a",
        "a\tb",
        "a/b",
        "ab",
        "logs",
        "logs/",
        "日本/写真",
        "\u{10FFFF}",
        "\u{10FFFF}x",
    ] {
        keys.push(key.to_string());
    }
    keys.sort();
    keys.dedup();
    keys
}

async fn mixed_bucket() -> (String, Vec<String>) {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("mixed");
    server.create_bucket(&client, &bucket).await;
    let keys = mixed_keys();
    let objects: Vec<fixtures::FixtureObject> = keys
        .iter()
        .map(|key| fixtures::FixtureObject::whole(key.clone(), 1))
        .collect();
    fixtures::upload_all(&client, &bucket, &objects).await;
    (bucket, keys)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_part_file_lists_every_key_exactly_once() {
    let (bucket, keys) = mixed_bucket().await;
    let server = campanile_testkit::s3();
    let made = run(
        PARTFILE,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--keys-per-line",
            "250",
        ],
        "",
        server,
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(made.stderr.contains("lines"), "{}", made.stderr);
    let lines = made.lines();
    assert!(lines.len() >= keys.len() / 250, "{} lines", lines.len());
    assert!(lines.iter().all(|l| l.starts_with("range\t")), "{lines:?}");
    let listed = list_bucket(server, &bucket, &made.stdout);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_line_max = 0;
    for line in &lines {
        let one = list_bucket(server, &bucket, &format!("{line}\n"));
        per_line_max = per_line_max.max(one.lines().len());
    }
    for line in listed.lines() {
        let record = ListingRecord::parse(line).expect("record");
        *seen.entry(record.key).or_default() += 1;
    }
    assert_eq!(seen.len(), keys.len());
    for key in &keys {
        assert_eq!(seen.get(key), Some(&1), "{key:?}");
    }
    assert!(per_line_max <= 500, "largest line {per_line_max} keys");
    // The checker agrees.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("part.generated");
    std::fs::write(&path, &made.stdout).expect("write");
    let checked = run(
        PARTFILE,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--check",
            path.to_str().expect("utf8"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_article_part_file_passes_the_check_on_the_article_bucket() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let path = crate::common::repo_root().join("var/input/srcbucket/part.all");
    let checked = run(
        PARTFILE,
        &[
            "--bucket",
            bucket,
            "--endpoint",
            &server.endpoint,
            "--check",
            path.to_str().expect("utf8"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    assert_eq!(checked.stdout, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_check_names_overlapping_lines_and_ranges_left_out() {
    let (bucket, _) = mixed_bucket().await;
    let server = campanile_testkit::s3();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("part.hand");
    // `,logs/` and `,logs/2026/` overlap; `/,a` leaves a/b to nobody; nothing lists the
    // hex keys, z/, the keys before `a` or after `logt`.
    std::fs::write(&path, "# by hand\n,logs/\n/,a\n,logs/2026/\n").expect("write");
    let checked = run(
        PARTFILE,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--check",
            path.to_str().expect("utf8"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(checked.code, 2, "{}{}", checked.stdout, checked.stderr);
    assert!(
        checked
            .stdout
            .contains("lines 2 (\",logs/\") and 4 (\",logs/2026/\") overlap"),
        "{}",
        checked.stdout
    );
    for first in ["\" space\"", "\"a/b\"", "\"z/000000\""] {
        assert!(
            checked.stdout.contains(&format!("the first {first}")),
            "{first}: {}",
            checked.stdout
        );
    }
    assert!(
        checked.stderr.contains("1 pair(s) of overlapping lines"),
        "{}",
        checked.stderr
    );
    // bucketlist itself lists the overlap twice (logs/ is listed by line 2 only): the
    // check is what catches it.
    let listed = list_bucket(server, &bucket, ",logs/\n,logs/2026/\n");
    assert_eq!(listed.lines().len(), 2 * 1_200 + 1);
}

/// `rsync --local` from `src` to `dst` with `extra` arguments (and no `--input` unless
/// they give one), run and output directories under `work`.
/// The job output a `--json` run names in its paths line.
fn run_paths_output(result: &crate::common::Run) -> String {
    run_paths(result)["output"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn rsync(work: &std::path::Path, src: &str, dst: &str, extra: &[&str]) -> crate::common::Run {
    let server = campanile_testkit::s3();
    let runs = work.join("runs").display().to_string();
    let output = work.join("output").display().to_string();
    let mut args = vec![
        "--src-bucket",
        src,
        "--dst-bucket",
        dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        &server.endpoint,
        "--run-dir",
        &runs,
        "--output",
        &output,
    ];
    args.extend_from_slice(extra);
    run(crate::common::RSYNC, &args, "", server, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_without_input_makes_a_part_file_and_copies_every_key() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "noinput").await;
    // A layout nobody told rsync about: every key outside the article's prefixes.
    let mut keys: Vec<String> = mixed_keys().into_iter().step_by(9).collect();
    keys.extend(["A/upper", "~tilde", "g/after-f", "a\tb"].map(String::from));
    keys.sort();
    keys.dedup();
    let objects: Vec<fixtures::FixtureObject> = keys
        .iter()
        .map(|key| fixtures::FixtureObject::whole(key.clone(), 3))
        .collect();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync(
        work.path(),
        &src,
        &dst,
        &[
            "--uuid",
            "auto",
            "--part-file-keys-per-line",
            "40",
            "--json",
            "-q",
        ],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let made = work.path().join("runs/auto/part.generated");
    assert!(
        result.stderr.contains(&format!(
            "PartFile: {} (part file of s3://{src}: ",
            made.display()
        )),
        "{}",
        result.stderr
    );
    let lines = std::fs::read_to_string(&made).expect("part file made");
    assert!(lines.lines().count() >= keys.len() / 40, "{lines}");
    let json: Vec<serde_json::Value> = result
        .stdout
        .lines()
        .filter(|l| l.starts_with("{\"part_file\""))
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(json.len(), 1, "{}", result.stdout);
    assert_eq!(json[0]["part_file"]["path"], made.display().to_string());
    assert_eq!(json[0]["part_file"]["estimated_keys"], keys.len() as f64);
    assert_eq!(json[0]["part_file"]["exact"], true);
    let mut copied = crate::common::keys(&client, &dst).await;
    copied.sort();
    assert_eq!(copied, keys, "every key copied");
    assert!(
        run_paths_output(&result).ends_with("part.generated.auto"),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_refuses_overlapping_lines_and_part_files_that_leave_keys_out() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let src = article_bucket().await.to_string();
    let dst = campanile_testkit::unique_bucket("refuse-dst");
    server.create_bucket(&client, &dst).await;
    let work = tempfile::tempdir().expect("tempdir");
    let overlapping = work.path().join("part.overlap");
    std::fs::write(&overlapping, "/,0\n,000/\n,1\n# 1a… again\n,1a\n").expect("write");
    let path = overlapping.display().to_string();
    let refused = rsync(work.path(), &src, &dst, &["--input", &path, "--uuid", "o"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("lines 3 (\",1\") and 5 (\",1a\") overlap: both list the key \"1a\""),
        "{}",
        refused.stderr
    );
    // Even without the gap check.
    let still = rsync(
        work.path(),
        &src,
        &dst,
        &["--input", &path, "--uuid", "o2", "--no-check-part-file"],
    );
    assert_eq!(still.code, 2, "{}", still.stderr);
    // A part file that leaves keys out: named, refused, unless told otherwise.
    let partial = work.path().join("part.partial");
    std::fs::write(&partial, ",000/\n,f\n").expect("write");
    let path = partial.display().to_string();
    let refused = rsync(work.path(), &src, &dst, &["--input", &path, "--uuid", "p"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("leaves out keys of s3://")
            && refused
                .stderr
                .contains("no line lists the keys from \"\" to before \"000/\""),
        "{}",
        refused.stderr
    );
    assert!(crate::common::keys(&client, &dst).await.is_empty());
    let allowed = rsync(
        work.path(),
        &src,
        &dst,
        &[
            "--input",
            &path,
            "--uuid",
            "p2",
            "--no-check-part-file",
            "-q",
        ],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let copied = crate::common::keys(&client, &dst).await;
    assert!(copied.contains(&"000/00".to_string()) && copied.contains(&"ff".to_string()));
    assert!(!copied.contains(&"00".to_string()), "{copied:?}");
}

/// URL-encodes a key as S3 Inventory's CSV reports do.
fn url_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A Parquet inventory report of `keys` (Snappy, as S3 Inventory writes them).
fn parquet_report(keys: &[String]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use std::sync::Arc;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message s3.inventory { required binary bucket (STRING); required binary key (STRING); }",
        )
        .expect("schema"),
    );
    let properties = Arc::new(
        parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = parquet::file::writer::SerializedFileWriter::new(&mut out, schema, properties)
        .expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let mut index = 0;
    while let Some(mut column) = group.next_column().expect("column") {
        let values: Vec<ByteArray> = keys
            .iter()
            .map(|k| ByteArray::from(if index == 0 { "bucket" } else { k.as_str() }))
            .collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .expect("write");
        column.close().expect("close column");
        index += 1;
    }
    group.close().expect("close group");
    writer.close().expect("close");
    out
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_report_gives_a_part_file_without_listing_the_bucket() {
    let (bucket, keys) = mixed_bucket().await;
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let inventory = campanile_testkit::unique_bucket("inventory");
    server.create_bucket(&client, &inventory).await;
    // Two data files, the keys in no particular order, as S3 Inventory writes them.
    let mut rows: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{bucket}\",\"{}\",\"1\"\n", url_encode(k)))
        .collect();
    rows.reverse();
    let (first, second) = rows.split_at(rows.len() / 3);
    let mut files = Vec::new();
    for (i, part) in [first, second].iter().enumerate() {
        let key = format!("inv/{bucket}/all/data/file-{i}.csv.gz");
        fixtures::put_object(&client, &inventory, &key, gzip(&part.concat())).await;
        files.push(format!(
            "{{\"key\":\"{key}\",\"size\":1,\"MD5checksum\":\"x\"}}"
        ));
    }
    let manifest = format!(
        "{{\"sourceBucket\":\"{bucket}\",\"destinationBucket\":\"arn:aws:s3:::{inventory}\",\
         \"version\":\"2016-11-30\",\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key, Size\",\
         \"files\":[{}]}}",
        files.join(",")
    );
    let manifest_key = format!("inv/{bucket}/all/2026-11-30T00-00Z/manifest.json");
    fixtures::put_object(&client, &inventory, &manifest_key, manifest.into_bytes()).await;
    let made = run(
        PARTFILE,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--keys-per-line",
            "300",
            "--inventory",
            &format!("s3://{inventory}/{manifest_key}"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(made.stderr.contains("exactly 2212 keys"), "{}", made.stderr);
    let lines: Vec<campanile::partfile::PartLine> = made
        .lines()
        .iter()
        .filter_map(|l| campanile::partfile::PartLine::parse(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), keys.len().div_ceil(300));
    for line in &lines[..lines.len() - 1] {
        assert_eq!(keys.iter().filter(|k| line.contains(k)).count(), 300);
    }
    let listed = list_bucket(server, &bucket, &made.stdout);
    let mut seen: Vec<String> = listed
        .lines()
        .iter()
        .map(|l| ListingRecord::parse(l).expect("record").key)
        .collect();
    seen.sort();
    assert_eq!(seen, keys, "every key exactly once");
    // The same report as Parquet (keys not encoded), read the same way.
    let mut names = keys.clone();
    names.reverse();
    let parquet_key = format!("inv/{bucket}/parquet/data/file-0.parquet");
    fixtures::put_object(&client, &inventory, &parquet_key, parquet_report(&names)).await;
    let manifest = format!(
        "{{\"sourceBucket\":\"{bucket}\",\"destinationBucket\":\"arn:aws:s3:::{inventory}\",\
         \"version\":\"2016-11-30\",\"fileFormat\":\"Parquet\",\
         \"fileSchema\":\"message s3.inventory {{ required binary bucket (STRING); required binary key (STRING); }}\",\
         \"files\":[{{\"key\":\"{parquet_key}\",\"size\":1,\"MD5checksum\":\"x\"}}]}}"
    );
    let parquet_manifest = format!("inv/{bucket}/parquet/2026-11-30T00-00Z/manifest.json");
    fixtures::put_object(
        &client,
        &inventory,
        &parquet_manifest,
        manifest.into_bytes(),
    )
    .await;
    let from_parquet = run(
        PARTFILE,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--keys-per-line",
            "300",
            "--inventory",
            &format!("s3://{inventory}/{parquet_manifest}"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(from_parquet.code, 0, "{}", from_parquet.stderr);
    assert_eq!(
        from_parquet.stdout, made.stdout,
        "the same lines from either format"
    );
    // A report of another bucket is refused.
    let other = run(
        PARTFILE,
        &[
            "--bucket",
            "another",
            "--endpoint",
            &server.endpoint,
            "--inventory",
            &format!("s3://{inventory}/{manifest_key}"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other.stderr.contains("not s3://another"),
        "{}",
        other.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_on_emr_without_input_puts_a_part_file_under_code() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("emr-src");
    let code = campanile_testkit::unique_bucket("emr-code");
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &code).await;
    let keys = ["a", "b/c", "日本", "~z"];
    for key in keys {
        fixtures::put_object(&client, &src, key, b"x".to_vec()).await;
    }
    let cluster = server.create_cluster("campanile-partfile").await;
    let code_uri = format!("s3://{code}");
    let output = format!("s3://{code}/output");
    let args = |dry_run: bool| {
        let mut args = vec![
            "-j",
            &cluster,
            "--code",
            &code_uri,
            "--output",
            &output,
            "--src-bucket",
            &src,
            "--dst-bucket",
            "dstbucket",
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--emr-endpoint",
            &server.endpoint,
            "--uuid",
            "u1",
        ];
        if dry_run {
            args.push("--dry-run");
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let uri = format!("s3://{code}/input/{src}/u1/part.generated");
    let dry: Vec<String> = args(true);
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let planned = run(crate::common::RSYNC, &dry, "", server, &[]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert!(
        planned
            .stderr
            .contains(&format!("PartFile: {uri} would be made")),
        "{}",
        planned.stderr
    );
    assert!(
        planned.stdout.contains(&uri),
        "the list step reads it: {}",
        planned.stdout
    );
    assert!(
        crate::common::keys(&client, &code).await.is_empty(),
        "nothing made by a dry run"
    );
    let real: Vec<String> = args(false);
    let real: Vec<&str> = real.iter().map(String::as_str).collect();
    let submitted = run(crate::common::RSYNC, &real, "", server, &[]);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    assert!(
        submitted
            .stderr
            .contains(&format!("PartFile: {uri} (part file of s3://{src}: ")),
        "{}",
        submitted.stderr
    );
    assert!(
        submitted.stdout.contains("Added step"),
        "{}",
        submitted.stdout
    );
    let made = crate::common::body(&client, &code, &format!("input/{src}/u1/part.generated")).await;
    let lines: Vec<campanile::partfile::PartLine> = String::from_utf8(made)
        .expect("utf8")
        .lines()
        .filter_map(|l| campanile::partfile::PartLine::parse(l).expect("line"))
        .collect();
    for key in keys {
        assert_eq!(lines.iter().filter(|l| l.contains(key)).count(), 1, "{key}");
    }
}

/// A CSV inventory row of `object` of `bucket` (schema [`LISTING_SCHEMA`]).
fn inventory_row(bucket: &str, object: &fixtures::FixtureObject) -> String {
    format!(
        "\"{bucket}\",\"{}\",\"{}\",\"2026-11-29T00:00:00.000Z\",\"{}\",\"STANDARD\"\n",
        url_encode(&object.key),
        object.size,
        crate::common::expected_etag(object)
    )
}

/// The fields of an inventory report that can serve as a listing.
const LISTING_SCHEMA: &str = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass";

/// A Parquet report of `objects` of `bucket` with the listing's columns.
fn parquet_listing(bucket: &str, objects: &[fixtures::FixtureObject]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use std::sync::Arc;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(PARQUET_LISTING_SCHEMA).expect("schema"),
    );
    let properties = Arc::new(
        parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = parquet::file::writer::SerializedFileWriter::new(&mut out, schema, properties)
        .expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let defined = vec![1; objects.len()];
    let mut index = 0;
    while let Some(mut column) = group.next_column().expect("column") {
        let text = |value: &dyn Fn(&fixtures::FixtureObject) -> String| -> Vec<ByteArray> {
            objects
                .iter()
                .map(|o| ByteArray::from(value(o).as_str()))
                .collect()
        };
        match index {
            0 => column.typed::<ByteArrayType>().write_batch(
                &text(&|_| bucket.to_string()),
                None,
                None,
            ),
            1 => column
                .typed::<ByteArrayType>()
                .write_batch(&text(&|o| o.key.clone()), None, None),
            2 => column.typed::<Int64Type>().write_batch(
                &objects.iter().map(|o| o.size as i64).collect::<Vec<_>>(),
                Some(&defined),
                None,
            ),
            3 => column.typed::<Int64Type>().write_batch(
                &vec![1_764_374_400_000; objects.len()],
                Some(&defined),
                None,
            ),
            _ => column.typed::<ByteArrayType>().write_batch(
                &text(&crate::common::expected_etag),
                Some(&defined),
                None,
            ),
        }
        .expect("write");
        column.close().expect("close column");
        index += 1;
    }
    group.close().expect("close group");
    writer.close().expect("close");
    out
}

const PARQUET_LISTING_SCHEMA: &str = "message s3.inventory { required binary bucket (STRING); \
     required binary key (STRING); optional int64 size; \
     optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); \
     optional binary e_tag (STRING); }";

/// Puts a manifest of `files` (keys in `inventory`) for `bucket`; returns its URI.
async fn put_manifest(
    client: &aws_sdk_s3::Client,
    (bucket, inventory): (&str, &str),
    name: &str,
    (format, schema): (&str, &str),
    files: &[String],
) -> String {
    let files: Vec<String> = files
        .iter()
        .map(|key| format!("{{\"key\":\"{key}\",\"size\":1,\"MD5checksum\":\"x\"}}"))
        .collect();
    let manifest = serde_json::json!({
        "sourceBucket": bucket,
        "destinationBucket": format!("arn:aws:s3:::{inventory}"),
        "version": "2016-11-30",
        "fileFormat": format,
        "fileSchema": schema,
        "files": serde_json::from_str::<serde_json::Value>(&format!("[{}]", files.join(",")))
            .expect("files"),
    });
    let key = format!("inv/{bucket}/{name}/manifest.json");
    fixtures::put_object(client, inventory, &key, manifest.to_string().into_bytes()).await;
    format!("s3://{inventory}/{key}")
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_lists_the_source_from_an_inventory_report_and_copies_each_key_once() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("inv-src");
    let dst = campanile_testkit::unique_bucket("inv-dst");
    let inventory = campanile_testkit::unique_bucket("inv-reports");
    for bucket in [&src, &dst, &inventory] {
        server.create_bucket(&client, bucket).await;
    }
    let mib = 1024 * 1024;
    let mut objects: Vec<fixtures::FixtureObject> = ["a", "a\tb", "dir/x", "日本", "~z"]
        .iter()
        .map(|key| fixtures::FixtureObject::whole(*key, 100))
        .collect();
    objects.push(fixtures::FixtureObject::multipart("big", 11 * mib, 5 * mib));
    fixtures::upload_all(&client, &src, &objects).await;
    // Written after the report: not in it, so not copied. In the report but deleted
    // since: reported as vanished.
    let late = fixtures::FixtureObject::whole("late", 10);
    fixtures::upload_all(&client, &src, std::slice::from_ref(&late)).await;
    let gone = fixtures::FixtureObject::whole("gone", 10);
    // Two data files that both list "big" (multipart) and "a": each copied once all
    // the same.
    let rows: Vec<String> = objects
        .iter()
        .chain([&gone])
        .map(|o| inventory_row(&src, o))
        .collect();
    let first: String = [0, 1, 2, 5].map(|i| rows[i].as_str()).concat();
    let second: String = [3, 4, 5, 6, 0].map(|i| rows[i].as_str()).concat();
    let mut files = Vec::new();
    for (i, text) in [first, second].iter().enumerate() {
        let key = format!("inv/{src}/csv/data/{i}.csv.gz");
        fixtures::put_object(&client, &inventory, &key, gzip(text)).await;
        files.push(key);
    }
    let manifest = put_manifest(
        &client,
        (&src, &inventory),
        "csv",
        ("CSV", LISTING_SCHEMA),
        &files,
    )
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync(
        work.path(),
        &src,
        &dst,
        &["--inventory", &manifest, "--uuid", "inv", "--json", "-q"],
    );
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert!(
        result.stderr.contains(&format!(
            "Inventory: {manifest}: 2 CSV data files list s3://{src}"
        )),
        "{}",
        result.stderr
    );
    let reports = crate::common::reports(&result);
    let listing = format!("inventory.{src}.");
    assert_eq!(
        crate::common::counter(&reports, &listing, &src, "Objects"),
        9
    );
    assert_eq!(
        crate::common::counter(&reports, &listing, &src, "DuplicateKeys"),
        2
    );
    for object in &objects {
        crate::common::assert_same_object(&client, &src, &dst, &object.key).await;
    }
    let mut copied = crate::common::keys(&client, &dst).await;
    copied.sort();
    let mut expected: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    expected.sort();
    assert_eq!(
        copied, expected,
        "the report's objects, once each, not `late`"
    );
    assert_eq!(crate::common::uploads_in_progress(&client, &dst).await, 0);
    let skipped = std::fs::read_to_string(
        work.path()
            .join("output/inventory.files.inv/_skipped.jsonl"),
    )
    .expect("skip report");
    let rows: Vec<serde_json::Value> = skipped
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    assert_eq!(rows.len(), 1, "{skipped}");
    assert_eq!(rows[0]["key"], "gone");
    assert_eq!(rows[0]["reason"], "vanished");

    // A Parquet report of the same objects with --diff: the destination is listed
    // through a part file made for it, and nothing is copied again.
    let key = format!("inv/{src}/parquet/data/0.parquet");
    fixtures::put_object(&client, &inventory, &key, parquet_listing(&src, &objects)).await;
    let manifest = put_manifest(
        &client,
        (&src, &inventory),
        "parquet",
        ("Parquet", PARQUET_LISTING_SCHEMA),
        &[key],
    )
    .await;
    let again = rsync(
        work.path(),
        &src,
        &dst,
        &[
            "--inventory",
            &manifest,
            "--diff",
            "--uuid",
            "inv2",
            "--json",
            "-q",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let reports = crate::common::reports(&again);
    assert_eq!(
        crate::common::counter(&reports, &listing, &src, "Objects"),
        6
    );
    assert_eq!(
        crate::common::counter(&reports, "copy.", &dst, "Objects"),
        0
    );
    assert!(
        work.path().join("runs/inv2/part.destination").exists(),
        "{}",
        again.stderr
    );
    // A report without ETags cannot serve as a listing.
    let keys_only = put_manifest(
        &client,
        (&src, &inventory),
        "keys",
        ("CSV", "Bucket, Key, Size"),
        &files,
    )
    .await;
    let refused = rsync(
        work.path(),
        &src,
        &dst,
        &["--inventory", &keys_only, "--uuid", "inv3"],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("the report has no ETag, LastModifiedDate"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_run_with_prefixes_and_a_filter_copies_the_selected_rows() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("invp-src");
    let dst = campanile_testkit::unique_bucket("invp-dst");
    let inventory = campanile_testkit::unique_bucket("invp-reports");
    for bucket in [&src, &dst, &inventory] {
        server.create_bucket(&client, bucket).await;
    }
    let objects: Vec<fixtures::FixtureObject> = [
        ("dir/a", 100),
        ("dir/b.tmp", 100),
        ("dir/sub/c", 200),
        ("dir-x/d", 100),
        ("other/e", 100),
    ]
    .iter()
    .map(|(key, size)| fixtures::FixtureObject::whole(*key, *size))
    .collect();
    fixtures::upload_all(&client, &src, &objects).await;
    let rows: String = objects.iter().map(|o| inventory_row(&src, o)).collect();
    let key = format!("inv/{src}/csv/data/0.csv.gz");
    fixtures::put_object(&client, &inventory, &key, gzip(&rows)).await;
    let manifest = put_manifest(
        &client,
        (&src, &inventory),
        "csv",
        ("CSV", LISTING_SCHEMA),
        &[key],
    )
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let (from, to) = (format!("s3://{src}/dir/"), format!("s3://{dst}/copy/"));
    let selected = [
        "--inventory",
        &manifest,
        "--exclude",
        "*.tmp",
        "--json",
        "-q",
    ];
    let result = rsync(
        work.path(),
        &from,
        &to,
        &[&selected[..], &["--uuid", "p1"]].concat(),
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let reports = crate::common::reports(&result);
    let listing = format!("inventory.{src}.");
    assert_eq!(
        crate::common::counter(&reports, &listing, &src, "Objects"),
        2
    );
    assert_eq!(
        crate::common::counter(&reports, &listing, &src, "Filtered"),
        1
    );
    let mut copied = crate::common::keys(&client, &dst).await;
    copied.sort();
    assert_eq!(copied, ["copy/a", "copy/sub/c"]);
    // Again with --diff: the destination's part file is made under its prefix and names
    // the source keys, so the diff finds both copies the same.
    let again = rsync(
        work.path(),
        &from,
        &to,
        &[&selected[..], &["--uuid", "p2", "--diff"]].concat(),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let reports = crate::common::reports(&again);
    assert_eq!(
        crate::common::counter(&reports, "copy.", &dst, "Objects"),
        0
    );
    let destination = std::fs::read_to_string(work.path().join("runs/p2/part.destination"))
        .expect("destination part file");
    assert!(
        !destination.is_empty() && destination.lines().all(|l| l.contains("dir/")),
        "lines name source keys: {destination}"
    );
    assert_eq!(crate::common::counter(&reports, "hive.", "Diff", "Same"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_on_emr_with_an_inventory_puts_its_data_files_under_code() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("emr-inv-src");
    let dst = campanile_testkit::unique_bucket("emr-inv-dst");
    let code = campanile_testkit::unique_bucket("emr-inv-code");
    for bucket in [&src, &dst, &code] {
        server.create_bucket(&client, bucket).await;
    }
    fixtures::put_object(&client, &dst, "already/there", b"x".to_vec()).await;
    let object = fixtures::FixtureObject::whole("a", 5);
    let data = format!("inv/{src}/data/0.csv.gz");
    fixtures::put_object(&client, &code, &data, gzip(&inventory_row(&src, &object))).await;
    let manifest = put_manifest(
        &client,
        (&src, &code),
        "emr",
        ("CSV", LISTING_SCHEMA),
        std::slice::from_ref(&data),
    )
    .await;
    let cluster = server.create_cluster("campanile-inventory").await;
    let code_uri = format!("s3://{code}");
    let output = format!("s3://{code}/output");
    let submit = |inventory: &str, dry_run: bool| {
        let mut args = vec![
            "-j",
            &cluster,
            "--code",
            &code_uri,
            "--output",
            &output,
            "--src-bucket",
            &src,
            "--dst-bucket",
            &dst,
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--emr-endpoint",
            &server.endpoint,
            "--uuid",
            "u2",
            "--diff",
            "--inventory",
            inventory,
        ];
        if dry_run {
            args.push("--dry-run");
        }
        run(crate::common::RSYNC, &args, "", server, &[])
    };
    let files = format!("s3://{code}/input/{src}/u2/inventory.files");
    let planned = submit(&manifest, true);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert!(
        planned
            .stdout
            .contains(&format!("inventory.{src}.inventory.files"))
            && planned.stdout.contains("--inventory")
            && planned.stdout.contains(&files),
        "{}",
        planned.stdout
    );
    let submitted = submit(&manifest, false);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    assert!(
        submitted.stderr.contains(&format!(
            "Inventory: {manifest}: 1 CSV data files list s3://{src}"
        )),
        "{}",
        submitted.stderr
    );
    let listed =
        crate::common::body(&client, &code, &format!("input/{src}/u2/inventory.files")).await;
    let lines: Vec<campanile::inventory::DataFile> = String::from_utf8(listed)
        .expect("utf8")
        .lines()
        .filter_map(|l| campanile::inventory::DataFile::parse(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].location, format!("s3://{code}/{data}"));
    // The destination is listed through a part file made for it.
    let part =
        crate::common::body(&client, &code, &format!("input/{dst}/u2/part.destination")).await;
    let part = String::from_utf8(part).expect("utf8");
    let covering: Vec<campanile::partfile::PartLine> = part
        .lines()
        .filter_map(|l| campanile::partfile::PartLine::parse(l).expect("line"))
        .filter(|l| l.contains("already/there"))
        .collect();
    assert_eq!(covering.len(), 1, "{part}");
    // A cluster reads the report from S3: a local manifest is refused.
    let local = submit("/tmp/manifest.json", true);
    assert_eq!(local.code, 2, "{}", local.stderr);
    assert!(
        local.stderr.contains("give its s3:// URI"),
        "{}",
        local.stderr
    );
}
