use super::*;

pub(crate) fn article_options() -> PlanOptions {
    PlanOptions {
        input: "s3://codebucket/input/srcbucket/part.all".into(),
        inventory: false,
        dst_input: None,
        listing_reducers: 1,
        code: "s3://codebucket".into(),
        output: "s3://codebucket/output/srcbucket".into(),
        src_bucket: "srcbucket".into(),
        dst_bucket: "dstbucket".into(),
        prefixes: Default::default(),
        filters: Default::default(),
        src_endpoint: "s3.us-west-2.amazonaws.com".into(),
        dst_endpoint: "s3.us-west-2.amazonaws.com".into(),
        src_profile: Some("jeff".into()),
        dst_profile: Some("jassy".into()),
        diff: false,
        no_copy: false,
        list_only: false,
        uuid: "1451507458".into(),
        run_base: RunBase::Hdfs,
        debug: false,
        server_side_copy: false,
        // The article's steps: no server-side copy unless asked.
        auto_server_side: false,
        write: Default::default(),
        src_sse_c_key_file: None,
        copy_task_memory: None,
        lines_per_map: None,
        task_budget: RequestBudget::S3,
        job: Job::Sync,
        listing: None,
        delete: None,
    }
}

#[test]
fn every_task_command_carries_its_share_of_the_request_budget() {
    let plan = build(&PlanOptions {
        diff: true,
        task_budget: RequestBudget::S3.share(8),
        ..article_options()
    })
    .expect("plan");
    let mut commands = 0;
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            continue;
        };
        for command in std::iter::once(&step.mapper).chain(step.reducer.as_ref()) {
            let line = command.line();
            if line.contains("--distinct") {
                // The listings' reducer makes no request.
                assert!(!line.contains("per-second"), "{line}");
                continue;
            }
            assert!(line.contains("--prefix-reads-per-second 687"), "{line}");
            assert!(line.contains("--prefix-writes-per-second 437"), "{line}");
            commands += 1;
        }
    }
    // Two listings, multipartlist, objectcopy and its reducer.
    assert_eq!(commands, 5);
    // S3's own rates are the tasks' default: the article's steps stay as they were.
    let article = build(&article_options()).expect("plan");
    let text = serde_json::to_string(&article).expect("json");
    assert!(!text.contains("per-second"), "{text}");
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.steps.iter().map(Step::name).collect()
}

#[test]
fn plain_copy_has_three_steps_then_the_cleanup() {
    let plan = build(&article_options()).expect("plan");
    assert_eq!(plan.run_dir, "hdfs:///1451507458");
    assert_eq!(
        plan.output.as_deref(),
        Some("s3://codebucket/output/srcbucket/part.all.1451507458")
    );
    assert_eq!(plan.copy_input, None);
    assert_eq!(
        names(&plan),
        vec![
            "list.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    let Step::Streaming(copy) = &plan.steps[2] else {
        panic!("copy is a streaming step")
    };
    // The clean-up: multipartlist --abort-run, map-only, over multipartlist's input.
    let Step::Cleanup(cleanup) = &plan.steps[3] else {
        panic!("the last step is the clean-up")
    };
    assert_eq!(cleanup.input, "/1451507458/srcbucket.list");
    assert_eq!(cleanup.output, "/1451507458/cleanup");
    assert_eq!(cleanup.settings.reducers, 0);
    assert!(cleanup.reducer.is_none());
    assert_eq!(cleanup.mapper.argv()[0], "multipartlist");
    assert_eq!(
        cleanup.mapper.argv().last().map(String::as_str),
        Some("--abort-run")
    );
    assert_eq!(copy.input, "/1451507458/srcbucket.multipartlist");
    assert_eq!(copy.settings.reducers, 1);
    assert_eq!(copy.settings.map_attempts, 6);
    assert!(copy.reducer.is_some());
}

#[test]
fn diff_lists_both_sides_and_feeds_the_diff_to_multipartlist() {
    let plan = build(&PlanOptions {
        diff: true,
        ..article_options()
    })
    .expect("plan");
    assert_eq!(
        names(&plan),
        vec![
            "list.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    let Step::Diff(diff) = &plan.steps[2] else {
        panic!("diff step")
    };
    assert_eq!(diff.src, "/1451507458/srcbucket.list");
    assert_eq!(diff.dst, "/1451507458/dstbucket.list");
    assert_eq!(diff.diff, "/1451507458/diff.list");
    assert_eq!(diff.script, "s3://codebucket/diff.q");
    let Step::Streaming(mlist) = &plan.steps[3] else {
        panic!("mlist")
    };
    assert_eq!(mlist.input, "/1451507458/diff.list");
}

#[test]
fn list_only_and_no_copy() {
    let plan = build(&PlanOptions {
        list_only: true,
        ..article_options()
    })
    .expect("plan");
    assert_eq!(names(&plan), vec!["list.srcbucket.part.all"]);
    assert_eq!(plan.output, None);

    let plan = build(&PlanOptions {
        no_copy: true,
        ..article_options()
    })
    .expect("plan");
    assert_eq!(
        names(&plan),
        vec!["list.srcbucket.part.all", "mlist.srcbucket.part.all"]
    );
    assert_eq!(
        plan.copy_input.as_deref(),
        Some("/1451507458/srcbucket.multipartlist")
    );
    assert_eq!(plan.output, None);
    // The uploads it made are the later copy's input: nothing may clean them up.
    assert_eq!(plan.uploads, None);
}

#[test]
fn a_dry_run_plan_lists_diffs_and_plans_the_parts_without_uploads() {
    let plan = dry_run(&PlanOptions {
        diff: true,
        ..article_options()
    })
    .expect("plan");
    assert_eq!(
        names(&plan),
        vec![
            "list.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.srcbucket.part.all",
            "mlist.srcbucket.part.all",
        ]
    );
    let Step::Streaming(mlist) = &plan.steps[3] else {
        panic!("mlist")
    };
    let TaskCommand::MultipartList(args) = &mlist.mapper else {
        panic!("multipartlist")
    };
    assert!(args.dry_run, "multipartlist creates no upload");
    assert_eq!(
        plan.copy_input.as_deref(),
        Some("/1451507458/srcbucket.multipartlist")
    );
    assert_eq!((plan.output, plan.uploads), (None, None));
    // --list-only: the listing alone.
    let plan = dry_run(&PlanOptions {
        list_only: true,
        ..article_options()
    })
    .expect("plan");
    assert_eq!(names(&plan), vec!["list.srcbucket.part.all"]);
    assert_eq!(plan.copy_input, None);
}

#[test]
fn a_copying_plan_names_where_its_uploads_are() {
    let plan = build(&PlanOptions {
        diff: true,
        ..article_options()
    })
    .expect("plan");
    let scope = plan.uploads.expect("upload scope");
    assert_eq!(scope.bucket, "dstbucket");
    assert_eq!(scope.objects, "/1451507458/diff.list");
    assert_eq!(scope.profile.as_deref(), Some("jassy"));
}

#[test]
fn local_run_directories() {
    let plan = build(&PlanOptions {
        run_base: RunBase::Local("/tmp/runs/".into()),
        ..article_options()
    })
    .expect("plan");
    assert_eq!(plan.run_dir, "/tmp/runs/1451507458");
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("list")
    };
    assert_eq!(list.output, "/tmp/runs/1451507458/srcbucket.list");
}

#[test]
fn profiles_are_optional() {
    let plan = build(&PlanOptions {
        src_profile: None,
        dst_profile: None,
        ..article_options()
    })
    .expect("plan");
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("list")
    };
    assert_eq!(
        list.mapper.argv(),
        vec![
            "bucketlist",
            "--bucket",
            "srcbucket",
            "--endpoint",
            "s3.us-west-2.amazonaws.com"
        ]
    );
}

