//! `campanile index` end to end: the rows of the table (CSV parsed back, Parquet read
//! back with the parquet crate's reader) are what a direct listing and HEAD of the
//! bucket say, keys with commas, quotes, newlines, tabs and unicode included; the
//! filters (glob, regex, size, date) give exactly the expected subsets; several
//! buckets make one table; a dry run HEADs nothing and writes no table. On Garage; the
//! storage classes and SSE-S3/SSE-KMS on moto (Garage has neither).

use std::collections::BTreeMap;

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ServerSideEncryption, StorageClass};
use base64::Engine;
use campanile_testkit::{S3Server, fixtures};

use crate::common::*;

const MIB: usize = 1024 * 1024;

/// `campanile index` on the local runner against `server`, run directories under
/// `work`, with `args` (sources, table, filters).
fn index_at(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    let runs = work.join("runs").display().to_string();
    let mut all = vec![
        "index",
        "--src-endpoint",
        server.endpoint.as_str(),
        "--run-dir",
        runs.as_str(),
        "--parallel",
        "2",
    ];
    all.extend_from_slice(args);
    run(CAMPANILE, &all, "", server, &[])
}

/// A table row: column name to value.
type Row = BTreeMap<String, String>;

/// The rows of a CSV table, keyed by key (the header checked).
fn csv_rows(text: &str) -> BTreeMap<String, Row> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, campanile::rsync::index::COLUMNS);
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("a CSV record");
        let row: Row = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_string))
            .collect();
        rows.insert(format!("{}/{}", row["bucket"], row["key"]), row);
    }
    rows
}

