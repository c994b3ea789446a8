//! What users read first: the `--help` of rsync and of every task binary, as
//! snapshots, so that a change to a flag, its default or its explanation is reviewed
//! like code. Each text is also checked for what it must hold (usage line, the flags
//! a user of `aws s3 sync` looks for) so that a snapshot accepted in a hurry cannot
//! drop them unseen.

use std::process::Command;

use crate::common::*;

/// The `--help` of `program`, as a user reads it (no terminal: clap does not wrap to
/// a width, so the text is the same on every machine).
fn help(program: &str) -> String {
    let out = Command::new(program)
        .arg("--help")
        .env_remove("COLUMNS")
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{program} --help: {:?}", out.status);
    assert!(out.stderr.is_empty(), "{program} --help wrote on stderr");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The help of the task binaries: each names its binary and takes its buckets.
#[test]
fn the_task_binaries_explain_themselves() {
    for (name, program, bucket_flag) in [
        ("bucketlist", BUCKETLIST, "--bucket"),
        ("multipartlist", MULTIPARTLIST, "--src-bucket"),
        ("objectcopy", OBJECTCOPY, "--src-bucket"),
        ("multipartcomplete", MULTIPARTCOMPLETE, "--bucket"),
        ("objectindex", OBJECTINDEX, "--bucket"),
        ("objectmap", OBJECTMAP, "--src-bucket"),
        ("objectdelete", OBJECTDELETE, "--bucket"),
        ("partfile", env!("CARGO_BIN_EXE_partfile"), "--bucket"),
    ] {
        let text = help(program);
        assert!(text.contains(&format!("Usage: {name}")), "{name}:\n{text}");
        assert!(text.contains(bucket_flag), "{name} has no {bucket_flag}");
        insta::assert_snapshot!(format!("help_{name}"), text);
    }
}

/// rsync's help is enough to run a prefix-to-prefix copy with a filter, as a user of
/// `aws s3 sync` would: the URLs, the filters and the dry run are all there.
#[test]
fn rsync_help_is_enough_for_a_prefix_copy_with_a_filter() {
    let text = help(RSYNC);
    for needed in [
        "Usage: rsync",
        "s3://",
        "--include",
        "--exclude",
        "--min-size",
        "--newer-than",
        "--dry-run",
        "--diff",
        "Examples",
    ] {
        assert!(
            text.contains(needed),
            "rsync --help lacks {needed:?}:\n{text}"
        );
    }
    insta::assert_snapshot!("help_rsync", text);
}

/// `campanile index --help` is enough to index a bucket into a table with a filter:
/// the sources, the table, the regex, the article's awk filter and the dry run.
#[test]
fn index_help_is_enough_for_a_filtered_table() {
    let out = Command::new(CAMPANILE)
        .args(["index", "--help"])
        .env_remove("COLUMNS")
        .output()
        .expect("run campanile index --help");
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8(out.stdout).expect("help is UTF-8");
    for needed in [
        "Usage: campanile index",
        "<SOURCE>...",
        "--format",
        "--to",
        "--key-regex",
        "--no-head",
        "--min-size 1024001",
        "--dry-run",
        "Examples",
    ] {
        assert!(
            text.contains(needed),
            "campanile index --help lacks {needed:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("index-src-unused"),
        "rsync's SRC stays hidden:\n{text}"
    );
    insta::assert_snapshot!("help_campanile_index", text);
}
