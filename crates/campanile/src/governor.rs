//! The request-rate governor: S3 serves at least 3,500 writes (PUT, COPY, POST,
//! DELETE) and 5,500 reads (GET, HEAD) per second per partitioned prefix, and answers
//! `503 SlowDown` above what a prefix can take while it repartitions. The SDK retries
//! a 503 with backoff, but every task of a run keeps sending at full rate, so a
//! sustained SlowDown used to empty the retry budget and fail the task.
//!
//! Every HTTP request of a client passes through [`GovernedHttpClient`] (retries
//! included): it waits for the next slot of its key prefix and class (read or write)
//! before it is sent, and a 503 answer halves that prefix's rate (multiplicative
//! decrease, at most once per [`DECREASE_COOLDOWN`], so a burst of answers to requests
//! that were already in flight counts once); from a second after the last decrease,
//! every second adds a two-hundredth of the budget back (additive increase), up to the
//! budget: from half to full in 100 s, as S3 itself scales gradually. The budgets are
//! a task's share of the run's: the plan divides the run's per-prefix budget by the
//! tasks that run at once, so a local run's tasks or a cluster's share it.
//!
//! A cluster's task starts each pace slowly: at an eighth of the budget, doubling every
//! second until the first 503 or the budget (slow start), so a thousand tasks starting
//! together do not open at full rate. The tasks of a local run (a few, one machine)
//! share what they learn instead: with [`STATE_ENV`] naming a file (the local runner
//! sets it in the run directory), each decrease is written there, a new pace starts
//! from the rate found there (or at the full share when there is none; or, when only
//! the prefix's other class is found there, at that class's fraction of its budget: a
//! prefix answering SlowDown is hot for both), and a running pace adopts a lower rate
//! another task wrote (read at most once a second).
//!
//! The prefix is what the client can see of S3's partitioning: the bucket and the
//! key's first `/`-separated segment (at most [`PREFIX_BYTES`] bytes of it). Flat key
//! spaces fall into one prefix per bucket, which is the conservative choice: S3 splits
//! a hot prefix on its own and the additive increase finds the new capacity.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Bytes of a key's first segment that name its prefix.
pub const PREFIX_BYTES: usize = 64;

/// Shortest time between two decreases of one prefix's rate.
pub const DECREASE_COOLDOWN: Duration = Duration::from_millis(500);

/// How long after a decrease the rate is held before it climbs again.
pub const INCREASE_HOLD: Duration = Duration::from_secs(1);

/// Share of the budget the additive increase adds back per second.
const INCREASE_SHARE: f64 = 1.0 / 200.0;

/// Lowest rate a prefix is slowed to, in requests per second.
pub const MIN_RATE: f64 = 1.0;

/// Prefixes remembered at most; idle ones are forgotten first.
const MAX_PREFIXES: usize = 4096;

/// The environment variable naming the file the tasks of a run share their rates in.
pub const STATE_ENV: &str = "CAMPANILE_GOVERNOR_STATE";

/// A fresh pace starts at this share of the budget (slow start).
const SLOW_START_SHARE: f64 = 1.0 / 8.0;

/// Shared rates older than this are ignored: S3 has repartitioned or the load moved.
const SHARED_STATE_TTL: Duration = Duration::from_secs(120);

/// How often a running governor reads the shared state at most.
const SHARED_STATE_POLL: Duration = Duration::from_secs(1);

/// Requests per second per key prefix, by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestBudget {
    /// GET and HEAD requests per second.
    pub reads: u32,
    /// PUT, POST and DELETE requests per second.
    pub writes: u32,
}

impl RequestBudget {
    /// S3's documented rates per partitioned prefix.
    pub const S3: RequestBudget = RequestBudget {
        reads: 5_500,
        writes: 3_500,
    };

    /// One task's share when `tasks` run at once: the budget divided among them, at
    /// least one request per second each.
    pub fn share(self, tasks: usize) -> RequestBudget {
        let tasks = u32::try_from(tasks.max(1)).unwrap_or(u32::MAX);
        RequestBudget {
            reads: (self.reads / tasks).max(1),
            writes: (self.writes / tasks).max(1),
        }
    }

