//! The steps of `campanile verify` ([`super::Job::Verify`]) after the source listing:
//! objectverify over the source listing (`verify.<src>.<partfile>`, output
//! `<dir>/verify`: one JSON row per key that is not identical, see
//! [`crate::task::objectverify`]); with `extra` first the destination listing, the
//! diff of it against the source listing (the same diff as sync's, `hive/diff.q` or
//! the native one, with the sides swapped: its rows are the destination's keys the
//! source lacks, `srcEtag` `-`, or holds with another ETag) into `<dir>/extra.list`,
//! and objectverify `--extra` over those rows (`extra.<src>.<partfile>`, output
//! `<dir>/extra`). Both are map-only and write to neither bucket, so every runner runs
//! them as any other step, and a retried attempt only repeats HEADs. The report is the
//! two output directories' rows, gathered into `_verify.jsonl`
//! ([`crate::rsync::verify`]): locally both are in the run directory and the report is
//! `<run dir>/_verify.jsonl`; on a cluster they are beside a copy's job output, under
//! `--output` (`<output>/<partfile>.<uuid>.verify` and `….extra`, on S3 on EMR, so
//! that they outlive the cluster), and the report is written into the `.verify` one.

use super::{DiffStep, JobSettings, Plan, PlanBuilder, RunBase, Step, join};
use crate::command::{ObjectVerifyArgs, TaskCommand};

/// What a verify compares besides the source listing's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyJob {
    /// Also list the destination and report the keys the source lacks (`extra`).
    pub extra: bool,
}

/// The output directory of the source listing's comparison (in a local run directory;
/// on a cluster, the suffix of `<output>/<partfile>.<uuid>`).
pub const VERIFY_OUTPUT: &str = "verify";

/// The output directory of the extra keys' step (as [`VERIFY_OUTPUT`]).
pub const EXTRA_OUTPUT: &str = "extra";

/// Adds verify's steps over `listing` (the source listing) to `plan`.
pub fn verify_steps(builder: &PlanBuilder, listing: String, plan: &mut Plan, job: &VerifyJob) {
    let options = builder.options;
    let part_file = builder.part_file;
    let args = ObjectVerifyArgs {
        buckets: builder.buckets(),
        extra: false,
        concurrency: None,
        // What the copies were written with: their class is expected, their key reads
        // them.
        storage_class: options.write.storage_class.clone(),
        dst_sse_c_key_file: options.write.dst_sse_c_key_file.clone(),
    };
    let (verify_output, extra_output) = match &options.run_base {
        RunBase::Local(_) => (builder.path(VERIFY_OUTPUT), builder.path(EXTRA_OUTPUT)),
        RunBase::Hdfs => {
            let base = join(&options.output, &format!("{part_file}.{}", options.uuid));
            (
                format!("{base}.{VERIFY_OUTPUT}"),
                format!("{base}.{EXTRA_OUTPUT}"),
            )
        }
    };
    if job.extra {
        plan.steps.push(builder.dst_list_step());
        let extra_list = builder.path("extra.list");
        plan.steps.push(Step::Diff(DiffStep {
            name: format!("hive.extra.{}.{part_file}", options.dst_bucket),
            script: join(&options.code, "diff.q"),
            // The sides swapped: the destination's rows the source lacks.
            src: builder.path(&format!("{}.list", options.dst_bucket)),
            dst: listing.clone(),
            diff: extra_list.clone(),
        }));
        plan.steps.push(Step::Streaming(builder.streaming(
            format!("extra.{}.{part_file}", options.src_bucket),
            JobSettings::verify(),
            (extra_list, extra_output),
            TaskCommand::ObjectVerify(ObjectVerifyArgs {
                extra: true,
                ..args.clone()
            }),
            None,
        )));
    }
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("verify.{}.{part_file}", options.src_bucket),
        JobSettings::verify(),
        (listing, verify_output),
        TaskCommand::ObjectVerify(args),
        None,
    )));
}

/// The plan of a verify dry run: its listings (and the extra keys' diff), without the
/// objectverify steps (no HEAD).
pub fn without_comparisons(mut plan: Plan) -> Plan {
    plan.steps.retain(|step| {
        !matches!(
            step,
            Step::Streaming(super::StreamingStep {
                mapper: TaskCommand::ObjectVerify(_),
                ..
            })
        )
    });
    plan
}
