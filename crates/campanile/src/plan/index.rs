//! The index job's steps ([`super::Job::Index`], `campanile index`): after the source
//! listing (which, for an index, lists archived objects as records: no data is read),
//! one map-only step, `index.<src>.<part file>`, runs objectindex over the listing
//! ([`crate::task::objectindex`]: a HEAD per object unless `--no-head`) and writes the
//! index rows to the job output, `<output>/<part file>.<uuid>`. Nothing is written to
//! any bucket: the destination fields of the plan's options are not used.

use crate::command::{ObjectIndexArgs, TaskCommand};
use crate::select::KeyRegex;

use super::{JobSettings, Plan, PlanBuilder, Step, StreamingStep, join};

/// What the index job asks of its task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexJob {
    /// Only keys it matches are indexed (`--key-regex`, applied by objectindex).
    pub key_regex: Option<KeyRegex>,
    /// No HEAD: the rows carry what the listing says (`--no-head`).
    pub no_head: bool,
}

/// The settings of the index step: like multipartlist's (one small request per
/// object, rarely failing, so many lines per task), map-only.
pub fn settings() -> JobSettings {
    JobSettings::multipart_list()
}

/// The step name's first word, `index`.
pub const STEP_KIND: &str = "index";

/// Adds the index step over `listing` and makes the source listing keep archived
/// objects.
pub(super) fn index_steps(builder: &PlanBuilder, job: &IndexJob, listing: String, plan: &mut Plan) {
    let options = builder.options;
    for step in &mut plan.steps {
        if let Step::Streaming(StreamingStep {
            mapper: TaskCommand::BucketList(args),
            ..
        }) = step
            && args.bucket == options.src_bucket
        {
            args.keep_archived = true;
        }
    }
    let output = join(
        &options.output,
        &format!("{}.{}", builder.part_file, options.uuid),
    );
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("{STEP_KIND}.{}.{}", options.src_bucket, builder.part_file),
        settings(),
        (listing, output.clone()),
        TaskCommand::ObjectIndex(ObjectIndexArgs {
            bucket: options.src_bucket.clone(),
            key_regex: job.key_regex.clone(),
            no_head: job.no_head,
            sse_c_key_file: options.src_sse_c_key_file.clone(),
            s3: builder.side(&options.src_endpoint, &options.src_profile),
            ..Default::default()
        }),
        None,
    )));
    plan.output = Some(output);
}

/// The plan of an index dry run: the listing steps only (no HEAD is made); the keys
/// the run would index are the listing's that `--key-regex` keeps.
pub(super) fn dry_run(mut plan: Plan) -> Plan {
    plan.steps.retain(|step| match step {
        Step::Streaming(streaming) => streaming.mapper.task() != crate::command::Task::ObjectIndex,
        _ => true,
    });
    plan.output = None;
    plan
}
