//! Checks on everything that ends up in an EMR step's arguments. A streaming mapper is
//! one string that Hadoop splits on spaces (`PipeMapRed.splitArgs`, quotes group
//! words) and `-files` is a comma-separated list, so a bucket name, profile, endpoint
//! or path holding spaces, quotes or commas could inject arguments: such values are
//! refused before anything is submitted, with a message that says what to fix.

use crate::error::Error;
use crate::plan::PlanOptions;

/// Checks an S3 bucket name against the general-purpose bucket naming rules: 3-63
/// characters of lower-case letters, digits, `.` and `-`, starting and ending with a
/// letter or digit, no `..`, not an IP address, none of the reserved prefixes and
/// suffixes.
pub fn bucket_name(name: &str) -> Result<(), String> {
    let problem = if !(3..=63).contains(&name.len()) {
        Some("must be 3 to 63 characters long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        Some("may hold only lower-case letters, digits, '.' and '-'")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("must start and end with a letter or a digit")
    } else if name.contains("..") {
        Some("must not hold two adjacent periods")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("must not be formatted as an IP address")
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        Some("must not start with xn--, sthree- or amzn-s3-demo-")
    } else if ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        Some("must not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("bucket name {name:?} is not valid: it {problem}")),
        None => Ok(()),
    }
}

/// Checks an EMR cluster id (`j-` and upper-case letters or digits).
pub fn job_id(id: &str) -> Result<(), String> {
    let ok = id.strip_prefix("j-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cluster id {id:?} is not valid: it must match ^j-[A-Z0-9]+$ (see `aws emr list-clusters`)"
        ))
    }
}

/// Checks a word that becomes one argument of a task command: no whitespace, quotes,
/// commas or control characters, and not empty.
pub fn word(what: &str, value: &str) -> Result<(), String> {
    let bad = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | ',' | '\\'));
    match bad {
        _ if value.is_empty() => Err(format!("{what} is empty")),
        Some(c) => Err(format!(
            "{what} {value:?} holds {c:?}, which would break the step's arguments"
        )),
        None if value.starts_with('-') => Err(format!("{what} {value:?} must not start with '-'")),
        None => Ok(()),
    }
}

/// Checks a prefix or a glob that becomes one argument of a task command: like
/// [`word`], but commas are allowed (`{a,b}` alternatives; a task's arguments are
/// split on spaces only, and these never reach `-files`), and an empty prefix is no
/// prefix.
pub fn key_word(what: &str, value: &str) -> Result<(), String> {
    let bad = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    match bad {
        Some(c) => Err(format!(
            "{what} {value:?} holds {c:?}, which cannot go on a task's command line"
        )),
        None if value.starts_with('-') => Err(format!("{what} {value:?} must not start with '-'")),
        None => Ok(()),
    }
}

/// Checks every option that reaches a step's arguments.
/// What a copy of versions (`--all-versions`, `--version-at`) cannot be combined with:
/// a listing that is not the bucket's versions (an inventory report, a given listing),
/// the size and date filters (a key's versions differ in both), a stop before the
/// copy (`--no-copy`: there is no multipartlist step), the server-side modes and
/// SSE-C (docs/versions.md).
pub fn versions(options: &PlanOptions) -> Result<(), Error> {
    let refused = |what: &str| {
        Err(Error::Usage(format!(
            "--all-versions and --version-at list the bucket's versions and copy them in \
             order: not with {what}"
        )))
    };
    let filters = &options.filters;
    if options.inventory {
        return refused("--inventory");
    }
    if options.listing.is_some() {
        return refused("--input-report");
    }
    if filters.min_size.is_some()
        || filters.max_size.is_some()
        || filters.newer_than.is_some()
        || filters.older_than.is_some()
        || filters.archived
    {
        return refused(
            "the size and date filters or --restored (a key's versions differ in both)",
        );
    }
    if options.no_copy {
        return refused("--no-copy (the copy reads the listing itself)");
    }
    // The default server-side copy where readable (`auto_server_side`) is the sync
    // job's: versions always go through the task, one after another.
    if options.server_side_copy {
        return refused("--server-side-copy");
    }
    if options.src_sse_c_key_file.is_some() || options.write.dst_sse_c_key_file.is_some() {
        return refused("SSE-C keys");
    }
    Ok(())
}

