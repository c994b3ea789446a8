//! Cuts a bucket's key space into key ranges of about `target_keys` keys each.
//!
//! S3 tells no counts, only pages of up to 1,000 keys in order from any point
//! (`StartAfter`). So the generator *samples*: a probe at a point `p` is one page, the
//! 1,000 keys after `p`, which are known exactly, and the key density just after `p`.
//! Between two probes lies a gap whose number of keys is estimated from the densities
//! of the probes on both sides (the larger, so that a dense region next to a sparse one
//! is not under-counted); each gap estimated to hold more than a quarter of the target
//! gets a probe at its middle, until none does. Densities are measured with keys read
//! as numbers after the prefix the compared keys share (so that deep, hierarchical key
//! spaces are measured as finely as flat ones), each byte a digit ranked among the
//! byte values seen in keys (so that decimal or hex keys are not measured in base 256). Two kinds of probes
//! find structure that sampling at random points would miss: delimiter listings
//! (breadth first from the root, a bounded number) put a probe at every directory
//! they find, and after a page whose keys share a prefix a probe goes to the end of
//! that prefix (the next sibling), so a dense directory does not hide what follows it.
//!
//! Lines are cut at known keys only, `[previous cut, key)`, so they cover the key space
//! from the empty string to the end without gap or overlap whatever the estimates: the
//! first line has no start and the last no end. Only how even the lines are depends on
//! the estimates.

use std::collections::{BTreeMap, VecDeque};

use super::line::{PartLine, common_prefix, prefix_end};
use super::{ListRequest, Lister, PAGE_KEYS};
use crate::error::Error;

/// Keys per line when nothing else is asked.
pub const DEFAULT_TARGET_KEYS: u64 = 100_000;

/// How to cut the key space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Keys per line, about.
    pub target_keys: u64,
    /// About this many lines instead (the target is then the estimated number of keys
    /// divided by it).
    pub lines: Option<u64>,
    /// Delimiter of the hierarchy to explore (`None` or empty: flat sampling only).
    pub delimiter: Option<String>,
    /// Directory listings of the breadth-first exploration, at most.
    pub max_directory_listings: u64,
    /// Requests in all, at most (the part file is still complete when they run out:
    /// its lines are only less even).
    pub max_requests: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            target_keys: DEFAULT_TARGET_KEYS,
            lines: None,
            delimiter: Some("/".into()),
            max_directory_listings: 100,
            max_requests: 100_000,
        }
    }
}

/// A generated part file.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The lines, in key order: they cover the key space exactly once.
    pub lines: Vec<PartLine>,
    /// Estimated keys of each line.
    pub estimates: Vec<f64>,
    /// ListObjectsV2 requests made.
    pub requests: u64,
    /// Every key of the bucket was seen (the estimates are counts).
    pub exact: bool,
}

impl Generated {
    /// Estimated keys of the bucket.
    pub fn estimated_keys(&self) -> f64 {
        self.estimates.iter().sum()
    }
}

/// One page from a probe point.
#[derive(Debug)]
struct Probe {
    keys: Vec<String>,
    /// No key after the page's last one.
    complete: bool,
}

/// A stretch of the key space in order: a known key, or an unlisted gap.
enum Piece<'a> {
    Key(&'a str),
    Gap {
        estimate: f64,
        /// The last known key before the gap.
        after: &'a str,
        /// The probe point ending the gap (inclusive), `None`: the end.
        until: Option<&'a str>,
        /// A probe at the end of the directory the page before the gap is in.
        jump: Option<String>,
    },
}

struct Sampler<'a, L> {
    lister: &'a L,
    probes: BTreeMap<String, Probe>,
    /// Every byte value seen in a key so far.
    seen: [bool; 256],
    requests: u64,
    max_requests: u64,
}

