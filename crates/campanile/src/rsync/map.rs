//! What the local runner adds for `campanile map`: the dry run's lines, one per object
//! a real run would run the command on, read from the source listing (the dry run's
//! plan is the listing alone: [`crate::plan::map`]), and their count.

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::plan::{Plan, Step};
use crate::record::ListingRecord;
use crate::skip::is_row;

/// Prints `(dryrun) map: s3://bucket/key (N bytes)` (with `json`, one JSON object)
/// for each object of the plan's source listing, then the count (on stderr, or as a
/// `dry_run` JSON line). Skip rows of the listing (archived objects) are left out: a
/// real run skips them too.
pub fn dry_run_output<W: Write, E: Write>(
    plan: &Plan,
    bucket: &str,
    command: &str,
    (json, quiet): (bool, bool),
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    let listing = plan.steps.iter().find_map(|step| match step {
        Step::Streaming(streaming) => Some(streaming.output.clone()),
        _ => None,
    });
    let (mut objects, mut bytes) = (0u64, 0u64);
    if let Some(listing) = listing {
        crate::rsync::verify::each_line(Path::new(&listing), |file, number, line| {
            if is_row(line) {
                return Ok(());
            }
            let record = ListingRecord::parse(line).map_err(|e| Error::Input {
                line: number,
                message: format!("{}: {e}", file.display()),
            })?;
            objects += 1;
            bytes += record.size;
            let text = if json {
                serde_json::json!({"action": "map", "bucket": bucket, "key": record.key,
                    "size": record.size, "etag": record.etag})
                .to_string()
            } else {
                format!(
                    "(dryrun) map: s3://{bucket}/{} ({} bytes)",
                    record.key, record.size
                )
            };
            writeln!(out, "{text}").map_err(io)
        })?;
    }
    if json {
        let summary = serde_json::json!({"dry_run": {
            "map": objects, "bytes": bytes, "command": command, "run_dir": plan.run_dir,
        }});
        writeln!(out, "{summary}").map_err(io)?;
    }
    if !quiet {
        writeln!(
            err,
            "Dry run: would run {command:?} on {objects} object(s) ({bytes} bytes)"
        )
        .map_err(|e| Error::io("writing stderr", e))?;
    }
    out.flush().map_err(io)
}
