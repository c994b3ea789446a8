//! `campanile-bench memory`: the peak resident memory of each task and of the local
//! runner at growing input sizes (100 k, 1 M, 10 M records by default), on synthetic
//! inputs where S3 is not needed, to show that memory does not grow with the bucket:
//!
//! - multipartlist on single-part listing records (it makes no request for them; its
//!   endpoints are a closed loopback port);
//! - multipartcomplete `--dry-run` on part lines of 4-part objects, sorted by key as
//!   the shuffle gives them, and unsorted as a shell pipeline gives them;
//! - bucketlist `--distinct` (the listing steps' reducer) on a listing sorted by key in
//!   which every tenth key is listed twice;
//! - the local runner's diff of two listings of N rows (the external sort and the
//!   merge join);
//! - the local runner's map-only job over N lines with the plan's 10 lines per map
//!   (line count, splits, feeding the tasks, commit);
//! - the local runner's job with a reducer (the shuffle's external sort of N records).
//!
//! The runner's parts run in a child process of this binary (the hidden `probe`
//! subcommand), so that its own peak is measured apart from the tasks it starts; every
//! peak is the process's `VmHWM` ([`crate::measure::measure_peak`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use campanile::multipart::{hex, md5, multipart_etag};
use campanile::plan::local::job::{Job, LocalSettings, run_job};
use campanile::plan::{DiffStep, JobSettings};
use campanile::record::CopiedPartRecord;

use crate::measure::measure_peak;

/// A closed port on loopback: the tasks measured here must never send a request.
const NO_SERVER: &str = "http://127.0.0.1:9";

/// SplitMix64: keys in an order unrelated to their number.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Which of the two listings of the diff to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Every key.
    Source,
    /// Every tenth key missing, every tenth other one with another ETag.
    Destination,
}

/// Writes `n` listing lines (`key\tetag\tsize\tmtime`) of single-part objects, keys in
/// random order.
pub fn write_listing(path: &Path, n: u64, side: Side) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for i in 0..n {
        let changed = side == Side::Destination && i % 10 == 1;
        if side == Side::Destination && i % 10 == 0 {
            continue;
        }
        let etag = mix(i ^ (u64::from(changed) << 63));
        writeln!(
            out,
            "data/{:016x}/{i:010}\t{etag:016x}{:016x}\t{}\t2026-11-30 10:00:00",
            mix(i),
            mix(etag),
            100 + i % 1000
        )?;
    }
    out.flush()
}

/// Writes `n` listing lines sorted by key as the shuffle gives them, every tenth key
/// listed twice (the second time with a later mtime).
pub fn write_sorted_listing_with_duplicates(path: &Path, n: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut written = 0;
    let mut key = 0u64;
    while written < n {
        let etag = format!("{:016x}{:016x}", mix(key), mix(!key));
        for day in 0..if key.is_multiple_of(10) { 2 } else { 1 } {
            if written < n {
                writeln!(
                    out,
                    "data/{key:012}\t{etag}\t{}\t2026-11-{:02} 10:00:00",
                    100 + key % 1000,
                    29 + day
                )?;
                written += 1;
            }
        }
        key += 1;
    }
    out.flush()
}

/// Writes `n` part lines of objectcopy's output (4 parts per object, ETags that add
/// up), grouped by key; `sorted`: keys in byte order, as the shuffle gives them,
/// otherwise in random order, as a shell pipeline does.
pub fn write_part_lines(path: &Path, n: u64, sorted: bool) -> std::io::Result<()> {
    const PARTS: u32 = 4;
    const PART_SIZE: u64 = 8 << 20;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for object in 0..n.div_ceil(u64::from(PARTS)) {
        let key = if sorted {
            format!("obj/{object:010}")
        } else {
            format!("obj/{:016x}", mix(object))
        };
        let digests: Vec<[u8; 16]> = (1..=PARTS)
            .map(|part| md5(format!("{key}/{part}").as_bytes()))
            .collect();
        let etag = multipart_etag(&digests);
        for (part, digest) in (1..=PARTS).zip(&digests) {
            let line = CopiedPartRecord {
                key: key.clone(),
                etag: etag.clone(),
                upload_id: format!("upload-{object}"),
                part_etag: hex(digest),
                part_number: part,
                first_byte: u64::from(part - 1) * PART_SIZE,
                last_byte: u64::from(part) * PART_SIZE - 1,
                etags: Default::default(),
                checksum: None,
                destination: None,
            }
            .to_line();
            writeln!(out, "{line}")?;
        }
    }
    out.flush()
}

