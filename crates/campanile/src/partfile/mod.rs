//! Part files made for a bucket, and checked: [`generate`] cuts a bucket's key space
//! into lines of about a target number of keys each (delimiter probes find the
//! directories of a hierarchical key space, `StartAfter` probes measure how dense the
//! keys are anywhere, flat key spaces included), [`check`] names the lines of a
//! hand-written part file that overlap and the key ranges it leaves out, [`inventory`]
//! cuts the key space from an S3 Inventory report instead of the bucket, and [`line`]
//! is what one line means (shared with bucketlist).
//!
//! Every listing goes through the small [`Lister`] trait (one ListObjectsV2 page), which
//! is implemented for S3 ([`S3Lister`]) and for an in-memory key set ([`MemoryLister`]),
//! so the algorithms are tested on large and awkward key sets without a server.

pub mod check;
pub mod generate;
pub mod inventory;
pub mod line;

use std::collections::BTreeSet;

use aws_sdk_s3::types::EncodingType;

use crate::error::{Error, S3Context, S3ResultExt};
use crate::s3::{Client, url_decode};

pub use check::{CheckReport, Gap, Overlap};
pub use generate::{GenerateOptions, Generated};
pub use line::PartLine;

/// The most keys one ListObjectsV2 page holds.
pub const PAGE_KEYS: i32 = 1000;

/// One ListObjectsV2 request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// `Prefix`.
    pub prefix: String,
    /// `Delimiter` (`None`: none).
    pub delimiter: Option<String>,
    /// `StartAfter`: only keys after this one.
    pub start_after: Option<String>,
    /// `ContinuationToken` of the previous page.
    pub continuation: Option<String>,
    /// `MaxKeys` (keys and common prefixes together).
    pub max_keys: i32,
}

/// One ListObjectsV2 page: keys and common prefixes (each in order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The keys, decoded.
    pub keys: Vec<String>,
    /// The common prefixes, decoded.
    pub prefixes: Vec<String>,
    /// The continuation token when the page is truncated.
    pub next: Option<String>,
}

/// Something that answers ListObjectsV2.
// Used only with concrete types, on the caller's runtime: no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait Lister {
    /// One page.
    async fn list(&self, request: &ListRequest) -> Result<ListPage, Error>;
}

/// A bucket seen through a prefix: a [`Lister`] that answers as if the bucket held only
/// the keys starting with `prefix` (for a part file made for, or checked against, a
/// run's source prefix). A request under the prefix goes through as it is; one above it
/// is narrowed to the prefix, rolled up by its delimiter as the wider request would be;
/// any other finds nothing.
#[derive(Debug)]
pub struct PrefixLister<'a, L> {
    /// The bucket.
    pub inner: &'a L,
    /// The keys kept.
    pub prefix: &'a str,
}

impl<L: Lister> Lister for PrefixLister<'_, L> {
    async fn list(&self, request: &ListRequest) -> Result<ListPage, Error> {
        if request.prefix.starts_with(self.prefix) {
            return self.inner.list(request).await;
        }
        let Some(between) = self.prefix.strip_prefix(request.prefix.as_str()) else {
            return Ok(ListPage::default());
        };
        let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
        if let Some(d) = delimiter
            && let Some(at) = between.find(d)
        {
            // Every key under the prefix rolls up into one common prefix of the request.
            let common = format!("{}{}", request.prefix, &between[..at + d.len()]);
            let after = request.start_after.as_deref().unwrap_or("");
            if request.continuation.is_some() || after >= common.as_str() {
                return Ok(ListPage::default());
            }
            let probe = ListRequest {
                prefix: self.prefix.to_string(),
                max_keys: 1,
                ..Default::default()
            };
            let page = self.inner.list(&probe).await?;
            let any = !page.keys.is_empty() || !page.prefixes.is_empty();
            return Ok(ListPage {
                prefixes: if any { vec![common] } else { Vec::new() },
                ..Default::default()
            });
        }
        // No delimiter between the two prefixes: rolled up below the prefix as below the
        // request's (a delimiter of several characters straddling them aside).
        self.inner
            .list(&ListRequest {
                prefix: self.prefix.to_string(),
                ..request.clone()
            })
            .await
    }
}