#[test]
fn invalid_names_are_refused() {
    for options in [
        PlanOptions {
            src_bucket: "Bad_Bucket".into(),
            ..article_options()
        },
        PlanOptions {
            src_profile: Some("jeff --dry-run".into()),
            ..article_options()
        },
        PlanOptions {
            code: "s3://a,s3://b".into(),
            ..article_options()
        },
    ] {
        let error = build(&options).expect_err("refused");
        assert_eq!(error.exit_code(), 2);
    }
}

#[test]
fn write_settings_reach_multipartlist_and_objectcopy() {
    let write = WriteSettings {
        sse: Some("aws:kms".into()),
        sse_kms_key_id: Some("alias/copies".into()),
        storage_class: Some("STANDARD_IA".into()),
        acl: Some("bucket-owner-full-control".into()),
        dst_sse_c_key_file: None,
    };
    let plan = build(&PlanOptions {
        write: write.clone(),
        ..article_options()
    })
    .expect("plan");
    let mut seen = 0;
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            continue;
        };
        match &step.mapper {
            TaskCommand::MultipartList(args) => assert_eq!(args.write, write),
            TaskCommand::ObjectCopy(args) => assert_eq!(args.write, write),
            _ => continue,
        }
        let line = step.mapper.line();
        assert!(
            line.contains("--sse aws:kms --sse-kms-key-id alias/copies --storage-class STANDARD_IA --acl bucket-owner-full-control"),
            "{line}"
        );
        seen += 1;
    }
    assert_eq!(seen, 2);
    // A key that would break the command line, or contradicts --sse, is refused.
    for bad in [
        WriteSettings {
            sse_kms_key_id: Some("my key".into()),
            ..Default::default()
        },
        WriteSettings {
            sse: Some("AES256".into()),
            sse_kms_key_id: Some("k".into()),
            ..Default::default()
        },
    ] {
        let error = build(&PlanOptions {
            write: bad,
            ..article_options()
        })
        .expect_err("refused");
        assert_eq!(error.exit_code(), 2);
    }
}

#[test]
fn server_side_copy_is_an_objectcopy_flag() {
    let plan = build(&PlanOptions {
        server_side_copy: true,
        ..article_options()
    })
    .expect("plan");
    let Some(Step::Streaming(copy)) = plan.steps.iter().find(|s| s.name().starts_with("copy."))
    else {
        panic!("no copy step");
    };
    assert_eq!(
        copy.mapper.argv().last().map(String::as_str),
        Some("--server-side")
    );
    assert_eq!(copy.mapper.argv()[0], "objectcopy");
}

#[test]
fn the_copy_tasks_memory_is_an_environment_entry_of_the_copy_step() {
    let plan = build(&PlanOptions {
        copy_task_memory: Some(48 << 20),
        ..article_options()
    })
    .expect("plan");
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            continue;
        };
        let expected = if step.mapper.task() == crate::command::Task::ObjectCopy {
            vec![("CAMPANILE_MAXTMPSIZE".to_string(), "50331648".to_string())]
        } else {
            Vec::new()
        };
        assert_eq!(step.env, expected, "{}", step.name);
    }
    let steps = emr::render(&plan).expect("render");
    let copy = &steps[2].hadoop_jar_step.args;
    let at = copy.iter().position(|a| a == "-cmdenv").expect("-cmdenv");
    assert_eq!(copy[at + 1], "CAMPANILE_MAXTMPSIZE=50331648");
    assert_eq!(copy[at + 2], "-inputformat", "streaming options after -D");
}

#[test]
fn every_command_of_a_plan_parses_back_to_itself() {
    let plan = build(&PlanOptions {
        diff: true,
        server_side_copy: true,
        ..article_options()
    })
    .expect("plan");
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            continue;
        };
        for command in std::iter::once(&step.mapper).chain(&step.reducer) {
            let words: Vec<String> = command.line().split(' ').map(str::to_string).collect();
            assert_eq!(
                &crate::command::TaskCommand::parse(&words).expect("parses"),
                command
            );
        }
    }
}

#[test]
fn lines_per_map_can_be_set_for_every_step() {
    let plan = build(&PlanOptions {
        diff: true,
        lines_per_map: Some(500),
        ..article_options()
    })
    .expect("plan");
    let mut streaming = 0;
    for step in &plan.steps {
        if let Step::Streaming(step) = step {
            assert_eq!(step.settings.lines_per_map, 500, "{}", step.name);
            streaming += 1;
        }
    }
    assert_eq!(streaming, 4);
}

