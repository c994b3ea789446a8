//! The diff step, natively: the same result as `hive/diff.q` (every source listing row
//! whose key is missing in the destination or whose ETag differs, followed by the
//! destination's ETag or `-` when it has no such key: the `dstEtag` field that makes
//! the copy's write conditional, see [`crate::record::Destination`]; skip rows stay
//! as they are) as a streaming sort-merge join with bounded memory: both listings are
//! sorted by key with the external sorter, then walked side by side. Output:
//! `part-00000` and `_SUCCESS`. `tests/it/hadoop.rs` checks that Hive writes the same
//! rows.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use crate::error::Error;
use crate::hadoop_input::{input_files, read_line};
use crate::plan::DiffStep;
use crate::plan::local::commit::check_output;
use crate::plan::local::job::StepReport;
use crate::plan::local::sort::{ExternalSorter, Sorted, split_key_value};

/// Counter group of the diff's own counters.
pub const GROUP: &str = "Diff";

/// A listing directory's lines sorted by key (external sort under `work`); also
/// what [`crate::rsync::delete::find`] merges.
pub(crate) fn sorted_listing(dir: &Path, work: &Path, memory: usize) -> Result<Sorted, Error> {
    std::fs::create_dir_all(work)
        .map_err(|e| Error::io(format!("creating {}", work.display()), e))?;
    let mut sorter = ExternalSorter::new(memory, work);
    let mut line = Vec::new();
    for file in input_files(dir)? {
        let handle =
            File::open(&file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let mut reader = BufReader::new(handle);
        while read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?
            > 0
        {
            let (key, _) = split_key_value(&line);
            sorter.push(key, &line)?;
        }
    }
    sorter.finish()
}

/// The ETag field (second) of a listing line.
fn etag(line: &[u8]) -> &[u8] {
    line.split(|b| *b == b'\t').nth(1).unwrap_or_default()
}

/// True for a skip row (its fourth field starts with `skipped:`), which keeps its four
/// fields: diff.q's `CASE WHEN s.mtime LIKE 'skipped:%'`.
fn is_skip_row(line: &[u8]) -> bool {
    line.split(|b| *b == b'\t')
        .nth(3)
        .is_some_and(|mtime| mtime.starts_with(crate::skip::ROW_MARK.as_bytes()))
}

/// Writes a row of the diff: the source row, then (unless it is a skip row) the
/// destination's ETag, `-` when the destination has no such key.
fn write_row<W: Write>(out: &mut W, line: &[u8], dst_etag: Option<&[u8]>) -> std::io::Result<()> {
    out.write_all(line)?;
    if !is_skip_row(line) {
        out.write_all(b"\t")?;
        out.write_all(dst_etag.unwrap_or(crate::record::Destination::ABSENT.as_bytes()))?;
    }
    out.write_all(b"\n")
}

/// Runs the diff with its sort runs under `step_dir`.
pub fn run_diff(step: &DiffStep, step_dir: &Path, sort_memory: usize) -> Result<StepReport, Error> {
    let started = Instant::now();
    let output = Path::new(&step.diff);
    check_output(output)?;
    let mut source = sorted_listing(Path::new(&step.src), &step_dir.join("src"), sort_memory / 2)?;
    let mut destination =
        sorted_listing(Path::new(&step.dst), &step_dir.join("dst"), sort_memory / 2)?;
    std::fs::create_dir_all(output)
        .map_err(|e| Error::io(format!("creating {}", output.display()), e))?;
    let part = output.join("part-00000");
    let context = || format!("writing {}", part.display());
    let mut out = BufWriter::new(File::create(&part).map_err(|e| Error::io(context(), e))?);
    let (mut missing, mut changed, mut same) = (0i64, 0i64, 0i64);
    let mut next_dst = destination.next().transpose()?;
    for record in source.by_ref() {
        let (key, line) = record?;
        while next_dst.as_ref().is_some_and(|(dst_key, _)| *dst_key < key) {
            next_dst = destination.next().transpose()?;
        }
        // Some(the destination's ETag) or None (missing) for a row to copy.
        let copy = match &next_dst {
            Some((dst_key, dst_line)) if *dst_key == key => {
                if etag(dst_line) == etag(&line) {
                    same += 1;
                    None
                } else {
                    changed += 1;
                    Some(Some(etag(dst_line)))
                }
            }
            _ => {
                missing += 1;
                Some(None)
            }
        };
        if let Some(dst_etag) = copy {
            write_row(&mut out, &line, dst_etag).map_err(|e| Error::io(context(), e))?;
        }
    }
    out.flush().map_err(|e| Error::io(context(), e))?;
    File::create(output.join("_SUCCESS"))
        .map_err(|e| Error::io(format!("writing {}/_SUCCESS", output.display()), e))?;
    let mut report = StepReport {
        name: step.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    for (name, value) in [("Missing", missing), ("Changed", changed), ("Same", same)] {
        report
            .counters
            .insert((GROUP.to_string(), name.to_string()), value);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_changed_rows_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        let dst = dir.path().join("dst");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::create_dir_all(&dst).expect("mkdir");
        let row = |key: &str, etag: &str| format!("{key}\t{etag}\t10240\t2015-12-31 02:39:16\n");
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        std::fs::write(src.join("part-00001"), row("ff", a) + &row("fff", a)).expect("write");
        std::fs::write(src.join("part-00000"), row("fe", a) + &row("00", a)).expect("write");
        std::fs::write(src.join("_SUCCESS"), "").expect("write");
        std::fs::write(
            dst.join("part-00000"),
            row("00", a) + &row("fe", b) + &row("ff", a) + &row("zz", a),
        )
        .expect("write");
        let step = DiffStep {
            name: "hive.src.part.all".into(),
            script: "diff.q".into(),
            src: src.display().to_string(),
            dst: dst.display().to_string(),
            diff: dir.path().join("diff").display().to_string(),
        };
        // A tiny memory limit: every row goes through a spilled run.
        let report = run_diff(&step, &dir.path().join("work"), 1).expect("diff");
        let out = std::fs::read_to_string(dir.path().join("diff/part-00000")).expect("read");
        // Each row ends with what the destination held: fe's other ETag, fff nothing.
        let with = |row: String, dst: &str| format!("{}\t{dst}\n", row.trim_end());
        assert_eq!(out, with(row("fe", a), b) + &with(row("fff", a), "-"));
        for line in out.lines() {
            let record = crate::record::ListingRecord::parse(line).expect("listing");
            assert!(record.destination.is_some(), "{line}");
        }
        assert!(dir.path().join("diff/_SUCCESS").exists());
        assert_eq!(
            report.counters[&(GROUP.to_string(), "Missing".to_string())],
            1
        );
        assert_eq!(
            report.counters[&(GROUP.to_string(), "Changed".to_string())],
            1
        );
        assert_eq!(report.counters[&(GROUP.to_string(), "Same".to_string())], 2);
        // The output directory now exists: a second run is refused.
        assert!(matches!(
            run_diff(&step, &dir.path().join("work2"), 1 << 20),
            Err(Error::OutputExists(_))
        ));
    }

    #[test]
    fn skip_rows_keep_their_four_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        let dst = dir.path().join("dst");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::create_dir_all(&dst).expect("mkdir");
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let frozen =
            format!("cold\t{a}\t9\tskipped:archived:storage class GLACIER needs a restore");
        let changed = format!("warm\t{a}\t9\t2026-11-30 07:00:00");
        std::fs::write(src.join("part-00000"), format!("{frozen}\n{changed}\n")).expect("write");
        std::fs::write(
            dst.join("part-00000"),
            format!("cold\t{b}\t9\t2026-11-30 07:00:00\nwarm\t{b}\t9\t2026-11-30 07:00:00\n"),
        )
        .expect("write");
        let step = DiffStep {
            name: "diff".into(),
            script: "diff.q".into(),
            src: src.display().to_string(),
            dst: dst.display().to_string(),
            diff: dir.path().join("diff").display().to_string(),
        };
        run_diff(&step, &dir.path().join("work"), 1 << 20).expect("diff");
        let out = std::fs::read_to_string(dir.path().join("diff/part-00000")).expect("read");
        assert_eq!(out, format!("{frozen}\n{changed}\t{b}\n"));
        assert!(crate::skip::is_row(&frozen));
    }
}
