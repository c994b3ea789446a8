//! The summary that ends every rsync run whose steps started: objects and bytes
//! copied, objects skipped or reported by reason, failures, proofs, throughput,
//! elapsed time, and where the run directory, the output and the skip report are (a
//! failed run's summary counts the steps that ended and names the error).
//! It is computed from the step reports the runners already collect (the counters the
//! tasks write, [`crate::reporter::counters`], summed per step), so the local and the
//! Hadoop runner give the same numbers; on EMR the counters are read from the step
//! logs, and steps whose log could not be read are named instead of silently counted
//! as zero. Rendered for people on stderr ([`RunSummary::write_human`]) and as one
//! JSON line on stdout with `--json` ([`RunSummary::json`]).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::plan::local::StepReport;
use crate::reporter::counters;
use crate::rsync::report::SkipReport;
use crate::skip::SkipReason;

/// What a run did, as its summary says it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Objects copied: whole objects plus completed multipart uploads.
    pub objects: u64,
    /// Of [`RunSummary::objects`], those copied as multipart uploads.
    pub multipart_objects: u64,
    /// Bytes written to the destination.
    pub bytes: u64,
    /// Parts copied (of the multipart objects).
    pub parts: u64,
    /// Objects or parts a retried attempt found already at the destination, so not
    /// copied again (not in [`RunSummary::objects`]).
    pub already_copied: u64,
    /// What the listing of the source found (objects, bytes), when the run listed it.
    pub listed: Option<Listed>,
    /// Objects left out, by reason (every reason of [`SkipReason`] that leaves an
    /// object out, zero included).
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Objects copied but reported, by reason ([`SkipReason::copied`]).
    pub reported: BTreeMap<SkipReason, u64>,
    /// What failed.
    pub failed: Failed,
    /// How the copied objects' bytes were proven to be the source's.
    pub proofs: Proofs,
    /// The tasks' S3 requests by operation (each attempt, retries included; rsync's
    /// own few are not among them); `None` when no step reported any.
    pub requests: Option<BTreeMap<String, u64>>,
    /// Wall time of the whole run, in seconds.
    pub seconds: f64,
    /// [`RunSummary::bytes`] per second of [`RunSummary::seconds`].
    pub bytes_per_second: f64,
    /// [`RunSummary::objects`] per second of [`RunSummary::seconds`].
    pub objects_per_second: f64,
    /// Steps whose counters are in the numbers.
    pub steps: usize,
    /// Steps whose counters could not be read (an EMR step log not uploaded yet): the
    /// numbers leave them out.
    pub steps_without_counters: Vec<String>,
    /// Where the run and its results are.
    pub paths: RunPaths,
    /// The error a failed run ended with (its first line); `None` for a run that got
    /// to its end. The numbers of a failed run are those of the steps that ended
    /// before it failed: a failed step's counters are lost with it.
    pub error: Option<String>,
    /// `--delete`: the destination keys deleted and where they are listed; `None`
    /// (and absent from the JSON) in a run without `--delete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Deleted>,
    /// `campanile restore`: what became of the archived objects; `None` (and absent
    /// from the JSON) in a run without a restore step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
    /// `campanile map`: what the commands did; `None` (and absent from the JSON) in a
    /// run without a map step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<Map>,
    /// Of [`RunSummary::bytes`], those the server copied itself (CopyObject,
    /// UploadPartCopy): the rest went through the tasks (GET+PUT).
    pub server_side_bytes: u64,
    /// `--all-versions`, `--version-at`: the versions listed and written; `None` (and
    /// absent from the JSON) in a run that copies no versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Versions>,
}

/// What a copy of versions did (bucketlist's and `objectcopy --versions`' counters).
/// A dry run's `versions` and `delete_markers` are those it would write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Versions {
    /// Keys listed with their versions.
    pub keys: u64,
    /// Object versions listed at the source (delete markers not among them).
    pub listed_versions: u64,
    /// Delete markers listed at the source.
    pub listed_delete_markers: u64,
    /// Object versions written at the destination.
    pub versions: u64,
    /// Delete markers written at the destination.
    pub delete_markers: u64,
    /// Versions (and markers) found in the destination's history already.
    pub already_there: u64,
    /// Keys whose destination history is not the start of the source's: reported,
    /// not written.
    pub diverged: u64,
    /// A dry run's: `versions` and `delete_markers` are what would be written.
    #[serde(skip)]
    pub dry_run: bool,
}

