//! The local runner's progress bars are for terminals only: a run whose stderr is a
//! pipe (as here) or a file has no bar, no carriage return and no escape sequence on
//! stderr, only the step reports and the summary. (The bars themselves are drawn into
//! an in-memory terminal by the unit tests of `plan::local::progress`.)

use std::path::Path;

use campanile_testkit::S3Server;
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

/// Twelve small objects and a multipart one.
fn objects() -> Vec<FixtureObject> {
    (0..12)
        .map(|i| FixtureObject::whole(format!("k{i:02}"), 1000 + i))
        .chain([FixtureObject::multipart("multi", 6 << 20, 5 << 20)])
        .collect()
}

/// rsync's arguments for a local run of `src` to `dst` under `work`, one object per
/// task, so that progress is shown between tasks.
fn local_args(server: &S3Server, work: &Path, (src, dst): (&str, &str)) -> Vec<String> {
    let part_file = work.join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    [
        "--input",
        &part_file.display().to_string(),
        "--src-bucket",
        src,
        "--dst-bucket",
        dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        &server.endpoint,
        "--run-dir",
        &work.join("runs").display().to_string(),
        "--output",
        &work.join("output").display().to_string(),
        "--lines-per-map",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_stderr_is_not_a_terminal_draws_no_progress() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "progress").await;
    let objects = objects();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let args = local_args(server, work.path(), (&src, &dst));
    let result = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(RSYNC, &args, "", server, &[])
    })
    .await
    .expect("rsync thread");
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(keys(&client, &dst).await.len(), objects.len());
    assert!(
        !result.stderr.contains('\r') && !result.stderr.contains('\x1b'),
        "no progress drawing on a pipe:\n{:?}",
        result.stderr
    );
    // A progress line counts tasks as done/total ("map 3/13 tasks"); the step
    // reports count them alone ("13 map tasks").
    let progress_line = |line: &str| {
        line.contains(" tasks")
            && line.split(" tasks").next().is_some_and(|before| {
                before
                    .rsplit(' ')
                    .next()
                    .is_some_and(|token| token.contains('/'))
            })
    };
    let drawn: Vec<&str> = result.stderr.lines().filter(|l| progress_line(l)).collect();
    assert!(drawn.is_empty(), "no progress lines either: {drawn:?}");
    // What stays: the step reports and the summary.
    assert!(result.stderr.contains("step copy."), "{}", result.stderr);
    assert!(
        result.stderr.contains("summary: 13 objects copied"),
        "{}",
        result.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_bars_show_totals_and_an_eta() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "progresstty").await;
    let objects = objects();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let mut command = vec![RSYNC.to_string()];
    command.extend(local_args(server, work.path(), (&src, &dst)));
    // script(1) runs rsync on a pseudo-terminal: stdout and stderr are a terminal.
    let line = command.join(" ");
    let result = tokio::task::spawn_blocking(move || {
        run("script", &["-qec", &line, "/dev/null"], "", server, &[])
    })
    .await
    .expect("script thread");
    assert_eq!(result.code, 0, "{}{}", result.stdout, result.stderr);
    assert_eq!(keys(&client, &dst).await.len(), objects.len());
    let screen = &result.stdout;
    // The listing: a spinner with counts; the copy: a bar with its totals, read
    // from the part list, and an ETA.
    assert!(screen.contains(" objects, "), "{screen}");
    assert!(
        screen.contains("/13 objects, ") && screen.contains("/6.3 MB"),
        "{screen}"
    );
    assert!(screen.contains("ETA "), "{screen}");
    assert!(screen.contains('\r') || screen.contains('\x1b'), "{screen}");
}
