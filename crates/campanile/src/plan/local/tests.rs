//! The streaming contract of the local runner, with small shell commands as tasks
//! (the test vectors of docs/streaming.md, and more).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::job::{Job, LocalSettings, StepReport, run_job};
use crate::error::Error;
use crate::plan::JobSettings;

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// A job of shell commands, owned, with the plan's listing settings.
struct TestStep {
    files: Vec<String>,
    settings: JobSettings,
    env: Vec<(String, String)>,
    input: String,
    output: String,
    mapper: Vec<String>,
    reducer: Option<Vec<String>>,
}

impl TestStep {
    fn job(&self) -> Job<'_> {
        Job {
            name: "test.step",
            files: &self.files,
            settings: &self.settings,
            env: &self.env,
            input: &self.input,
            output: &self.output,
            mapper: self.mapper.clone(),
            reducer: self.reducer.clone(),
        }
    }
}

fn step(input: &Path, output: &Path, mapper: &str, reducer: Option<&str>) -> TestStep {
    TestStep {
        files: Vec::new(),
        settings: JobSettings {
            reducers: u32::from(reducer.is_some()),
            ..JobSettings::listing(0)
        },
        env: Vec::new(),
        input: input.display().to_string(),
        output: output.display().to_string(),
        mapper: sh(mapper),
        reducer: reducer.map(sh),
    }
}

fn settings() -> LocalSettings {
    LocalSettings {
        parallel: 4,
        ..Default::default()
    }
}

fn run(step: &TestStep, work: &Path) -> Result<StepReport, Error> {
    run_job(&step.job(), &work.join("step"), &settings(), &|_| {})
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn input_file(dir: &Path, content: &[u8]) -> PathBuf {
    let path = dir.join("input.txt");
    std::fs::write(&path, content).expect("write input");
    path
}

#[test]
fn nline_input_one_line_per_map_with_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"a\nbb\r\n\nccc");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "echo \"ismap=$mapreduce_task_ismap\"; cat",
        None,
    );
    let report = run(&step, dir.path()).expect("job");
    assert_eq!(report.map_tasks, 4);
    // Map i reads the i-th split by length, largest first: bb, ccc, a, (empty).
    let parts: Vec<String> = (0..4)
        .map(|i| read(out.join(format!("part-0000{i}"))))
        .collect();
    assert_eq!(
        parts,
        vec![
            "ismap=true\t\n2\tbb\n",
            "ismap=true\t\n7\tccc\n",
            "ismap=true\t\n0\ta\n",
            "ismap=true\t\n6\t\n"
        ]
    );
    assert!(out.join("_SUCCESS").exists());
}

#[test]
fn the_task_environment_and_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let shipped = dir.path().join("campanile.cfg");
    std::fs::write(&shipped, "[DEFAULT]\n").expect("write");
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        "cat >/dev/null; echo \"fmt=$mapred_input_format_class\"; echo \"old=$mapred_task_is_map\"; \
         echo \"lines=$mapreduce_input_lineinputformat_linespermap\"; echo \"attempt=$mapreduce_task_attempt_id\"; \
         [ \"$PWD\" = \"$(pwd -P)\" ] && echo pwd=ok; [ -f campanile.cfg ] && echo files=ok; \
         [ -d \"$TMPDIR\" ] && echo tmp=ok",
        None,
    );
    step.files = vec![shipped.display().to_string()];
    run(&step, dir.path()).expect("job");
    let text = read(out.join("part-00000"));
    assert!(
        text.contains("fmt=org.apache.hadoop.mapred.lib.NLineInputFormat\t\n"),
        "{text}"
    );
    assert!(text.contains("old=true\t\n"), "{text}");
    assert!(text.contains("lines=1\t\n"), "{text}");
    assert!(text.contains("attempt=attempt_"), "{text}");
    assert!(text.contains("_m_000000_0\t\n"), "{text}");
    for check in ["pwd=ok", "files=ok", "tmp=ok"] {
        assert!(text.contains(check), "{check}: {text}");
    }
}

#[test]
fn reporter_lines_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"one\ntwo\n");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "cat >/dev/null; echo reporter:counter:g,c,5 >&2; echo reporter:counter:g,c,x >&2; \
         echo reporter:counter:g,c >&2; echo reporter:foo >&2; echo 'reporter:status: hi ' >&2",
        None,
    );
    let report = run(&step, dir.path()).expect("job");
    // two map tasks, 5 each; the malformed lines are ignored
    assert_eq!(report.counters[&("g".to_string(), "c".to_string())], 10);
    assert_eq!(report.counters.len(), 1);
    assert_eq!(report.status.as_deref(), Some("hi"));
}

#[test]
fn map_only_output_lines_get_a_tab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "cat >/dev/null; printf 'k\\tv\\nk\\n\\n'",
        None,
    );
    run(&step, dir.path()).expect("job");
    assert_eq!(read(out.join("part-00000")), "k\tv\nk\t\n\t\n");
    assert_eq!(read(out.join("_SUCCESS")), "");
}

