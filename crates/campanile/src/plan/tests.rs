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
        write: Default::default(),
        src_sse_c_key_file: None,
        copy_task_memory: None,
        lines_per_map: None,
        task_budget: RequestBudget::S3,
        job: Job::Sync,
        listing: None,
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