/// What a direct listing and HEAD (in checksum mode, with the SSE-C key for SSE-C
/// objects) say of every object of `bucket`, as the table's columns.
async fn expected_rows(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    sse_c: Option<(&str, &str)>,
) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for object in fixtures::list_objects(client, bucket).await {
        let key = object.key().expect("key").to_string();
        let mut head = client
            .head_object()
            .bucket(bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled);
        let encrypted = key.starts_with("secret/");
        if let (true, Some((key64, md5))) = (encrypted, sse_c) {
            head = head
                .sse_customer_algorithm("AES256")
                .sse_customer_key(key64)
                .sse_customer_key_md5(md5);
        }
        let seconds = object.last_modified().expect("date").secs();
        let mut row: Row = [
            ("bucket", bucket.to_string()),
            ("key", key.clone()),
            ("size", object.size().expect("size").to_string()),
            (
                "etag",
                object.e_tag().expect("etag").trim_matches('"').to_string(),
            ),
            (
                "last_modified",
                format!(
                    "{}Z",
                    campanile::record::format_mtime(seconds).replacen(' ', "T", 1)
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (class, encryption, kms, checksum) = if encrypted && sse_c.is_none() {
            // Without the key S3 (and Garage) answer its HEAD 400.
            (
                String::new(),
                "SSE-C".to_string(),
                String::new(),
                String::new(),
            )
        } else {
            let head = head.send().await.expect("HEAD");
            let checksum = [
                ("CRC64NVME", head.checksum_crc64_nvme()),
                ("CRC32C", head.checksum_crc32_c()),
                ("CRC32", head.checksum_crc32()),
                ("SHA1", head.checksum_sha1()),
                ("SHA256", head.checksum_sha256()),
            ]
            .into_iter()
            .find(|(_, v)| v.is_some_and(|v| !v.is_empty()))
            .map_or("NONE", |(name, _)| name);
            let encryption = if head.sse_customer_algorithm().is_some() {
                "SSE-C"
            } else {
                match head.server_side_encryption() {
                    None => "NONE",
                    Some(ServerSideEncryption::Aes256) => "SSE-S3",
                    Some(ServerSideEncryption::AwsKms) => "SSE-KMS",
                    Some(other) => other.as_str(),
                }
            };
            (
                head.storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_string(),
                encryption.to_string(),
                head.ssekms_key_id().unwrap_or_default().to_string(),
                checksum.to_string(),
            )
        };
        row.insert("storage_class".into(), class);
        row.insert("encryption".into(), encryption);
        row.insert("kms_key_id".into(), kms);
        row.insert("checksum_algorithm".into(), checksum);
        rows.insert(format!("{bucket}/{key}"), row);
    }
    rows
}

/// A bucket of objects of various sizes, a multipart one, one with a CRC32 checksum,
/// keys that need quoting, and one SSE-C object (written with `key`).
async fn varied_bucket(
    server: &S3Server,
    tag: &str,
    key: &[u8; 32],
) -> (aws_sdk_s3::Client, String) {
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket(tag);
    server.create_bucket(&client, &bucket).await;
    for (name, size) in [
        ("empty", 0),
        ("small.txt", 1000),
        ("awk/exactly", 1_024_000),
        ("awk/over", 1_024_001),
        ("a,b \"quoted\"\nline\ttab/café ☃.bin", 2000),
    ] {
        fixtures::put_object(&client, &bucket, name, fixtures::fixture_bytes(name, size)).await;
    }
    let checked = fixtures::fixture_bytes("crc", 3000);
    // Given as a header (the SDK would otherwise send it in a trailer, which Garage
    // does not keep).
    let crc32 =
        campanile::checksum::encode(&campanile::checksum::Algorithm::Crc32.digest(&checked));
    client
        .put_object()
        .bucket(&bucket)
        .key("crc/checked")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_crc32(crc32)
        .body(checked.into())
        .send()
        .await
        .expect("put with a CRC32");
    let data = fixtures::fixture_bytes("big", (11 * MIB) as u64);
    let etag = fixtures::put_multipart(
        &client,
        &bucket,
        "big/multipart.bin",
        &data,
        &[5 << 20, 5 << 20, 1 << 20],
    )
    .await;
    assert!(etag.ends_with("-3"), "{etag}");
    let b64 = base64::engine::general_purpose::STANDARD;
    client
        .put_object()
        .bucket(&bucket)
        .key("secret/ssec")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64.encode(key))
        .sse_customer_key_md5(b64.encode(campanile::multipart::md5(key)))
        .body(b"for your eyes only".to_vec().into())
        .send()
        .await
        .expect("put an SSE-C object");
    (client, bucket)
}

/// The key file of an SSE-C key (mode 600).
fn key_file(dir: &std::path::Path, key: &[u8; 32]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("ssec.key");
    std::fs::write(&path, key).expect("write the key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_and_parquet_rows_are_what_the_bucket_says() {
    let server = campanile_testkit::s3();
    let secret = [7u8; 32];
    let (client, bucket) = varied_bucket(server, "index", &secret).await;
    let work = tempfile::tempdir().expect("work dir");
    let table = work.path().join("index.csv");
    let ran = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{bucket}"),
            "--to",
            table.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(&format!("Indexed s3://{bucket}: 8 objects")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("SSE-C without the key 1"),
        "{}",
        ran.stderr
    );
    let text = std::fs::read_to_string(&table).expect("the table");
    let rows = csv_rows(&text);
    let expected = expected_rows(&client, &bucket, None).await;
    assert_eq!(rows, expected);
    // The columns say something: the multipart ETag, the CRC32, the SSE-C object.
    let at = |key: &str| &rows[&format!("{bucket}/{key}")];
    assert!(at("big/multipart.bin")["etag"].ends_with("-3"));
    assert_eq!(at("crc/checked")["checksum_algorithm"], "CRC32");
    assert_eq!(at("secret/ssec")["encryption"], "SSE-C");
    assert_eq!(at("small.txt")["storage_class"], "STANDARD");
    assert!(
        text.contains("\"a,b \"\"quoted\"\"\nline\ttab/café ☃.bin\""),
        "the key is quoted as RFC 4180 says: {text}"
    );

    // Parquet, with the SSE-C key: the SSE-C object is HEADed too.
    let key_path = key_file(work.path(), &secret);
    let parquet = work.path().join("index.parquet");
    let ran = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{bucket}"),
            "--format",
            "parquet",
            "--to",
            parquet.to_str().expect("utf-8"),
            "--src-sse-c-key-file",
            key_path.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader =
        SerializedFileReader::new(std::fs::File::open(&parquet).expect("open")).expect("parquet");
    let mut read = BTreeMap::new();
    for row in reader.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        let columns: BTreeMap<String, Field> = row
            .get_column_iter()
            .map(|(name, field)| (name.clone(), field.clone()))
            .collect();
        // Typed columns: the size an INT64, the date a timestamp.
        let Field::Long(size) = columns["size"] else {
            panic!("size is {:?}", columns["size"]);
        };
        let Field::TimestampMillis(millis) = columns["last_modified"] else {
            panic!("last_modified is {:?}", columns["last_modified"]);
        };
        let text = |name: &str| match &columns[name] {
            Field::Str(text) => text.clone(),
            Field::Null => String::new(),
            other => panic!("{name} is {other:?}"),
        };
        let mut as_text: Row = ["bucket", "key", "etag", "storage_class", "encryption"]
            .into_iter()
            .chain(["kms_key_id", "checksum_algorithm"])
            .map(|name| (name.to_string(), text(name)))
            .collect();
        as_text.insert("size".into(), size.to_string());
        let seconds = millis / 1000;
        as_text.insert(
            "last_modified".into(),
            format!(
                "{}Z",
                campanile::record::format_mtime(seconds).replacen(' ', "T", 1)
            ),
        );
        read.insert(format!("{}/{}", as_text["bucket"], as_text["key"]), as_text);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let (key64, md5) = (
        b64.encode(secret),
        b64.encode(campanile::multipart::md5(&secret)),
    );
    let expected = expected_rows(&client, &bucket, Some((&key64, &md5))).await;
    assert_eq!(read, expected);
    assert_eq!(
        read[&format!("{bucket}/secret/ssec")]["storage_class"],
        "STANDARD",
        "HEADed with the key"
    );
    assert_eq!(
        read[&format!("{bucket}/secret/ssec")]["encryption"],
        "SSE-C"
    );
    // No form of the key reaches the table or the messages.
    let table_bytes = std::fs::read(&parquet).expect("read");
    assert!(!table_bytes.windows(32).any(|w| w == secret));
    assert!(!ran.stderr.contains(&key64) && !ran.stdout.contains(&key64));

    // An existing table is not overwritten (exit 4), and nothing runs.
    let again = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{bucket}"),
            "--to",
            table.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(again.code, 4, "{}", again.stderr);
}

/// The keys of a TSV table on stdout.
fn tsv_keys(run: &Run) -> Vec<String> {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut keys: Vec<String> = run
        .stdout
        .lines()
        .map(|line| {
            campanile::task::objectindex::IndexRow::parse(line)
                .expect("an index row")
                .key
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_exactly_their_keys() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("index-filters");
    server.create_bucket(&client, &bucket).await;
    let older = [
        ("logs/a.gz", 10),
        ("logs/b.txt", 2_000_000),
        ("logs/sub/c.gz", 1_024_001),
        ("logs/d.gz", 1_024_000),
        ("other/e.gz", 5),
    ];
    for (key, size) in older {
        fixtures::put_object(&client, &bucket, key, fixtures::fixture_bytes(key, size)).await;
    }
    // A cutoff between two groups of objects (dates are whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let cutoff = i64::try_from(now.as_secs()).expect("seconds") + 1;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    fixtures::put_object(&client, &bucket, "logs/new.gz", b"new".to_vec()).await;
    let cutoff = campanile::select::Timestamp(cutoff).to_string();
    let work = tempfile::tempdir().expect("work dir");
    let logs = format!("s3://{bucket}/logs/");
    let whole = format!("s3://{bucket}");
    let index = |args: &[&str]| {
        let mut all = vec!["--format", "tsv", "--no-head"];
        all.extend_from_slice(args);
        tsv_keys(&index_at(server, work.path(), &all))
    };
    assert_eq!(
        index(&[&logs, "--include", "*.gz"]),
        ["logs/a.gz", "logs/d.gz", "logs/new.gz", "logs/sub/c.gz"]
    );
    let regex = index(&[&whole, "--key-regex", r"^logs/[^/]+\.gz$"]);
    assert_eq!(regex, ["logs/a.gz", "logs/d.gz", "logs/new.gz"]);
    // The article's awk '{ if($3 > 1024000) print $0 }': strictly greater.
    let sizes: BTreeMap<&str, u64> = older.into_iter().collect();
    let awk: Vec<&str> = sizes
        .iter()
        .filter(|(_, size)| **size > 1_024_000)
        .map(|(key, _)| *key)
        .collect();
    assert_eq!(index(&[&whole, "--min-size", "1024001"]), awk);
    assert_eq!(
        index(&[&whole, "--max-size", "10"]),
        ["logs/a.gz", "logs/new.gz", "other/e.gz"]
    );
    assert_eq!(index(&[&whole, "--newer-than", &cutoff]), ["logs/new.gz"]);
    let mut before: Vec<&str> = sizes.keys().copied().collect();
    before.sort();
    assert_eq!(index(&[&whole, "--older-than", &cutoff]), before);
    // Filters combine; the summary counts what each left out.
    let ran = index_at(
        server,
        work.path(),
        &[
            &logs,
            "--format",
            "tsv",
            "--include",
            "*.gz",
            "--key-regex",
            "sub/",
        ],
    );
    assert_eq!(tsv_keys(&ran), ["logs/sub/c.gz"]);
    assert!(
        ran.stderr
            .contains("listed 4; left out by the filters 1, by --key-regex 3"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("1 HEADs"), "{}", ran.stderr);

    // A dry run lists, names the keys it would index and their count, HEADs
    // nothing and writes no table.
    let table = work.path().join("never.csv");
    let dry = index_at(
        server,
        work.path(),
        &[
            &logs,
            "--key-regex",
            r"\.gz$",
            "--dry-run",
            "--to",
            table.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let mut printed: Vec<&str> = dry
        .stdout
        .lines()
        .filter(|l| l.starts_with("(dryrun) index: "))
        .collect();
    printed.sort();
    assert_eq!(
        printed,
        [
            format!("(dryrun) index: s3://{bucket}/logs/a.gz"),
            format!("(dryrun) index: s3://{bucket}/logs/d.gz"),
            format!("(dryrun) index: s3://{bucket}/logs/new.gz"),
            format!("(dryrun) index: s3://{bucket}/logs/sub/c.gz"),
        ]
    );
    assert!(
        dry.stderr.contains("would index 4 objects (2048014 bytes)")
            && dry
                .stderr
                .contains("with 4 HEADs; --key-regex would leave out 1"),
        "{}",
        dry.stderr
    );
    assert!(!table.exists(), "a dry run writes no table");

    // Copy-only flags are refused (exit 2), naming the flag.
    let refused = index_at(server, work.path(), &[&logs, "--diff"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--diff"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_buckets_make_one_table_with_a_bucket_column() {
    let server = campanile_testkit::s3();
    let (client, first, second) = fresh_buckets(server, "index-two").await;
    for (bucket, key) in [
        (&first, "a/1"),
        (&first, "b/2"),
        (&second, "data/3"),
        (&second, "data/4"),
        (&second, "elsewhere/5"),
    ] {
        fixtures::put_object(&client, bucket, key, fixtures::fixture_bytes(key, 100)).await;
    }
    let work = tempfile::tempdir().expect("work dir");
    let table = work.path().join("both.csv");
    let ran = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{first}"),
            &format!("s3://{second}/data/"),
            "--to",
            table.to_str().expect("utf-8"),
            "--uuid",
            "two",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let text = std::fs::read_to_string(&table).expect("table");
    // The buckets in the order given (not alphabetical: `…-src…` after `…-dst…`), each
    // bucket's keys in order.
    let in_order: Vec<(String, String)> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            let r = r.expect("record");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    let expected_order: Vec<(String, String)> = [
        (&first, "a/1"),
        (&first, "b/2"),
        (&second, "data/3"),
        (&second, "data/4"),
    ]
    .into_iter()
    .map(|(b, k)| (b.clone(), k.to_string()))
    .collect();
    assert_eq!(in_order, expected_order);
    let rows = csv_rows(&text);
    let keys: Vec<(&str, &str)> = rows
        .values()
        .map(|r| (r["bucket"].as_str(), r["key"].as_str()))
        .collect();
    let mut expected = vec![
        (first.as_str(), "a/1"),
        (first.as_str(), "b/2"),
        (second.as_str(), "data/3"),
        (second.as_str(), "data/4"),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    // One run each, in order, each in its own run directory.
    let runs = work.path().join("runs");
    assert!(runs.join("two-1").is_dir() && runs.join("two-2").is_dir());
    let first_at = ran
        .stderr
        .find(&format!("Indexed s3://{first}"))
        .expect("first");
    let second_at = ran
        .stderr
        .find(&format!("Indexed s3://{second}"))
        .expect("second");
    assert!(first_at < second_at, "{}", ran.stderr);
    // The table can go to S3 (uploaded with the first source's endpoint).
    let uploaded = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{second}/data/"),
            "--format",
            "tsv",
            "--no-head",
            "--to",
            &format!("s3://{first}/tables/data.tsv"),
        ],
    );
    assert_eq!(uploaded.code, 0, "{}", uploaded.stderr);
    let text = String::from_utf8(body(&client, &first, "tables/data.tsv").await).expect("utf-8");
    let keys: Vec<String> = text
        .lines()
        .map(|l| {
            campanile::task::objectindex::IndexRow::parse(l)
                .expect("row")
                .key
        })
        .collect();
    assert_eq!(keys, ["data/3", "data/4"]);
}

/// moto: Garage has no storage classes and echoes no SSE-S3 or SSE-KMS.
#[tokio::test(flavor = "multi_thread")]
async fn storage_classes_and_encryption_on_moto() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("index-classes");
    server.create_bucket(&client, &bucket).await;
    let kms = "arn:aws:kms:us-east-1:123456789012:key/index";
    fixtures::put_object(&client, &bucket, "plain", b"plain".to_vec()).await;
    for (key, class, sse) in [
        (
            "ia-s3",
            StorageClass::StandardIa,
            Some(ServerSideEncryption::Aes256),
        ),
        ("cold", StorageClass::Glacier, None),
        (
            "kms",
            StorageClass::OnezoneIa,
            Some(ServerSideEncryption::AwsKms),
        ),
    ] {
        let mut put = client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .storage_class(class)
            .body(b"data".to_vec().into());
        if let Some(sse) = sse {
            if sse == ServerSideEncryption::AwsKms {
                put = put.ssekms_key_id(kms);
            }
            put = put.server_side_encryption(sse);
        }
        put.send().await.expect("put");
    }
    let work = tempfile::tempdir().expect("work dir");
    let table = work.path().join("classes.csv");
    let ran = index_at(
        server,
        work.path(),
        &[
            &format!("s3://{bucket}"),
            "--to",
            table.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // --json: stdout holds JSON lines only, the index summary among them.
    let lines = json_lines(&ran);
    let summary = lines
        .iter()
        .find_map(|line| line.get("index_summary"))
        .unwrap_or_else(|| panic!("no index_summary line:\n{}", ran.stdout));
    assert_eq!(summary["objects"], 4, "{summary}");
    assert_eq!(summary["heads"], 4, "{summary}");
    assert_eq!(summary["bucket"], bucket.as_str(), "{summary}");
    let rows = csv_rows(&std::fs::read_to_string(&table).expect("table"));
    assert_eq!(rows, expected_rows(&client, &bucket, None).await);
    let at = |key: &str| &rows[&format!("{bucket}/{key}")];
    assert_eq!(at("ia-s3")["storage_class"], "STANDARD_IA");
    assert_eq!(at("ia-s3")["encryption"], "SSE-S3");
    // An archived object is indexed too: an index reads no data.
    assert_eq!(at("cold")["storage_class"], "GLACIER");
    assert_eq!(at("kms")["encryption"], "SSE-KMS");
    assert_eq!(at("kms")["kms_key_id"], kms);
    assert_eq!(at("plain")["storage_class"], "STANDARD");
}

/// On EMR (moto's API): the listing, then the index step, whose rows go to the job
/// output under --output; nothing runs here and no table is written.
#[tokio::test(flavor = "multi_thread")]
async fn on_emr_the_index_step_follows_the_listing() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-index").await;
    let ran = run(
        CAMPANILE,
        &[
            "index",
            "s3://srcbucket",
            "-j",
            &cluster,
            "--input",
            "s3://codebucket/input/srcbucket/part.all",
            "--code",
            "s3://codebucket",
            "--output",
            "s3://codebucket/output/srcbucket",
            "--src-profile",
            "jeff",
            "--src-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--uuid",
            "1451507458",
            "--no-head",
            "--key-regex",
            r"\.gz$",
            "--emr-endpoint",
            &server.endpoint,
        ],
        "",
        server,
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines = ran.lines();
    assert_eq!(lines[0], "RunDir: hdfs:///1451507458");
    assert_eq!(
        lines[1],
        "Output:s3://codebucket/output/srcbucket/part.all.1451507458"
    );
    let submitted = crate::rsync::steps(server, &cluster).await;
    let names: Vec<&str> = submitted.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["list.srcbucket.part.all", "index.srcbucket.part.all"]
    );
    let list = &submitted[0].2;
    let mapper = list.iter().position(|a| a == "-mapper").expect("mapper");
    assert!(
        list[mapper + 1].contains("--keep-archived"),
        "{}",
        list[mapper + 1]
    );
    let index = &submitted[1].2;
    let at = |flag: &str| {
        let found = index.iter().position(|a| a == flag).expect(flag);
        index[found + 1].as_str()
    };
    assert_eq!(
        at("-mapper"),
        "objectindex --bucket srcbucket --key-regex %5C.gz$ --no-head --endpoint \
         s3.us-west-2.amazonaws.com --profile jeff --prefix-reads-per-second 85 \
         --prefix-writes-per-second 54"
    );
    assert_eq!(at("-input"), "/1451507458/srcbucket.list");
    assert_eq!(
        at("-output"),
        "s3://codebucket/output/srcbucket/part.all.1451507458"
    );
    assert!(!index.contains(&"-reducer".to_string()), "map-only");
    assert!(at("-files").contains("s3://codebucket/objectindex"));
}

/// `--wait` on EMR with `--to` (moto, steps advanced one state per DescribeStep): the
/// index's own summary, not a copy's, and, once the steps are done, the rows the tasks
/// wrote to the job output on S3 (here put there by the test, since moto's EMR runs no step:
/// the real tasks' rows are checked on Hadoop, tests/it/hadoop.rs) are read back and
/// written as the table, in key order; a part file that is not a part (`_SUCCESS`) is
/// left out.
#[tokio::test(flavor = "multi_thread")]
async fn on_emr_wait_the_rows_of_the_job_output_become_the_table() {
    let server = campanile_testkit::moto_emr_steps();
    let client = server.client().await;
    let code = "codebucket-index-table";
    let _ = client.create_bucket().bucket(code).send().await;
    let row = |key: &str, size: u64| campanile::task::objectindex::IndexRow {
        bucket: "srcbucket".into(),
        key: key.into(),
        etag: format!("{:032x}", size),
        size,
        mtime: "2026-11-30 10:00:00".into(),
        storage_class: Some("STANDARD".into()),
        encryption: Some("SSE-S3".into()),
        kms_key_id: None,
        checksum_algorithm: None,
    };
    let output = "output/srcbucket/part.all.1451507459";
    // Two tasks' part files, their rows out of key order across the files.
    for (name, rows) in [
        ("part-00000", vec![row("m/tab\there", 7), row("z", 3)]),
        ("part-00001", vec![row("a, quoted \"key\"", 11)]),
        ("_SUCCESS", vec![]),
    ] {
        let body: String = rows.iter().map(|r| format!("{}\n", r.to_line())).collect();
        client
            .put_object()
            .bucket(code)
            .key(format!("{output}/{name}"))
            .body(body.into_bytes().into())
            .send()
            .await
            .expect("put a part file");
    }
    let cluster = server.create_cluster("campanile-index-table").await;
    let work = tempfile::tempdir().expect("tempdir");
    let table = work.path().join("index.csv");
    let ran = run(
        CAMPANILE,
        &[
            "index",
            "s3://srcbucket",
            "-j",
            &cluster,
            "--input",
            &format!("s3://{code}/input/srcbucket/part.all"),
            "--code",
            &format!("s3://{code}"),
            "--output",
            &format!("s3://{code}/output/srcbucket"),
            "--src-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--uuid",
            "1451507459",
            "--emr-endpoint",
            &server.endpoint,
            "--log-endpoint",
            &server.endpoint,
            "--wait",
            "--poll-seconds",
            "0.05",
            "--to",
            table.to_str().expect("utf-8 path"),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    for name in ["list", "index"] {
        assert!(
            ran.stderr
                .contains(&format!("{name}.srcbucket.part.all: COMPLETED")),
            "{}",
            ran.stderr
        );
    }
    assert!(
        ran.stderr.contains("all 2 steps COMPLETED"),
        "{}",
        ran.stderr
    );
    // No log URI in moto: nothing counted, and the summary is the index's.
    assert!(
        ran.stderr.contains("Indexed s3://srcbucket: 0 objects"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("objects copied"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Index: 3 rows (csv) in"),
        "{}",
        ran.stderr
    );
    let text = std::fs::read_to_string(&table).expect("the table");
    let rows = csv_rows(&text);
    let keys: Vec<&str> = rows.values().map(|r| r["key"].as_str()).collect();
    assert_eq!(keys, ["a, quoted \"key\"", "m/tab\there", "z"], "{text}");
    assert_eq!(rows["srcbucket/z"]["size"], "3");
    assert_eq!(rows["srcbucket/m/tab\there"]["encryption"], "SSE-S3");
    // The table's own order is the keys' (bytewise), whatever the part files' order.
    let order: Vec<String> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("record")[1].to_string())
        .collect();
    assert_eq!(order, ["a, quoted \"key\"", "m/tab\there", "z"]);
}