#[test]
fn reducer_input_is_sorted_and_gzip_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        "cat >/dev/null; printf 'b\\t1\\na\\t2\\nb\\n'",
        Some("echo \"ismap=$mapreduce_task_ismap\"; cat"),
    );
    step.settings.compress = true;
    let report = run(&step, dir.path()).expect("job");
    assert_eq!(report.reduce_tasks, 1);
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(out.join("part-00000.gz")).expect("gz"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ismap=false\t");
    assert_eq!(lines[1], "a\t2");
    let mut rest = lines[2..].to_vec();
    rest.sort();
    assert_eq!(rest, vec!["b\t", "b\t1"]);
    assert!(!out.join("part-00000").exists());
}

#[test]
fn a_reducer_with_no_input_still_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "cat >/dev/null",
        Some("cat >/dev/null; echo ran"),
    );
    run(&step, dir.path()).expect("job");
    assert_eq!(read(out.join("part-00000")), "ran\t\n");
}

#[test]
fn a_task_that_always_fails_stops_the_job_after_max_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "cat >/dev/null; echo 'about to fail' >&2; exit 3",
        None,
    );
    let error = run(&step, dir.path()).expect_err("fails");
    let message = error.to_string();
    assert_eq!(error.exit_code(), 1);
    assert!(message.contains("test.step"), "{message}");
    assert!(message.contains("failed 4 attempt(s)"), "{message}");
    assert!(
        message.contains("subprocess failed with code 3"),
        "{message}"
    );
    assert!(message.contains("about to fail"), "{message}");
    assert!(!out.exists(), "no output, no _SUCCESS");
    let attempts = std::fs::read_dir(dir.path().join("step/attempts"))
        .expect("attempts")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(attempts, 4, "a fresh working directory per attempt");
}

/// What `attempt::TaskAttempt::is_last` reads: each attempt sees its number in its id
/// and the task's maximum under both names, so the last one can tell it is the last.
#[test]
fn each_attempt_sees_its_number_and_the_maximum_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        "cat >/dev/null; n=${mapreduce_task_attempt_id##*_}; \
         [ $((n + 1)) -eq \"$mapreduce_map_maxattempts\" ] || exit 1; \
         echo \"last $n of $mapred_map_max_attempts\"",
        None,
    );
    step.settings.map_attempts = 3;
    let report = run(&step, dir.path()).expect("the last attempt succeeds");
    assert_eq!(report.failed_attempts, 2);
    assert_eq!(read(out.join("part-00000")), "last 2 of 3\t\n");
}

#[test]
fn a_task_that_fails_once_is_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\ny\n");
    let out = dir.path().join("out");
    let step = step(
        &input,
        &out,
        "case \"$mapreduce_task_attempt_id\" in *_0) exit 1;; esac; cut -f2",
        None,
    );
    let report = run(&step, dir.path()).expect("job succeeds");
    assert_eq!(report.failed_attempts, 2);
    let mut lines = vec![read(out.join("part-00000")), read(out.join("part-00001"))];
    lines.sort();
    assert_eq!(lines, vec!["x\t\n", "y\t\n"]);
}

#[test]
fn a_silent_task_is_killed_after_the_timeout_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        // The first attempt hangs (its child sleep keeps the pipes open too); the
        // second one answers at once.
        "case \"$mapreduce_task_attempt_id\" in *_0) sleep 600;; esac; cat >/dev/null; echo done",
        None,
    );
    step.settings.timeout = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    let report = run(&step, dir.path()).expect("job succeeds on the second attempt");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(report.failed_attempts, 1);
    assert_eq!(read(out.join("part-00000")), "done\t\n");
}

#[test]
fn an_interrupt_kills_every_running_task_and_starts_no_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Eight tasks on four workers: each writes a spool file, starts a child in its
    // group, and hangs.
    let lines: String = (0..8).map(|i| format!("{i}\n")).collect();
    let input = input_file(dir.path(), lines.as_bytes());
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        "echo spooled > \"$TMPDIR/spool\"; touch \"$PWD/started\"; sleep 600 & sleep 600",
        None,
    );
    step.settings.lines_per_map = 1;
    let settings = settings();
    let interrupt = settings.interrupt.clone();
    let attempts = dir.path().join("step/attempts");
    let raiser = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let running = || {
            std::fs::read_dir(&attempts)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.path().join("started").exists())
                        .count()
                })
                .unwrap_or(0)
        };
        while running() < 4 && started.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        interrupt.raise(crate::interrupt::SIGTERM);
        std::time::Instant::now()
    });
    let error = run_job(&step.job(), &dir.path().join("step"), &settings, &|_| {})
        .expect_err("interrupted");
    let raised = raiser.join().expect("raiser");
    assert!(raised.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(error.exit_code(), 143, "{error}");
    let attempts: Vec<PathBuf> = std::fs::read_dir(dir.path().join("step/attempts"))
        .expect("attempts")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(attempts.len(), 4, "no task started after the interrupt");
    for attempt in &attempts {
        assert!(
            !attempt.join("tmp").exists(),
            "spool of {attempt:?} removed"
        );
    }
    let left = crate::rsync::unfinished::stop_tasks_under(dir.path()).expect("scan");
    assert_eq!(left, 0, "every task and its children were killed");
    assert!(!out.exists(), "nothing committed");
}