/// A bucket in memory, listed as S3 lists (UTF-8 byte order, delimiters rolled up into
/// common prefixes, which count toward `MaxKeys`). Counts its requests.
#[derive(Debug, Default)]
pub struct MemoryLister {
    /// The keys.
    pub keys: BTreeSet<String>,
    requests: std::cell::Cell<u64>,
}

impl MemoryLister {
    /// A bucket holding `keys`.
    pub fn new(keys: BTreeSet<String>) -> Self {
        MemoryLister {
            keys,
            requests: std::cell::Cell::new(0),
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }
}

impl Lister for MemoryLister {
    async fn list(&self, request: &ListRequest) -> Result<ListPage, Error> {
        use std::ops::Bound;
        self.requests.set(self.requests.get() + 1);
        // The continuation token is the last entry returned (a key or a common prefix:
        // a common prefix skips every key under it).
        let after = match (&request.continuation, &request.start_after) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(start)) => Some(start.clone()),
            (None, None) => None,
        };
        let lower = match &after {
            Some(after) if after.as_str() >= request.prefix.as_str() => {
                Bound::Excluded(after.clone())
            }
            _ => Bound::Included(request.prefix.clone()),
        };
        let limit = usize::try_from(request.max_keys.max(1)).unwrap_or(1);
        let mut page = ListPage::default();
        let mut count = 0;
        // The last entry returned, a key or a common prefix: the continuation token.
        let mut last: Option<String> = None;
        for key in self.keys.range((lower, Bound::Unbounded)) {
            let Some(rest) = key.strip_prefix(request.prefix.as_str()) else {
                break;
            };
            let rolled = request
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| {
                    rest.find(d)
                        .map(|i| key[..request.prefix.len() + i + d.len()].to_string())
                });
            if let Some(common) = &rolled
                && (last.as_ref() == Some(common) || request.continuation.as_ref() == Some(common))
            {
                continue;
            }
            if count == limit {
                page.next = last;
                return Ok(page);
            }
            count += 1;
            match rolled {
                Some(common) => {
                    last = Some(common.clone());
                    page.prefixes.push(common);
                }
                None => {
                    last = Some(key.clone());
                    page.keys.push(key.clone());
                }
            }
        }
        Ok(page)
    }
}

/// A bucket on S3, listed with `EncodingType=url` (keys of any characters survive).
#[derive(Debug, Clone)]
pub struct S3Lister<'a> {
    /// The client.
    pub client: &'a Client,
    /// The bucket.
    pub bucket: &'a str,
}

impl Lister for S3Lister<'_> {
    async fn list(&self, request: &ListRequest) -> Result<ListPage, Error> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(&request.prefix)
            .encoding_type(EncodingType::Url)
            .set_delimiter(request.delimiter.clone().filter(|d| !d.is_empty()))
            .set_start_after(request.start_after.clone())
            .set_continuation_token(request.continuation.clone())
            .max_keys(request.max_keys)
            .send()
            .await
            .context("ListObjectsV2", self.bucket, &request.prefix)?;
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        let decode = |raw: &str| -> Result<String, Error> {
            if encoded {
                url_decode(raw).map_err(|m| {
                    S3Context::new("ListObjectsV2", self.bucket, &request.prefix).problem(m)
                })
            } else {
                Ok(raw.to_string())
            }
        };
        let keys = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(decode)
            .collect::<Result<_, _>>()?;
        let prefixes = page
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .map(decode)
            .collect::<Result<_, _>>()?;
        let next = page
            .next_continuation_token()
            .filter(|_| page.is_truncated() == Some(true))
            .map(str::to_string);
        Ok(ListPage {
            keys,
            prefixes,
            next,
        })
    }
}

