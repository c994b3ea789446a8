//! Run ids and the list of past runs, end to end against Garage: two local runs
//! started at the same moment without `--uuid` get different ids and both succeed,
//! their run directories land under the state directory (`XDG_STATE_HOME`, or
//! `CAMPANILE_RUN_DIR`; never the real home here), and `rsync --list-runs` shows each
//! run with its state, output and skip report. See docs/troubleshooting.md.

use std::path::Path;
use std::sync::{Arc, Barrier};

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

/// A source bucket of a few small objects and `n` empty destination buckets.
async fn buckets(tag: &str, n: usize) -> (String, Vec<String>) {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket(&format!("{tag}-src"));
    server.create_bucket(&client, &src).await;
    let objects: Vec<fixtures::FixtureObject> = (0..5)
        .map(|i| fixtures::FixtureObject::whole(format!("k/{i}"), 100 + i))
        .collect();
    fixtures::upload_all(&client, &src, &objects).await;
    let mut dsts = Vec::new();
    for i in 0..n {
        let dst = campanile_testkit::unique_bucket(&format!("{tag}-dst{i}"));
        server.create_bucket(&client, &dst).await;
        dsts.push(dst);
    }
    (src, dsts)
}

/// rsync's arguments for a local copy from `src` to `dst` with its output under
/// `work` and no `--run-dir` or `--uuid` (the defaults are what is tested).
fn copy_args(server: &S3Server, work: &Path, src: &str, dst: &str) -> Vec<String> {
    [
        "--src-bucket",
        src,
        "--dst-bucket",
        dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        &server.endpoint,
        "--output",
        &work.join("output").display().to_string(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The environment of every rsync run here: the state directory in `work`, and a home
/// in `work` too, so that nothing can reach the real one.
fn state_env(work: &Path) -> Vec<(String, String)> {
    vec![
        (
            "XDG_STATE_HOME".into(),
            work.join("state").display().to_string(),
        ),
        ("HOME".into(), work.join("home").display().to_string()),
    ]
}

fn rsync_with(server: &S3Server, args: &[String], env: &[(String, String)]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    run(RSYNC, &args, "", server, &env)
}

/// The run id in a run's `RunDir:` line.
fn run_id(run: &Run, base: &Path) -> String {
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("RunDir: "))
        .unwrap_or_else(|| panic!("no RunDir line: {}\n{}", run.stdout, run.stderr));
    let dir = Path::new(line);
    assert_eq!(dir.parent(), Some(base), "{line}");
    dir.file_name().expect("id").to_string_lossy().to_string()
}

/// True for `20261130T161500Z-7f3a9c`.
fn is_default_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    id.len() == 23
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && &id[15..17] == "Z-"
        && id[17..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `rsync --list-runs --json`: every line must parse.
fn listed(server: &S3Server, env: &[(String, String)]) -> Vec<serde_json::Value> {
    let args = ["--list-runs".to_string(), "--json".into()];
    let result = rsync_with(server, &args, env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    result
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_started_at_once_get_their_own_ids_and_list_runs_shows_them() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let (src, dsts) = buckets("twoatonce", 2).await;
    let work = tempfile::tempdir().expect("tempdir");
    let env = state_env(work.path());
    let base = work.path().join("state/campanile/runs");
    // Both start together: without randomness in the id they would collide.
    let start = Arc::new(Barrier::new(2));
    let runs: Vec<std::thread::JoinHandle<Run>> = dsts
        .iter()
        .map(|dst| {
            let (args, env) = (copy_args(server, work.path(), &src, dst), env.clone());
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                rsync_with(server, &args, &env)
            })
        })
        .collect();
    let runs: Vec<Run> = runs
        .into_iter()
        .map(|r| r.join().expect("rsync thread"))
        .collect();
    let mut ids = Vec::new();
    for result in &runs {
        assert_eq!(result.code, 0, "{}", result.stderr);
        let id = run_id(result, &base);
        assert!(is_default_id(&id), "{id}");
        assert!(base.join(&id).join("run.json").is_file());
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    for dst in &dsts {
        for i in 0..5 {
            assert_same_object(&client, &src, dst, &format!("k/{i}")).await;
        }
    }
    assert!(
        !work.path().join("home").exists(),
        "nothing under HOME when XDG_STATE_HOME is set"
    );
    // A run that fails once its run directory exists: a part file whose lines overlap.
    let overlapping = work.path().join("part.overlap");
    std::fs::write(&overlapping, ",\n,a\n").expect("part file");
    let mut args = copy_args(server, work.path(), &src, &dsts[0]);
    args.extend([
        "--input".into(),
        overlapping.display().to_string(),
        "--uuid".into(),
        "refused".into(),
    ]);
    let refused = rsync_with(server, &args, &env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    // The same id again is refused before anything runs, and changes nothing.
    let again = rsync_with(server, &args, &env);
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let listed = listed(server, &env);
    let mut expected_ids: Vec<String> = ids.clone();
    expected_ids.push("refused".into());
    expected_ids.sort();
    let listed_ids: Vec<&str> = listed.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(listed_ids, expected_ids);
    for (id, dst) in ids.iter().zip(&dsts) {
        let run = listed
            .iter()
            .find(|r| r["id"] == id.as_str())
            .expect("listed");
        assert_eq!(run["state"], "finished", "{run}");
        assert_eq!(run["exit_code"], 0, "{run}");
        assert_eq!(run["src_bucket"], src.as_str());
        assert_eq!(run["dst_bucket"], dst.as_str());
        assert_eq!(run["run_dir"], base.join(id).display().to_string());
        let output = run["output"].as_str().expect("output");
        assert!(output.ends_with(&format!(".{id}")), "{output}");
        assert!(Path::new(output).join("_SUCCESS").is_file(), "{output}");
        assert!(run["started"].as_str().is_some_and(|s| s.ends_with('Z')));
        assert!(run["ended"].as_str().is_some());
    }
    let failed = listed
        .iter()
        .find(|r| r["id"] == "refused")
        .expect("listed");
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["exit_code"], 2, "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("overlap")),
        "{failed}"
    );
    // The text form, for people.
    let text = rsync_with(server, &["--list-runs".to_string()], &env);
    assert_eq!(text.code, 0, "{}", text.stderr);
    for id in &ids {
        assert!(
            text.stdout
                .lines()
                .any(|l| l.starts_with(id.as_str()) && l.contains("  finished  ")),
            "{}",
            text.stdout
        );
    }
    assert!(text.stdout.contains("failed (exit 2)"), "{}", text.stdout);
    assert!(text.stdout.contains("  output:      "), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_directory_base_follows_campanile_run_dir_and_run_dir() {
    let server = campanile_testkit::s3();
    let (src, dsts) = buckets("runbase", 1).await;
    let work = tempfile::tempdir().expect("tempdir");
    let mut env = state_env(work.path());
    let chosen = work.path().join("chosen");
    env.push(("CAMPANILE_RUN_DIR".into(), chosen.display().to_string()));
    let args = copy_args(server, work.path(), &src, &dsts[0]);
    let result = rsync_with(server, &args, &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let id = run_id(&result, &chosen);
    assert!(!work.path().join("state").exists());
    // --run-dir wins over the variable, and --list-runs looks where it is told.
    let flag = work.path().join("flag");
    let mut with_flag = args.clone();
    with_flag.extend(["--run-dir".into(), flag.display().to_string()]);
    let result = rsync_with(server, &with_flag, &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let flag_id = run_id(&result, &flag);
    let listed_ids = |runs: Vec<serde_json::Value>| -> Vec<String> {
        runs.iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(listed_ids(listed(server, &env)), vec![id]);
    let args = [
        "--list-runs".to_string(),
        "--json".into(),
        "--run-dir".into(),
        flag.display().to_string(),
    ];
    let result = rsync_with(server, &args, &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stdout.contains(&flag_id), "{}", result.stdout);
    // A local id names one directory under the base.
    let mut escaping = copy_args(server, work.path(), &src, &dsts[0]);
    escaping.extend(["--uuid".into(), "../outside".into()]);
    let refused = rsync_with(server, &escaping, &env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("without '/'"), "{}", refused.stderr);
    assert!(!work.path().join("outside").exists());
}

/// `campanile sync` is rsync under the front end's name, and `campanile runs` lists
/// what `rsync --list-runs` lists, line for line.
#[tokio::test(flavor = "multi_thread")]
async fn the_campanile_front_end_syncs_and_lists_runs_as_rsync_does() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let (src, dsts) = buckets("frontend", 1).await;
    let work = tempfile::tempdir().expect("tempdir");
    let env = state_env(work.path());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let base = work.path().join("state/campanile/runs");
    let mut args = vec!["sync".to_string()];
    args.extend(copy_args(server, work.path(), &src, &dsts[0]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let synced = run(CAMPANILE, &args, "", server, &env_refs);
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    let id = run_id(&synced, &base);
    for i in 0..5 {
        assert_same_object(&client, &src, &dsts[0], &format!("k/{i}")).await;
    }
    let front = run(CAMPANILE, &["runs", "--json"], "", server, &env_refs);
    assert_eq!(front.code, 0, "{}", front.stderr);
    let rsync = rsync_with(server, &["--list-runs".into(), "--json".into()], &env);
    assert_eq!(front.stdout, rsync.stdout);
    assert!(front.stdout.contains(&id), "{}", front.stdout);
    // A finished run has nothing left to clean, and cleanup says so with exit 0.
    let cleanup = run(CAMPANILE, &["cleanup", &id], "", server, &env_refs);
    assert_eq!(cleanup.code, 0, "{}", cleanup.stderr);
    // A job the front end does not have is a usage error.
    let unknown = run(CAMPANILE, &["frobnicate"], "", server, &env_refs);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}