#[test]
fn a_restore_lists_the_archive_classes_and_requests_their_restore() {
    let plan = build(&PlanOptions {
        job: Job::Restore(RestoreJob {
            tier: "Bulk".into(),
            days: 3,
        }),
        ..article_options()
    })
    .expect("plan");
    let names: Vec<&str> = plan.steps.iter().map(Step::name).collect();
    assert_eq!(
        names,
        ["list.srcbucket.part.all", "restore.srcbucket.part.all"]
    );
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("a streaming listing")
    };
    assert!(
        list.mapper.argv().contains(&"--archived".to_string()),
        "{:?}",
        list.mapper.argv()
    );
    let Step::Streaming(restore) = &plan.steps[1] else {
        panic!("a streaming restore")
    };
    assert_eq!(
        restore.mapper.line(),
        "objectrestore --bucket srcbucket --endpoint s3.us-west-2.amazonaws.com --profile jeff --tier Bulk --days 3"
    );
    assert_eq!(restore.input, "/1451507458/srcbucket.list");
    assert_eq!(plan.output.as_deref(), Some(restore.output.as_str()));
    assert!(plan.uploads.is_none(), "a restore makes no upload");
    // The dry run HEADs and requests nothing.
    let dry = dry_run(&PlanOptions {
        job: Job::Restore(RestoreJob {
            tier: "Standard".into(),
            days: 7,
        }),
        ..article_options()
    })
    .expect("dry plan");
    let Step::Streaming(restore) = &dry.steps[1] else {
        panic!("a streaming restore")
    };
    assert!(
        restore.mapper.line().ends_with("--dry-run"),
        "{}",
        restore.mapper.line()
    );
}
fn index_options() -> PlanOptions {
    PlanOptions {
        dst_bucket: "srcbucket".into(),
        dst_profile: Some("jeff".into()),
        job: Job::Index(index::IndexJob {
            key_regex: Some(crate::select::KeyRegex::new(r"\.gz$").expect("regex")),
            no_head: false,
        }),
        ..article_options()
    }
}

#[test]
fn an_index_lists_keeping_archived_objects_then_indexes_into_the_output() {
    let plan = build(&index_options()).expect("plan");
    assert_eq!(
        names(&plan),
        ["list.srcbucket.part.all", "index.srcbucket.part.all"]
    );
    assert_eq!(
        plan.output.as_deref(),
        Some("s3://codebucket/output/srcbucket/part.all.1451507458")
    );
    assert_eq!(plan.uploads, None, "an index makes no upload");
    assert_eq!(plan.copy_input, None);
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("a streaming listing");
    };
    assert!(
        list.mapper.line().contains(" --keep-archived"),
        "{}",
        list.mapper.line()
    );
    let Step::Streaming(index) = &plan.steps[1] else {
        panic!("a streaming index step");
    };
    assert_eq!(index.input, "/1451507458/srcbucket.list");
    assert_eq!(index.reducer, None);
    assert_eq!(index.settings, JobSettings::multipart_list());
    assert_eq!(
        index.mapper.line(),
        "objectindex --bucket srcbucket --key-regex %5C.gz$ --endpoint s3.us-west-2.amazonaws.com --profile jeff"
    );
    // Nothing in the plan names a task that writes to a bucket.
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            panic!("only streaming steps");
        };
        assert!(
            matches!(
                step.mapper.task(),
                crate::command::Task::BucketList | crate::command::Task::ObjectIndex
            ),
            "{}",
            step.name
        );
    }
    // The dry run's plan is the listing alone: no HEAD.
    let dry = dry_run(&index_options()).expect("plan");
    assert_eq!(names(&dry), ["list.srcbucket.part.all"]);
    assert_eq!(dry.output, None);
    let without_head = build(&PlanOptions {
        job: Job::Index(index::IndexJob::default()),
        src_sse_c_key_file: Some("/keys/src.key".into()),
        ..index_options()
    })
    .expect("plan");
    let Step::Streaming(index) = &without_head.steps[1] else {
        panic!("a streaming index step");
    };
    assert!(
        index
            .mapper
            .line()
            .contains("--sse-c-key-file /keys/src.key"),
        "{}",
        index.mapper.line()
    );
}

