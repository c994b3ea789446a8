//! The local runner's progress display: one indicatif bar per step on stderr, with
//! objects and bytes done (out of the step's totals once an earlier step has given
//! them), the rate and the ETA. Before totals are known (the listings) it is a spinner
//! with the counts. It is drawn only when stderr is a terminal (indicatif's stderr
//! target hides itself otherwise), and never with `-q` or `--json`.
//!
//! The numbers are the tasks' counters ([`crate::reporter::counters`]): those of the
//! finished tasks plus those the running attempts have reported so far (the pool
//! sums both, [`super::StepProgress`]). [`shown`] turns one such snapshot into what is
//! displayed, so that the model is tested without a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::counters::Counters;
use crate::plan::local::{StepProgress, StepReport};
use crate::reporter::counters;

/// What a step will have done when it ends, as far as an earlier step told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Objects.
    pub objects: u64,
    /// Bytes; 0 when unknown (multipartlist's bytes are not counted).
    pub bytes: u64,
}

/// What the display shows of a step at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Objects done: listed, planned or copied (whole objects and completed uploads).
    pub objects: u64,
    /// Bytes done: listed or copied.
    pub bytes: u64,
    /// The step's totals, when known.
    pub totals: Option<Totals>,
    /// Bytes per second since the step started.
    pub bytes_per_second: f64,
    /// Objects per second since the step started.
    pub objects_per_second: f64,
    /// Time left at the rate so far: by bytes when the total bytes are known, else by
    /// objects; `None` without totals or before anything was done.
    pub eta: Option<Duration>,
}

fn sum(counters: &Counters, name: &str) -> u64 {
    let total: i64 = counters
        .iter()
        .filter(|((_, counter), _)| counter == name)
        .map(|(_, value)| *value)
        .sum();
    u64::try_from(total).unwrap_or(0)
}

