//! Delete sync (`rsync --delete`, [`DeleteJob`]) in the plan. What may be deleted is a
//! destination key the source has no key for at all, within the mapped prefix and
//! within the key filters:
//!
//! - the destination listing gets the source's `--include`/`--exclude` rules (relative
//!   to each side's prefix, so they select the same keys on both sides): a destination
//!   key they exclude is never listed, so never deleted;
//! - the size, date and `--restored` filters leave out of the source listing keys that
//!   are still at the source; with any of them the plan adds a second source listing,
//!   `keys.<src>.<part file>` into `<dir>/<src>.keys.list`, with the key rules only, and
//!   the deletions are the destination keys it lacks. Without them the source listing
//!   is that listing already.
//!
//! The local runner finds and deletes the keys itself after the plan
//! ([`crate::rsync::delete`]); its plan carries the two listings in [`DeleteScope`]. On
//! a cluster ([`super::RunBase::Hdfs`]) the plan ends in three more steps, after the
//! copy and its clean-up: `copied.<src>.<part file>` ([`super::Step::Check`]: `hadoop
//! fs -test -e` on the copy's `_SUCCESS` marker, which the output committer writes only
//! when the job succeeded: after a failed copy, which EMR follows with the clean-up,
//! ActionOnFailure `CONTINUE`, and then with the later steps, it fails and cancels the
//! rest), `hive.delete.<dst>.<part file>` (`hive/delete.q`: every row of the
//! destination listing, with a fifth field `-` when the source has no such key) into
//! `<dir>/delete.list`, and `delete.<dst>.<part file>`, whose single reducer
//! (objectdelete, [`crate::task::objectdelete`]) refuses over `--max-delete` or deletes
//! and writes a record per key deleted into `<output>/<part file>.<uuid>.deleted`. (The
//! marker cannot be the delete step's own input: Hadoop's input formats skip every
//! file whose name starts with `_`.)

use serde::Serialize;

use super::{
    CheckStep, DiffStep, JobSettings, Plan, PlanBuilder, PlanOptions, RunBase, Step, join,
};
use crate::command::{ListingSelection, ObjectDeleteArgs, TaskCommand};
use crate::governor::RequestBudget;
use crate::task::objectdelete::MaxDelete;

/// What `--delete` asks of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteJob {
    /// `--max-delete`: delete nothing when more would go.
    pub max: Option<MaxDelete>,
}

/// The listings a plan's deletions are found from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteScope {
    /// Every key the source holds under its prefix within the key rules: the source
    /// listing, or the key listing when the source listing has other filters.
    pub src: String,
    /// The destination listing (in the source's key space, within the key rules).
    pub dst: String,
    /// On a cluster: the delete step's output (a record per key deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// The output directory suffix of the delete step (`<output>/<part file>.<uuid>.deleted`).
pub const DELETED_OUTPUT: &str = "deleted";

/// Whether `diff` is the cluster's `hive.delete.…` step (`delete.q`), whose rows are
/// no skip report's.
pub fn is_delete_diff(diff: &DiffStep) -> bool {
    diff.script.ends_with("/delete.q") || diff.script == "delete.q"
}

/// Whether `filters` leave out keys that are still at the source for some reason other
/// than the key rules (sizes, dates, `--restored`): then the deletions need a listing
/// of the source's keys without them.
pub fn needs_key_listing(filters: &ListingSelection) -> bool {
    filters.min_size.is_some()
        || filters.max_size.is_some()
        || filters.newer_than.is_some()
        || filters.older_than.is_some()
        || filters.archived
}

/// The selection of the source key listing: the prefix and the key rules only.
pub fn key_selection(options: &PlanOptions) -> ListingSelection {
    ListingSelection {
        prefix: options.prefixes.src_prefix.clone(),
        filters: options.filters.filters.clone(),
        ..Default::default()
    }
}

/// The source key listing step (`keys.<src>.<part file>` into `<dir>/<src>.keys.list`)
/// and its path, when the source listing's filters need one.
pub fn key_listing_step(builder: &PlanBuilder) -> Option<(Step, String)> {
    let options = builder.options;
    if options.delete.is_none() || !needs_key_listing(&options.filters) {
        return None;
    }
    let Step::Streaming(mut step) = builder.list_step(
        (
            &options.src_bucket,
            &options.src_endpoint,
            &options.src_profile,
        ),
        &options.input,
        false,
        key_selection(options),
    ) else {
        return None;
    };
    let path = builder.path(&format!("{}.keys.list", options.src_bucket));
    step.name = format!("keys.{}.{}", options.src_bucket, builder.part_file);
    step.output = path.clone();
    Some((Step::Streaming(step), path))
}

/// Adds the delete steps to a cluster plan that copies (see the module doc), and the
/// plan's [`DeleteScope`] on every runner.
pub fn delete_steps(builder: &PlanBuilder, src_keys: String, plan: &mut Plan) {
    let options = builder.options;
    let Some(job) = &options.delete else { return };
    let dst = builder.path(&format!("{}.list", options.dst_bucket));
    let mut scope = DeleteScope {
        src: src_keys,
        dst,
        deleted: None,
    };
    let (RunBase::Hdfs, Some(copied)) = (&options.run_base, &plan.output) else {
        plan.delete = Some(scope);
        return;
    };
    let part_file = builder.part_file;
    let rows = builder.path("delete.list");
    let diff_at = plan.steps.len();
    plan.steps.push(Step::Diff(DiffStep {
        name: format!("hive.delete.{}.{part_file}", options.dst_bucket),
        script: join(&options.code, "delete.q"),
        src: scope.src.clone(),
        dst: scope.dst.clone(),
        diff: rows.clone(),
    }));
    let deleted = format!("{copied}.{DELETED_OUTPUT}");
    // The gate: on EMR a failed copy is followed by the clean-up and then by these
    // steps (ActionOnFailure CONTINUE); without the copy's marker this check fails
    // and, CANCEL_AND_WAIT, cancels the delete.
    plan.steps.insert(
        diff_at,
        Step::Check(CheckStep {
            name: format!("copied.{}.{part_file}", options.src_bucket),
            path: format!("{copied}/_SUCCESS"),
        }),
    );
    let select = TaskCommand::ObjectDelete(ObjectDeleteArgs {
        bucket: options.dst_bucket.clone(),
        select: true,
        ..Default::default()
    });
    // The step's one reducer is the only task making requests: it gets the run's
    // whole budget (a task's share times the task slots), at most S3's rates.
    let slots = options.listing_reducers.max(1);
    let whole = RequestBudget {
        reads: options
            .task_budget
            .reads
            .saturating_mul(slots)
            .min(RequestBudget::S3.reads),
        writes: options
            .task_budget
            .writes
            .saturating_mul(slots)
            .min(RequestBudget::S3.writes),
    };
    let mut side = builder.side(&options.dst_endpoint, &options.dst_profile);
    side.persistence = side.persistence.with_budget(whole);
    let reducer = TaskCommand::ObjectDelete(ObjectDeleteArgs {
        bucket: options.dst_bucket.clone(),
        s3: side,
        prefixes: options.prefixes.clone(),
        max_delete: job.max,
        ..Default::default()
    });
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("delete.{}.{part_file}", options.dst_bucket),
        JobSettings::delete(),
        (rows, deleted.clone()),
        select,
        Some(reducer),
    )));
    scope.deleted = Some(deleted);
    plan.delete = Some(scope);
}