impl<L: Lister> Sampler<'_, L> {
    fn budget_left(&self) -> bool {
        self.requests < self.max_requests
    }

    async fn probe(&mut self, at: String) -> Result<(), Error> {
        if self.probes.contains_key(&at) || !self.budget_left() {
            return Ok(());
        }
        let page = self
            .lister
            .list(&ListRequest {
                start_after: (!at.is_empty()).then(|| at.clone()),
                max_keys: PAGE_KEYS,
                ..Default::default()
            })
            .await?;
        self.requests += 1;
        for key in &page.keys {
            for byte in key.bytes() {
                self.seen[usize::from(byte)] = true;
            }
        }
        let complete = page.next.is_none();
        self.probes.insert(
            at,
            Probe {
                keys: page.keys,
                complete,
            },
        );
        Ok(())
    }

    /// A probe at every directory a breadth-first walk of the hierarchy finds.
    async fn explore(&mut self, delimiter: &str, max_listings: u64) -> Result<(), Error> {
        let mut queue = VecDeque::from([String::new()]);
        let mut found = Vec::new();
        let mut listings = 0;
        while let Some(prefix) = queue.pop_front() {
            if listings >= max_listings || !self.budget_left() {
                break;
            }
            let page = self
                .lister
                .list(&ListRequest {
                    prefix,
                    delimiter: Some(delimiter.to_string()),
                    max_keys: PAGE_KEYS,
                    ..Default::default()
                })
                .await?;
            listings += 1;
            self.requests += 1;
            for directory in page.prefixes {
                found.push(directory.clone());
                queue.push_back(directory);
            }
        }
        for directory in found {
            self.probe(directory).await?;
        }
        Ok(())
    }

    /// The key space in order, as known keys and estimated gaps.
    fn pieces(&self) -> Vec<Piece<'_>> {
        let probes: Vec<(&String, &Probe)> = self.probes.iter().collect();
        let scale = Scale::new(&self.seen);
        let mut pieces = Vec::new();
        for (i, (_, probe)) in probes.iter().enumerate() {
            let next = probes.get(i + 1).map(|(at, probe)| (at.as_str(), *probe));
            let until = next.map(|(at, _)| at);
            for key in &probe.keys {
                if until.is_some_and(|until| key.as_str() > until) {
                    break;
                }
                pieces.push(Piece::Key(key));
            }
            let reached = probe.complete
                || until
                    .is_some_and(|until| probe.keys.last().is_some_and(|k| k.as_str() >= until));
            let (Some(first), Some(last), false) = (probe.keys.first(), probe.keys.last(), reached)
            else {
                continue;
            };
            let directory = common_prefix(first, last);
            let jump = prefix_end(directory)
                .filter(|_| !directory.is_empty())
                .filter(|end| until.is_none_or(|until| end.as_str() < until))
                .filter(|end| end.as_str() > last.as_str());
            let estimate = if between(last, until).is_none() {
                // Nothing fits between the last key and the next probe point but that
                // point itself.
                1.0
            } else {
                gap_estimate(&scale, probe, next)
            };
            pieces.push(Piece::Gap {
                estimate,
                after: last,
                until,
                jump,
            });
        }
        pieces
    }

    /// Probes the gaps that may hold more than `threshold` keys until none does (or the
    /// request budget runs out).
    async fn refine(&mut self, threshold: f64) -> Result<(), Error> {
        loop {
            let todo: Vec<String> = self
                .pieces()
                .into_iter()
                .filter_map(|piece| match piece {
                    Piece::Gap {
                        jump: Some(jump), ..
                    } => Some(jump),
                    Piece::Gap {
                        estimate,
                        after,
                        until,
                        jump: None,
                    } if estimate > threshold => between(after, until),
                    // A gap of less than half a page most likely closes with one
                    // page from its last known key: its keys are then counted.
                    Piece::Gap {
                        estimate, after, ..
                    } if estimate <= f64::from(PAGE_KEYS) / 2.0 => Some(after.to_string()),
                    _ => None,
                })
                .collect();
            if todo.is_empty() || !self.budget_left() {
                return Ok(());
            }
            for at in todo {
                self.probe(at).await?;
            }
        }
    }
}