/// Checks the options of a plan (see the module).
pub fn plan_options(options: &PlanOptions) -> Result<(), Error> {
    let check = |result: Result<(), String>| result.map_err(Error::Usage);
    check(bucket_name(&options.src_bucket))?;
    check(bucket_name(&options.dst_bucket))?;
    check(word("--uuid", &options.uuid))?;
    check(word("--input", &options.input))?;
    if let Some(dst_input) = &options.dst_input {
        check(word("the destination's part file", dst_input))?;
    }
    if options.delete.is_some() {
        delete(options)?;
    }
    if options.job == crate::plan::Job::Reencrypt {
        reencrypt(options)?;
    }
    if let crate::plan::Job::Versions(_) = &options.job {
        versions(options)?;
    }
    let lists_destination =
        options.diff || matches!(&options.job, crate::plan::Job::Verify(job) if job.extra);
    if let crate::plan::Job::Verify(_) = &options.job
        && options.diff
    {
        return Err(Error::Usage(
            "verify compares every listed key: it cannot read the diff's rows (no --diff)".into(),
        ));
    }
    if options.listing.is_some() && (options.diff || options.inventory) {
        return Err(Error::Usage(
            "a given source listing (--input-report) is copied as it is: not with --diff or --inventory".into(),
        ));
    }
    if let Some(listing) = &options.listing {
        check(word("the given listing", listing))?;
    }
    if options.inventory && lists_destination && options.dst_input.is_none() {
        return Err(Error::Usage(
            "a source listed from an inventory report needs a part file for the \
             destination listing of --diff"
                .into(),
        ));
    }
    check(key_word("the source prefix", &options.prefixes.src_prefix))?;
    check(key_word(
        "the destination prefix",
        &options.prefixes.dst_prefix,
    ))?;
    for rule in &options.filters.filters {
        let flag = if rule.include {
            "--include"
        } else {
            "--exclude"
        };
        check(key_word(flag, &rule.glob))?;
    }
    check(word("--code", &options.code))?;
    check(word("--output", &options.output))?;
    check(word("--src-endpoint", &options.src_endpoint))?;
    check(word("--dst-endpoint", &options.dst_endpoint))?;
    for (flag, profile) in [
        ("--src-profile", &options.src_profile),
        ("--dst-profile", &options.dst_profile),
    ] {
        if let Some(profile) = profile {
            check(word(flag, profile))?;
        }
    }
    // A KMS key id goes on the task command lines like any word.
    if let Some(key) = &options.write.sse_kms_key_id {
        check(word("--sse-kms-key-id", key))?;
    }
    options.write.check()?;
    // SSE-C key files: paths on the task command lines (never the keys), absolute
    // since every task runs in its own working directory.
    for (flag, path) in [
        ("--src-sse-c-key-file", &options.src_sse_c_key_file),
        ("--dst-sse-c-key-file", &options.write.dst_sse_c_key_file),
    ] {
        if let Some(path) = path {
            let text = path.display().to_string();
            check(word(flag, &text))?;
            if !path.is_absolute() {
                return Err(Error::Usage(format!(
                    "{flag} {text:?} must be an absolute path: the tasks run in their own \
                     working directories (on a cluster, the path of the key file on every node)"
                )));
            }
        }
    }
    if crate::plan::part_file_name(&options.input).is_empty() {
        return Err(Error::Usage(format!(
            "--input {:?} names no part file",
            options.input
        )));
    }
    if options.server_side_copy && options.src_endpoint != options.dst_endpoint {
        return Err(Error::Usage(format!(
            "--server-side-copy copies inside one server, but the source is at {} and the \
             destination at {}",
            options.src_endpoint, options.dst_endpoint
        )));
    }
    Ok(())
}