#[test]
fn the_index_step_renders_for_emr_and_hadoop_alike() {
    let plan = build(&index_options()).expect("plan");
    let steps = emr::render(&plan).expect("render");
    assert_eq!(steps.len(), 2);
    let args = &steps[1].hadoop_jar_step.args;
    let text = args.join("\n");
    assert_eq!(
        text,
        format!(
            "hadoop-streaming\n-files\n{}\n-D\nmapreduce.map.maxattempts=4\n-D\nmapreduce.input.lineinputformat.linespermap=1000\n-D\nmapreduce.map.speculative=false\n-D\nmapreduce.task.timeout=300000\n-D\nmapreduce.job.reduces=0\n-inputformat\norg.apache.hadoop.mapred.lib.NLineInputFormat\n-mapper\nobjectindex --bucket srcbucket --key-regex %5C.gz$ --endpoint s3.us-west-2.amazonaws.com --profile jeff\n-input\n/1451507458/srcbucket.list\n-output\ns3://codebucket/output/srcbucket/part.all.1451507458",
            code_files(&index_options().job)
                .iter()
                .map(|f| format!("s3://codebucket/{f}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    assert!(
        text.contains("s3://codebucket/objectindex"),
        "the index step ships objectindex"
    );
    // No step of an index plan continues past a failure: there is no upload to clean.
    assert!(
        steps
            .iter()
            .all(|s| s.action_on_failure == "CANCEL_AND_WAIT")
    );
    // The Hadoop runner gets the same vectors after `jar <streaming jar>`.
    let hadoop = crate::rsync::hadoop::invocations(
        &plan,
        &crate::rsync::hadoop::HadoopRequest {
            hadoop: "hadoop".into(),
            hive: "hive".into(),
            streaming_jar: None,
            json: false,
        },
        std::path::Path::new("/opt/hadoop-streaming.jar"),
    );
    assert_eq!(hadoop.len(), steps.len());
    for ((name, invocation), emr_step) in hadoop.iter().zip(&steps) {
        assert_eq!(name, &emr_step.name);
        assert_eq!(invocation.args[..2], ["jar", "/opt/hadoop-streaming.jar"]);
        assert_eq!(invocation.args[2..], emr_step.hadoop_jar_step.args[1..]);
    }
    // And every command line parses back to what the plan holds.
    for step in &plan.steps {
        let Step::Streaming(step) = step else {
            continue;
        };
        let words: Vec<String> = step.mapper.argv();
        assert_eq!(
            crate::command::TaskCommand::parse(&words).expect("parses"),
            step.mapper
        );
    }
}

fn verify_options(extra: bool) -> PlanOptions {
    PlanOptions {
        job: Job::Verify(verify::VerifyJob { extra }),
        prefixes: crate::command::Prefixes {
            src_prefix: "logs/".into(),
            dst_prefix: "archive/".into(),
        },
        ..article_options()
    }
}

#[test]
fn verify_compares_the_source_listing_and_the_keys_only_the_destination_has() {
    let plan = build(&verify_options(true)).expect("plan");
    assert_eq!(
        names(&plan),
        vec![
            "list.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.extra.dstbucket.part.all",
            "extra.srcbucket.part.all",
            "verify.srcbucket.part.all",
        ]
    );
    // Nothing is written to the buckets: no upload to clean up, no job output.
    assert_eq!(plan.uploads, None);
    assert_eq!(plan.output, None);
    let Step::Diff(diff) = &plan.steps[2] else {
        panic!("diff step")
    };
    // The sides swapped: the destination's rows the source lacks.
    assert_eq!(diff.src, "/1451507458/dstbucket.list");
    assert_eq!(diff.dst, "/1451507458/srcbucket.list");
    assert_eq!(diff.diff, "/1451507458/extra.list");
    let Step::Streaming(extra) = &plan.steps[3] else {
        panic!("extra step")
    };
    assert_eq!(extra.input, "/1451507458/extra.list");
    // On a cluster the rows go beside a copy's job output (on S3 on EMR).
    assert_eq!(
        extra.output,
        "s3://codebucket/output/srcbucket/part.all.1451507458.extra"
    );
    assert_eq!(
        extra.mapper.line(),
        "objectverify --src-bucket srcbucket --src-endpoint s3.us-west-2.amazonaws.com \
         --dst-bucket dstbucket --dst-endpoint s3.us-west-2.amazonaws.com --src-profile jeff \
         --dst-profile jassy --src-prefix logs/ --dst-prefix archive/ --extra"
    );
    let Step::Streaming(verify) = &plan.steps[4] else {
        panic!("verify step")
    };
    assert_eq!(verify.input, "/1451507458/srcbucket.list");
    assert_eq!(
        verify.output,
        "s3://codebucket/output/srcbucket/part.all.1451507458.verify"
    );
    assert!(verify.reducer.is_none());
    assert_eq!(verify.settings, JobSettings::multipart_list());
    assert!(!verify.mapper.line().contains("--extra"));
    // The destination listing is written in the source's key space.
    let Step::Streaming(dst_list) = &plan.steps[1] else {
        panic!("dst listing")
    };
    assert!(
        dst_list
            .mapper
            .line()
            .ends_with("--prefix archive/ --as-prefix logs/"),
        "{}",
        dst_list.mapper.line()
    );

    // Without the extra keys: the source listing and its comparison only.
    let plan = build(&verify_options(false)).expect("plan");
    assert_eq!(
        names(&plan),
        vec!["list.srcbucket.part.all", "verify.srcbucket.part.all"]
    );
    // Locally both outputs are in the run directory.
    let plan = build(&PlanOptions {
        run_base: RunBase::Local("/runs".into()),
        ..verify_options(true)
    })
    .expect("plan");
    let outputs: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Streaming(s) if matches!(s.mapper, TaskCommand::ObjectVerify(_)) => {
                Some(s.output.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        outputs,
        ["/runs/1451507458/extra", "/runs/1451507458/verify"]
    );
    // The copies' storage class and SSE-C key reach the comparison.
    let plan = build(&PlanOptions {
        write: crate::command::WriteSettings {
            storage_class: Some("STANDARD_IA".into()),
            dst_sse_c_key_file: Some("/keys/dst.key".into()),
            ..Default::default()
        },
        ..verify_options(false)
    })
    .expect("plan");
    let Step::Streaming(verify) = &plan.steps[1] else {
        panic!("verify step")
    };
    assert!(
        verify
            .mapper
            .line()
            .ends_with("--storage-class STANDARD_IA --dst-sse-c-key-file /keys/dst.key"),
        "{}",
        verify.mapper.line()
    );
}

#[test]
fn a_verify_dry_run_lists_without_comparing_and_verify_takes_no_diff() {
    let plan = dry_run(&verify_options(true)).expect("plan");
    assert_eq!(
        names(&plan),
        vec![
            "list.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.extra.dstbucket.part.all",
        ]
    );
    let error = build(&PlanOptions {
        diff: true,
        ..verify_options(true)
    })
    .expect_err("verify with --diff");
    assert_eq!(error.exit_code(), 2);
    let error = build(&PlanOptions {
        inventory: true,
        ..verify_options(true)
    })
    .expect_err("extra keys of an inventory listing need a destination part file");
    assert!(error.to_string().contains("destination"), "{error}");
}

#[test]
fn verify_renders_on_emr_with_every_step_cancelling_on_failure() {
    let steps = emr::render(&build(&verify_options(true)).expect("plan")).expect("render");
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "list.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.extra.dstbucket.part.all",
            "extra.srcbucket.part.all",
            "verify.srcbucket.part.all",
        ]
    );
    // Nothing to clean up after: a failed step cancels the rest.
    assert!(
        steps
            .iter()
            .all(|s| s.action_on_failure == "CANCEL_AND_WAIT")
    );
    let hive = &steps[2].hadoop_jar_step.args;
    assert_eq!(
        hive[3..],
        [
            "-f",
            "s3://codebucket/diff.q",
            "-d",
            "SRC=/1451507458/dstbucket.list",
            "-d",
            "DST=/1451507458/srcbucket.list",
            "-d",
            "DIFF=/1451507458/extra.list"
        ]
    );
    let verify = &steps[4].hadoop_jar_step.args;
    let at = |flag: &str| {
        let i = verify.iter().position(|a| a == flag).expect(flag);
        verify[i + 1].as_str()
    };
    assert!(at("-files").contains("s3://codebucket/objectverify"));
    assert!(at("-mapper").starts_with("objectverify --src-bucket srcbucket"));
    assert_eq!(at("-input"), "/1451507458/srcbucket.list");
    assert_eq!(
        at("-output"),
        "s3://codebucket/output/srcbucket/part.all.1451507458.verify"
    );
    assert!(!verify.contains(&"-reducer".to_string()));
    assert!(verify.contains(&"mapreduce.job.reduces=0".to_string()));
}

#[test]
fn a_given_listing_replaces_the_source_listing() {
    let plan = build(&PlanOptions {
        listing: Some("/runs/1/report.list".into()),
        ..article_options()
    })
    .expect("plan");
    assert_eq!(
        names(&plan),
        vec![
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    let Step::Streaming(mlist) = &plan.steps[0] else {
        panic!("mlist")
    };
    assert_eq!(mlist.input, "/runs/1/report.list");
    assert_eq!(
        plan.uploads.as_ref().map(|u| u.objects.as_str()),
        Some("/runs/1/report.list")
    );
    let error = build(&PlanOptions {
        listing: Some("/runs/1/report.list".into()),
        diff: true,
        ..article_options()
    })
    .expect_err("a given listing and --diff");
    assert_eq!(error.exit_code(), 2);
}

fn map_options(template: Option<&str>) -> PlanOptions {
    PlanOptions {
        job: Job::Map(map::MapJob {
            command: "grep -c 'ERROR 500' | tee /dev/stderr".into(),
            output_template: template.map(str::to_string),
            concurrency: None,
        }),
        ..article_options()
    }
}

#[test]
fn a_map_runs_objectmap_over_the_listing_with_its_command_encoded() {
    let plan = build(&map_options(Some("out/{key}.count"))).expect("plan");
    let names: Vec<&str> = plan.steps.iter().map(Step::name).collect();
    assert_eq!(names, ["list.srcbucket.part.all", "map.srcbucket.part.all"]);
    let Step::Streaming(step) = &plan.steps[1] else {
        panic!("a streaming map step")
    };
    assert_eq!(
        step.mapper.line(),
        "objectmap --src-bucket srcbucket --src-endpoint s3.us-west-2.amazonaws.com \
         --dst-bucket dstbucket --dst-endpoint s3.us-west-2.amazonaws.com --src-profile jeff \
         --dst-profile jassy --command grep%20%2Dc%20%27ERROR%20500%27%20%7C%20tee%20/dev/stderr \
         --output-template out/%7Bkey%7D.count"
    );
    assert!(step.reducer.is_none(), "map-only");
    assert_eq!(step.input, "/1451507458/srcbucket.list");
    assert_eq!(plan.output.as_deref(), Some(step.output.as_str()));
    assert!(plan.uploads.is_none(), "a map makes no multipart upload");
    // Every runner gathers the skip report (the last attempts' `command_failed` rows
    // among them) from the map's job output.
    assert_eq!(
        crate::rsync::report::rows_directory(&plan),
        Some(step.output.as_str())
    );
    // The command comes back whole from the line a task is started with.
    let TaskCommand::ObjectMap(parsed) = TaskCommand::parse(&step.mapper.argv()).expect("parse")
    else {
        panic!("objectmap")
    };
    assert_eq!(
        parsed.command.as_str(),
        "grep -c 'ERROR 500' | tee /dev/stderr"
    );
    assert_eq!(
        parsed.output_template.as_ref().map(|t| t.as_str()),
        Some("out/{key}.count")
    );

    // EMR: the step ships objectmap and passes the plan's checks (no space, no quote).
    let steps = emr::render(&plan).expect("render");
    assert_eq!(steps.len(), 2);
    let args = &steps[1].hadoop_jar_step.args;
    let text = args.join("\n");
    assert!(text.contains("s3://codebucket/objectmap"), "{text}");
    assert!(
        text.contains("-mapper\nobjectmap --src-bucket srcbucket"),
        "{text}"
    );
    assert!(text.contains("mapreduce.job.reduces=0"), "{text}");
    // Exported to the tasks as mapreduce_map_maxattempts: objectmap tells its last
    // attempt by it.
    assert!(text.contains("mapreduce.map.maxattempts=4"), "{text}");
    assert!(
        args.iter()
            .all(|arg| !arg.contains('\'') && !arg.contains('"')),
        "{args:?}"
    );
    assert!(code_files(&map_options(None).job).contains(&"objectmap"));

    // The dry run is the listing alone: no command runs.
    let dry = dry_run(&map_options(None)).expect("dry plan");
    assert_eq!(dry.steps.len(), 1);
    assert!(dry.output.is_none());
}

fn reencrypt_options() -> PlanOptions {
    PlanOptions {
        job: Job::Reencrypt,
        dst_bucket: "srcbucket".into(),
        dst_profile: Some("jeff".into()),
        auto_server_side: true,
        write: WriteSettings {
            storage_class: Some("STANDARD_IA".into()),
            ..Default::default()
        },
        ..article_options()
    }
}

#[test]
fn a_reencrypt_is_the_copy_onto_itself_in_place() {
    let plan = build(&reencrypt_options()).expect("plan");
    let names: Vec<&str> = plan.steps.iter().map(Step::name).collect();
    assert_eq!(
        names,
        [
            "list.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    let Step::Streaming(mlist) = &plan.steps[1] else {
        panic!("a streaming multipartlist")
    };
    let line = mlist.mapper.line();
    assert!(line.contains("--storage-class STANDARD_IA"), "{line}");
    assert!(line.contains("--in-place"), "{line}");
    let Step::Streaming(copy) = &plan.steps[2] else {
        panic!("a streaming copy")
    };
    let line = copy.mapper.line();
    assert!(line.contains("--in-place"), "{line}");
    assert!(line.contains("--storage-class STANDARD_IA"), "{line}");
    // In place is always in the server, never the other modes.
    assert!(!line.contains("--server-side"), "{line}");
    assert!(
        line.contains("--src-bucket srcbucket") && line.contains("--dst-bucket srcbucket"),
        "{line}"
    );
    let uploads = plan.uploads.expect("its uploads are cleaned up");
    assert_eq!(uploads.bucket, "srcbucket");
    // The sync's copy has no --in-place.
    let sync = build(&article_options()).expect("plan");
    let Step::Streaming(copy) = &sync.steps[2] else {
        panic!("a streaming copy")
    };
    assert!(!copy.mapper.line().contains("--in-place"));
    // The dry run creates no upload and copies nothing.
    let dry = dry_run(&reencrypt_options()).expect("dry plan");
    assert_eq!(dry.steps.len(), 2);
    assert!(dry.copy_input.is_some());
}

#[test]
fn a_reencrypt_needs_one_location_and_a_change() {
    let refused = |options: PlanOptions, words: &str| {
        let error = build(&options).expect_err("refused").to_string();
        assert!(error.contains(words), "{error}");
    };
    refused(
        PlanOptions {
            write: Default::default(),
            ..reencrypt_options()
        },
        "needs a change",
    );
    refused(
        PlanOptions {
            write: WriteSettings {
                acl: Some("private".into()),
                ..Default::default()
            },
            ..reencrypt_options()
        },
        "needs a change",
    );
    refused(
        PlanOptions {
            dst_bucket: "dstbucket".into(),
            ..reencrypt_options()
        },
        "the destination must be the source",
    );
    refused(
        PlanOptions {
            dst_profile: Some("jassy".into()),
            ..reencrypt_options()
        },
        "the destination must be the source",
    );
    refused(
        PlanOptions {
            prefixes: Prefixes {
                src_prefix: "logs/".into(),
                dst_prefix: "old/".into(),
            },
            ..reencrypt_options()
        },
        "the destination must be the source",
    );
    refused(
        PlanOptions {
            diff: true,
            ..reencrypt_options()
        },
        "no --diff",
    );
    // A prefix kept as it is limits the rewrite to it.
    let plan = build(&PlanOptions {
        prefixes: Prefixes {
            src_prefix: "logs/".into(),
            dst_prefix: "logs/".into(),
        },
        ..reencrypt_options()
    })
    .expect("a prefix in place");
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("a streaming listing")
    };
    assert!(
        list.mapper.line().contains("--prefix logs/"),
        "{}",
        list.mapper.line()
    );
}

fn versions_options(at: Option<crate::select::Timestamp>) -> PlanOptions {
    PlanOptions {
        job: Job::Versions(VersionsJob { at }),
        ..article_options()
    }
}

#[test]
fn a_copy_of_versions_lists_them_and_copies_each_key_in_one_map_only_step() {
    let plan = build(&versions_options(None)).expect("plan");
    assert_eq!(
        names(&plan),
        [
            "list.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    let Step::Streaming(list) = &plan.steps[0] else {
        panic!("a streaming listing")
    };
    assert!(
        list.mapper.line().ends_with("--all-versions"),
        "{}",
        list.mapper.line()
    );
    assert_eq!(
        list.reducer.as_ref().map(TaskCommand::line).as_deref(),
        Some("bucketlist --bucket srcbucket --distinct")
    );
    let Step::Streaming(copy) = &plan.steps[1] else {
        panic!("a streaming copy")
    };
    assert!(
        copy.mapper.line().starts_with("objectcopy ")
            && copy.mapper.line().contains(" --versions history"),
        "{}",
        copy.mapper.line()
    );
    assert!(copy.reducer.is_none(), "no multipartcomplete");
    assert_eq!(copy.settings.reducers, 0);
    assert!(!copy.settings.compress);
    assert_eq!(copy.input, "/1451507458/srcbucket.list");
    assert_eq!(plan.output.as_deref(), Some(copy.output.as_str()));
    // The clean-up, as the copy's: multipartlist --abort-run, map-only, over the
    // versions listing; the run's uploads are that listing's, with no part list.
    let Step::Cleanup(cleanup) = &plan.steps[2] else {
        panic!("the last step is the clean-up")
    };
    assert_eq!(cleanup.input, "/1451507458/srcbucket.list");
    assert_eq!(cleanup.output, "/1451507458/cleanup");
    assert_eq!(cleanup.settings.reducers, 0);
    assert!(cleanup.reducer.is_none());
    assert_eq!(cleanup.mapper.argv()[0], "multipartlist");
    assert_eq!(
        cleanup.mapper.argv().last().map(String::as_str),
        Some("--abort-run")
    );
    assert_eq!(
        crate::command::TaskCommand::parse(&cleanup.mapper.argv()).expect("parses"),
        cleanup.mapper
    );
    let uploads = plan.uploads.as_ref().expect("the run's uploads");
    assert_eq!(uploads.bucket, "dstbucket");
    assert_eq!(uploads.objects, "/1451507458/srcbucket.list");
    assert_eq!(uploads.parts, "/1451507458/no-part-list");
    assert_eq!(
        code_files(&versions_options(None).job),
        [
            "bucketlist",
            "objectcopy",
            "multipartlist",
            ".boto",
            "campanile.cfg"
        ]
    );
    // --diff adds nothing: the copy compares each key's history itself.
    let diffed = build(&PlanOptions {
        diff: true,
        ..versions_options(None)
    })
    .expect("plan");
    assert_eq!(diffed.steps, plan.steps);
    // --version-at: the listing at that time, the copy into the current objects.
    let at = build(&versions_options(Some(crate::select::Timestamp(
        1_764_547_200,
    ))))
    .expect("plan");
    let Step::Streaming(list) = &at.steps[0] else {
        panic!("a streaming listing")
    };
    assert!(
        list.mapper
            .line()
            .ends_with("--version-at 2025-12-01T00:00:00Z"),
        "{}",
        list.mapper.line()
    );
    let Step::Streaming(copy) = &at.steps[1] else {
        panic!("a streaming copy")
    };
    assert!(copy.mapper.line().contains(" --versions current"));
    // Every command line parses back to what the plan holds.
    for step in plan.steps.iter().chain(&at.steps) {
        let Step::Streaming(step) = step else {
            continue;
        };
        for command in std::iter::once(&step.mapper).chain(&step.reducer) {
            assert_eq!(
                crate::command::TaskCommand::parse(&command.argv()).expect("parses"),
                *command
            );
        }
    }
    // The dry run: the listing and the copy, reading and writing nothing; no
    // clean-up (it creates no upload and aborts none).
    let dry = dry_run(&versions_options(None)).expect("dry plan");
    assert_eq!(
        names(&dry),
        ["list.srcbucket.part.all", "copy.srcbucket.part.all"]
    );
    assert!(dry.uploads.is_none());
    let Step::Streaming(copy) = &dry.steps[1] else {
        panic!("a streaming copy")
    };
    assert!(
        copy.mapper.line().contains(" --dry-run"),
        "{}",
        copy.mapper.line()
    );
}

#[test]
fn a_copy_of_versions_renders_for_emr_and_hadoop_alike() {
    let plan = build(&versions_options(None)).expect("plan");
    let steps = emr::render(&plan).expect("render");
    assert_eq!(steps.len(), 3);
    let copy = steps[1].hadoop_jar_step.args.join(" ");
    assert!(
        copy.contains("-mapper objectcopy --src-bucket srcbucket")
            && copy.contains("--versions history")
            && copy.contains("mapreduce.job.reduces=0")
            && !copy.contains("-reducer"),
        "{copy}"
    );
    let cleanup = steps[2].hadoop_jar_step.args.join(" ");
    assert!(
        cleanup.contains("-mapper multipartlist --src-bucket srcbucket")
            && cleanup.contains("--abort-run")
            && cleanup.contains("-input /1451507458/srcbucket.list")
            && cleanup.contains("s3://codebucket/multipartlist"),
        "{cleanup}"
    );
    // The copy creates uploads: a failure of it, or of the clean-up, goes on to the
    // clean-up (ActionOnFailure CONTINUE); the listing creates none.
    let actions: Vec<&str> = steps.iter().map(|s| s.action_on_failure.as_str()).collect();
    assert_eq!(actions, ["CANCEL_AND_WAIT", "CONTINUE", "CONTINUE"]);
    let hadoop = crate::rsync::hadoop::invocations(
        &plan,
        &crate::rsync::hadoop::HadoopRequest {
            hadoop: "hadoop".into(),
            hive: "hive".into(),
            streaming_jar: None,
            json: false,
        },
        std::path::Path::new("/opt/hadoop-streaming.jar"),
    );
    // The Hadoop runner cleans up itself after a failed step: no clean-up step.
    assert_eq!(hadoop.len(), steps.len() - 1);
    for ((_, invocation), emr_step) in hadoop.iter().zip(&steps) {
        assert_eq!(invocation.args[2..], emr_step.hadoop_jar_step.args[1..]);
    }
}

#[test]
fn a_copy_of_versions_refuses_what_it_cannot_keep_in_order() {
    let refused = |options: PlanOptions, what: &str| {
        let error = build(&options).expect_err(what).to_string();
        assert!(error.contains(what), "{error}");
    };
    refused(
        PlanOptions {
            inventory: true,
            ..versions_options(None)
        },
        "--inventory",
    );
    refused(
        PlanOptions {
            no_copy: true,
            ..versions_options(None)
        },
        "--no-copy",
    );
    refused(
        PlanOptions {
            server_side_copy: true,
            ..versions_options(None)
        },
        "--server-side-copy",
    );
    refused(
        PlanOptions {
            filters: crate::command::ListingSelection {
                min_size: Some(1),
                ..Default::default()
            },
            ..versions_options(None)
        },
        "size and date filters",
    );
}

fn delete_options(filters: ListingSelection, run_base: RunBase) -> PlanOptions {
    PlanOptions {
        diff: true,
        filters,
        run_base,
        prefixes: Prefixes {
            src_prefix: "logs/".into(),
            dst_prefix: "archive/".into(),
        },
        delete: Some(delete::DeleteJob {
            max: Some(crate::task::objectdelete::MaxDelete::Percent(10.0)),
        }),
        ..article_options()
    }
}

fn streaming<'a>(plan: &'a Plan, name: &str) -> &'a StreamingStep {
    plan.steps
        .iter()
        .find_map(|step| match step {
            Step::Streaming(s) if s.name.starts_with(name) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn delete_lists_the_destination_within_the_key_rules() {
    let rules = ListingSelection {
        filters: vec![crate::select::Rule::checked(false, "*.tmp").expect("rule")],
        ..Default::default()
    };
    let plan = build(&delete_options(
        rules.clone(),
        RunBase::Local("/runs".into()),
    ))
    .expect("plan");
    let dst = streaming(&plan, "list.dstbucket").mapper.line();
    assert!(dst.contains("--filter exclude:*.tmp"), "{dst}");
    assert!(dst.contains("--prefix archive/ --as-prefix logs/"), "{dst}");
    // Key rules only: the source listing is the source's keys, no second listing.
    assert!(plan.steps.iter().all(|s| !s.name().starts_with("keys.")));
    let scope = plan.delete.as_ref().expect("scope");
    assert_eq!(scope.src, "/runs/1451507458/srcbucket.list");
    assert_eq!(scope.dst, "/runs/1451507458/dstbucket.list");
    assert_eq!(scope.deleted, None);
    // The local runner deletes itself: no delete step, no objectdelete shipped.
    assert!(plan.steps.iter().all(|s| !s.name().contains("delete")));
    // Without --delete the destination listing takes no filter (the goldens' steps).
    let plan = build(&PlanOptions {
        delete: None,
        ..delete_options(rules, RunBase::Local("/runs".into()))
    })
    .expect("plan");
    assert!(
        !streaming(&plan, "list.dstbucket")
            .mapper
            .line()
            .contains("--filter")
    );
    assert_eq!(plan.delete, None);
}

#[test]
fn delete_with_size_or_date_filters_lists_the_source_keys_without_them() {
    for filters in [
        ListingSelection {
            min_size: Some(100),
            ..Default::default()
        },
        ListingSelection {
            newer_than: Some(crate::select::Timestamp(1_700_000_000)),
            ..Default::default()
        },
        ListingSelection {
            archived: true,
            ..Default::default()
        },
    ] {
        let with_rule = ListingSelection {
            filters: vec![crate::select::Rule::checked(true, "**.gz").expect("rule")],
            ..filters
        };
        let options = delete_options(with_rule, RunBase::Local("/runs".into()));
        let plan = build(&options).expect("plan");
        let names: Vec<&str> = plan.steps.iter().map(Step::name).collect();
        assert_eq!(
            &names[..4],
            [
                "list.srcbucket.part.all",
                "keys.srcbucket.part.all",
                "list.dstbucket.part.all",
                "hive.srcbucket.part.all"
            ]
        );
        let keys = streaming(&plan, "keys.srcbucket");
        assert_eq!(keys.output, "/runs/1451507458/srcbucket.keys.list");
        let line = keys.mapper.line();
        assert!(
            line.contains("--prefix logs/ --filter include:**.gz"),
            "{line}"
        );
        for bound in ["--min-size", "--newer-than", "--archived"] {
            assert!(!line.contains(bound), "{line}");
        }
        assert!(
            keys.reducer
                .as_ref()
                .is_some_and(|r| r.line().contains("--distinct"))
        );
        assert_eq!(
            plan.delete.as_ref().map(|s| s.src.as_str()),
            Some("/runs/1451507458/srcbucket.keys.list")
        );
        // A dry run lists the same keys.
        let dry = dry_run(&options).expect("dry run");
        assert_eq!(dry.delete, plan.delete);
        assert!(dry.steps.iter().any(|s| s.name().starts_with("keys.")));
    }
}

#[test]
fn delete_on_a_cluster_ends_in_the_delete_diff_and_the_delete_step() {
    let filters = ListingSelection {
        max_size: Some(1 << 20),
        ..Default::default()
    };
    let plan = build(&delete_options(filters, RunBase::Hdfs)).expect("plan");
    let names: Vec<&str> = plan.steps.iter().map(Step::name).collect();
    assert_eq!(
        names,
        [
            "list.srcbucket.part.all",
            "keys.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all",
            "copied.srcbucket.part.all",
            "hive.delete.dstbucket.part.all",
            "delete.dstbucket.part.all",
        ]
    );
    let Some(Step::Check(check)) = plan.steps.get(7) else {
        panic!("the check")
    };
    assert_eq!(
        check.hadoop_args(),
        [
            "fs",
            "-test",
            "-e",
            "s3://codebucket/output/srcbucket/part.all.1451507458/_SUCCESS"
        ]
    );
    let Some(Step::Diff(rows)) = plan.steps.get(8) else {
        panic!("the delete diff")
    };
    assert_eq!(rows.script, "s3://codebucket/delete.q");
    assert_eq!(rows.src, "/1451507458/srcbucket.keys.list");
    assert_eq!(rows.dst, "/1451507458/dstbucket.list");
    let step = streaming(&plan, "delete.dstbucket");
    let copied = "s3://codebucket/output/srcbucket/part.all.1451507458";
    assert_eq!(step.input, "/1451507458/delete.list");
    assert_eq!(step.output, format!("{copied}.deleted"));
    assert_eq!(
        step.mapper.line(),
        "objectdelete --bucket dstbucket --select"
    );
    assert_eq!(
        step.reducer.as_ref().map(TaskCommand::line).as_deref(),
        Some(
            "objectdelete --bucket dstbucket --endpoint s3.us-west-2.amazonaws.com --profile jassy \
             --src-prefix logs/ --dst-prefix archive/ --max-delete 10%"
        )
    );
    assert_eq!(step.settings.reducers, 1);
    assert!(
        step.files
            .contains(&"s3://codebucket/objectdelete".to_string())
    );
    assert_eq!(
        plan.delete.as_ref().and_then(|s| s.deleted.as_deref()),
        Some(format!("{copied}.deleted").as_str())
    );
    // Every step ships objectdelete; a plan without --delete does not.
    assert!(
        streaming(&plan, "list.srcbucket")
            .files
            .iter()
            .any(|f| f.ends_with("/objectdelete"))
    );
    let without = build(&PlanOptions {
        delete: None,
        ..delete_options(ListingSelection::default(), RunBase::Hdfs)
    })
    .expect("plan");
    assert!(without.steps.iter().all(|s| !s.name().contains("delete")));
    assert!(
        !streaming(&without, "list.srcbucket")
            .files
            .iter()
            .any(|f| f.ends_with("/objectdelete"))
    );
    // The EMR rendering: the delete steps after the clean-up cancel the rest on failure.
    let rendered = emr::render(&plan).expect("render");
    for step in &rendered[7..] {
        assert_eq!(step.action_on_failure, emr::ACTION_ON_FAILURE);
    }
    assert_eq!(
        rendered[7].hadoop_jar_step.args[..4],
        ["hadoop", "fs", "-test", "-e"]
    );
    assert_eq!(
        rendered[8].hadoop_jar_step.args[..3],
        ["hive-script", "--run-hive-script", "--args"]
    );
    // The skip report is still the copy's output, not the delete step's.
    assert_eq!(crate::rsync::report::rows_directory(&plan), Some(copied));
}

#[test]
fn delete_is_refused_where_the_source_may_be_listed_partially() {
    for (options, why) in [
        (
            PlanOptions {
                inventory: true,
                dst_input: Some("s3://c/dst.part".into()),
                ..delete_options(Default::default(), RunBase::Hdfs)
            },
            "--inventory",
        ),
        (
            PlanOptions {
                diff: false,
                ..delete_options(Default::default(), RunBase::Hdfs)
            },
            "--diff",
        ),
        (
            PlanOptions {
                job: Job::Reencrypt,
                ..delete_options(Default::default(), RunBase::Hdfs)
            },
            "copy",
        ),
    ] {
        let error = build(&options).expect_err(why);
        assert!(error.to_string().contains(why), "{error}");
    }
}
