//! One line of a part file and what it means exactly: which keys it lists
//! ([`PartLine::contains`]), how bucketlist lists them through ListObjectsV2
//! ([`PartLine::listing`]), and whether two lines list a key in common
//! ([`PartLine::overlap`], decided from the two lines alone, with a witness key).
//!
//! Two forms: the article's `<delimiter>,<prefix>` (keys starting with the prefix whose
//! rest holds no delimiter) and `range<TAB><start><TAB><end>`, the keys `k` with
//! `start <= k < end` in S3's order (UTF-8 byte order, which is also Rust's `str`
//! order and code point order), `start` and `end` escaped as keys are in records
//! ([`crate::record::escape_key`]), an empty `end` meaning the end of the key space.

use crate::record::{escape_key, unescape_key};

/// The first field of a key-range line.
pub const RANGE_TAG: &str = "range";

/// One line of a part file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartLine {
    /// `<delimiter>,<prefix>`: the keys starting with `prefix` whose rest holds no
    /// `delimiter` (any rest when the delimiter is empty).
    Prefix {
        /// Delimiter for the listing (empty: none).
        delimiter: String,
        /// Key prefix to list.
        prefix: String,
    },
    /// `range<TAB><start><TAB><end>`: the keys `k` with `start <= k < end`.
    Range {
        /// First key of the range (inclusive; empty: from the first key).
        start: String,
        /// End of the range (exclusive; `None`: to the end of the key space).
        end: Option<String>,
    },
}

/// How bucketlist lists one line with ListObjectsV2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingPlan {
    /// `Prefix` of every request.
    pub prefix: String,
    /// `Delimiter` of every request (`None`: none).
    pub delimiter: Option<String>,
    /// `StartAfter` of the first page (exclusive).
    pub start_after: Option<String>,
    /// A key that `StartAfter` would leave out but the line includes: list it first
    /// with `Prefix=<key>`, `MaxKeys=1` and keep the first key if it is this one.
    pub probe_first: Option<String>,
    /// Stop at the first key at or after this one.
    pub stop_at: Option<String>,
}

impl PartLine {
    /// Parses a part-file line: `Ok(None)` for blank lines and `#` comments.
    pub fn parse(text: &str) -> Result<Option<PartLine>, String> {
        if text.trim().is_empty() || text.starts_with('#') {
            return Ok(None);
        }
        if let Some(rest) = text
            .strip_prefix(RANGE_TAG)
            .and_then(|r| r.strip_prefix('\t'))
        {
            let fields: Vec<&str> = rest.split('\t').collect();
            let [start, end] = fields[..] else {
                return Err(format!(
                    "expected `range<TAB><start><TAB><end>` (3 TAB-separated fields), found {}",
                    fields.len() + 1
                ));
            };
            let start = unescape_key(start).map_err(|e| format!("field 2 (start) {e}"))?;
            let end = if end.is_empty() {
                None
            } else {
                Some(unescape_key(end).map_err(|e| format!("field 3 (end) {e}"))?)
            };
            if let Some(end) = &end
                && *end <= start
            {
                return Err(format!(
                    "field 3 (end) must sort after field 2 (start): {:?} is not after {:?}",
                    end, start
                ));
            }
            return Ok(Some(PartLine::Range { start, end }));
        }
        let (delimiter, prefix) = text.split_once(',').ok_or_else(|| {
            format!(
                "expected `<delimiter>,<prefix>` or `range<TAB><start><TAB><end>`, \
                 found no comma: {text:?}"
            )
        })?;
        Ok(Some(PartLine::Prefix {
            delimiter: delimiter.to_string(),
            prefix: prefix.to_string(),
        }))
    }

    /// The line as written in a part file, without its newline.
    pub fn to_line(&self) -> String {
        match self {
            PartLine::Prefix { delimiter, prefix } => format!("{delimiter},{prefix}"),
            PartLine::Range { start, end } => format!(
                "{RANGE_TAG}\t{}\t{}",
                escape_key(start),
                end.as_deref().map(escape_key).unwrap_or_default()
            ),
        }
    }

