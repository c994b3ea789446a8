//! The tasks and their command lines. A plan's streaming step names its mapper and
//! reducer as a [`TaskCommand`]: one variant per task binary, holding the same clap
//! struct the binary parses. [`TaskCommand::argv`] renders it, and parsing the result
//! with the binary's parser gives the same value back (tested for every variant), so
//! what a runner starts is exactly what the plan says. The list of tasks, wherever it
//! is needed (the files a step ships, the binaries staged for EMR), is [`Task::ALL`].

pub mod args;

use serde::{Serialize, Serializer};

use crate::error::Error;
pub use args::{
    ArgText, BucketListArgs, Diagnostics, ListingSelection, MultipartCompleteArgs,
    MultipartListArgs, ObjectCopyArgs, ObjectDeleteArgs, ObjectIndexArgs, ObjectMapArgs,
    ObjectRestoreArgs, ObjectVerifyArgs, PartFileArgs, Persistence, Prefixes, S3Side, SrcDst,
    WriteSettings,
};

/// A Campanile task binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Lists a bucket by part-file lines.
    BucketList,
    /// Turns listings into copy work, creating the multipart uploads.
    MultipartList,
    /// Copies objects and parts.
    ObjectCopy,
    /// Completes the multipart uploads (the copy step's reducer).
    MultipartComplete,
    /// Requests the restore of archived objects (`campanile restore`).
    ObjectRestore,
    /// Indexes the listed objects (`campanile index`).
    ObjectIndex,
    /// Compares each listed object with its copy (`campanile verify`).
    ObjectVerify,
    /// Runs a user command over each listed object (`campanile map`).
    ObjectMap,
    /// Deletes the destination keys the source lacks (`rsync --delete` on a cluster).
    ObjectDelete,
}

impl Task {
    /// Every task, in the order of the article's pipeline.
    pub const ALL: [Task; 9] = [
        Task::BucketList,
        Task::MultipartList,
        Task::ObjectCopy,
        Task::MultipartComplete,
        Task::ObjectRestore,
        Task::ObjectIndex,
        Task::ObjectVerify,
        Task::ObjectMap,
        Task::ObjectDelete,
    ];

    /// The binary's name (also its name under `--code` and in a task's sandbox).
    pub const fn program(self) -> &'static str {
        match self {
            Task::BucketList => "bucketlist",
            Task::MultipartList => "multipartlist",
            Task::ObjectCopy => "objectcopy",
            Task::MultipartComplete => "multipartcomplete",
            Task::ObjectRestore => "objectrestore",
            Task::ObjectIndex => "objectindex",
            Task::ObjectVerify => "objectverify",
            Task::ObjectMap => "objectmap",
            Task::ObjectDelete => "objectdelete",
        }
    }

    /// The task a binary name stands for.
    pub fn from_program(program: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|task| task.program() == program)
    }
}

/// One task with its arguments: what a streaming step runs as mapper or reducer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// `bucketlist …`
    BucketList(BucketListArgs),
    /// `multipartlist …`
    MultipartList(MultipartListArgs),
    /// `objectcopy …`
    ObjectCopy(ObjectCopyArgs),
    /// `multipartcomplete …`
    MultipartComplete(MultipartCompleteArgs),
    /// `objectrestore …`
    ObjectRestore(ObjectRestoreArgs),
    /// `objectindex …`
    ObjectIndex(ObjectIndexArgs),
    /// `objectverify …`
    ObjectVerify(ObjectVerifyArgs),
    /// `objectmap …`
    ObjectMap(ObjectMapArgs),
    /// `objectdelete …`
    ObjectDelete(ObjectDeleteArgs),
}

impl TaskCommand {
    /// The task this command runs.
    pub fn task(&self) -> Task {
        match self {
            TaskCommand::BucketList(_) => Task::BucketList,
            TaskCommand::MultipartList(_) => Task::MultipartList,
            TaskCommand::ObjectCopy(_) => Task::ObjectCopy,
            TaskCommand::MultipartComplete(_) => Task::MultipartComplete,
            TaskCommand::ObjectRestore(_) => Task::ObjectRestore,
            TaskCommand::ObjectIndex(_) => Task::ObjectIndex,
            TaskCommand::ObjectVerify(_) => Task::ObjectVerify,
            TaskCommand::ObjectMap(_) => Task::ObjectMap,
            TaskCommand::ObjectDelete(_) => Task::ObjectDelete,
        }
    }

