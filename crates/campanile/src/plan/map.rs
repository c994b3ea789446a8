//! The map job's step ([`super::Job::Map`], `campanile map`): after the source
//! listing, one map-only step, `map.<src>.<part file>`, runs objectmap over the listing
//! ([`crate::task::objectmap`]: the user's command once per object, its bytes on
//! stdin) and writes the results to the job output, `<output>/<part file>.<uuid>`
//! (`key<TAB>line` per line of the command's stdout, or `key<TAB>s3://dst/key<TAB>bytes`
//! per object written to `--output-template`'s key in the destination bucket). The
//! command and the template travel percent-encoded on the step's command line
//! ([`crate::command::ArgText`]). Its dry run is the listing alone: the keys it would
//! run the command on are the listing's.

use crate::command::{ArgText, ObjectMapArgs, Prefixes, Task, TaskCommand};

use super::{JobSettings, Plan, PlanBuilder, Step, join};

/// What `campanile map` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapJob {
    /// The command, run with `sh -c` once per object.
    pub command: String,
    /// Destination key of each object's output in the destination bucket (`{key}`:
    /// the object's key); `None`: the output goes to the job output.
    pub output_template: Option<String>,
    /// Objects mapped at once by each task (`None`: objectmap's default).
    pub concurrency: Option<usize>,
}

/// The step name's first word, `map`.
pub const STEP_KIND: &str = "map";

/// Adds the map step over `listing`.
pub(super) fn map_steps(builder: &PlanBuilder, job: &MapJob, listing: String, plan: &mut Plan) {
    let options = builder.options;
    let output = join(
        &options.output,
        &format!("{}.{}", builder.part_file, options.uuid),
    );
    let mut args = ObjectMapArgs {
        buckets: builder.buckets(),
        command: ArgText(job.command.clone()),
        output_template: job.output_template.clone().map(ArgText),
        ..Default::default()
    };
    // The template names whole keys: no prefix mapping.
    args.buckets.prefixes = Prefixes::default();
    if let Some(concurrency) = job.concurrency {
        args.concurrency = concurrency;
    }
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("{STEP_KIND}.{}.{}", options.src_bucket, builder.part_file),
        JobSettings::map(),
        (listing, output.clone()),
        TaskCommand::ObjectMap(args),
        None,
    )));
    plan.output = Some(output);
}

/// The plan of a map dry run: the listing steps only (no command runs).
pub(super) fn dry_run(mut plan: Plan) -> Plan {
    plan.steps.retain(|step| match step {
        Step::Streaming(streaming) => streaming.mapper.task() != Task::ObjectMap,
        _ => true,
    });
    plan.output = None;
    plan
}