    /// True when bucketlist lists `key` for this line.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            PartLine::Prefix { delimiter, prefix } => key
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| delimiter.is_empty() || !rest.contains(delimiter.as_str())),
            PartLine::Range { start, end } => {
                key >= start.as_str() && end.as_deref().is_none_or(|end| key < end)
            }
        }
    }

    /// The smallest interval `[start, end)` of keys that holds every key of the line
    /// (`end` `None`: unbounded). For a range line, the range itself.
    pub fn span(&self) -> (String, Option<String>) {
        match self {
            PartLine::Prefix { prefix, .. } => (prefix.clone(), prefix_end(prefix)),
            PartLine::Range { start, end } => (start.clone(), end.clone()),
        }
    }

    /// How to list the line with ListObjectsV2.
    pub fn listing(&self) -> ListingPlan {
        match self {
            PartLine::Prefix { delimiter, prefix } => ListingPlan {
                prefix: prefix.clone(),
                delimiter: (!delimiter.is_empty()).then(|| delimiter.clone()),
                start_after: None,
                probe_first: None,
                stop_at: None,
            },
            PartLine::Range { start, end } => ListingPlan {
                // Every key between start and end starts with their common prefix: a
                // narrower listing, the same keys.
                prefix: end
                    .as_deref()
                    .map(|end| common_prefix(start, end).to_string())
                    .unwrap_or_default(),
                delimiter: None,
                start_after: (!start.is_empty()).then(|| start.clone()),
                probe_first: (!start.is_empty()).then(|| start.clone()),
                stop_at: end.clone(),
            },
        }
    }

    /// A line that lists at least every key of this line that starts with `prefix`,
    /// from as few keys as it can (its listing then needs [`PartLine::contains`] and the
    /// prefix checked on each key); `None` when no such key can exist.
    pub fn narrowed(&self, prefix: &str) -> Option<PartLine> {
        if prefix.is_empty() {
            return Some(self.clone());
        }
        match self {
            PartLine::Prefix {
                delimiter,
                prefix: own,
            } => {
                if own.starts_with(prefix) {
                    return Some(self.clone());
                }
                let between = prefix.strip_prefix(own.as_str())?;
                if !delimiter.is_empty() && between.contains(delimiter.as_str()) {
                    // Every key under `prefix` has the delimiter after the line's prefix.
                    return None;
                }
                // Keys under `prefix` whose rest holds no delimiter: all the line's keys
                // under `prefix`, and (for a delimiter of several characters that
                // straddles the two) a few more, which `contains` leaves out.
                Some(PartLine::Prefix {
                    delimiter: delimiter.clone(),
                    prefix: prefix.to_string(),
                })
            }
            PartLine::Range { start, end } => {
                let start = if prefix > start.as_str() {
                    prefix.to_string()
                } else {
                    start.clone()
                };
                let end = match (end, prefix_end(prefix)) {
                    (Some(a), Some(b)) => Some(if *a < b { a.clone() } else { b }),
                    (Some(a), None) => Some(a.clone()),
                    (None, b) => b,
                };
                match &end {
                    Some(end) if *end <= start => None,
                    _ => Some(PartLine::Range { start, end }),
                }
            }
        }
    }

    /// [`PartLine::narrowed`] to the keys starting with `from`, then moved to the keys
    /// starting with `to` (`from` replaced by `to`, which keeps the keys' order): how
    /// the destination listing of a run with prefixes lists a part file made for the
    /// source's keys. `from == to`: [`PartLine::narrowed`].
    pub fn translated(&self, from: &str, to: &str) -> Option<PartLine> {
        let narrowed = self.narrowed(from)?;
        if from == to {
            return Some(narrowed);
        }
        // Every key of the narrowed line starts with `from` (its prefix does, or its
        // range lies in [from, prefix_end(from))).
        let moved = |key: &str| key.strip_prefix(from).map(|rest| format!("{to}{rest}"));
        Some(match narrowed {
            PartLine::Prefix { delimiter, prefix } => PartLine::Prefix {
                delimiter,
                prefix: moved(&prefix)?,
            },
            PartLine::Range { start, end } => PartLine::Range {
                start: moved(&start)?,
                end: match end {
                    Some(end) => match moved(&end) {
                        Some(end) => Some(end),
                        // The end of `from`'s keys: the end of `to`'s.
                        None => prefix_end(to),
                    },
                    None => prefix_end(to),
                },
            },
        })
    }

    /// The smallest key (non-empty) of this line at or after `from`, if any.
    pub fn first_at_or_after(&self, from: &str) -> Option<String> {
        match self {
            PartLine::Range { start, end } => {
                let candidate = if from > start.as_str() { from } else { start };
                let candidate = if candidate.is_empty() {
                    "\0".to_string()
                } else {
                    candidate.to_string()
                };
                end.as_deref()
                    .is_none_or(|end| candidate.as_str() < end)
                    .then_some(candidate)
            }
            PartLine::Prefix { delimiter, prefix } => first_with_prefix(prefix, delimiter, from),
        }
    }

    /// A key both lines list, if there is one (exact: `None` means no key at all,
    /// present in the bucket or not, is listed by both).
    pub fn overlap(&self, other: &PartLine) -> Option<String> {
        let witness = match (self, other) {
            (_, PartLine::Range { start, .. }) => self.first_at_or_after(start)?,
            (PartLine::Range { start, .. }, _) => other.first_at_or_after(start)?,
            (
                PartLine::Prefix {
                    delimiter: d1,
                    prefix: p1,
                },
                PartLine::Prefix {
                    delimiter: d2,
                    prefix: p2,
                },
            ) => {
                // A common key starts with the longer prefix; if any does, the longer
                // prefix itself does (its rest is empty for the longer line, and for the
                // shorter line its rest is a prefix of the common key's rest).
                let longer = if p2.starts_with(p1.as_str()) {
                    p2
                } else if p1.starts_with(p2.as_str()) {
                    p1
                } else {
                    return None;
                };
                if longer.is_empty() {
                    // Both prefixes empty: some one-character key holds neither delimiter.
                    ['\0', '\u{1}', '\u{2}']
                        .into_iter()
                        .map(String::from)
                        .find(|k| *k != *d1 && *k != *d2)?
                } else {
                    longer.clone()
                }
            }
        };
        (self.contains(&witness) && other.contains(&witness)).then_some(witness)
    }
}

