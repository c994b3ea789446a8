//! Checks a part file before it is used: the lines that overlap (two lines overlap
//! when some key, in the bucket or not, would be listed by both: decided from the
//! lines, [`PartLine::overlap`]) and the key ranges no line lists that hold keys in
//! the bucket (found with a few listings: one per delimiter line, for the directories
//! it leaves to other lines, and one or two per range left out).

use std::fmt;

use super::line::{PartLine, prefix_end};
use super::{ListRequest, Lister, PAGE_KEYS, list_line};
use crate::error::Error;
use crate::input::InputLines;
use crate::stream::StreamIndex;

/// A part-file line with its number in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedLine {
    /// 1-based line number.
    pub number: u64,
    /// The line as written.
    pub text: String,
    /// What it means.
    pub line: PartLine,
}

/// Two lines that list a key in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The earlier line.
    pub first: NumberedLine,
    /// The later line.
    pub second: NumberedLine,
    /// A key both list.
    pub key: String,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lines {} ({:?}) and {} ({:?}) overlap: both list the key {:?}",
            self.first.number, self.first.text, self.second.number, self.second.text, self.key
        )
    }
}

/// A key range no line lists, with keys in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The range.
    pub range: PartLine,
    /// Keys found in it (at most [`PAGE_KEYS`] are counted).
    pub keys: usize,
    /// The first of them.
    pub first_key: String,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = self.range.span();
        let more = if self.keys >= PAGE_KEYS as usize {
            " or more"
        } else {
            ""
        };
        write!(
            f,
            "no line lists the keys from {:?} to {} ({}{more} keys, the first {:?}); \
             add the line `{}` to list them",
            start,
            end.map_or("the end".to_string(), |e| format!("before {e:?}")),
            self.keys,
            self.first_key,
            self.range.to_line().replace('\t', "<TAB>")
        )
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// Lines checked (comments and blank lines left out).
    pub lines: usize,
    /// Pairs of lines that overlap.
    pub overlaps: Vec<Overlap>,
    /// Ranges no line lists that hold keys.
    pub gaps: Vec<Gap>,
}

impl CheckReport {
    /// No overlap and no gap.
    pub fn is_clean(&self) -> bool {
        self.overlaps.is_empty() && self.gaps.is_empty()
    }

    /// One sentence per finding, one per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for overlap in &self.overlaps {
            out.push_str(&format!("{overlap}\n"));
        }
        for gap in &self.gaps {
            out.push_str(&format!("{gap}\n"));
        }
        out
    }
}

/// Reads a part file's lines, numbered; a bad line is an input error naming it.
pub fn read_part_file(text: &str) -> Result<Vec<NumberedLine>, Error> {
    let mut lines = Vec::new();
    for input in InputLines::part_file(text.as_bytes(), StreamIndex::SHELL) {
        let input = input?;
        let parsed = PartLine::parse(&input.text).map_err(|message| Error::Input {
            line: input.number,
            message,
        })?;
        if let Some(line) = parsed {
            lines.push(NumberedLine {
                number: input.number,
                text: input.text,
                line,
            });
        }
    }
    Ok(lines)
}

/// Every pair of lines that overlap (at most `limit` pairs), in line order.
pub fn overlaps(lines: &[NumberedLine], limit: usize) -> Vec<Overlap> {
    let spans: Vec<(String, Option<String>)> = lines.iter().map(|l| l.line.span()).collect();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|a, b| spans[*a].0.cmp(&spans[*b].0).then(a.cmp(b)));
    let mut found = Vec::new();
    for (position, &i) in order.iter().enumerate() {
        // Sorted by start: only the lines that start before this one's span ends can
        // share a key with it.
        for &j in &order[position + 1..] {
            if spans[i].1.as_ref().is_some_and(|end| spans[j].0 >= *end) {
                break;
            }
            if let Some(key) = lines[i].line.overlap(&lines[j].line) {
                let (first, second) = if i < j { (i, j) } else { (j, i) };
                found.push(Overlap {
                    first: lines[first].clone(),
                    second: lines[second].clone(),
                    key,
                });
                if found.len() >= limit {
                    break;
                }
            }
        }
        if found.len() >= limit {
            break;
        }
    }
    found.sort_by_key(|o| (o.first.number, o.second.number));
    found
}