    fn of(self, class: RequestClass) -> f64 {
        f64::from(match class {
            RequestClass::Read => self.reads,
            RequestClass::Write => self.writes,
        })
        .max(MIN_RATE)
    }
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget::S3
    }
}

/// Reads and writes have separate budgets at S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// GET, HEAD.
    Read,
    /// PUT, POST, DELETE (and anything else).
    Write,
}

impl RequestClass {
    /// The other class.
    pub fn other(self) -> RequestClass {
        match self {
            RequestClass::Read => RequestClass::Write,
            RequestClass::Write => RequestClass::Read,
        }
    }

    /// The class of an HTTP method.
    pub fn of_method(method: &str) -> RequestClass {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            RequestClass::Read
        } else {
            RequestClass::Write
        }
    }
}

/// The pace of one prefix and class.
#[derive(Debug, Clone)]
struct Pace {
    /// Current rate, requests per second.
    rate: f64,
    /// When the next request may start.
    next_slot: Instant,
    /// Last time the rate was raised or lowered.
    updated: Instant,
    /// Last decrease, for the cooldown.
    last_decrease: Option<Instant>,
    /// In slow start: the rate doubles every second until the first decrease.
    slow_start: bool,
    /// Time (Unix ms) of the newest shared decrease this pace has taken into account.
    shared_seen: u128,
}

/// Paces the requests of one process, per key prefix and class.
pub struct Governor {
    budget: RequestBudget,
    paces: Mutex<HashMap<(String, RequestClass), Pace>>,
    shared: Option<SharedState>,
}

/// Shared decreases by prefix and class: the rate and when it was written (Unix ms).
type SharedEntries = HashMap<(String, RequestClass), (f64, u128)>;

/// The file the tasks of a run share their decreased rates in: one line per prefix
/// and class, `read|write<TAB>rate<TAB>unix milliseconds<TAB>prefix`. It is advice:
/// a lost or torn update only means a task learns a 503 for itself.
#[derive(Debug)]
struct SharedState {
    path: std::path::PathBuf,
    /// The entries as last read, and when.
    cache: Mutex<(Option<Instant>, SharedEntries)>,
}