/// The keys of one line, listed the way bucketlist lists them, at most `limit`.
pub async fn list_line<L: Lister>(
    lister: &L,
    line: &PartLine,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let plan = line.listing();
    let mut keys = Vec::new();
    if let Some(first) = &plan.probe_first {
        let page = lister
            .list(&ListRequest {
                prefix: first.clone(),
                max_keys: 1,
                ..Default::default()
            })
            .await?;
        if page.keys.first() == Some(first) && plan.stop_at.as_ref().is_none_or(|s| first < s) {
            keys.push(first.clone());
        }
    }
    let mut request = ListRequest {
        prefix: plan.prefix.clone(),
        delimiter: plan.delimiter.clone(),
        start_after: plan.start_after.clone(),
        continuation: None,
        max_keys: PAGE_KEYS,
    };
    while keys.len() < limit {
        let page = lister.list(&request).await?;
        for key in page.keys {
            if plan.stop_at.as_ref().is_some_and(|stop| key >= *stop) || keys.len() >= limit {
                return Ok(keys);
            }
            keys.push(key);
        }
        match page.next {
            Some(next) => request.continuation = Some(next),
            None => break,
        }
    }
    Ok(keys)
}

/// Generates a part file for the bucket and writes its lines to `out`.
pub async fn write_generated<L: Lister, W: std::io::Write>(
    lister: &L,
    options: &GenerateOptions,
    out: &mut W,
) -> Result<Generated, Error> {
    let generated = generate::generate(lister, options).await?;
    write_lines(&generated, out)?;
    Ok(generated)
}

/// [`write_generated`] for the keys under `listed` only (the bucket seen through a
/// [`PrefixLister`]), the lines then naming keys under `named` instead
/// ([`PartLine::translated`]): a run's source part file (`listed == named`, the source
/// prefix), or the destination's part file of an inventory run with `--diff`, whose
/// lines name the source keys the destination keys stand for.
pub async fn write_generated_under<L: Lister, W: std::io::Write>(
    lister: &L,
    options: &GenerateOptions,
    (listed, named): (&str, &str),
    out: &mut W,
) -> Result<Generated, Error> {
    let through = PrefixLister {
        inner: lister,
        prefix: listed,
    };
    let mut generated = generate::generate(&through, options).await?;
    if !(listed.is_empty() && named.is_empty()) {
        let (lines, estimates) = generated
            .lines
            .iter()
            .zip(&generated.estimates)
            .filter_map(|(line, estimate)| Some((line.translated(listed, named)?, *estimate)))
            .unzip();
        generated.lines = lines;
        generated.estimates = estimates;
    }
    write_lines(&generated, out)?;
    Ok(generated)
}

/// Writes a generated part file's lines to `out`.
pub fn write_lines<W: std::io::Write>(generated: &Generated, out: &mut W) -> Result<(), Error> {
    for line in &generated.lines {
        writeln!(out, "{}", line.to_line()).map_err(|e| Error::io("writing the part file", e))?;
    }
    out.flush()
        .map_err(|e| Error::io("writing the part file", e))
}

/// One line saying what was generated, for people.
pub fn describe(generated: &Generated, bucket: &str) -> String {
    let keys = generated.estimated_keys().round();
    let largest = generated
        .estimates
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .round();
    format!(
        "part file of s3://{bucket}: {} lines, {} {keys} keys (largest line {}{largest}), \
         {} ListObjectsV2 requests",
        generated.lines.len(),
        if generated.exact { "exactly" } else { "about" },
        if generated.exact { "" } else { "about " },
        generated.requests
    )
}

/// Reads the part file at `path` (its lines numbered; a bad line is an input error
/// naming the file and the line).
pub fn read_file(path: &std::path::Path) -> Result<Vec<check::NumberedLine>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading the part file {}", path.display()), e))?;
    check::read_part_file(&text)
        .map_err(|e| Error::Usage(format!("part file {}: {e}", path.display())))
}

/// Overlaps reported at most.
pub const MAX_OVERLAPS: usize = 1000;