/// The key ranges that no line lists and that hold keys in the bucket.
pub async fn gaps<L: Lister>(lister: &L, lines: &[NumberedLine]) -> Result<Vec<Gap>, Error> {
    let mut covered: Vec<(String, Option<String>)> = Vec::new();
    for numbered in lines {
        match &numbered.line {
            PartLine::Prefix { delimiter, prefix } if !delimiter.is_empty() => {
                // The line lists its prefix's keys but the directories below the next
                // delimiter: those holding keys are what ListObjectsV2 rolls up.
                let directories = common_prefixes(lister, prefix, delimiter).await?;
                let mut from = Some(prefix.clone());
                for directory in directories {
                    let Some(start) = from.take() else { break };
                    if start < directory {
                        covered.push((start, Some(directory.clone())));
                    }
                    from = prefix_end(&directory);
                }
                if let Some(start) = from {
                    covered.push((start, prefix_end(prefix)));
                }
            }
            line => covered.push(line.span()),
        }
    }
    covered.sort();
    let mut left_out: Vec<(String, Option<String>)> = Vec::new();
    let mut cursor = Some(String::new());
    for (start, end) in covered {
        let Some(at) = cursor.clone() else { break };
        if start > at {
            left_out.push((at.clone(), Some(start.clone())));
        }
        cursor = match (end, cursor) {
            (None, _) | (_, None) => None,
            (Some(end), Some(at)) => Some(end.max(at)),
        };
    }
    if let Some(at) = cursor {
        left_out.push((at, None));
    }
    let mut gaps = Vec::new();
    for (start, end) in left_out {
        let range = PartLine::Range { start, end };
        let keys = list_line(lister, &range, PAGE_KEYS as usize).await?;
        if let Some(first_key) = keys.first().cloned() {
            gaps.push(Gap {
                range,
                keys: keys.len(),
                first_key,
            });
        }
    }
    Ok(gaps)
}

/// Every common prefix under `prefix` for `delimiter`.
async fn common_prefixes<L: Lister>(
    lister: &L,
    prefix: &str,
    delimiter: &str,
) -> Result<Vec<String>, Error> {
    let mut request = ListRequest {
        prefix: prefix.to_string(),
        delimiter: Some(delimiter.to_string()),
        max_keys: PAGE_KEYS,
        ..Default::default()
    };
    let mut found = Vec::new();
    loop {
        let page = lister.list(&request).await?;
        found.extend(page.prefixes);
        match page.next {
            Some(next) => request.continuation = Some(next),
            None => return Ok(found),
        }
    }
}

/// Checks a part file against the bucket: overlaps (at most `limit`) and gaps.
pub async fn check<L: Lister>(
    lister: &L,
    lines: &[NumberedLine],
    limit: usize,
) -> Result<CheckReport, Error> {
    let overlaps = overlaps(lines, limit);
    let gaps = gaps(lister, lines).await?;
    Ok(CheckReport {
        lines: lines.len(),
        overlaps,
        gaps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partfile::MemoryLister;

    fn bucket(keys: &[&str]) -> MemoryLister {
        MemoryLister::new(keys.iter().map(|k| k.to_string()).collect())
    }

    #[tokio::test]
    async fn the_article_part_file_is_clean_on_the_article_layout() {
        let mut text = String::from("/,0\n,000/\n");
        for c in "123456789abcdef".chars() {
            text.push_str(&format!(",{c}\n"));
        }
        let lines = read_part_file(&text).expect("parse");
        let lister = bucket(&["00", "01", "000/00", "000/01", "1a", "f0"]);
        let report = check(&lister, &lines, 100).await.expect("check");
        assert!(report.is_clean(), "{}", report.render());
        assert_eq!(report.lines, 17);
    }

    #[tokio::test]
    async fn gaps_and_overlaps_are_named() {
        let text = "# hand-written\n,l\n,lo\n/,a\nrange\tm\tn\n";
        let lines = read_part_file(text).expect("parse");
        let lister = bucket(&["A", "a/x", "ab", "l1", "lo", "m", "mz", "n", "zz"]);
        let report = check(&lister, &lines, 100).await.expect("check");
        assert_eq!(report.overlaps.len(), 1);
        let overlap = &report.overlaps[0];
        assert_eq!((overlap.first.number, overlap.second.number), (2, 3));
        assert_eq!(overlap.key, "lo");
        assert!(
            overlap
                .to_string()
                .contains("lines 2 (\",l\") and 3 (\",lo\")")
        );
        let gaps: Vec<(String, Option<String>, usize)> = report
            .gaps
            .iter()
            .map(|g| {
                let (s, e) = g.range.span();
                (s, e, g.keys)
            })
            .collect();
        assert_eq!(
            gaps,
            [
                (String::new(), Some("a".into()), 1),
                ("a/".into(), Some("a0".into()), 1),
                ("n".into(), None, 2),
            ]
        );
        assert!(report.render().contains("the first \"a/x\""));
    }
}