/// Keys between the last key of `probe` and the next probe point, estimated from the
/// density of the probes on both sides (the larger of the two).
fn gap_estimate(scale: &Scale, probe: &Probe, next: Option<(&str, &Probe)>) -> f64 {
    let (Some(first), Some(last)) = (probe.keys.first(), probe.keys.last()) else {
        return 0.0;
    };
    let intervals = probe.keys.len().saturating_sub(1) as f64;
    let Some((until, next_probe)) = next else {
        // To the end of the key space.
        let frame = 0;
        return density_times(
            intervals,
            scale.fraction(first, frame),
            scale.fraction(last, frame),
            scale.fraction(last, frame),
            1.0,
        );
    };
    let frame = common_prefix(first, until).len();
    let left = density_times(
        intervals,
        scale.fraction(first, frame),
        scale.fraction(last, frame),
        scale.fraction(last, frame),
        scale.fraction(until, frame),
    );
    let right = match (next_probe.keys.first(), next_probe.keys.last()) {
        (Some(next_first), Some(next_last)) if next_probe.keys.len() > 1 => {
            let frame = common_prefix(last, next_last).len();
            density_times(
                (next_probe.keys.len() - 1) as f64,
                scale.fraction(next_first, frame),
                scale.fraction(next_last, frame),
                scale.fraction(last, frame),
                scale.fraction(until, frame),
            )
        }
        _ => 0.0,
    };
    left.max(right)
}

/// `count` keys over `[seg_from, seg_to]`: how many over `[gap_from, gap_to]`.
fn density_times(count: f64, seg_from: f64, seg_to: f64, gap_from: f64, gap_to: f64) -> f64 {
    let segment = seg_to - seg_from;
    let gap = gap_to - gap_from;
    if segment <= 0.0 {
        // Too dense to measure at this resolution.
        return f64::INFINITY;
    }
    (count * gap / segment).max(0.0)
}

/// Keys read as numbers: each byte is a digit, ranked among the byte values seen in
/// keys (a key space of decimal digits is measured in base 11, not 256, so that the
/// bytes no key uses take no room), the end of a key ranking below every byte.
struct Scale {
    rank: [f64; 256],
    base: f64,
}

impl Scale {
    fn new(seen: &[bool; 256]) -> Self {
        let mut rank = [0.0; 256];
        let mut below = 0.0;
        for (byte, slot) in rank.iter_mut().enumerate() {
            if seen[byte] {
                below += 1.0;
                *slot = below;
            } else {
                *slot = below + 0.5;
            }
        }
        Scale {
            rank,
            base: below + 1.0,
        }
    }

    /// The key's bytes after its first `frame` bytes as a fraction in [0, 1) (the frame
    /// is the prefix the compared keys share, so that deep keys are measured finely).
    fn fraction(&self, key: &str, frame: usize) -> f64 {
        let bytes = key.as_bytes().get(frame..).unwrap_or_default();
        let mut value = 0.0;
        let mut unit = 1.0;
        for byte in bytes.iter().take(16) {
            unit /= self.base;
            value += self.rank[usize::from(*byte)] * unit;
        }
        value
    }
}

/// A string strictly between `low` and `high` (`None`: the end of the key space), near
/// the middle in byte order, if there is one.
pub fn between(low: &str, high: Option<&str>) -> Option<String> {
    let high = high.unwrap_or("\u{10FFFF}");
    if low >= high {
        return None;
    }
    let shared = common_prefix(low, high).len();
    let (a, b) = (&low.as_bytes()[shared..], &high.as_bytes()[shared..]);
    // The byte-wise mean of the two fractions, one byte longer than the longer one.
    let len = a.len().max(b.len()) + 1;
    let digit = |s: &[u8], i: usize| u32::from(s.get(i).copied().unwrap_or(0));
    let mut sum = vec![0u32; len];
    let mut carry = 0;
    for i in (0..len).rev() {
        let total = digit(a, i) + digit(b, i) + carry;
        sum[i] = total % 256;
        carry = total / 256;
    }
    let mut mean = Vec::with_capacity(len);
    let mut remainder = carry;
    for value in sum {
        let total = remainder * 256 + value;
        mean.push(u8::try_from(total / 2).unwrap_or(u8::MAX));
        remainder = total % 2;
    }
    while mean.last() == Some(&0) {
        mean.pop();
    }
    let mut bytes = high.as_bytes()[..shared].to_vec();
    bytes.extend_from_slice(&mean);
    let valid = match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_string(),
        Err(error) => String::from_utf8_lossy(&bytes[..error.valid_up_to()]).to_string(),
    };
    let low_prefix = &low[..shared];
    let next_char = low[shared..].chars().next();
    let candidates = [
        valid.clone(),
        format!("{valid}\u{80}"),
        format!("{valid}\u{800}"),
        format!("{valid}\u{10000}"),
        format!("{valid}\u{10FFFF}"),
        format!("{low}\u{10FFFF}"),
        format!(
            "{low_prefix}{}\u{10FFFF}",
            next_char.map(String::from).unwrap_or_default()
        ),
        format!("{low}\0"),
    ];
    candidates
        .into_iter()
        .find(|c| c.as_str() > low && c.as_str() < high)
}