impl Versions {
    /// The versions counts of a run's steps; `None` when no step listed or copied
    /// versions.
    fn of(steps: &[StepReport]) -> Option<Versions> {
        let copies: Vec<StepReport> = steps.iter().filter(|s| is_copy(s)).cloned().collect();
        let listings: Vec<StepReport> = steps
            .iter()
            .filter(|s| s.name.starts_with("list."))
            .cloned()
            .collect();
        let versions = Versions {
            keys: sum_all(&listings, counters::OBJECTS),
            listed_versions: sum_all(&listings, counters::VERSIONS),
            listed_delete_markers: sum_all(&listings, counters::DELETE_MARKERS),
            versions: sum_all(&copies, counters::VERSIONS),
            delete_markers: sum_all(&copies, counters::DELETE_MARKERS),
            already_there: sum_all(&copies, counters::VERSIONS_ALREADY_THERE),
            diverged: sum_all(&copies, counters::HISTORY_DIVERGED),
            dry_run: false,
        };
        let any = versions.listed_versions
            + versions.listed_delete_markers
            + versions.versions
            + versions.delete_markers
            + versions.already_there
            + versions.diverged;
        (any > 0).then_some(versions)
    }
}

/// What a restore run did with the archived objects it listed (objectrestore's
/// counters; a dry run's `requested` are the restores it would request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Restore {
    /// Restores requested.
    pub requested: u64,
    /// Restores found in progress.
    pub in_progress: u64,
    /// Objects found restored (a readable copy exists).
    pub restored: u64,
    /// Objects listed that need no restore (an Intelligent-Tiering object in a tier a
    /// GET reads).
    pub not_archived: u64,
}

impl Restore {
    /// The restore counts of a run's steps; `None` when no step is a restore.
    fn of(steps: &[StepReport]) -> Option<Restore> {
        let restores: Vec<StepReport> = steps
            .iter()
            .filter(|s| s.name.starts_with("restore."))
            .cloned()
            .collect();
        (!restores.is_empty()).then(|| Restore {
            requested: sum_all(&restores, counters::RESTORE_REQUESTED),
            in_progress: sum_all(&restores, counters::RESTORE_IN_PROGRESS),
            restored: sum_all(&restores, counters::ALREADY_RESTORED),
            not_archived: sum_all(&restores, counters::NOT_ARCHIVED),
        })
    }

    /// Objects the restore step handled.
    pub fn objects(&self) -> u64 {
        self.requested + self.in_progress + self.restored + self.not_archived
    }
}

/// What a map run's commands did (objectmap's counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Map {
    /// Objects whose command succeeded.
    pub mapped: u64,
    /// Objects whose command failed, as the committed attempts counted them: on a
    /// task's last attempt, each is a `command_failed` row of the skip report.
    pub failed: u64,
    /// Bytes fed to the commands.
    pub input_bytes: u64,
    /// Bytes the commands wrote.
    pub output_bytes: u64,
}

impl Map {
    /// The map counts of a run's steps; `None` when no step is a map.
    fn of(steps: &[StepReport]) -> Option<Map> {
        let prefix = format!("{}.", crate::plan::map::STEP_KIND);
        let maps: Vec<StepReport> = steps
            .iter()
            .filter(|s| s.name.starts_with(&prefix))
            .cloned()
            .collect();
        (!maps.is_empty()).then(|| Map {
            mapped: sum_all(&maps, counters::MAPPED),
            failed: sum_all(&maps, counters::MAP_FAILED),
            input_bytes: sum_all(&maps, counters::MAP_INPUT_BYTES),
            output_bytes: sum_all(&maps, counters::MAP_OUTPUT_BYTES),
        })
    }
}

/// What a `--delete` run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// Destination keys deleted.
    pub objects: u64,
    /// The file listing them (`<run dir>/_deleted.jsonl`), when the run got to delete.
    pub report: Option<String>,
    /// Keys to delete that were kept: rewritten at the destination since the listing.
    #[serde(skip_serializing_if = "is_zero")]
    pub kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the listing of the source found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Objects listed (archived ones, left out by the listing, not among them).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects the listing's filters (`--include`/`--exclude`, sizes, dates) left out:
    /// neither in [`Listed::objects`] nor skips.
    pub filtered: u64,
}

/// What failed in a run that still ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// Completed uploads whose ETag differed from the source's (`EtagMismatch`).
    pub objects: u64,
    /// Task attempts that failed and were retried.
    pub attempts: u64,
}

/// Objects proven, by how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Proofs {
    /// By MD5: the source's ETag, or the completed upload's computed from the parts.
    pub md5: u64,
    /// By the source's checksum.
    pub checksum: u64,
}