/// The smallest non-empty key `>= from` that starts with `prefix` and whose rest holds
/// no `delimiter`.
fn first_with_prefix(prefix: &str, delimiter: &str, from: &str) -> Option<String> {
    if from <= prefix {
        if !prefix.is_empty() {
            return Some(prefix.to_string());
        }
        return ['\0', '\u{1}']
            .into_iter()
            .map(String::from)
            .find(|k| delimiter.is_empty() || !k.contains(delimiter));
    }
    // `from` is after `prefix`: if it does not extend it, it is after every key that does.
    let rest = from.strip_prefix(prefix)?;
    let Some(first) = (!delimiter.is_empty())
        .then(|| rest.find(delimiter))
        .flatten()
    else {
        return Some(from.to_string());
    };
    // rest = u + delimiter + v: the smallest r > rest without the delimiter keeps the
    // longest possible head of rest (up to just before the delimiter's last character)
    // and raises the next character.
    let chars: Vec<char> = rest.chars().collect();
    let last = rest[..first + delimiter.len()].chars().count() - 1;
    for keep in (0..=last).rev() {
        let head: String = chars[..keep].iter().collect();
        let mut next = char_after(chars[keep]);
        while let Some(c) = next {
            let candidate = format!("{head}{c}");
            if !candidate.contains(delimiter) {
                return Some(format!("{prefix}{candidate}"));
            }
            next = char_after(c);
        }
    }
    None
}

/// The next Unicode scalar value, skipping the surrogates.
pub fn char_after(c: char) -> Option<char> {
    match c as u32 + 1 {
        0xD800 => Some('\u{E000}'),
        n => char::from_u32(n),
    }
}

