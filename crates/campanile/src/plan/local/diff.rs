//! The diff step, natively: the same result as `hive/diff.q` (every source listing row
//! whose key is missing in the destination or whose ETag differs) as a streaming
//! sort-merge join with bounded memory: both listings are sorted by key with the
//! external sorter, then walked side by side. Output: `part-00000` and `_SUCCESS`.

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

fn sorted_listing(dir: &Path, work: &Path, memory: usize) -> Result<Sorted, Error> {
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
        let copy = match &next_dst {
            Some((dst_key, dst_line)) if *dst_key == key => {
                if etag(dst_line) == etag(&line) {
                    same += 1;
                    false
                } else {
                    changed += 1;
                    true
                }
            }
            _ => {
                missing += 1;
                true
            }
        };
        if copy {
            out.write_all(&line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io(context(), e))?;
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
        assert_eq!(out, row("fe", a) + &row("fff", a));
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
}