/// Where a run's directory, output and skip report are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunPaths {
    /// The run directory (`RunDir:`).
    pub run_dir: String,
    /// The job output as the user finds it (`Output:`), when the run copies.
    pub output: Option<String>,
    /// The copy's input (`CopyInput:`, `--no-copy`).
    pub copy_input: Option<String>,
    /// The skip report, when the run left objects out or reported some.
    pub skip_report: Option<String>,
}

impl RunPaths {
    /// The paths as printed before the steps run: with `--json` the line
    /// `{"run_dir":…,"output":…}` (`copy_input` with `--no-copy`), which replaces the
    /// article's `RunDir:`/`Output:` lines.
    pub fn json(&self) -> serde_json::Value {
        let mut line = serde_json::Map::new();
        line.insert("run_dir".into(), self.run_dir.clone().into());
        if let Some(output) = &self.output {
            line.insert("output".into(), output.clone().into());
        }
        if let Some(copy_input) = &self.copy_input {
            line.insert("copy_input".into(), copy_input.clone().into());
        }
        serde_json::Value::Object(line)
    }
}

/// Kinds of step, told by the plan's step names (`list.<bucket>.<part file>`,
/// `inventory.…`, `hive.…`, `mlist.…`, `copy.…`, `cleanup.…`).
fn is_copy(step: &StepReport) -> bool {
    step.name.starts_with("copy.")
}

/// The sum of counter `name` over every group of `step`.
fn sum(step: &StepReport, name: &str) -> u64 {
    let total: i64 = step
        .counters
        .iter()
        .filter(|((_, counter), _)| counter == name)
        .map(|(_, value)| *value)
        .sum();
    u64::try_from(total).unwrap_or(0)
}

/// The sum of counter `name` over every step and group.
fn sum_all(steps: &[StepReport], name: &str) -> u64 {
    steps.iter().map(|step| sum(step, name)).sum()
}

/// The tasks' requests by operation (group [`crate::requests::GROUP`]) summed over
/// the steps; `None` when no step reported any.
fn requests(steps: &[StepReport]) -> Option<BTreeMap<String, u64>> {
    let mut requests = BTreeMap::new();
    for step in steps {
        for ((group, operation), value) in &step.counters {
            if group == crate::requests::GROUP {
                *requests.entry(operation.clone()).or_insert(0) +=
                    u64::try_from(*value).unwrap_or(0);
            }
        }
    }
    (!requests.is_empty()).then_some(requests)
}