/// One measured case at one size.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Peak RSS in MiB.
    pub mib: f64,
    /// Wall seconds.
    pub seconds: f64,
}

fn task(bin: &Path, name: &str, args: &[&str], input: &Path) -> Command {
    let mut command = Command::new(bin.join(name));
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "memory-bench")
        .env("AWS_SECRET_ACCESS_KEY", "memory-bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/campanile-bench")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/campanile-bench",
        )
        .stdin(File::open(input).unwrap_or_else(|e| panic!("{}: {e}", input.display())))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn sample(command: Command, what: &str) -> Sample {
    let peak = measure_peak(command).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(peak.success, "{what} failed");
    Sample {
        mib: peak.peak_rss_kib as f64 / 1024.0,
        seconds: peak.seconds,
    }
}

/// The cases, in the order of the table.
pub const CASES: [&str; 7] = [
    "multipartlist, single-part records",
    "bucketlist --distinct, sorted listing, 1 key in 10 twice",
    "multipartcomplete --dry-run, parts sorted by key (the shuffle)",
    "multipartcomplete --dry-run, parts unsorted (a shell pipeline)",
    "local runner: diff of two listings",
    "local runner: map-only job, plan's 10 lines per map",
    "local runner: job with a reducer (shuffle sort)",
];

/// Measures every case at `n` records; `sort_memory_mb` is the runner's sort memory.
pub fn measure_size(bin: &Path, work: &Path, n: u64, sort_memory_mb: usize) -> Vec<Sample> {
    let dir = work.join(format!("n{n}"));
    std::fs::create_dir_all(&dir).expect("work dir");
    let src = dir.join("src.list");
    let dst = dir.join("dst.list");
    let parts = dir.join("parts");
    let unsorted = dir.join("parts.unsorted");
    let duplicated = dir.join("listed-twice.list");
    write_listing(&src, n, Side::Source).expect("listing");
    write_sorted_listing_with_duplicates(&duplicated, n).expect("listing");
    write_listing(&dst, n, Side::Destination).expect("listing");
    write_part_lines(&parts, n, true).expect("parts");
    write_part_lines(&unsorted, n, false).expect("parts");
    let self_exe = std::env::current_exe().expect("current exe");
    let probe = |what: &str, args: &[&Path]| {
        let mut command = Command::new(&self_exe);
        command
            .arg("probe")
            .arg(what)
            .arg(sort_memory_mb.to_string())
            .args(args)
            .stdout(Stdio::null());
        sample(command, what)
    };
    let sides = [
        "--src-bucket",
        "src",
        "--dst-bucket",
        "dst",
        "--src-endpoint",
        NO_SERVER,
        "--dst-endpoint",
        NO_SERVER,
    ];
    let complete = ["--bucket", "dst", "--endpoint", NO_SERVER, "--dry-run"];
    let samples = vec![
        sample(task(bin, "multipartlist", &sides, &src), "multipartlist"),
        sample(
            task(
                bin,
                "bucketlist",
                &["--bucket", "src", "--distinct"],
                &duplicated,
            ),
            "bucketlist --distinct",
        ),
        sample(
            task(bin, "multipartcomplete", &complete, &parts),
            "multipartcomplete",
        ),
        sample(
            task(bin, "multipartcomplete", &complete, &unsorted),
            "multipartcomplete (unsorted)",
        ),
        probe("diff", &[&src, &dst, &dir.join("diff-work")]),
        probe("map", &[&src, &dir.join("map-work")]),
        probe("shuffle", &[&src, &dir.join("shuffle-work")]),
    ];
    eprintln!(
        "memory: {n} records: one listing is {:.0} MiB",
        std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    samples
}

/// The hidden `probe` subcommand: runs one part of the local runner in this process.
/// `args`: what (`diff`, `map`, `shuffle`), sort memory in MiB, then its paths.
pub fn probe(args: &[String]) -> Result<(), String> {
    let [what, memory, paths @ ..] = args else {
        return Err("probe WHAT SORT_MEMORY_MB PATHS…".into());
    };
    let memory: usize = memory.parse().map_err(|e| format!("{memory}: {e}"))?;
    let settings = LocalSettings {
        sort_memory: memory * 1024 * 1024,
        optional_files: Vec::new(),
        ..LocalSettings::default()
    };
    match (what.as_str(), paths) {
        ("diff", [src, dst, work]) => {
            let step = DiffStep {
                name: "hive.memory".into(),
                script: "diff.q".into(),
                src: src.clone(),
                dst: dst.clone(),
                diff: format!("{work}/out"),
            };
            campanile::plan::local::diff::run_diff(
                &step,
                &PathBuf::from(work).join("step"),
                settings.sort_memory,
            )
            .map(drop)
            .map_err(|e| e.to_string())
        }
        ("map" | "shuffle", [input, work]) => {
            let shuffle = what == "shuffle";
            let job_settings = JobSettings {
                lines_per_map: 10,
                reducers: u32::from(shuffle),
                ..JobSettings::listing(0)
            };
            let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
            let job = Job {
                name: "memory",
                files: &[],
                settings: &job_settings,
                env: &[],
                input,
                output: &format!("{work}/out"),
                // The listing key becomes the shuffle's key.
                mapper: if shuffle {
                    sh("cut -f2-")
                } else {
                    sh("cat >/dev/null")
                },
                reducer: shuffle.then(|| sh("cat >/dev/null")),
            };
            run_job(&job, &PathBuf::from(work).join("step"), &settings, &|_| {})
                .map(drop)
                .map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown probe {what} with {} paths", paths.len())),
    }
}

/// Runs the benchmark at every size and prints a markdown table.
pub fn run(bin: &Path, sizes: &[u64], sort_memory_mb: usize) {
    let work = tempfile::tempdir().expect("tempdir");
    let mut columns = Vec::new();
    for &n in sizes {
        eprintln!("memory: {n} records");
        columns.push(measure_size(bin, work.path(), n, sort_memory_mb));
    }
    let label = |n: u64| match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{} k", n / 1_000),
        n => n.to_string(),
    };
    let heads: Vec<String> = sizes.iter().map(|n| label(*n)).collect();
    println!(
        "| peak RSS, MiB (seconds) | {} | largest / smallest |",
        heads.join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(sizes.len()));
    for (row, name) in CASES.iter().enumerate() {
        let cells: Vec<String> = columns
            .iter()
            .map(|samples| {
                let s = samples[row];
                format!("{:.1} ({:.1} s)", s.mib, s.seconds)
            })
            .collect();
        let first = columns.first().map_or(0.0, |c| c[row].mib);
        let last = columns.last().map_or(0.0, |c| c[row].mib);
        println!(
            "| {name} | {} | {:.2} |",
            cells.join(" | "),
            if first > 0.0 { last / first } else { 0.0 }
        );
    }
    println!("\nrunner sort memory: {sort_memory_mb} MiB (rsync --sort-memory-mb)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use campanile::record::ListingRecord;

    #[test]
    fn the_synthetic_inputs_are_valid_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (src, dst, parts) = (
            dir.path().join("src"),
            dir.path().join("dst"),
            dir.path().join("parts"),
        );
        write_listing(&src, 1000, Side::Source).expect("write");
        write_listing(&dst, 1000, Side::Destination).expect("write");
        write_part_lines(&parts, 1000, true).expect("write");
        let twice = dir.path().join("twice");
        write_sorted_listing_with_duplicates(&twice, 1000).expect("write");
        let twice = std::fs::read_to_string(&twice).expect("read");
        let mut previous = String::new();
        let mut repeated = 0;
        for line in twice.lines() {
            let record = ListingRecord::parse(line).expect("a listing record");
            assert!(record.key >= previous, "sorted");
            repeated += usize::from(record.key == previous);
            previous = record.key;
        }
        assert_eq!(twice.lines().count(), 1000);
        assert_eq!(repeated, 91);
        let read = |path: &Path| std::fs::read_to_string(path).expect("read");
        let (src, dst, parts) = (read(&src), read(&dst), read(&parts));
        for line in src.lines().chain(dst.lines()) {
            ListingRecord::parse(line).expect("a listing record");
        }
        assert_eq!(src.lines().count(), 1000);
        assert_eq!(dst.lines().count(), 900);
        let changed = dst.lines().filter(|l| !src.contains(*l)).count();
        assert_eq!(changed, 100);
        let keys: Vec<&str> = parts
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect();
        assert_eq!(keys.len(), 1000);
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for line in parts.lines() {
            CopiedPartRecord::parse(line).expect("a part record");
        }
    }
}