    /// The command line: the program's name, then its flags (only those that differ
    /// from the binary's defaults, so the line stays as short as the article's).
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.task().program().to_string()];
        match self {
            TaskCommand::BucketList(args) => args.render(&mut argv),
            TaskCommand::MultipartList(args) => args.render(&mut argv),
            TaskCommand::ObjectCopy(args) => args.render(&mut argv),
            TaskCommand::MultipartComplete(args) => args.render(&mut argv),
            TaskCommand::ObjectRestore(args) => args.render(&mut argv),
            TaskCommand::ObjectIndex(args) => args.render(&mut argv),
            TaskCommand::ObjectVerify(args) => args.render(&mut argv),
            TaskCommand::ObjectMap(args) => args.render(&mut argv),
            TaskCommand::ObjectDelete(args) => args.render(&mut argv),
        }
        argv
    }

    /// The command line as Hadoop Streaming's `-mapper`/`-reducer` take it: words
    /// joined by spaces (the plan's checks refuse values that hold a space or a quote).
    pub fn line(&self) -> String {
        self.argv().join(" ")
    }

    /// Parses a command line with the task binary's own parser.
    pub fn parse<S: AsRef<str>>(argv: &[S]) -> Result<TaskCommand, Error> {
        use clap::Parser;
        let program = argv.first().map(AsRef::as_ref).unwrap_or_default();
        let task = Task::from_program(program)
            .ok_or_else(|| Error::Usage(format!("{program:?} is not a Campanile task")))?;
        let words = argv.iter().map(AsRef::as_ref);
        let usage = |e: clap::Error| Error::Usage(format!("{program}: {e}"));
        Ok(match task {
            Task::BucketList => {
                TaskCommand::BucketList(BucketListArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::MultipartList => {
                TaskCommand::MultipartList(MultipartListArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::ObjectCopy => {
                TaskCommand::ObjectCopy(ObjectCopyArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::MultipartComplete => TaskCommand::MultipartComplete(
                MultipartCompleteArgs::try_parse_from(words).map_err(usage)?,
            ),
            Task::ObjectRestore => {
                TaskCommand::ObjectRestore(ObjectRestoreArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::ObjectIndex => {
                TaskCommand::ObjectIndex(ObjectIndexArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::ObjectVerify => {
                TaskCommand::ObjectVerify(ObjectVerifyArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::ObjectMap => {
                TaskCommand::ObjectMap(ObjectMapArgs::try_parse_from(words).map_err(usage)?)
            }
            Task::ObjectDelete => {
                TaskCommand::ObjectDelete(ObjectDeleteArgs::try_parse_from(words).map_err(usage)?)
            }
        })
    }
}

/// A command shows (in `--dry-run` plans) as its command line's words.
impl Serialize for TaskCommand {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.argv().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything_set() -> Vec<TaskCommand> {
        let side = S3Side {
            endpoint: Some("http://127.0.0.1:3900".into()),
            profile: Some("jeff".into()),
            region: Some("eu-west-1".into()),
            persistence: Persistence {
                read_timeout: 7,
                max_attempts: 3,
                prefix_reads_per_second: 100,
                prefix_writes_per_second: 50,
            },
            diagnostics: Diagnostics {
                verbose: 2,
                quiet: false,
                boto: Some("/etc/campanile/credentials.boto".into()),
            },
        };
        let buckets = SrcDst {
            src_bucket: "srcbucket".into(),
            src_endpoint: Some("s3.us-west-2.amazonaws.com".into()),
            src_profile: Some("jeff".into()),
            src_region: Some("us-west-2".into()),
            dst_bucket: "dstbucket".into(),
            dst_endpoint: Some("http://127.0.0.1:3900".into()),
            dst_profile: Some("jassy".into()),
            dst_region: Some("garage".into()),
            src_sse_c_key_file: Some("/keys/src.key".into()),
            prefixes: Prefixes {
                src_prefix: "logs/2025/".into(),
                dst_prefix: "archive/2025/".into(),
            },
            persistence: Persistence {
                read_timeout: 9,
                max_attempts: 2,
                prefix_reads_per_second: 1375,
                prefix_writes_per_second: 875,
            },
            diagnostics: Diagnostics {
                verbose: 0,
                quiet: true,
                boto: None,
            },
        };
        vec![
            TaskCommand::BucketList(BucketListArgs {
                bucket: "srcbucket".into(),
                s3: side.clone(),
                ..Default::default()
            }),
            TaskCommand::BucketList(BucketListArgs {
                bucket: "srcbucket".into(),
                s3: side.clone(),
                inventory: true,
                distinct: false,
                keep_archived: true,
                select: ListingSelection {
                    prefix: "logs/2025/".into(),
                    as_prefix: Some("archive/".into()),
                    filters: vec![
                        crate::select::Rule::checked(false, "*.tmp").expect("glob"),
                        crate::select::Rule::checked(true, "/{a,b}/**").expect("glob"),
                    ],
                    min_size: Some(1),
                    max_size: Some(1 << 30),
                    newer_than: Some(crate::select::Timestamp(1_748_736_000)),
                    older_than: Some(crate::select::Timestamp(1_750_000_000)),
                    archived: true,
                    all_versions: false,
                    version_at: None,
                },
            }),
            TaskCommand::BucketList(BucketListArgs {
                bucket: "srcbucket".into(),
                s3: side.clone(),
                select: ListingSelection {
                    all_versions: true,
                    ..Default::default()
                },
                ..Default::default()
            }),
            TaskCommand::BucketList(BucketListArgs {
                bucket: "srcbucket".into(),
                s3: side.clone(),
                select: ListingSelection {
                    version_at: Some(crate::select::Timestamp(1_750_000_000)),
                    ..Default::default()
                },
                ..Default::default()
            }),
            TaskCommand::BucketList(BucketListArgs {
                bucket: "srcbucket".into(),
                distinct: true,
                ..Default::default()
            }),
            TaskCommand::MultipartList(MultipartListArgs {
                buckets: buckets.clone(),
                dry_run: true,
                probe_every_part: true,
                concurrency: 3,
                abort_run: true,
                in_place: true,
                write: WriteSettings {
                    sse: Some("aws:kms".into()),
                    sse_kms_key_id: Some("alias/copies".into()),
                    storage_class: Some("GLACIER_IR".into()),
                    acl: Some("bucket-owner-full-control".into()),
                    dst_sse_c_key_file: None,
                },
            }),
            TaskCommand::ObjectCopy(ObjectCopyArgs {
                buckets: buckets.clone(),
                config: Some("/etc/campanile.cfg".into()),
                concurrency: Some(5),
                debug: true,
                server_side: true,
                server_side_if_readable: false,
                in_place: false,
                versions: None,
                dry_run: false,
                client_md5: true,
                write: WriteSettings {
                    sse: None,
                    sse_kms_key_id: None,
                    storage_class: Some("STANDARD_IA".into()),
                    acl: Some("private".into()),
                    dst_sse_c_key_file: Some("/keys/dst.key".into()),
                },
            }),
            TaskCommand::ObjectCopy(ObjectCopyArgs {
                buckets,
                versions: Some(crate::task::objectcopy::versions::VersionsMode::History),
                dry_run: true,
                ..Default::default()
            }),
            TaskCommand::MultipartComplete(MultipartCompleteArgs {
                bucket: "dstbucket".into(),
                src_bucket: Some("srcbucket".into()),
                s3: side.clone(),
                dry_run: true,
                dst_sse_c_key_file: Some("/keys/dst.key".into()),
                prefixes: Prefixes {
                    src_prefix: "logs/".into(),
                    dst_prefix: String::new(),
                },
            }),
            TaskCommand::ObjectRestore(ObjectRestoreArgs {
                bucket: "srcbucket".into(),
                s3: side.clone(),
                tier: "Bulk".into(),
                days: 30,
                dry_run: true,
                concurrency: 5,
            }),
            TaskCommand::ObjectIndex(ObjectIndexArgs {
                bucket: "srcbucket".into(),
                key_regex: Some(
                    crate::select::KeyRegex::new(r"^logs/\d+ x/café%\.gz$").expect("regex"),
                ),
                no_head: true,
                sse_c_key_file: Some("/keys/src.key".into()),
                concurrency: 7,
                s3: side.clone(),
            }),
            TaskCommand::ObjectVerify(ObjectVerifyArgs {
                buckets: buckets_for_verify(),
                extra: true,
                concurrency: Some(7),
                storage_class: Some("STANDARD_IA".into()),
                dst_sse_c_key_file: Some("/keys/dst.key".into()),
            }),
            TaskCommand::ObjectMap(ObjectMapArgs {
                buckets: buckets_for_verify(),
                command: ArgText("-n 'x' \"a b\" $HOME | wc -c; echo 100% café,{}".into()),
                output_template: Some(ArgText("out/{key}.gz x".into())),
                concurrency: 3,
            }),
            TaskCommand::ObjectDelete(ObjectDeleteArgs {
                bucket: "dstbucket".into(),
                s3: side,
                prefixes: Prefixes {
                    src_prefix: "logs/".into(),
                    dst_prefix: "archive/".into(),
                },
                select: true,
                max_delete: Some(crate::task::objectdelete::MaxDelete::Percent(2.5)),
                dry_run: true,
                concurrency: 5,
            }),
        ]
    }

    fn buckets_for_verify() -> SrcDst {
        SrcDst {
            src_bucket: "srcbucket".into(),
            dst_bucket: "dstbucket".into(),
            src_sse_c_key_file: Some("/keys/src.key".into()),
            prefixes: Prefixes {
                src_prefix: "logs/".into(),
                dst_prefix: "archive/".into(),
            },
            ..Default::default()
        }
    }

    fn bare() -> Vec<TaskCommand> {
        vec![
            TaskCommand::BucketList(BucketListArgs {
                bucket: "b".into(),
                ..Default::default()
            }),
            TaskCommand::MultipartList(MultipartListArgs {
                buckets: SrcDst {
                    src_bucket: "s".into(),
                    dst_bucket: "d".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            TaskCommand::ObjectCopy(ObjectCopyArgs {
                buckets: SrcDst {
                    src_bucket: "s".into(),
                    dst_bucket: "d".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            TaskCommand::MultipartComplete(MultipartCompleteArgs {
                bucket: "d".into(),
                ..Default::default()
            }),
            TaskCommand::ObjectRestore(ObjectRestoreArgs {
                bucket: "b".into(),
                ..Default::default()
            }),
            TaskCommand::ObjectIndex(ObjectIndexArgs {
                bucket: "b".into(),
                ..Default::default()
            }),
            TaskCommand::ObjectVerify(ObjectVerifyArgs {
                buckets: SrcDst {
                    src_bucket: "s".into(),
                    dst_bucket: "d".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            TaskCommand::ObjectMap(ObjectMapArgs {
                buckets: SrcDst {
                    src_bucket: "s".into(),
                    dst_bucket: "d".into(),
                    ..Default::default()
                },
                command: ArgText("wc -c".into()),
                ..Default::default()
            }),
            TaskCommand::ObjectDelete(ObjectDeleteArgs {
                bucket: "d".into(),
                ..Default::default()
            }),
        ]
    }

    #[test]
    fn every_command_parses_back_to_itself() {
        for command in everything_set().into_iter().chain(bare()) {
            let argv = command.argv();
            let parsed = TaskCommand::parse(&argv).expect("parses");
            assert_eq!(parsed, command, "{argv:?}");
        }
    }

    #[test]
    fn every_task_has_a_variant_and_a_unique_program() {
        let mut tasks: Vec<Task> = everything_set().iter().map(TaskCommand::task).collect();
        tasks.dedup();
        assert_eq!(tasks, Task::ALL);
        for task in Task::ALL {
            assert_eq!(Task::from_program(task.program()), Some(task));
        }
    }

    #[test]
    fn defaults_are_not_rendered() {
        let lines: Vec<String> = bare().iter().map(TaskCommand::line).collect();
        assert_eq!(
            lines,
            [
                "bucketlist --bucket b",
                "multipartlist --src-bucket s --dst-bucket d",
                "objectcopy --src-bucket s --dst-bucket d",
                "multipartcomplete --bucket d",
                "objectrestore --bucket b",
                "objectindex --bucket b",
                "objectverify --src-bucket s --dst-bucket d",
                "objectmap --src-bucket s --dst-bucket d --command wc%20%2Dc",
                "objectdelete --bucket d",
            ]
        );
    }

    #[test]
    fn sse_c_key_files_are_paths_and_exclude_other_encryption() {
        let line = everything_set()
            .iter()
            .map(TaskCommand::line)
            .find(|l| l.starts_with("objectcopy"))
            .expect("objectcopy");
        assert!(
            line.contains("--src-sse-c-key-file /keys/src.key")
                && line.contains("--dst-sse-c-key-file /keys/dst.key"),
            "{line}"
        );
        for sse in [["--sse", "AES256"], ["--sse-kms-key-id", "alias/k"]] {
            let error = TaskCommand::parse(&[
                "objectcopy",
                "--src-bucket",
                "s",
                "--dst-bucket",
                "d",
                "--dst-sse-c-key-file",
                "/k",
                sse[0],
                sse[1],
            ])
            .expect_err("SSE-C and another encryption");
            assert!(error.to_string().contains("cannot be used with"), "{error}");
            assert_eq!(error.exit_code(), 2);
        }
        let both = WriteSettings {
            sse: Some("aws:kms".into()),
            dst_sse_c_key_file: Some("/k".into()),
            ..Default::default()
        };
        let error = both.check().expect_err("refused");
        assert!(
            error.to_string().contains("--dst-sse-c-key-file"),
            "{error}"
        );
    }

    #[test]
    fn unknown_programs_and_flags_are_refused() {
        let error = TaskCommand::parse(&["rsync", "--input", "x"]).expect_err("not a task");
        assert!(
            error.to_string().contains("not a Campanile task"),
            "{error}"
        );
        let error = TaskCommand::parse(&["bucketlist", "--bucket", "b", "--nope"])
            .expect_err("unknown flag");
        assert!(error.to_string().contains("--nope"), "{error}");
        assert_eq!(error.exit_code(), 2);
    }
}