/// Checks a delete sync ([`crate::plan::delete`]): the copy's job with both sides
/// listed from the buckets themselves (an inventory report or a given listing can miss
/// keys the source holds, whose copies would then be deleted).
pub fn delete(options: &PlanOptions) -> Result<(), Error> {
    let refused = |why: &str| Err(Error::Usage(format!("--delete {why}")));
    if options.job != crate::plan::Job::Sync {
        return refused("belongs to the copy (rsync, sync)");
    }
    if !options.diff {
        return refused("needs the destination listed: --diff");
    }
    if options.inventory || options.listing.is_some() {
        return refused(
            "needs the source listed from the bucket: not with --inventory or --input-report",
        );
    }
    Ok(())
}

/// Checks a reencrypt ([`crate::plan::Job::Reencrypt`]): one location (the destination
/// is the source: bucket, endpoint, profile, no prefix change), a change asked for
/// (S3 refuses a copy onto itself that changes nothing, and a run that changes nothing
/// would only cost requests), no diff and no SSE-C (whose keys this rewrite does not
/// carry).
pub fn reencrypt(options: &PlanOptions) -> Result<(), Error> {
    let one_location = options.src_bucket == options.dst_bucket
        && options.src_endpoint == options.dst_endpoint
        && options.src_profile == options.dst_profile
        && options.prefixes.key_map().is_identity();
    if !one_location {
        return Err(Error::Usage(
            "reencrypt rewrites objects onto themselves: the destination must be the source \
             (bucket, endpoint, profile and prefix)"
                .into(),
        ));
    }
    let write = &options.write;
    if write.sse.is_none() && write.sse_kms_key_id.is_none() && write.storage_class.is_none() {
        return Err(Error::Usage(
            "reencrypt needs a change: give --sse, --sse-kms-key-id or --storage-class".into(),
        ));
    }
    if write.dst_sse_c_key_file.is_some() || options.src_sse_c_key_file.is_some() {
        return Err(Error::Usage(
            "reencrypt does not rewrite SSE-C objects (no --src-sse-c-key-file or \
             --dst-sse-c-key-file)"
                .into(),
        ));
    }
    if options.diff {
        return Err(Error::Usage(
            "reencrypt rewrites every listed key: it takes no --diff".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in [
            "srcbucket",
            "a.b-c",
            "abc",
            "my-bucket-2016",
            &"a".repeat(63),
        ] {
            assert!(bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "-dash",
            "dot.",
            "a..b",
            "192.168.1.1",
            "xn--bucket",
            "bucket-s3alias",
            "with space",
            "comma,bucket",
        ] {
            assert!(bucket_name(bad).is_err(), "{bad}");
        }
        assert!(
            bucket_name("Upper")
                .expect_err("upper case")
                .contains("lower-case")
        );
    }

    #[test]
    fn job_ids() {
        assert!(job_id("j-21Z837CG1ZQ14").is_ok());
        assert!(job_id("j-").is_err());
        assert!(job_id("j-abc").is_err());
        assert!(job_id("21Z837CG1ZQ14").is_err());
        assert!(job_id("j-ABC; rm").is_err());
    }

    #[test]
    fn words_cannot_inject_arguments() {
        assert!(word("--src-profile", "jeff").is_ok());
        assert!(word("--code", "s3://codebucket/prefix").is_ok());
        for bad in ["jeff --debug", "a,b", "x\"y", "tab\tx", "", "-x", "a'b"] {
            assert!(word("--src-profile", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_and_globs_may_hold_commas_but_not_spaces() {
        assert!(key_word("--include", "/{a,b}/**").is_ok());
        assert!(key_word("the source prefix", "").is_ok());
        for bad in ["a b", "x\"y", "-x", "a'b", "a\\b"] {
            assert!(key_word("--include", bad).is_err(), "{bad:?}");
        }
    }
}