#[test]
fn an_existing_output_directory_is_refused_before_any_task_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let step = step(&input, &out, "cat", None);
    let error = run(&step, dir.path()).expect_err("refused");
    assert_eq!(error.exit_code(), 4);
    assert!(error.to_string().contains("already exists"));
    assert!(!dir.path().join("step/attempts").exists(), "no task ran");
}

#[test]
fn reducer_input_larger_than_the_sort_memory_is_sorted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: String = (0..50).map(|i| format!("{i}\n")).collect();
    let input = input_file(dir.path(), lines.as_bytes());
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        // each map emits 40 keys derived from its line
        "cut -f2 | while read -r n; do i=0; while [ $i -lt 40 ]; do \
         printf 'k%05d\\t%s\\n' $(( (n * 40 + i) * 7919 % 2000 )) $n; i=$((i+1)); done; done",
        Some("cat"),
    );
    step.settings.lines_per_map = 5;
    let settings = LocalSettings {
        parallel: 4,
        sort_memory: 2048,
        ..Default::default()
    };
    run_job(&step.job(), &dir.path().join("step"), &settings, &|_| {}).expect("job");
    // Runs are numbered as written; merge passes remove the runs they merged, so the
    // highest number left counts the runs spilled.
    let runs = std::fs::read_dir(dir.path().join("step/shuffle/partition-00000"))
        .expect("runs")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_string_lossy().to_string();
            name.strip_prefix("run-")?.parse::<usize>().ok()
        })
        .max()
        .map_or(0, |highest| highest + 1);
    assert!(runs > 5, "spilled {runs} runs");
    let text = read(out.join("part-00000"));
    let keys: Vec<&str> = text.lines().map(|l| &l[..6]).collect();
    assert_eq!(keys.len(), 2000);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn splits_grow_only_past_two_waves_of_tasks() {
    use super::job::local_lines_per_map;
    // The article's list step: 17 lines, one per map; 8 slots take them in 3 waves,
    // so the splits grow to 2 lines (9 tasks).
    assert_eq!(local_lines_per_map(1, 16, 8), 1);
    assert_eq!(local_lines_per_map(1, 17, 8), 2);
    // 10,000 objects at 10 per copy task would be 1,000 tasks: on 2 slots, 4 of 2,500.
    assert_eq!(local_lines_per_map(10, 10_000, 2), 2_500);
    assert_eq!(local_lines_per_map(10, 40, 2), 10);
    assert_eq!(local_lines_per_map(0, 0, 0), 1);
}

#[test]
fn a_long_input_is_cut_once_at_this_machines_size() {
    // 100,000 lines at the plan's 1 line per map: counted, then cut straight into
    // 2 waves of 4 tasks, never into 100,000 plan-sized splits first.
    let dir = tempfile::tempdir().expect("tempdir");
    let text: String = (0..100_000).map(|i| format!("{i}\n")).collect();
    let input = input_file(dir.path(), text.as_bytes());
    let output = dir.path().join("out");
    let step = step(&input, &output, "wc -l", None);
    let report = run(&step, dir.path()).expect("job");
    assert_eq!(report.map_tasks, 8);
    let mut counted = 0;
    for index in 0..8 {
        let part = read(output.join(format!("part-{index:05}")));
        counted += part.trim().parse::<u64>().expect("a count");
    }
    assert_eq!(counted, 100_000);
}

#[test]
fn cmdenv_entries_reach_every_task_after_the_job_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = input_file(dir.path(), b"x\n");
    let out = dir.path().join("out");
    let mut step = step(
        &input,
        &out,
        "cat >/dev/null; echo \"memory=$CAMPANILE_MAXTMPSIZE\"; echo \"reduces=$mapreduce_job_reduces\"",
        Some("cat; echo \"reducer=$CAMPANILE_MAXTMPSIZE\""),
    );
    step.env = vec![
        ("CAMPANILE_MAXTMPSIZE".into(), "12345".into()),
        // A -cmdenv entry overrides the configuration's variable of the same name.
        ("mapreduce_job_reduces".into(), "7".into()),
    ];
    run(&step, dir.path()).expect("job");
    let text = read(out.join("part-00000"));
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec!["memory=12345\t", "reducer=12345\t", "reduces=7\t"]
    );
}
