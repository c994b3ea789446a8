//! partfile end to end against Garage: a part file made for a bucket of a mixed layout
//! lists every key exactly once through bucketlist; `--check` passes it and the
//! article's part file on the article's bucket, and names the overlapping lines and
//! the ranges left out of a bad one.

use std::collections::HashMap;

use campanile::record::ListingRecord;
use campanile_testkit::fixtures;

use crate::common::{article_bucket, list_bucket, run};

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