impl SharedState {
    fn read(&self) -> SharedEntries {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return HashMap::new();
        };
        let now = unix_millis();
        text.lines()
            .filter_map(|line| {
                let mut fields = line.splitn(4, '\t');
                let class = match fields.next()? {
                    "read" => RequestClass::Read,
                    "write" => RequestClass::Write,
                    _ => return None,
                };
                let rate: f64 = fields.next()?.parse().ok()?;
                let at: u128 = fields.next()?.parse().ok()?;
                let prefix = fields.next()?.to_string();
                (rate.is_finite()
                    && rate > 0.0
                    && now.saturating_sub(at) < SHARED_STATE_TTL.as_millis())
                .then_some(((prefix, class), (rate, at)))
            })
            .collect()
    }

    /// The shared entries, read again when the last read is older than the poll period.
    fn entries(&self, now: Instant) -> SharedEntries {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache
            .0
            .is_none_or(|at| now.saturating_duration_since(at) >= SHARED_STATE_POLL)
        {
            *cache = (Some(now), self.read());
        }
        cache.1.clone()
    }

    /// Records a decrease: the file's entries plus this one, written whole and renamed
    /// into place so a reader never sees half a file.
    /// Returns the time it recorded (Unix ms).
    fn record(&self, prefix: &str, class: RequestClass, rate: f64) -> u128 {
        let mut entries = self.read();
        let now = unix_millis();
        entries.insert((prefix.to_string(), class), (rate, now));
        let text: String = entries
            .iter()
            .map(|((prefix, class), (rate, at))| {
                let class = match class {
                    RequestClass::Read => "read",
                    RequestClass::Write => "write",
                };
                format!("{class}\t{rate}\t{at}\t{prefix}\n")
            })
            .collect();
        let temporary = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        // Advice only: a failed write leaves the other tasks to learn for themselves.
        if std::fs::write(&temporary, text).is_ok() {
            let _ = std::fs::rename(&temporary, &self.path);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.0 = None;
        now
    }
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

impl fmt::Debug for Governor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Governor")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Governor {
    /// A governor with these budgets per prefix.
    pub fn new(budget: RequestBudget) -> Governor {
        Governor {
            budget,
            paces: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// This governor sharing its decreases with the other processes that use `path`.
    pub fn sharing(self, path: impl Into<std::path::PathBuf>) -> Governor {
        Governor {
            shared: Some(SharedState {
                path: path.into(),
                cache: Mutex::new((None, HashMap::new())),
            }),
            ..self
        }
    }

    /// The governor every client of this process with this budget shares, so that the
    /// source and destination clients of a task (or two clients of one bucket) draw on
    /// one pace per prefix.
    pub fn for_process(budget: RequestBudget) -> Arc<Governor> {
        static GOVERNORS: OnceLock<Mutex<HashMap<RequestBudget, Arc<Governor>>>> = OnceLock::new();
        let mut governors = GOVERNORS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        governors
            .entry(budget)
            .or_insert_with(|| {
                let governor = Governor::new(budget);
                Arc::new(match std::env::var_os(STATE_ENV) {
                    Some(path) if !path.is_empty() => governor.sharing(path),
                    _ => governor,
                })
            })
            .clone()
    }

    /// The budget per prefix.
    pub fn budget(&self) -> RequestBudget {
        self.budget
    }

    fn paces(&self) -> std::sync::MutexGuard<'_, HashMap<(String, RequestClass), Pace>> {
        self.paces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next slot of `prefix`/`class` at `now` and says how long to wait
    /// for it.
    pub fn reserve(&self, prefix: &str, class: RequestClass, now: Instant) -> Duration {
        let max = self.budget.of(class);
        let shared = self.shared.as_ref().map(|state| state.entries(now));
        let learned = shared
            .as_ref()
            .and_then(|entries| entries.get(&(prefix.to_string(), class)))
            .map(|(rate, at)| (rate.clamp(MIN_RATE, max), *at));
        // A prefix that told another task to slow down on the other class is hot: a
        // fresh pace of this class starts at the same fraction of its budget, not at
        // the full budget (a retried attempt's HEADs would otherwise burst into it).
        let hot = shared.as_ref().and_then(|entries| {
            let other = class.other();
            entries
                .get(&(prefix.to_string(), other))
                .map(|(rate, _)| (rate / self.budget.of(other) * max).clamp(MIN_RATE, max))
        });
        let mut paces = self.paces();
        if paces.len() >= MAX_PREFIXES && !paces.contains_key(&(prefix.to_string(), class)) {
            forget_idle(&mut paces, now);
        }
        let pace = paces
            .entry((prefix.to_string(), class))
            .or_insert_with(|| Pace {
                // What another task learned, or a slow start.
                // What another task learned; else, alone (a cluster's task), a slow
                // start; with tasks sharing (a local run: few tasks), the full share.
                rate: match learned {
                    Some((rate, _)) => rate,
                    None if self.shared.is_some() => hot.unwrap_or(max),
                    None => (max * SLOW_START_SHARE).max(MIN_RATE),
                },
                next_slot: now,
                updated: now,
                last_decrease: None,
                slow_start: learned.is_none() && self.shared.is_none(),
                shared_seen: learned.map_or(0, |(_, at)| at),
            });
        let elapsed = now.saturating_duration_since(pace.updated).as_secs_f64();
        pace.rate = if pace.slow_start {
            pace.rate * 2f64.powf(elapsed)
        } else if pace
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < INCREASE_HOLD)
        {
            // Held: the answers to the requests sent at the old rate are still coming.
            pace.rate
        } else {
            // Additive increase.
            pace.rate + elapsed * (max * INCREASE_SHARE).max(MIN_RATE)
        }
        .min(max);
        if let Some((rate, at)) = learned
            && at > pace.shared_seen
        {
            // Another task was told to slow down on this prefix since we last looked.
            pace.shared_seen = at;
            if rate < pace.rate {
                pace.rate = rate;
                pace.slow_start = false;
            }
        }
        pace.updated = now;
        let start = pace.next_slot.max(now);
        pace.next_slot = start + Duration::from_secs_f64(1.0 / pace.rate);
        start - now
    }

    /// The server answered 503 at `now` to a request of `prefix`/`class` sent at
    /// `sent`: halve the rate, once per window. Answers to requests sent before the last
    /// decrease (in flight at the old rate) do not count again, nor does a second 503
    /// within [`DECREASE_COOLDOWN`].
    pub fn slow_down(&self, prefix: &str, class: RequestClass, sent: Instant, now: Instant) {
        let mut paces = self.paces();
        let Some(pace) = paces.get_mut(&(prefix.to_string(), class)) else {
            return;
        };
        if pace
            .last_decrease
            .is_some_and(|at| sent < at || now.saturating_duration_since(at) < DECREASE_COOLDOWN)
        {
            return;
        }
        pace.rate = (pace.rate / 2.0).max(MIN_RATE);
        pace.updated = now;
        pace.last_decrease = Some(now);
        pace.slow_start = false;
        // Requests already given later slots keep them; the next ones follow the new pace.
        pace.next_slot = pace.next_slot.max(now) + Duration::from_secs_f64(1.0 / pace.rate);
        let rate = pace.rate;
        if let Some(shared) = &self.shared {
            pace.shared_seen = shared.record(prefix, class, rate);
        }
    }

    /// The current rate of `prefix`/`class` (the budget when it was never used).
    pub fn rate(&self, prefix: &str, class: RequestClass) -> f64 {
        self.paces()
            .get(&(prefix.to_string(), class))
            .map_or(self.budget.of(class), |pace| pace.rate)
    }
}

fn forget_idle(paces: &mut HashMap<(String, RequestClass), Pace>, now: Instant) {
    paces.retain(|_, pace| now.saturating_duration_since(pace.next_slot) < Duration::from_secs(10));
    if paces.len() >= MAX_PREFIXES {
        paces.clear();
    }
}

/// The governor's prefix of a request URI: the bucket (from the path with path-style
/// addressing, from the host otherwise) and the key's first segment.
pub fn prefix_of(uri: &str, path_style: bool) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut prefix = authority.to_string();
    let key = if path_style {
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        prefix.push('/');
        prefix.push_str(bucket);
        key
    } else {
        path
    };
    // Only a segment that ends in `/` is a folder: a key without one (a flat key
    // space) belongs to the bucket's prefix, not to a prefix of its own.
    if let Some((segment, _)) = key.split_once('/') {
        prefix.push('/');
        prefix.push_str(truncate(segment, PREFIX_BYTES));
    }
    prefix
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Wraps an SDK HTTP client so that every request waits for its slot (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct GovernedHttpClient {
    inner: SharedHttpClient,
    governor: Arc<Governor>,
    path_style: bool,
}

impl GovernedHttpClient {
    /// Paces `inner`'s requests with `governor`; `path_style` says where the bucket is
    /// in the URI.
    pub fn new(inner: SharedHttpClient, governor: Arc<Governor>, path_style: bool) -> Self {
        GovernedHttpClient {
            inner,
            governor,
            path_style,
        }
    }
}

impl HttpClient for GovernedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GovernedConnector {
            inner: self.inner.http_connector(settings, components),
            governor: self.governor.clone(),
            path_style: self.path_style,
        })
    }
}

