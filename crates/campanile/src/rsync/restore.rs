//! What the local runner adds for `campanile restore`: the dry run's lines, one per
//! object a real run would ask to restore, read from the restore step's output
//! (objectrestore `--dry-run` HEADs each listed object and writes its outcome).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use crate::error::Error;
use crate::hadoop_input::input_files;
use crate::record::unescape_key;
use crate::task::objectrestore::Outcome;

/// Prints `(dryrun) restore: s3://bucket/key` (with `json`, one JSON object) for each
/// object of the output directory `dir` whose outcome is `would-request`; returns how
/// many.
pub fn print_dry_run<W: Write>(
    dir: &Path,
    bucket: &str,
    json: bool,
    out: &mut W,
) -> Result<u64, Error> {
    let mut printed = 0;
    for file in input_files(dir)? {
        let reading = |e| Error::io(format!("reading {}", file.display()), e);
        let handle = File::open(&file).map_err(reading)?;
        for (number, line) in BufReader::new(handle).lines().enumerate() {
            let line = line.map_err(reading)?;
            let fields: Vec<&str> = line.split('\t').collect();
            let [key, etag, size, word] = fields[..] else {
                continue;
            };
            // Skip rows (`skipped:…`) go to the skip report, not here.
            let Some(outcome) = Outcome::from_word(word) else {
                continue;
            };
            if outcome != Outcome::WouldRequest {
                continue;
            }
            let key = unescape_key(key).map_err(|e| Error::Input {
                line: number as u64 + 1,
                message: format!("{}: field 1 (key): {e}", file.display()),
            })?;
            let written = if json {
                let object = serde_json::json!({
                    "action": "restore",
                    "bucket": bucket,
                    "key": key,
                    "etag": etag,
                    "size": size.parse::<u64>().unwrap_or(0),
                });
                writeln!(out, "{object}")
            } else {
                writeln!(out, "(dryrun) restore: s3://{bucket}/{key} ({size} bytes)")
            };
            written.map_err(|e| Error::io("writing stdout", e))?;
            printed += 1;
        }
    }
    Ok(printed)
}