/// The smallest string after every string that starts with `prefix` (`None`: there is
/// none, for the empty prefix or one of only U+10FFFF).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        if let Some(next) = char_after(c) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The longest common prefix of two strings, on a character boundary.
pub fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let len = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i);
    // `len` is a boundary of `a`; with `b` shorter it is b's length, also one of a's
    // (the strings agree up to there).
    &a[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(delimiter: &str, prefix: &str) -> PartLine {
        PartLine::Prefix {
            delimiter: delimiter.into(),
            prefix: prefix.into(),
        }
    }

    fn range(start: &str, end: Option<&str>) -> PartLine {
        PartLine::Range {
            start: start.into(),
            end: end.map(String::from),
        }
    }

    #[test]
    fn article_lines_split_on_the_first_comma() {
        assert_eq!(PartLine::parse("/,0"), Ok(Some(prefix("/", "0"))));
        assert_eq!(PartLine::parse(",000/"), Ok(Some(prefix("", "000/"))));
        assert_eq!(PartLine::parse("/,a,b"), Ok(Some(prefix("/", "a,b"))));
        assert_eq!(PartLine::parse(","), Ok(Some(prefix("", ""))));
    }

    #[test]
    fn range_lines_round_trip_with_escaped_bounds() {
        for line in [
            range("", None),
            range("a\tb", Some("c\\d")),
            range("", Some("x")),
            range("日本", None),
        ] {
            assert_eq!(PartLine::parse(&line.to_line()), Ok(Some(line.clone())));
        }
        assert_eq!(range("a\tb", Some("c")).to_line(), "range\ta\\tb\tc");
    }

    #[test]
    fn bad_range_lines_name_the_field() {
        let error = |text| PartLine::parse(text).expect_err(text);
        assert!(
            error("range\ta").contains("found 2"),
            "{}",
            error("range\ta")
        );
        assert!(error("range\ta\tb\tc").contains("found 4"));
        assert!(error("range\tb\ta").starts_with("field 3 (end) must sort after"));
        assert!(error("range\ta\ta").starts_with("field 3 (end)"));
        assert!(error("range\ta\\x\tb").starts_with("field 2 (start)"));
        assert!(error("range\ta\tb\\").starts_with("field 3 (end)"));
        assert!(error("00").contains("no comma"));
    }

    #[test]
    fn membership_follows_s3_s_delimiter_rule() {
        assert!(prefix("/", "0").contains("00"));
        assert!(!prefix("/", "0").contains("000/00"));
        assert!(prefix("", "000/").contains("000/00"));
        assert!(prefix("/", "a/").contains("a/b"));
        assert!(!prefix("/", "a/").contains("a/b/c"));
        assert!(range("b", Some("c")).contains("b"));
        assert!(range("b", Some("c")).contains("bzzz"));
        assert!(!range("b", Some("c")).contains("c"));
        assert!(range("", None).contains("\0"));
    }

    #[test]
    fn overlaps_are_decided_exactly() {
        // The article's part file: no two lines share a key.
        let article: Vec<PartLine> = ["/,0", ",000/", ",1", ",f"]
            .iter()
            .filter_map(|t| PartLine::parse(t).expect("parse"))
            .collect();
        for (i, a) in article.iter().enumerate() {
            for b in &article[i + 1..] {
                assert_eq!(a.overlap(b), None, "{a:?} {b:?}");
            }
        }
        assert_eq!(
            prefix("", "l").overlap(&prefix("", "lo")),
            Some("lo".into())
        );
        assert_eq!(
            prefix("/", "l").overlap(&prefix("", "lo")),
            Some("lo".into())
        );
        assert_eq!(prefix("/", "l").overlap(&prefix("", "l/o")), None);
        assert_eq!(prefix("/", "").overlap(&prefix("", "")), Some("\0".into()));
        assert_eq!(
            range("a", Some("b")).overlap(&range("ab", None)),
            Some("ab".into())
        );
        assert_eq!(range("a", Some("b")).overlap(&range("b", None)), None);
        // `/,a` lists a, ab, … but not a/ or a/x: the range [a/, a0) holds only
        // keys starting with a/, none of the line's…
        assert_eq!(prefix("/", "a").overlap(&range("a/", Some("a0"))), None);
        assert_eq!(prefix("/", "a").overlap(&range("a/x", Some("a0"))), None);
        assert_eq!(
            prefix("/", "a").overlap(&range("a", Some("a/"))),
            Some("a".into())
        );
        // …and one that goes on past them holds a0.
        assert_eq!(
            prefix("/", "a").overlap(&range("a/x", Some("a1"))),
            Some("a0".into())
        );
        assert_eq!(range("", Some("\0")).overlap(&range("", None)), None);
    }

    #[test]
    fn ranges_list_from_the_common_prefix_and_probe_their_start() {
        let plan = range("logs/2026/a", Some("logs/2026/c")).listing();
        assert_eq!(plan.prefix, "logs/2026/");
        assert_eq!(plan.start_after.as_deref(), Some("logs/2026/a"));
        assert_eq!(plan.probe_first.as_deref(), Some("logs/2026/a"));
        assert_eq!(plan.stop_at.as_deref(), Some("logs/2026/c"));
        let plan = range("", None).listing();
        assert_eq!((plan.prefix.as_str(), plan.start_after), ("", None));
    }

    #[test]
    fn lines_narrowed_to_a_prefix_keep_its_keys() {
        let line = |text: &str| PartLine::parse(text).expect("line").expect("not blank");
        let all = line(",");
        assert_eq!(all.narrowed("logs/"), Some(line(",logs/")));
        assert_eq!(
            line(",logs/2025/").narrowed("logs/"),
            Some(line(",logs/2025/"))
        );
        assert_eq!(line(",other/").narrowed("logs/"), None);
        assert_eq!(
            line("/,lo").narrowed("logs/"),
            None,
            "logs/… are below the delimiter"
        );
        assert_eq!(line("/,").narrowed("log"), Some(line("/,log")));
        let range = line("range\ta\tm");
        assert_eq!(range.narrowed("logs/"), Some(line("range\tlogs/\tlogs0")));
        assert_eq!(
            line("range\tlogs/b\t").narrowed("logs/"),
            Some(line("range\tlogs/b\tlogs0"))
        );
        assert_eq!(line("range\ta\tb").narrowed("logs/"), None);
        assert_eq!(line("range\tm\t").narrowed("logs/"), None);
        // Every key of the line under the prefix is a key of the narrowed line.
        for key in ["logs/", "logs/a", "logs/z/z", "logsa", "l"] {
            for original in [all.clone(), range.clone(), line("/,"), line("/,logs/")] {
                let kept = original.contains(key) && key.starts_with("logs/");
                let narrowed = original.narrowed("logs/");
                assert!(
                    narrowed.is_some_and(|n| n.contains(key)) || !kept,
                    "{original:?} {key}"
                );
            }
        }
    }

    #[test]
    fn lines_translated_to_another_prefix_list_the_mapped_keys() {
        let line = |text: &str| PartLine::parse(text).expect("line").expect("not blank");
        assert_eq!(
            line(",").translated("logs/", "archive/"),
            Some(line(",archive/"))
        );
        assert_eq!(
            line("range\tlogs/b\tlogs/m").translated("logs/", "archive/"),
            Some(line("range\tarchive/b\tarchive/m"))
        );
        assert_eq!(
            line("range\tlogs/m\t").translated("logs/", "archive/"),
            Some(line("range\tarchive/m\tarchive0"))
        );
        assert_eq!(
            line("range\tlogs/m\t").translated("logs/", ""),
            Some(line("range\tm\t"))
        );
        assert_eq!(line("/,x").translated("logs/", "archive/"), None);
        for key in ["logs/a", "logs/b/c", "logs/z"] {
            for original in [line(","), line("range\tlogs/b\tlogs/m"), line("/,logs/")] {
                let moved = format!("archive/{}", &key[5..]);
                let translated = original.translated("logs/", "archive/");
                if original.contains(key) {
                    assert!(
                        translated.is_some_and(|t| t.contains(&moved)),
                        "{original:?} {key}"
                    );
                }
            }
        }
    }

    #[test]
    fn prefix_ends_and_common_prefixes() {
        assert_eq!(prefix_end("a/"), Some("a0".into()));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_end("\u{D7FF}"), Some("\u{E000}".into()));
        assert_eq!(common_prefix("日本a", "日本b"), "日本");
        assert_eq!(common_prefix("ab", "a"), "a");
        assert_eq!(common_prefix("é", "è"), "");
    }
}