#[derive(Debug)]
struct GovernedConnector {
    inner: SharedHttpConnector,
    governor: Arc<Governor>,
    path_style: bool,
}

impl HttpConnector for GovernedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let prefix = prefix_of(request.uri(), self.path_style);
        let class = RequestClass::of_method(request.method());
        let governor = self.governor.clone();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let wait = governor.reserve(&prefix, class, Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let sent = Instant::now();
            let response = inner.call(request).await?;
            if response.status().as_u16() == 503 {
                governor.slow_down(&prefix, class, sent, Instant::now());
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "127.0.0.1:3900/bucket/logs";

    #[test]
    fn a_fresh_prefix_starts_slowly_and_doubles_up_to_its_budget() {
        let governor = Governor::new(RequestBudget {
            reads: 800,
            writes: 80,
        });
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..3)
            .map(|_| governor.reserve(P, RequestClass::Write, t0))
            .collect();
        // An eighth of 80 per second: one every 100 ms.
        assert_eq!(waits[0], Duration::ZERO);
        assert_eq!(waits[1], Duration::from_millis(100));
        assert_eq!(waits[2], Duration::from_millis(200));
        // Reads have their own pace.
        assert_eq!(governor.reserve(P, RequestClass::Read, t0), Duration::ZERO);
        assert_eq!(
            governor.reserve(P, RequestClass::Read, t0),
            Duration::from_millis(10)
        );
        governor.reserve(P, RequestClass::Write, t0 + Duration::from_secs(1));
        assert!((governor.rate(P, RequestClass::Write) - 20.0).abs() < 1e-9);
        governor.reserve(P, RequestClass::Write, t0 + Duration::from_secs(5));
        assert_eq!(governor.rate(P, RequestClass::Write), 80.0);
    }

    #[test]
    fn slow_down_halves_once_per_cooldown_and_the_rate_climbs_back() {
        let governor = Governor::new(RequestBudget {
            reads: 1000,
            writes: 1000,
        });
        let t0 = Instant::now();
        governor.reserve(P, RequestClass::Read, t0);
        let t1 = t0 + Duration::from_secs(4);
        governor.reserve(P, RequestClass::Read, t1);
        assert_eq!(governor.rate(P, RequestClass::Read), 1000.0);
        governor.slow_down(P, RequestClass::Read, t1, t1);
        let t2 = t1 + Duration::from_millis(100);
        governor.slow_down(P, RequestClass::Read, t2, t2);
        assert_eq!(governor.rate(P, RequestClass::Read), 500.0);
        // A request sent before the decrease, answered after the cooldown: already
        // counted.
        let t3 = t1 + DECREASE_COOLDOWN;
        governor.slow_down(P, RequestClass::Read, t0, t3);
        assert_eq!(governor.rate(P, RequestClass::Read), 500.0);
        governor.slow_down(P, RequestClass::Read, t3, t3);
        assert_eq!(governor.rate(P, RequestClass::Read), 250.0);
        // Held for a second after the decrease…
        governor.reserve(P, RequestClass::Read, t3 + INCREASE_HOLD / 2);
        assert_eq!(governor.rate(P, RequestClass::Read), 250.0);
        // …then ten quiet seconds add ten two-hundredths of the budget back (no more
        // slow start).
        governor.reserve(
            P,
            RequestClass::Read,
            t3 + INCREASE_HOLD / 2 + Duration::from_secs(10),
        );
        assert!((governor.rate(P, RequestClass::Read) - 300.0).abs() < 1e-6);
        // Never above the budget, never below the floor.
        governor.reserve(P, RequestClass::Read, t1 + Duration::from_secs(1000));
        assert_eq!(governor.rate(P, RequestClass::Read), 1000.0);
        let other = "host/b/x";
        governor.reserve(other, RequestClass::Write, t0);
        for i in 0..40 {
            let at = t0 + DECREASE_COOLDOWN * i;
            governor.slow_down(other, RequestClass::Write, at, at);
        }
        assert_eq!(governor.rate(other, RequestClass::Write), MIN_RATE);
    }

    #[test]
    fn the_tasks_of_a_run_share_what_they_learn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("governor.state");
        let budget = RequestBudget {
            reads: 800,
            writes: 800,
        };
        let first = Governor::new(budget).sharing(&path);
        let second = Governor::new(budget).sharing(&path);
        let t0 = Instant::now();
        first.reserve(P, RequestClass::Read, t0);
        second.reserve(P, RequestClass::Read, t0);
        let later = t0 + Duration::from_secs(10);
        first.reserve(P, RequestClass::Read, later);
        assert_eq!(first.rate(P, RequestClass::Read), 800.0);
        first.slow_down(P, RequestClass::Read, later, later);
        assert_eq!(first.rate(P, RequestClass::Read), 400.0);
        // A running pace adopts the lower rate once it reads the file again…
        second.reserve(P, RequestClass::Read, later + SHARED_STATE_POLL);
        assert_eq!(second.rate(P, RequestClass::Read), 400.0);
        // …once: its own additive increase is not pulled back by the same entry.
        let much_later = later + SHARED_STATE_POLL * 3;
        second.reserve(P, RequestClass::Read, much_later);
        assert!(second.rate(P, RequestClass::Read) > 400.0);
        // …and a new task starts from it, not from a slow start.
        let third = Governor::new(budget).sharing(&path);
        third.reserve(P, RequestClass::Read, later);
        assert_eq!(third.rate(P, RequestClass::Read), 400.0);
        // The other class of a hot prefix starts at the same share of its budget…
        third.reserve(P, RequestClass::Write, later);
        assert_eq!(third.rate(P, RequestClass::Write), 400.0);
        // …and other prefixes are not affected.
        let other = "127.0.0.1:3900/bucket/other";
        third.reserve(other, RequestClass::Write, later);
        assert_eq!(third.rate(other, RequestClass::Write), 800.0);
        third.reserve(other, RequestClass::Read, later);
        assert_eq!(third.rate(other, RequestClass::Read), 800.0);
    }

    #[test]
    fn prefixes_name_the_bucket_and_the_first_key_segment() {
        assert_eq!(
            prefix_of(
                "http://127.0.0.1:3900/bkt/logs/2025/a.gz?x-id=GetObject",
                true
            ),
            "127.0.0.1:3900/bkt/logs"
        );
        assert_eq!(
            prefix_of(
                "https://bkt.s3.us-west-2.amazonaws.com/logs/a?partNumber=1",
                false
            ),
            "bkt.s3.us-west-2.amazonaws.com/logs"
        );
        assert_eq!(
            prefix_of("http://127.0.0.1:3900/bkt?list-type=2&prefix=a", true),
            "127.0.0.1:3900/bkt"
        );
        assert_eq!(
            prefix_of("http://127.0.0.1:3900/bkt/00", true),
            "127.0.0.1:3900/bkt"
        );
        assert_eq!(
            prefix_of("https://bkt.s3.amazonaws.com/3f2a9c?x-id=PutObject", false),
            "bkt.s3.amazonaws.com"
        );
        let long = format!("http://h/b/{}/x", "é".repeat(100));
        assert!(prefix_of(&long, true).len() <= "h/b/".len() + PREFIX_BYTES);
    }

    #[test]
    fn a_share_divides_the_budget_among_the_tasks() {
        assert_eq!(
            RequestBudget::S3.share(4),
            RequestBudget {
                reads: 1375,
                writes: 875
            }
        );
        assert_eq!(
            RequestBudget::S3.share(10_000),
            RequestBudget {
                reads: 1,
                writes: 1
            }
        );
        assert_eq!(RequestBudget::S3.share(0), RequestBudget::S3);
    }

    #[test]
    fn idle_prefixes_are_forgotten_past_the_cap() {
        let governor = Governor::new(RequestBudget::S3);
        let t0 = Instant::now();
        for i in 0..MAX_PREFIXES {
            governor.reserve(&format!("h/b/{i}"), RequestClass::Read, t0);
        }
        governor.reserve("h/b/new", RequestClass::Read, t0 + Duration::from_secs(60));
        assert!(governor.paces().len() < 10);
    }
}