/// `count` per `seconds`, zero for no time at all.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 && seconds.is_finite() {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl RunSummary {
    /// The summary of a run whose steps reported `steps`, that took `seconds`, copying
    /// from `src_bucket`. The skipped and reported objects are taken from the
    /// counters here; [`RunSummary::with_report`] replaces them by the skip report's
    /// rows when the run wrote its report.
    pub fn from_steps(steps: &[StepReport], src_bucket: &str, seconds: f64) -> RunSummary {
        let copies: Vec<StepReport> = steps.iter().filter(|s| is_copy(s)).cloned().collect();
        let whole = sum_all(&copies, counters::OBJECTS);
        let multipart = sum_all(&copies, counters::UPLOADS);
        let objects = whole + multipart;
        let bytes = sum_all(&copies, counters::INPUT_BYTES);
        // The source's listing: its step is named after the source bucket (the
        // destination's, with --diff, after the destination).
        let listed = steps
            .iter()
            .find(|s| {
                s.name.starts_with(&format!("list.{src_bucket}."))
                    || s.name.starts_with(&format!("inventory.{src_bucket}."))
            })
            .map(|s| Listed {
                objects: sum(s, counters::OBJECTS),
                bytes: sum(s, counters::BYTES),
                filtered: sum(s, counters::FILTERED),
            });
        let mut summary = RunSummary {
            objects,
            multipart_objects: multipart,
            bytes,
            parts: sum_all(&copies, counters::PARTS),
            already_copied: sum_all(&copies, counters::ALREADY_COPIED),
            listed,
            failed: Failed {
                objects: sum_all(steps, counters::ETAG_MISMATCH),
                attempts: steps.iter().map(|s| s.failed_attempts as u64).sum(),
            },
            proofs: Proofs {
                md5: sum_all(steps, counters::PROVEN_BY_MD5),
                checksum: sum_all(steps, counters::PROVEN_BY_CHECKSUM),
            },
            requests: requests(steps),
            seconds,
            bytes_per_second: rate(bytes, seconds),
            objects_per_second: rate(objects, seconds),
            steps: steps.len(),
            restore: Restore::of(steps),
            map: Map::of(steps),
            server_side_bytes: sum_all(&copies, counters::SERVER_SIDE_BYTES),
            versions: Versions::of(steps),
            ..RunSummary::default()
        };
        let by_reason: BTreeMap<SkipReason, u64> = SkipReason::ALL
            .into_iter()
            .map(|reason| (reason, sum_all(steps, reason.counter())))
            .collect();
        summary.set_reasons(&by_reason);
        summary
    }

    /// Sets what `--delete` deleted.
    pub fn with_deleted(mut self, deleted: Option<Deleted>) -> RunSummary {
        self.deleted = deleted;
        self
    }

    /// Takes the skipped and reported objects from the run's skip report (no report:
    /// none), which lists exactly the objects the run left out: the counters also
    /// count an archived object that the diff then found already at the destination.
    pub fn with_report(mut self, report: Option<&SkipReport>) -> RunSummary {
        let empty = BTreeMap::new();
        let reasons = report.map_or(&empty, |r| &r.reasons);
        self.set_reasons(reasons);
        self.paths.skip_report = report.map(|r| r.path.clone());
        self
    }

    /// Sets the run's paths (the skip report's is kept).
    pub fn with_paths(mut self, paths: RunPaths) -> RunSummary {
        let skip_report = self.paths.skip_report.take();
        self.paths = RunPaths {
            skip_report: skip_report.or(paths.skip_report.clone()),
            ..paths
        };
        self
    }

    /// Marks the summary as that of a run that failed with `error`.
    pub fn failed_with(mut self, error: &crate::error::Error) -> RunSummary {
        let text = error.to_string();
        self.error = Some(text.lines().next().unwrap_or_default().to_string());
        self
    }

    /// Names steps whose counters could not be read.
    pub fn without_counters(mut self, steps: Vec<String>) -> RunSummary {
        self.steps_without_counters = steps;
        self
    }

    fn set_reasons(&mut self, by_reason: &BTreeMap<SkipReason, u64>) {
        let count = |reason: SkipReason| by_reason.get(&reason).copied().unwrap_or(0);
        self.skipped = SkipReason::ALL
            .into_iter()
            .filter(|r| !r.copied())
            .map(|r| (r, count(r)))
            .collect();
        self.reported = SkipReason::ALL
            .into_iter()
            .filter(|r| r.copied())
            .map(|r| (r, count(r)))
            .collect();
    }

    /// Objects left out, every reason together.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Objects copied but reported, every reason together.
    pub fn reported_total(&self) -> u64 {
        self.reported.values().sum()
    }

    /// The `--json` line: `{"summary":{…}}`, times rounded to the millisecond.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        if let Some(map) = value.as_object_mut() {
            for (name, x) in [
                ("seconds", self.seconds),
                ("bytes_per_second", self.bytes_per_second),
                ("objects_per_second", self.objects_per_second),
            ] {
                map.insert(name.into(), round(x).into());
            }
        }
        serde_json::json!({ "summary": value })
    }

    /// The summary for people: a heading line, then one aligned line per subject.
    pub fn write_human<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let reasons = |map: &BTreeMap<SkipReason, u64>| -> String {
            let listed: Vec<String> = map
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            if listed.is_empty() {
                String::new()
            } else {
                format!(" ({})", listed.join(", "))
            }
        };
        let heading = match &self.error {
            None => "summary",
            Some(_) => "summary of the steps that ended (the run failed)",
        };
        match (&self.restore, &self.map) {
            _ if self.versions.is_some_and(|v| v.dry_run) => {
                let versions = self.versions.unwrap_or_default();
                writeln!(
                    out,
                    "dry run: {} and {} would be written",
                    plural(versions.versions, "version"),
                    plural(versions.delete_markers, "delete marker")
                )?
            }
            (Some(restore), _) => writeln!(
                out,
                "{heading}: {} in an archive storage class",
                plural(restore.objects(), "object"),
            )?,
            (None, Some(map)) => writeln!(
                out,
                "{heading}: {} mapped, {} read",
                plural(map.mapped, "object"),
                bytes(map.input_bytes)
            )?,
            (None, None) => writeln!(
                out,
                "{heading}: {} copied ({} multipart), {}",
                plural(self.objects, "object"),
                self.multipart_objects,
                bytes(self.bytes)
            )?,
        }
        let mut lines: Vec<(&str, String)> = Vec::new();
        if let Some(restore) = &self.restore {
            lines.push((
                "restore",
                format!(
                    "{} requested, {} in progress, {} already restored, {} not archived",
                    restore.requested, restore.in_progress, restore.restored, restore.not_archived
                ),
            ));
        }
        if let Some(map) = &self.map {
            lines.push((
                "map",
                format!(
                    "{} mapped, {} failed, {} in, {} out",
                    map.mapped,
                    map.failed,
                    bytes(map.input_bytes),
                    bytes(map.output_bytes)
                ),
            ));
        }
        if let Some(versions) = &self.versions {
            lines.push((
                "versions",
                format!(
                    "{} listed ({} versions, {} delete markers); {} versions and {} delete \
                     markers {}, {} there already, {} diverged",
                    plural(versions.keys, "key"),
                    versions.listed_versions,
                    versions.listed_delete_markers,
                    versions.versions,
                    versions.delete_markers,
                    if versions.dry_run {
                        "to write"
                    } else {
                        "written"
                    },
                    versions.already_there,
                    plural(versions.diverged, "key")
                ),
            ));
        }
        if let Some(error) = &self.error {
            lines.push(("error", error.clone()));
        }
        if let Some(listed) = &self.listed {
            lines.push((
                "listed",
                format!(
                    "{}, {} at the source",
                    plural(listed.objects, "object"),
                    bytes(listed.bytes)
                ),
            ));
            if listed.filtered > 0 {
                lines.push((
                    "filtered",
                    format!(
                        "{} left out by the filters (not copied, not skipped)",
                        plural(listed.filtered, "object")
                    ),
                ));
            }
        }
        lines.push((
            "skipped",
            format!("{}{}", self.skipped_total(), reasons(&self.skipped)),
        ));
        if let Some(deleted) = &self.deleted {
            lines.push((
                "deleted",
                format!(
                    "{} from the destination (--delete: not at the source){}",
                    plural(deleted.objects, "object"),
                    if deleted.kept > 0 {
                        format!("; {} kept: rewritten since the listing", deleted.kept)
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        // A copy's lines: a restore or a map copies, reports and proves nothing.
        if self.restore.is_none() && self.map.is_none() {
            lines.push((
                "reported",
                format!(
                    "{}{} (copied, not proven)",
                    self.reported_total(),
                    reasons(&self.reported)
                ),
            ));
            lines.push((
                "failed",
                format!(
                    "{} (ETag mismatch), {} retried",
                    plural(self.failed.objects, "object"),
                    plural(self.failed.attempts, "task attempt")
                ),
            ));
            lines.push((
                "proven",
                format!(
                    "{} by MD5, {} by checksum",
                    self.proofs.md5, self.proofs.checksum
                ),
            ));
            // Only when the server copied: otherwise every byte went through the tasks.
            if self.server_side_bytes > 0 {
                lines.push((
                    "moved",
                    format!(
                        "{} by the server (server-side copy), {} through the tasks",
                        bytes(self.server_side_bytes),
                        bytes(self.bytes.saturating_sub(self.server_side_bytes))
                    ),
                ));
            }
            if self.already_copied > 0 {
                lines.push((
                    "already there",
                    format!(
                        "{} (objects or parts a retried attempt found copied)",
                        self.already_copied
                    ),
                ));
            }
        }
        lines.push((
            "requests",
            match &self.requests {
                None => "not counted (no step reported request counters)".to_string(),
                Some(requests) => requests
                    .iter()
                    .map(|(op, n)| format!("{op} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        ));
        lines.push(("elapsed", format!("{:.1} s", self.seconds)));
        if self.restore.is_none() && self.map.is_none() {
            lines.push((
                "throughput",
                format!(
                    "{:.1} MB/s, {:.1} objects/s",
                    self.bytes_per_second / 1e6,
                    self.objects_per_second
                ),
            ));
        }
        if !self.steps_without_counters.is_empty() {
            lines.push((
                "not counted",
                format!(
                    "steps {}: their counters could not be read",
                    self.steps_without_counters.join(", ")
                ),
            ));
        }
        lines.push(("run dir", self.paths.run_dir.clone()));
        if let Some(output) = &self.paths.output {
            lines.push(("output", output.clone()));
        }
        if let Some(copy_input) = &self.paths.copy_input {
            lines.push(("copy input", copy_input.clone()));
        }
        lines.push((
            "skip report",
            self.paths
                .skip_report
                .clone()
                .unwrap_or_else(|| "none (nothing left out or reported)".to_string()),
        ));
        if let Some(report) = self.deleted.as_ref().and_then(|d| d.report.clone()) {
            lines.push(("deleted keys", report));
        }
        write_aligned(out, &lines)
    }
}

/// Writes `lines` indented, their names padded to the longest: the body of the run's
/// summary and of the dry run's.
pub(crate) fn write_aligned<W: Write>(
    out: &mut W,
    lines: &[(&str, String)],
) -> std::io::Result<()> {
    let width = lines.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, text) in lines {
        writeln!(out, "  {name:<width$}  {text}")?;
    }
    Ok(())
}

/// `1 object`, `2 objects`.
pub(crate) fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Exact bytes, and in MB (decimal, as the progress line) from a megabyte up.
pub(crate) fn bytes(count: u64) -> String {
    if count >= 1_000_000 {
        format!("{count} bytes ({:.1} MB)", count as f64 / 1e6)
    } else {
        plural(count, "byte")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, counters: &[(&str, &str, i64)], failed_attempts: usize) -> StepReport {
        StepReport {
            name: name.into(),
            failed_attempts,
            counters: counters
                .iter()
                .map(|(g, c, v)| ((g.to_string(), c.to_string()), *v))
                .collect(),
            seconds: 1.0,
            ..Default::default()
        }
    }

    /// A --diff run of src to dst: both listings, the diff, mlist and the copy.
    fn diff_run() -> Vec<StepReport> {
        vec![
            step(
                "list.src.part.all",
                &[
                    ("src", "Objects", 5),
                    ("src", "Bytes", 12_000_000),
                    ("src", "SkippedArchived", 1),
                    ("src", "Filtered", 3),
                ],
                0,
            ),
            // The destination's listing counts Objects too: not the source's.
            step(
                "list.dst.part.all",
                &[("dst", "Objects", 2), ("dst", "Bytes", 7)],
                0,
            ),
            step("hive.src.part.all", &[("Diff", "Missing", 4)], 0),
            // mlist counts the uploads it creates: not copied objects.
            step(
                "mlist.src.part.all",
                &[
                    ("src", "Objects", 4),
                    ("dst", "Uploads", 1),
                    ("dst", "Parts", 2),
                    ("src", "UnknownPartLayout", 1),
                ],
                1,
            ),
            step(
                "copy.src.part.all",
                &[
                    ("dst", "Objects", 2),
                    ("dst", "Parts", 2),
                    ("dst", "Uploads", 1),
                    ("dst", "InputBytes", 10_000_000),
                    ("src", "OutputBytes", 10_000_000),
                    ("src", "ProvenByMd5", 2),
                    ("src", "ProvenByChecksum", 1),
                    ("src", "SourceVanished", 1),
                    ("dst", "DestinationChanged", 1),
                    ("src", "UnverifiableAtSource", 0),
                    ("dst", "AlreadyCopied", 1),
                    ("dst", "EtagMismatch", 0),
                ],
                2,
            ),
        ]
    }

    #[test]
    fn copies_are_counted_from_the_copy_step_and_skips_from_every_step() {
        let summary = RunSummary::from_steps(&diff_run(), "src", 4.0);
        assert_eq!(summary.objects, 3, "2 whole objects and 1 completed upload");
        assert_eq!(summary.multipart_objects, 1);
        assert_eq!(summary.bytes, 10_000_000);
        assert_eq!(summary.parts, 2);
        assert_eq!(summary.already_copied, 1);
        assert_eq!(
            summary.listed,
            Some(Listed {
                objects: 5,
                bytes: 12_000_000,
                filtered: 3,
            })
        );
        let expected: BTreeMap<SkipReason, u64> = [
            (SkipReason::Archived, 1),
            (SkipReason::Vanished, 1),
            (SkipReason::Changed, 0),
            (SkipReason::UnknownLayout, 1),
            (SkipReason::DestinationChanged, 1),
            (SkipReason::CommandFailed, 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(summary.skipped, expected);
        assert_eq!(summary.skipped_total(), 4);
        assert_eq!(summary.reported_total(), 0);
        assert_eq!(
            summary.failed,
            Failed {
                objects: 0,
                attempts: 3
            }
        );
        assert_eq!(
            summary.proofs,
            Proofs {
                md5: 2,
                checksum: 1
            }
        );
        assert_eq!(summary.steps, 5);
        assert_eq!(summary.bytes_per_second, 2_500_000.0);
        assert_eq!(summary.objects_per_second, 0.75);
    }

    #[test]
    fn the_skip_report_s_rows_replace_the_counters() {
        let report = SkipReport {
            objects: 2,
            path: "/out/_skipped.jsonl".into(),
            reasons: [
                (SkipReason::Vanished, 1),
                (SkipReason::UnverifiableAtSource, 1),
            ]
            .into_iter()
            .collect(),
        };
        let summary = RunSummary::from_steps(&diff_run(), "src", 4.0)
            .with_report(Some(&report))
            .with_paths(RunPaths {
                run_dir: "/runs/x".into(),
                output: Some("/out".into()),
                ..RunPaths::default()
            });
        assert_eq!(summary.skipped_total(), 1);
        assert_eq!(summary.skipped[&SkipReason::Vanished], 1);
        assert_eq!(summary.skipped[&SkipReason::Archived], 0);
        assert_eq!(summary.reported[&SkipReason::UnverifiableAtSource], 1);
        assert_eq!(
            summary.paths.skip_report.as_deref(),
            Some("/out/_skipped.jsonl")
        );
        assert_eq!(summary.paths.run_dir, "/runs/x");
        // No report: nothing was left out, whatever the counters said.
        let none = RunSummary::from_steps(&diff_run(), "src", 4.0).with_report(None);
        assert_eq!(none.skipped_total(), 0);
        assert_eq!(none.skipped.len(), 6, "every reason is listed, zero or not");
    }

    #[test]
    fn no_time_no_rate_and_a_run_without_copy_copies_nothing() {
        assert_eq!(rate(10, 0.0), 0.0);
        assert_eq!(rate(10, f64::NAN), 0.0);
        assert_eq!(rate(10, 4.0), 2.5);
        let listing = &diff_run()[..1];
        let summary = RunSummary::from_steps(listing, "src", 0.0);
        assert_eq!(summary.objects, 0);
        assert_eq!(summary.bytes_per_second, 0.0);
        assert_eq!(summary.listed.map(|l| l.objects), Some(5));
    }

    #[test]
    fn json_has_every_field_and_rounded_times() {
        let summary = RunSummary::from_steps(&diff_run(), "src", 3.0)
            .without_counters(vec!["s-2".into()])
            .with_paths(RunPaths {
                run_dir: "/runs/x".into(),
                ..RunPaths::default()
            });
        let json = summary.json();
        let s = &json["summary"];
        assert_eq!(s["objects"], 3);
        assert_eq!(s["bytes"], 10_000_000);
        assert_eq!(s["skipped"]["archived"], 1);
        assert_eq!(s["skipped"]["destination_changed"], 1);
        assert_eq!(s["reported"]["unverifiable_at_source"], 0);
        assert_eq!(s["failed"]["attempts"], 3);
        assert_eq!(s["proofs"]["md5"], 2);
        assert_eq!(s["requests"], serde_json::Value::Null);
        assert_eq!(s["objects_per_second"], 1.0);
        assert_eq!(s["bytes_per_second"], 3_333_333.333);
        assert_eq!(s["steps_without_counters"][0], "s-2");
        assert_eq!(s["paths"]["run_dir"], "/runs/x");
        assert_eq!(s["paths"]["output"], serde_json::Value::Null);
    }

    #[test]
    fn a_failed_run_s_summary_says_so_and_counts_the_steps_that_ended() {
        let steps = &diff_run()[..2];
        let error = crate::error::Error::StepFailed {
            step: "mlist.src.part.all".into(),
            message: "NoSuchBucket\nsteps not run (CANCEL_AND_WAIT): copy.src.part.all".into(),
        };
        let summary = RunSummary::from_steps(steps, "src", 1.0).failed_with(&error);
        let first = error.to_string();
        let first = first.lines().next().expect("a line");
        assert_eq!(summary.error.as_deref(), Some(first));
        assert_eq!(summary.steps, 2);
        assert_eq!(
            summary.skipped[&SkipReason::Archived],
            1,
            "from the counters"
        );
        let mut text = Vec::new();
        summary.write_human(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf8");
        assert!(
            text.starts_with("summary of the steps that ended (the run failed): 0 objects"),
            "{text}"
        );
        assert!(
            text.contains(&format!("  error        {first}\n")),
            "{text}"
        );
        assert_eq!(summary.json()["summary"]["error"], first);
    }

    #[test]
    fn requests_are_summed_over_the_steps_by_operation() {
        let mut steps = diff_run();
        steps[0]
            .counters
            .insert(("Requests".into(), "ListObjectsV2".into()), 2);
        steps[4]
            .counters
            .insert(("Requests".into(), "GetObject".into()), 3);
        steps[3]
            .counters
            .insert(("Requests".into(), "GetObject".into()), 1);
        let summary = RunSummary::from_steps(&steps, "src", 1.0);
        let expected: BTreeMap<String, u64> = [
            ("GetObject".to_string(), 4),
            ("ListObjectsV2".to_string(), 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(summary.requests, Some(expected));
        let mut text = Vec::new();
        summary.write_human(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf8");
        assert!(
            text.contains("requests       GetObject 4, ListObjectsV2 2\n"),
            "{text}"
        );
        assert_eq!(summary.json()["summary"]["requests"]["GetObject"], 4);
    }

    #[test]
    fn paths_line_names_only_what_the_run_has() {
        let paths = RunPaths {
            run_dir: "/runs/x".into(),
            output: Some("/out/part.all.x".into()),
            ..RunPaths::default()
        };
        assert_eq!(
            paths.json(),
            serde_json::json!({"run_dir": "/runs/x", "output": "/out/part.all.x"})
        );
    }

    #[test]
    fn the_human_summary_aligns_its_lines() {
        let summary = RunSummary::from_steps(&diff_run(), "src", 4.0).with_paths(RunPaths {
            run_dir: "/runs/x".into(),
            output: Some("/out/part.all.x".into()),
            skip_report: Some("/out/part.all.x/_skipped.jsonl".into()),
            ..RunPaths::default()
        });
        let mut text = Vec::new();
        summary.write_human(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf8");
        assert_eq!(
            text,
            "summary: 3 objects copied (1 multipart), 10000000 bytes (10.0 MB)\n\
             \x20 listed         5 objects, 12000000 bytes (12.0 MB) at the source\n\
             \x20 filtered       3 objects left out by the filters (not copied, not skipped)\n\
             \x20 skipped        4 (archived 1, vanished 1, unknown_layout 1, destination_changed 1)\n\
             \x20 reported       0 (copied, not proven)\n\
             \x20 failed         0 objects (ETag mismatch), 3 task attempts retried\n\
             \x20 proven         2 by MD5, 1 by checksum\n\
             \x20 already there  1 (objects or parts a retried attempt found copied)\n\
             \x20 requests       not counted (no step reported request counters)\n\
             \x20 elapsed        4.0 s\n\
             \x20 throughput     2.5 MB/s, 0.8 objects/s\n\
             \x20 run dir        /runs/x\n\
             \x20 output         /out/part.all.x\n\
             \x20 skip report    /out/part.all.x/_skipped.jsonl\n"
        );
    }

    /// A map whose command failed on one object on its task's last attempt: the map
    /// line counts it failed, the skip report's row names the reason.
    #[test]
    fn a_map_counts_the_failed_commands_and_skips_them_as_command_failed() {
        let steps = vec![
            step("list.src.part.all", &[("src", "Objects", 3)], 0),
            step(
                "map.src.part.all",
                &[
                    ("src", "Mapped", 2),
                    ("src", "MapFailed", 1),
                    ("src", "CommandFailed", 1),
                    ("src", "MapInputBytes", 2600),
                ],
                3,
            ),
        ];
        let report = SkipReport {
            objects: 1,
            path: "/out/_skipped.jsonl".into(),
            reasons: [(SkipReason::CommandFailed, 1)].into_iter().collect(),
        };
        let summary = RunSummary::from_steps(&steps, "src", 1.0).with_report(Some(&report));
        let map = summary.map.expect("a map section");
        assert_eq!((map.mapped, map.failed), (2, 1));
        assert_eq!(summary.skipped_total(), 1);
        let json = summary.json();
        assert_eq!(json["summary"]["skipped"]["command_failed"], 1);
        assert_eq!(json["summary"]["map"]["failed"], 1);
        assert_eq!(json["summary"]["failed"]["attempts"], 3);
        let mut text = Vec::new();
        summary.write_human(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("2 mapped, 1 failed, 2600 bytes in"), "{text}");
        assert!(text.contains("skipped      1 (command_failed 1)"), "{text}");
    }

    #[test]
    fn a_copy_of_versions_counts_versions_and_delete_markers() {
        let steps = vec![
            step(
                "list.src.part.all",
                &[
                    ("src", "Objects", 2),
                    ("src", "Versions", 3),
                    ("src", "DeleteMarkers", 1),
                ],
                0,
            ),
            step(
                "copy.src.part.all",
                &[
                    ("dst", "Versions", 2),
                    ("dst", "DeleteMarkers", 1),
                    ("dst", "VersionsAlreadyThere", 1),
                    ("dst", "HistoryDiverged", 1),
                ],
                0,
            ),
        ];
        let summary = RunSummary::from_steps(&steps, "src", 1.0);
        let versions = summary.versions.expect("a versions section");
        assert_eq!(
            (
                versions.keys,
                versions.listed_versions,
                versions.listed_delete_markers
            ),
            (2, 3, 1)
        );
        assert_eq!(
            (
                versions.versions,
                versions.delete_markers,
                versions.already_there,
                versions.diverged
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(summary.json()["summary"]["versions"]["delete_markers"], 1);
        let mut text = Vec::new();
        summary.write_human(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("2 keys listed (3 versions, 1 delete markers); 2 versions and 1 delete markers written, 1 there already, 1 key diverged"),
            "{text}"
        );
        // A copy without versions has no such section.
        let plain = RunSummary::from_steps(
            &[step("copy.src.part.all", &[("dst", "Objects", 1)], 0)],
            "src",
            1.0,
        );
        assert!(plain.versions.is_none());
        assert!(plain.json()["summary"].get("versions").is_none());
    }
}