/// Generates a part file for the bucket `lister` lists.
pub async fn generate<L: Lister>(
    lister: &L,
    options: &GenerateOptions,
) -> Result<Generated, Error> {
    let mut sampler = Sampler {
        lister,
        probes: BTreeMap::new(),
        seen: [false; 256],
        requests: 0,
        max_requests: options.max_requests.max(1),
    };
    sampler.probe(String::new()).await?;
    if let Some(delimiter) = options.delimiter.as_deref().filter(|d| !d.is_empty()) {
        sampler
            .explore(delimiter, options.max_directory_listings)
            .await?;
    }
    let mut target = options.target_keys.max(1) as f64;
    sampler.refine(target / 4.0).await?;
    if let Some(lines) = options.lines.filter(|l| *l > 0) {
        let total = total_estimate(&sampler.pieces());
        target = (total / lines as f64).ceil().max(1.0);
        sampler.refine(target / 4.0).await?;
    }
    let pieces = sampler.pieces();
    let exact = pieces.iter().all(|p| matches!(p, Piece::Key(_)));
    let mut starts: Vec<String> = Vec::new();
    let mut estimates = vec![0.0];
    for piece in &pieces {
        let current = estimates.last_mut().map_or(0.0, |e| *e);
        match piece {
            Piece::Key(key) => {
                if current > 0.0 && current + 1.0 > target {
                    starts.push(key.to_string());
                    estimates.push(1.0);
                } else if let Some(last) = estimates.last_mut() {
                    *last += 1.0;
                }
            }
            Piece::Gap { estimate, .. } => {
                if let Some(last) = estimates.last_mut() {
                    *last += estimate;
                }
            }
        }
    }
    let mut lines = Vec::with_capacity(starts.len() + 1);
    let mut start = String::new();
    for next in starts {
        lines.push(PartLine::Range {
            start: std::mem::replace(&mut start, next.clone()),
            end: Some(next),
        });
    }
    lines.push(PartLine::Range { start, end: None });
    Ok(Generated {
        lines,
        estimates,
        requests: sampler.requests,
        exact,
    })
}

fn total_estimate(pieces: &[Piece<'_>]) -> f64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Key(_) => 1.0,
            Piece::Gap { estimate, .. } => *estimate,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partfile::MemoryLister;

    #[test]
    fn between_is_strictly_between() {
        for (low, high) in [
            ("a", Some("b")),
            ("a", Some("a\u{1}")),
            ("0000", Some("ffff")),
            ("日本", Some("日本語")),
            ("logs/2026/11/30/aa", Some("logs/2026/11/30/ab")),
            ("z", None),
            ("\u{10FFFF}", None),
        ] {
            if let Some(mid) = between(low, high) {
                assert!(mid.as_str() > low, "{low:?} {high:?} {mid:?}");
                assert!(mid.as_str() < high.unwrap_or("\u{10FFFF}"), "{mid:?}");
            } else {
                assert_eq!(low, "\u{10FFFF}");
            }
        }
        assert_eq!(between("a", Some("a\0")), None);
        assert_eq!(between("0", Some("2")).as_deref(), Some("1"));
    }

    #[tokio::test]
    async fn a_small_bucket_is_cut_exactly() {
        let keys = (0..2_500).map(|i| format!("k{i:05}")).collect();
        let lister = MemoryLister::new(keys);
        let options = GenerateOptions {
            target_keys: 1_000,
            ..Default::default()
        };
        let generated = generate(&lister, &options).await.expect("generate");
        assert!(generated.exact);
        assert_eq!(generated.estimates, [1000.0, 1000.0, 500.0]);
        assert_eq!(
            generated.lines[1],
            PartLine::Range {
                start: "k01000".into(),
                end: Some("k02000".into())
            }
        );
    }
}
