//! `multipartlist --abort-run` (mapper): the clean-up step of a cluster run. On EMR a
//! failed copy step leaves the uploads of its objects in progress (invisible, but
//! billed); the plan's last step ([`crate::plan::Step::Cleanup`], ActionOnFailure
//! CONTINUE) runs this task over the run's listing (multipartlist's input), and each
//! task aborts every upload in progress in the destination for the multipart keys of
//! its split. It is the local runner's clean-up ([`crate::orphans::finish_run`]) given
//! the split as the listing: no part list, so no upload is completed, every one is
//! aborted (the `--diff` re-run copies those objects). After a successful copy nothing
//! is in progress: one ListMultipartUploads request per task, nothing aborted. Skip
//! rows are read past; nothing is written to stdout.
//!
//! The listing of a copy of versions (`rsync --all-versions`, `--version-at`) holds
//! versions records ([`crate::versions::VersionsRecord`]) instead: the uploads of the
//! keys with a multipart version are aborted (see [`crate::orphans`]).

use std::io::{BufRead, Write};

use crate::error::Error;
use crate::input::checked_records;
use crate::orphans::{self, CleanUp, UPLOADS_PER_PASS};
use crate::record::ListingRecord;
use crate::reporter::{Reporter, counters};
use crate::s3::Client;
use crate::skip::{self, Line};
use crate::stream::StreamIndex;
use crate::tuning::Tuning;

/// Aborts the uploads in progress in `dst_bucket` of the multipart keys of `input`
/// (source keys, mapped to the destination's by `keys`)
/// (listing records or versions records, and skip rows that are passed over); says how many on the status
/// line and in the counter `AbortedUploads` (group = destination).
pub async fn run<R: BufRead, E: Write>(
    input: R,
    stream_index: StreamIndex,
    reporter: &mut Reporter<E>,
    dst: &Client,
    dst_bucket: &str,
    keys: &crate::select::KeyMap,
) -> Result<CleanUp, Error> {
    let records = checked_records(input, stream_index, skip::or_passed(run_record))?;
    // finish_run reads the run's records from files, once per pass: the split, checked,
    // goes to a private temporary file.
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let listing = dir.path().join("listing");
    {
        let file = std::fs::File::create(&listing)
            .map_err(|e| Error::io(format!("writing {}", listing.display()), e))?;
        let mut out = std::io::BufWriter::new(file);
        for line in records {
            if let Line::Record(record) = line? {
                writeln!(out, "{record}")
                    .map_err(|e| Error::io(format!("writing {}", listing.display()), e))?;
            }
        }
        out.flush()
            .map_err(|e| Error::io(format!("writing {}", listing.display()), e))?;
    }
    let tuning = Tuning::DEFAULT;
    // No part list: every upload of the split's multipart keys is aborted.
    let done = orphans::finish_run(
        dst,
        dst_bucket,
        keys,
        &dir.path().join("no-part-list"),
        &listing,
        (
            tuning.multipartcomplete_attempts,
            tuning.multipartcomplete_max_pause,
        ),
        UPLOADS_PER_PASS,
    )
    .await?;
    let aborted = i64::try_from(done.aborted.len()).unwrap_or(i64::MAX);
    reporter.counter(dst_bucket, counters::ABORTED_UPLOADS, aborted)?;
    reporter.status_now(&format!(
        "{dst_bucket}: aborted {aborted} multipart upload(s) left in progress"
    ))?;
    reporter.finish()?;
    Ok(done)
}

/// A line of the run's listing, checked: a listing record, or a versions record (a copy
/// of versions), as it is written again for [`orphans::finish_run`].
fn run_record(line: &str) -> Result<String, crate::record::RecordError> {
    if crate::versions::is_versions_line(line) {
        crate::versions::VersionsRecord::parse(line).map(|r| r.to_line())
    } else {
        ListingRecord::parse(line).map(|r| r.to_line())
    }
}
