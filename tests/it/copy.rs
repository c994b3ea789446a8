//! The copy path end to end (multipartlist, objectcopy, multipartcomplete): every copy
//! is identical to its source, ETag included, and failures are loud and safe to retry.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use campanile_testkit::{S3Server, fixtures};

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn the_article_pipeline_copies_00_and_000_00() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("article-dst");
    server.create_bucket(&client, &dst).await;
    let [_, parts, copied, complete] = copy_pipeline(server, src, &dst, ",00\n");
    // 00 is whole (5 \N), 000/00 has 3 parts
    let part_lines = parts.lines();
    assert_eq!(part_lines.len(), 4);
    assert!(
        part_lines[0].starts_with("00\t") && part_lines[0].ends_with("\\N\t\\N\t\\N\t\\N\t\\N")
    );
    let ranges: Vec<String> = part_lines[1..]
        .iter()
        .map(|l| l.split('\t').skip(5).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        ranges,
        vec![
            "1 3 0 8388607",
            "2 3 8388608 16777215",
            "3 3 16777216 20971519"
        ]
    );
    assert_eq!(copied.lines().len(), 3, "one copied-part line per part");
    assert_eq!(complete.stdout, copied.stdout, "the part map is echoed");
    assert_eq!(copied.counter(src, "OutputBytes"), 10_240 + 20_971_520);
    assert_eq!(copied.counter(&dst, "InputBytes"), 10_240 + 20_971_520);
    assert_eq!(complete.counter(&dst, "Uploads"), 1);
    assert_eq!(keys(&client, &dst).await, vec!["00", "000/00"]);
    for key in ["00", "000/00"] {
        assert_same_object(&client, src, &dst, key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_article_bucket_is_copied_identically() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("whole-dst");
    server.create_bucket(&client, &dst).await;
    let part_file = fixtures::article_part_file();
    let [list, _, copied, _] = copy_pipeline(server, src, &dst, &part_file);
    let objects = fixtures::article_objects();
    let mut copied_keys = keys(&client, &dst).await;
    copied_keys.sort();
    let mut expected: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    expected.sort();
    assert_eq!(copied_keys, expected);
    assert_eq!(copied.counter(&dst, "Objects"), 255);
    assert_eq!(copied.counter(&dst, "Parts"), 6);
    assert_eq!(
        copied.counter(&dst, "InputBytes"),
        list.counter(src, "Bytes")
    );
    for object in &objects {
        assert_same_object(&client, src, &dst, &object.key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_layouts_keep_their_etag() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "layouts").await;
    let layouts: Vec<(&str, u64, Vec<u64>)> = vec![
        (
            "five-mib-parts",
            12 * MIB + 7,
            vec![5 * MIB, 5 * MIB, 2 * MIB + 7],
        ),
        (
            "sixteen-mib-parts",
            40 * MIB,
            vec![16 * MIB, 16 * MIB, 8 * MIB],
        ),
        (
            "fifteen-mb-parts",
            40_000_000,
            vec![15_000_000, 15_000_000, 10_000_000],
        ),
        ("one-part", 3 * MIB + 1, vec![3 * MIB + 1]),
        ("unequal-parts", 18 * MIB, vec![5 * MIB, 7 * MIB, 6 * MIB]),
    ];
    for (key, size, parts) in &layouts {
        let data = fixtures::fixture_bytes(key, *size);
        let etag = fixtures::put_multipart(&client, &src, key, &data, parts).await;
        assert!(
            etag.ends_with(&format!("-{}", parts.len())),
            "{key}: {etag}"
        );
    }
    copy_pipeline(server, &src, &dst, ",\n");
    for (key, _, _) in &layouts {
        assert_same_object(&client, &src, &dst, key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unequal_parts_that_look_uniform_are_never_completed_wrong() {
    // Parts 6, 5, 7, 1 MiB: first and last add up like a uniform 6 MiB layout, so only
    // --probe-every-part finds the real boundaries. Without it the completion check
    // must refuse the upload: nothing lands, the task fails and says why.
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "tricky").await;
    let sizes = [6 * MIB, 5 * MIB, 7 * MIB, MIB];
    let data = fixtures::fixture_bytes("tricky", sizes.iter().sum());
    fixtures::put_multipart(&client, &src, "tricky", &data, &sizes).await;

    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    let complete_args = ["--bucket", &dst, "--endpoint", &server.endpoint];
    let complete = run(
        MULTIPARTCOMPLETE,
        &complete_args,
        &copied.stdout,
        server,
        &[],
    );
    assert_eq!(complete.code, 1, "{}", complete.stderr);
    assert!(complete.stderr.contains("tricky"), "{}", complete.stderr);
    assert_eq!(complete.counter(&dst, "EtagMismatch"), 1);
    assert!(keys(&client, &dst).await.is_empty(), "nothing visible");
    assert_eq!(
        uploads_in_progress(&client, &dst).await,
        0,
        "upload aborted"
    );

    let mut probing = both.clone();
    probing.push("--probe-every-part".into());
    let parts = stage(MULTIPARTLIST, &probing, &list.stdout, server);
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    complete_uploads(server, &dst, &copied.stdout);
    assert_same_object(&client, &src, &dst, "tricky").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn edge_sizes_and_awkward_keys() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "edges").await;
    let objects = [
        ("empty", 0),
        ("exactly five mib", 5 * MIB),
        ("ünïcödé/日本語 🚀", 1000),
        ("tab\tkey", 10),
        ("new\nline", 11),
        ("back\\slash and %2F+plus", 12),
    ];
    for (key, size) in objects {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    copy_pipeline(server, &src, &dst, ",\n");
    for (key, _) in objects {
        assert_same_object(&client, &src, &dst, key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_start_with_a_byte_order_mark_keep_it() {
    // U+FEFF is a valid first character of an S3 key. Such keys sort first, so each
    // task of the pipeline gets one as its first line: only a part file's first line may
    // lose a byte-order mark, never a record (the object would be looked for, copied
    // and completed under another name).
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "bom").await;
    let objects = [
        fixtures::FixtureObject::whole("\u{feff}whole", 3000),
        fixtures::FixtureObject::multipart("\u{feff}multi", 11 * MIB, 5 * MIB),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    // The part file itself starts with a byte-order mark, as editors write one.
    let [list, _, copied, complete] = copy_pipeline(server, &src, &dst, "\u{feff},\n");
    for run in [&list, &copied, &complete] {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    let mut copied_keys = keys(&client, &dst).await;
    copied_keys.sort();
    assert_eq!(copied_keys, ["\u{feff}multi", "\u{feff}whole"]);
}

async fn put_with_headers(client: &aws_sdk_s3::Client, bucket: &str, key: &str, sse: bool) {
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/x-campanile")
        .cache_control("max-age=60")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"x.txt\"")
        .content_language("fr-CA")
        .metadata("owner", "jeff")
        .metadata("purpose", "migration test")
        .body(ByteStream::from(fixtures::fixture_bytes(key, 2048)));
    if sse {
        request = request.server_side_encryption(ServerSideEncryption::Aes256);
    }
    request.send().await.expect("put with headers");
}

async fn multipart_with_headers(client: &aws_sdk_s3::Client, bucket: &str, key: &str, sse: bool) {
    let mut create = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-big")
        .cache_control("no-cache")
        .content_language("de")
        .metadata("part", "many");
    if sse {
        create = create.server_side_encryption(ServerSideEncryption::Aes256);
    }
    let upload_id = create
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string();
    let data = fixtures::fixture_bytes(key, 11 * MIB);
    let mut parts = Vec::new();
    for (i, chunk) in data
        .chunks(usize::try_from(5 * MIB).expect("fits"))
        .enumerate()
    {
        let number = i32::try_from(i + 1).expect("fits");
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("part");
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_string))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn content_headers_and_metadata_are_carried_over() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "headers").await;
    put_with_headers(&client, &src, "small", false).await;
    multipart_with_headers(&client, &src, "large", false).await;
    copy_pipeline(server, &src, &dst, ",\n");
    for key in ["small", "large"] {
        assert_same_object(&client, &src, &dst, key).await;
    }
    let head = client
        .head_object()
        .bucket(&dst)
        .key("small")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("text/x-campanile"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("purpose"))
            .map(String::as_str),
        Some("migration test")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aes256_encryption_is_carried_over() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "sse").await;
    put_with_headers(&client, &src, "small", true).await;
    multipart_with_headers(&client, &src, "large", true).await;
    copy_pipeline(server, &src, &dst, ",\n");
    for key in ["small", "large"] {
        assert_same_object(&client, &src, &dst, key).await;
        let head = client
            .head_object()
            .bucket(&dst)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_runs_write_nothing() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("dry-dst");
    server.create_bucket(&client, &dst).await;
    let list = list_bucket(server, src, ",00\n");
    let mut args = src_dst_args(server, src, &dst);
    args.push("--dry-run".into());
    let parts = stage(MULTIPARTLIST, &args, &list.stdout, server);
    let lines = parts.lines();
    assert_eq!(lines.len(), 4);
    let upload_id = lines[1].split('\t').nth(4).expect("upload id");
    assert_eq!(upload_id.len(), 36, "a random UUID: {upload_id}");
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);

    let copied = [
        format!("000/00\t82f06cf999000ddd187a73ed924d3301-2\t{upload_id}\tb958817399ee8afb341bcefe46dab679\t2\t8388608\t9999999"),
        format!("000/00\t82f06cf999000ddd187a73ed924d3301-2\t{upload_id}\t1c904fa69550d173e0a78d9f925bb748\t1\t0\t8388607"),
    ]
    .join("\n");
    // An ETag the parts cannot give is refused before anything is sent.
    let complete = run(
        MULTIPARTCOMPLETE,
        &[
            "--bucket",
            &dst,
            "--endpoint",
            &server.endpoint,
            "--dry-run",
        ],
        &copied,
        server,
        &[],
    );
    assert_eq!(complete.code, 1, "{}", complete.stderr);
    // With the ETag the two parts really give, the dry run prints the request.
    let digests: Vec<[u8; 16]> = [
        "1c904fa69550d173e0a78d9f925bb748",
        "b958817399ee8afb341bcefe46dab679",
    ]
    .iter()
    .map(|h| campanile::multipart::parse_md5_hex(h).expect("hex"))
    .collect();
    let etag = campanile::multipart::multipart_etag(&digests);
    let copied = copied.replace("82f06cf999000ddd187a73ed924d3301-2", &etag);
    let complete = run(
        MULTIPARTCOMPLETE,
        &[
            "--bucket",
            &dst,
            "--endpoint",
            &server.endpoint,
            "--dry-run",
        ],
        &copied,
        server,
        &[],
    );
    assert_eq!(complete.code, 0, "{}", complete.stderr);
    assert!(
        complete
            .stdout
            .contains(&format!("Complete 000/00:{upload_id}"))
    );
    assert!(complete.stdout.contains(
        "<Part><PartNumber>1</PartNumber><ETag>\"1c904fa69550d173e0a78d9f925bb748\"</ETag></Part>"
    ));
    assert!(keys(&client, &dst).await.is_empty());
}

/// A source whose two objects (one single-part, one multipart) change after the
/// listing and multipartlist, before objectcopy.
struct Changed {
    client: aws_sdk_s3::Client,
    src: String,
    dst: String,
    both: Vec<String>,
    list: Run,
    parts: Run,
}

async fn changed_after_planning(server: &'static S3Server, tag: &str) -> Changed {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    fixtures::put_object(&client, &src, "grows", vec![1; 1000]).await;
    let big = fixtures::fixture_bytes("big", 11 * MIB);
    fixtures::put_multipart(&client, &src, "big", &big, &[5 * MIB, 6 * MIB]).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    fixtures::put_object(&client, &src, "grows", vec![2; 2000]).await;
    fixtures::put_multipart(&client, &src, "big", &big, &[6 * MIB, 5 * MIB]).await;
    Changed {
        client,
        src,
        dst,
        both,
        list,
        parts,
    }
}

/// The part lines objectcopy wrote in place of parts it skipped (partEtag
/// `skipped:<reason>`).
fn skipped_part_lines<'a>(copied: &'a Run, reason: &str) -> Vec<&'a str> {
    copied
        .lines()
        .into_iter()
        .filter(|l| l.split('\t').nth(3) == Some(&format!("skipped:{reason}")[..]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_changed_since_the_listing_is_skipped_and_reported() {
    let server = campanile_testkit::s3();
    let Changed {
        client,
        src,
        dst,
        both,
        list,
        parts,
    } = changed_after_planning(server, "changed").await;
    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let copied = run(OBJECTCOPY, &args, &parts.stdout, server, &[]);
    // Skipped and reported, not a failure: another attempt would find it the same.
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert!(
        copied.stderr.contains("changed since it was listed"),
        "{}",
        copied.stderr
    );
    assert_eq!(copied.counter(&src, "SourceChanged"), 1, "grows, whole");
    assert_eq!(
        skipped_part_lines(&copied, "changed").len(),
        2,
        "both parts of big"
    );
    assert_eq!(copied.counter(&dst, "Objects"), 0);
    // The reducer aborts big's upload and reports it once, not once per part.
    let complete = run(
        MULTIPARTCOMPLETE,
        &[
            "--bucket",
            &dst,
            "--src-bucket",
            &src,
            "--endpoint",
            &server.endpoint,
        ],
        &copied.stdout,
        server,
        &[],
    );
    assert_eq!(complete.code, 0, "{}", complete.stderr);
    assert_eq!(complete.counter(&src, "SourceChanged"), 1);
    assert!(complete.stderr.contains("skipped"), "{}", complete.stderr);
    assert!(
        keys(&client, &dst).await.is_empty(),
        "nothing half-written is visible"
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    // multipartlist itself skips an object whose listing is out of date.
    let replanned = run(MULTIPARTLIST, &args, &list.stdout, server, &[]);
    assert_eq!(replanned.code, 0, "{}", replanned.stderr);
    assert!(
        replanned.stderr.contains("changed since it was listed"),
        "{}",
        replanned.stderr
    );
    assert_eq!(replanned.counter(&src, "SourceChanged"), 1);
    let (skipped, planned): (Vec<&str>, Vec<&str>) = replanned
        .lines()
        .into_iter()
        .partition(|l| campanile::skip::is_row(l));
    let planned: Vec<&str> = planned
        .iter()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(
        planned,
        ["grows"],
        "big is not planned, grows passes through"
    );
    // big's skip row goes on towards the run's report.
    assert_eq!(skipped.len(), 1, "{}", replanned.stdout);
    assert!(skipped[0].starts_with("big\t"), "{}", skipped[0]);
    assert!(skipped[0].contains("\tskipped:changed:"), "{}", skipped[0]);
    assert_eq!(
        uploads_in_progress(&client, &dst).await,
        0,
        "no upload created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_objectcopy_and_running_it_again_gives_a_correct_copy() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "killed").await;
    let mut objects: Vec<fixtures::FixtureObject> = (0..40)
        .map(|i| fixtures::FixtureObject::whole(format!("small/{i:02}"), 100_000))
        .collect();
    objects.push(fixtures::FixtureObject::multipart(
        "large",
        30 * MIB,
        5 * MIB,
    ));
    fixtures::upload_all(&client, &src, &objects).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);

    // First attempt: killed (SIGKILL) at its first status line, written while it
    // reads its first record (the first status is never held back), copying one
    // record at a time so that most of the split is still ahead.
    let mut command = Command::new(OBJECTCOPY);
    command
        .args(&both)
        .args(["--concurrency", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in server.command_env() {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn objectcopy");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(parts.stdout.as_bytes()).expect("feed");
    }
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0
        && !line.starts_with("reporter:status:")
    {
        line.clear();
    }
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed mid-split, not finished: {line}"
    );
    let landed = keys(&client, &dst).await.len();
    assert!(
        landed < objects.len(),
        "killed before the end ({landed} objects)"
    );

    // Second attempt on the same input, then the reducer.
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    complete_uploads(server, &dst, &copied.stdout);
    let mut copied_keys = keys(&client, &dst).await;
    copied_keys.sort();
    let mut expected: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    expected.sort();
    assert_eq!(copied_keys, expected);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_part_is_reported_and_the_upload_is_not_completed() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("missing-dst");
    server.create_bucket(&client, &dst).await;
    let list = list_bucket(server, src, ",000/\n");
    let both = src_dst_args(server, src, &dst);
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    let without_part_2: String = copied
        .lines()
        .into_iter()
        .filter(|l| l.split('\t').nth(4) != Some("2"))
        .map(|l| format!("{l}\n"))
        .collect();
    let complete = run(
        MULTIPARTCOMPLETE,
        &["--bucket", &dst, "--endpoint", &server.endpoint],
        &without_part_2,
        server,
        &[],
    );
    assert_eq!(complete.code, 1, "{}", complete.stderr);
    assert!(complete.stderr.contains("000/00"), "{}", complete.stderr);
    assert!(
        complete.stderr.contains("missing part(s) 2 of 3"),
        "{}",
        complete.stderr
    );
    assert!(keys(&client, &dst).await.is_empty());
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_copies_keep_every_etag() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("server-side-dst");
    server.create_bucket(&client, &dst).await;
    let both = src_dst_args(server, src, &dst);
    let list = list_bucket(server, src, &fixtures::article_part_file());
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let mut server_side = both.clone();
    server_side.push("--server-side".into());
    let copied = stage(OBJECTCOPY, &server_side, &parts.stdout, server);
    assert_eq!(copied.counter(&dst, "Objects"), 255);
    assert_eq!(copied.counter(&dst, "Parts"), 6);
    assert_eq!(
        copied.counter(&dst, "InputBytes"),
        list.counter(src, "Bytes")
    );
    complete_uploads(server, &dst, &copied.stdout);
    for object in &fixtures::article_objects() {
        assert_same_object(&client, src, &dst, &object.key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_copies_of_a_changed_source_are_skipped_and_reported() {
    let server = campanile_testkit::s3();
    let Changed {
        client,
        src,
        dst,
        both,
        parts,
        ..
    } = changed_after_planning(server, "server-side-changed").await;
    let mut args: Vec<&str> = both.iter().map(String::as_str).collect();
    args.push("--server-side");
    let copied = run(OBJECTCOPY, &args, &parts.stdout, server, &[]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert!(
        copied.stderr.contains("changed since it was listed"),
        "{}",
        copied.stderr
    );
    assert_eq!(copied.counter(&src, "SourceChanged"), 1);
    assert_eq!(skipped_part_lines(&copied, "changed").len(), 2);
    assert!(keys(&client, &dst).await.is_empty());
    // One server only.
    let mut elsewhere: Vec<String> = both.clone();
    let at = elsewhere
        .iter()
        .position(|a| a == "--dst-endpoint")
        .expect("dst endpoint");
    elsewhere[at + 1] = server.endpoint.replace("127.0.0.1", "localhost");
    let mut args: Vec<&str> = elsewhere.iter().map(String::as_str).collect();
    args.push("--server-side");
    let refused = run(OBJECTCOPY, &args, &parts.stdout, server, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("must be the same"),
        "{}",
        refused.stderr
    );
}