/// What to show of step `step` whose counters are `counters`, `elapsed` after it
/// started. The copy step's objects are its whole objects and completed uploads, its
/// bytes those copied (`InputBytes`); the other steps' are the objects and bytes they
/// listed or planned.
pub fn shown(step: &str, counters: &Counters, totals: Option<Totals>, elapsed: Duration) -> Shown {
    let copy = step.starts_with("copy.");
    let objects = if copy {
        sum(counters, counters::OBJECTS) + sum(counters, counters::UPLOADS)
    } else {
        sum(counters, counters::OBJECTS)
    };
    let bytes = match sum(counters, counters::INPUT_BYTES) {
        0 => sum(counters, counters::BYTES),
        copied => copied,
    };
    let seconds = elapsed.as_secs_f64();
    let per_second = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let (bytes_per_second, objects_per_second) = (per_second(bytes), per_second(objects));
    let left = |total: u64, done: u64, rate: f64| {
        (rate > 0.0).then(|| Duration::from_secs_f64(total.saturating_sub(done) as f64 / rate))
    };
    let eta = totals.and_then(|t| {
        if t.bytes > 0 {
            left(t.bytes, bytes, bytes_per_second)
        } else {
            left(t.objects, objects, objects_per_second)
        }
    });
    Shown {
        objects,
        bytes,
        totals,
        bytes_per_second,
        objects_per_second,
        eta,
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Shown {
    /// The bar's text: `3/10 objects, 1.2/4.0 MB, 0.6 MB/s, ETA 5s`, or without
    /// totals `3 objects, 1.2 MB, 0.6 MB/s`.
    pub fn message(&self) -> String {
        let mut text = match self.totals {
            Some(t) if t.bytes > 0 => format!(
                "{}/{} objects, {:.1}/{}",
                self.objects,
                t.objects,
                self.bytes as f64 / 1e6,
                megabytes(t.bytes)
            ),
            Some(t) => format!("{}/{} objects", self.objects, t.objects),
            None => format!("{} objects, {}", self.objects, megabytes(self.bytes)),
        };
        if self.bytes > 0 {
            text.push_str(&format!(", {:.1} MB/s", self.bytes_per_second / 1e6));
        } else {
            text.push_str(&format!(", {:.1} objects/s", self.objects_per_second));
        }
        if let Some(eta) = self.eta {
            text.push_str(&format!(", ETA {}", compact(eta)));
        }
        text
    }

    /// The bar's length and position: bytes when their total is known, else objects.
    fn bar(&self) -> Option<(u64, u64)> {
        self.totals.map(|t| {
            if t.bytes > 0 {
                (t.bytes, self.bytes.min(t.bytes))
            } else {
                (t.objects, self.objects.min(t.objects))
            }
        })
    }
}

/// A step's name as its bar shows it: its kind (`list`, `mlist`, `copy`), so that the
/// bar fits an 80-column terminal; the step's report names it whole when it ends.
fn short_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// A duration as the ETA shows it: `42s`, `3m05s`, `2h07m`.
pub fn compact(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// Makes the draw target of each step's bar.
type MakeTarget = Box<dyn Fn() -> ProgressDrawTarget + Send + Sync>;

/// The step being shown.
struct Current {
    name: String,
    totals: Option<Totals>,
    started: Instant,
    bar: Option<ProgressBar>,
}

/// Where progress and step reports go: a bar per step on a terminal (nothing
/// otherwise), and each step's report and counters when it ends.
pub struct ProgressDisplay {
    quiet: bool,
    /// Whether bars are drawn at all (a terminal, not quiet, not `--json`).
    visible: bool,
    target: MakeTarget,
    current: Mutex<Option<Current>>,
}

impl ProgressDisplay {
    /// Bars on stderr when it is a terminal; with `quiet`, neither bars nor reports.
    pub fn stderr(quiet: bool) -> Self {
        if std::io::stderr().is_terminal() {
            ProgressDisplay::with_target(quiet, ProgressDrawTarget::stderr)
        } else {
            ProgressDisplay::with_target(quiet, ProgressDrawTarget::hidden).without_bars(true)
        }
    }

    /// Bars drawn to the targets `target` makes (tests draw into memory).
    pub fn with_target(
        quiet: bool,
        target: impl Fn() -> ProgressDrawTarget + Send + Sync + 'static,
    ) -> Self {
        ProgressDisplay {
            quiet,
            visible: !quiet,
            target: Box::new(target),
            current: Mutex::new(None),
        }
    }

    /// Whether bars are drawn: a runner need not work out totals otherwise.
    pub fn visible(&self) -> bool {
        self.visible
    }

    /// No bars (`--json`: stderr stays plain lines), reports as before.
    pub fn without_bars(self, hide: bool) -> Self {
        if !hide {
            return self;
        }
        ProgressDisplay {
            visible: false,
            target: Box::new(ProgressDrawTarget::hidden),
            ..self
        }
    }

    /// A step starts; `totals` are what it will have done, when known.
    pub fn begin(&self, name: &str, totals: Option<Totals>) {
        if let Ok(mut current) = self.current.lock() {
            if let Some(bar) = current.take().and_then(|c| c.bar) {
                bar.abandon();
            }
            *current = Some(Current {
                name: name.to_string(),
                totals,
                started: Instant::now(),
                bar: None,
            });
        }
    }

    /// Shows `progress` of the step that [`ProgressDisplay::begin`] started.
    pub fn show(&self, name: &str, progress: &StepProgress) {
        if !self.visible {
            return;
        }
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if current.as_ref().is_none_or(|c| c.name != name) {
            *current = Some(Current {
                name: name.to_string(),
                totals: None,
                started: Instant::now(),
                bar: None,
            });
        }
        let Some(current) = current.as_mut() else {
            return;
        };
        let state = shown(
            name,
            &progress.counters,
            current.totals,
            current.started.elapsed(),
        );
        let bar = current.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, (self.target)());
            let style = if state.totals.is_some() {
                ProgressStyle::with_template("{prefix} [{bar:16}] {wide_msg}")
            } else {
                ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
            };
            if let Ok(style) = style {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        bar.set_prefix(format!(
            "{} {} {}/{}",
            short_name(name),
            progress.phase,
            progress.done,
            progress.total
        ));
        if let Some((length, position)) = state.bar() {
            bar.set_length(length);
            bar.set_position(position);
        } else {
            bar.tick();
        }
        bar.set_message(state.message());
    }

    /// Ends the step's bar, leaving its last state on the terminal (not filled up:
    /// a step that failed shows how far it got).
    pub fn end_line(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some(bar) = current.take().and_then(|c| c.bar)
        {
            bar.abandon();
        }
    }

    /// Prints a finished step's report and counters.
    pub fn report(&self, report: &StepReport) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "step {}: {} map tasks, {} reduce tasks, {} failed attempts, {:.1} s",
            report.name,
            report.map_tasks,
            report.reduce_tasks,
            report.failed_attempts,
            report.seconds
        );
        let _ = crate::counters::write_table(&mut err, &report.counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(values: &[(&str, &str, i64)]) -> Counters {
        values
            .iter()
            .map(|(g, c, v)| ((g.to_string(), c.to_string()), *v))
            .collect()
    }

    #[test]
    fn a_listing_shows_counts_and_a_rate_but_no_eta() {
        let listed = counters(&[("src", "Objects", 40), ("src", "Bytes", 8_000_000)]);
        let state = shown("list.src.part.all", &listed, None, Duration::from_secs(4));
        assert_eq!((state.objects, state.bytes), (40, 8_000_000));
        assert_eq!(state.bytes_per_second, 2_000_000.0);
        assert_eq!(state.objects_per_second, 10.0);
        assert_eq!(state.eta, None);
        assert_eq!(state.message(), "40 objects, 8.0 MB, 2.0 MB/s");
    }

    #[test]
    fn the_copy_counts_completed_uploads_and_copied_bytes_and_has_an_eta() {
        let copying = counters(&[
            ("src", "OutputBytes", 3_000_000),
            ("dst", "InputBytes", 3_000_000),
            ("dst", "Objects", 2),
            ("dst", "Parts", 5),
            ("dst", "Uploads", 1),
        ]);
        let totals = Totals {
            objects: 10,
            bytes: 12_000_000,
        };
        let state = shown(
            "copy.src.part.all",
            &copying,
            Some(totals),
            Duration::from_secs(3),
        );
        assert_eq!((state.objects, state.bytes), (3, 3_000_000));
        // 9 MB left at 1 MB/s.
        assert_eq!(state.eta, Some(Duration::from_secs(9)));
        assert_eq!(state.bar(), Some((12_000_000, 3_000_000)));
        assert_eq!(
            state.message(),
            "3/10 objects, 3.0/12.0 MB, 1.0 MB/s, ETA 9s"
        );
    }

    #[test]
    fn without_total_bytes_the_eta_goes_by_objects() {
        let planned = counters(&[("src", "Objects", 25), ("dst", "Uploads", 5)]);
        let totals = Totals {
            objects: 100,
            bytes: 0,
        };
        let state = shown(
            "mlist.src.part.all",
            &planned,
            Some(totals),
            Duration::from_secs(5),
        );
        // multipartlist's Uploads are not more objects.
        assert_eq!(state.objects, 25);
        assert_eq!(state.eta, Some(Duration::from_secs(15)));
        assert_eq!(state.bar(), Some((100, 25)));
        // Nothing done yet: no rate, so no ETA.
        let state = shown("copy.s.p", &Counters::new(), Some(totals), Duration::ZERO);
        assert_eq!(state.eta, None);
        assert_eq!(state.objects_per_second, 0.0);
    }

    #[test]
    fn the_bar_draws_the_totals_and_an_eta_into_a_terminal() {
        let term = indicatif::InMemoryTerm::new(4, 120);
        let drawn = term.clone();
        let display = ProgressDisplay::with_target(false, move || {
            ProgressDrawTarget::term_like(Box::new(drawn.clone()))
        });
        display.begin(
            "copy.src.part.all",
            Some(Totals {
                objects: 4,
                bytes: 4_000_000,
            }),
        );
        std::thread::sleep(Duration::from_millis(50));
        let progress = StepProgress {
            phase: "map",
            done: 1,
            total: 2,
            counters: counters(&[("dst", "InputBytes", 2_000_000), ("dst", "Objects", 2)]),
        };
        display.show("copy.src.part.all", &progress);
        display.end_line();
        let screen = term.contents();
        assert!(screen.contains("copy map 1/2 ["), "{screen}");
        assert!(screen.contains("2/4 objects, 2.0/4.0 MB"), "{screen}");
        assert!(screen.contains("ETA "), "{screen}");
        assert!(
            screen.contains("[========>       ]"),
            "half the bar: {screen}"
        );
    }

    #[test]
    fn a_bar_names_its_step_by_kind_and_etas_are_short() {
        assert_eq!(short_name("copy.src.part.all"), "copy");
        assert_eq!(short_name("plain"), "plain");
        assert_eq!(compact(Duration::from_secs(42)), "42s");
        assert_eq!(compact(Duration::from_secs(185)), "3m05s");
        assert_eq!(compact(Duration::from_secs(7620)), "2h07m");
    }

    #[test]
    fn quiet_and_json_draw_nothing() {
        let term = indicatif::InMemoryTerm::new(4, 120);
        for display in [
            ProgressDisplay::with_target(true, {
                let drawn = term.clone();
                move || ProgressDrawTarget::term_like(Box::new(drawn.clone()))
            }),
            ProgressDisplay::with_target(false, {
                let drawn = term.clone();
                move || ProgressDrawTarget::term_like(Box::new(drawn.clone()))
            })
            .without_bars(true),
        ] {
            display.begin("list.src.part.all", None);
            display.show(
                "list.src.part.all",
                &StepProgress {
                    phase: "map",
                    done: 0,
                    total: 1,
                    counters: counters(&[("src", "Objects", 3)]),
                },
            );
            display.end_line();
        }
        assert_eq!(term.contents().trim(), "");
    }
}