/// Checks the part file at `path` against the bucket; the report goes to `out`, one
/// finding per line; an unclean file is an error (exit 2) saying how many findings.
pub async fn check_file<L: Lister, W: std::io::Write>(
    lister: &L,
    path: &std::path::Path,
    out: &mut W,
) -> Result<CheckReport, Error> {
    let lines = read_file(path)?;
    let report = check::check(lister, &lines, MAX_OVERLAPS).await?;
    out.write_all(report.render().as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing stdout", e))?;
    if report.is_clean() {
        return Ok(report);
    }
    Err(Error::Usage(format!(
        "part file {}: {} pair(s) of overlapping lines, {} key range(s) that no line lists{}",
        path.display(),
        report.overlaps.len(),
        report.gaps.len(),
        report
            .overlaps
            .first()
            .map(|o| format!("; first: {o}"))
            .or_else(|| report.gaps.first().map(|g| format!("; first: {g}")))
            .unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(keys: &[&str]) -> MemoryLister {
        MemoryLister::new(keys.iter().map(|k| k.to_string()).collect())
    }

    #[tokio::test]
    async fn the_memory_lister_rolls_up_and_pages_like_s3() {
        let lister = bucket(&["a", "b/1", "b/2", "c", "d/x/1", "e"]);
        let request = ListRequest {
            delimiter: Some("/".into()),
            max_keys: 2,
            ..Default::default()
        };
        let page = lister.list(&request).await.expect("page");
        assert_eq!(page.keys, ["a"]);
        assert_eq!(page.prefixes, ["b/"]);
        let page2 = lister
            .list(&ListRequest {
                continuation: page.next.clone(),
                ..request.clone()
            })
            .await
            .expect("page");
        assert_eq!(page2.keys, ["c"]);
        assert_eq!(page2.prefixes, ["d/"]);
        let page3 = lister
            .list(&ListRequest {
                continuation: page2.next.clone(),
                ..request.clone()
            })
            .await
            .expect("page");
        assert_eq!((page3.keys, page3.next), (vec!["e".to_string()], None));
    }

    #[tokio::test]
    async fn a_range_line_lists_its_start_key_and_stops_before_its_end() {
        let lister = bucket(&["a", "ab", "abc", "abd", "b", "c"]);
        let line = PartLine::Range {
            start: "ab".into(),
            end: Some("abd".into()),
        };
        let keys = list_line(&lister, &line, usize::MAX).await.expect("list");
        assert_eq!(keys, ["ab", "abc"]);
    }

    #[tokio::test]
    async fn a_part_file_made_through_a_prefix_covers_exactly_its_keys() {
        let mut keys: Vec<String> = Vec::new();
        for top in ["a", "logs", "logsx", "z"] {
            for dir in 0..7 {
                for n in 0..30 {
                    keys.push(format!("{top}/{dir}/{n:03}"));
                }
            }
        }
        keys.push("logs".into());
        let lister = MemoryLister::new(keys.iter().cloned().collect());
        for prefix in ["logs/", "logs", "logs/3/", "q/"] {
            let through = PrefixLister {
                inner: &lister,
                prefix,
            };
            let options = GenerateOptions {
                target_keys: 25,
                ..Default::default()
            };
            let generated = generate::generate(&through, &options)
                .await
                .expect("generate");
            let mut listed: Vec<String> = Vec::new();
            for line in &generated.lines {
                if let Some(narrowed) = line.narrowed(prefix) {
                    let found = list_line(&lister, &narrowed, usize::MAX)
                        .await
                        .expect("list");
                    listed.extend(
                        found
                            .into_iter()
                            .filter(|k| line.contains(k) && k.starts_with(prefix)),
                    );
                }
            }
            listed.sort();
            let mut wanted: Vec<String> = keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            wanted.sort();
            assert_eq!(listed, wanted, "{prefix}: every key under it once");
            if prefix == "logs/" {
                assert!(generated.lines.len() > 4, "{:?}", generated.lines);
            }
            // Checked through the prefix, the part file leaves nothing out; checked
            // against the whole bucket, it leaves out the keys elsewhere.
            let numbered: Vec<check::NumberedLine> = generated
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| check::NumberedLine {
                    number: i as u64 + 1,
                    text: line.to_line(),
                    line: line.clone(),
                })
                .collect();
            let narrowed_lines: Vec<check::NumberedLine> = numbered
                .iter()
                .filter_map(|n| {
                    Some(check::NumberedLine {
                        number: n.number,
                        text: n.text.clone(),
                        line: n.line.narrowed(prefix)?,
                    })
                })
                .collect();
            let gaps = check::gaps(&through, &narrowed_lines).await.expect("gaps");
            assert!(gaps.is_empty(), "{prefix}: {gaps:?}");
            if prefix != "q/" {
                let whole = check::gaps(&lister, &narrowed_lines).await.expect("gaps");
                assert!(!whole.is_empty(), "{prefix}");
            }
        }
    }
}
