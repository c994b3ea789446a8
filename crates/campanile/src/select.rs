//! Which source objects a run copies, and under which destination keys: the source
//! prefix and the filters bucketlist applies while it lists ([`Selection`]), and the
//! prefix mapping every task applies where it addresses the destination ([`KeyMap`]).
//!
//! Records keep *source* keys from the listing to the part map; a task that writes,
//! reads or aborts something at the destination maps the key there
//! ([`KeyMap::dst_key`]), and the destination listing of `--diff` maps its keys back
//! into the source's key space ([`KeyMap::src_key`]) so that the diff compares like
//! with like. A prefix is a plain string prefix, as `aws s3 sync` takes it:
//! `s3://a/logs/2025/` maps `logs/2025/x` to `<dst prefix>x`, while `s3://a/logs/2025`
//! (no trailing slash) also selects `logs/2025-old/y`, mapped to `<dst prefix>-old/y`.
//!
//! Filters follow rclone: `--include`/`--exclude` rules in the order given, the first
//! that matches decides; a key no rule matches is included, unless every rule is an
//! include. Globs match the key relative to the source prefix: `*` within a path
//! segment (not `/`), `**` as a whole segment (`**/x`, `a/**`, `a/**/x`) any number of
//! segments (elsewhere it is a `*`: write `**/*.gz`, not `**.gz`), `?` one character
//! but `/`, `[...]` a class, `{a,b}` alternatives (the `globset` crate's syntax). A glob starting with `/` is anchored at the source prefix;
//! any other matches the end of the relative key at a segment boundary (`*.gz` matches
//! `a.gz` and `x/y/a.gz`). Sizes and times are inclusive at the lower bound:
//! `--min-size`/`--max-size` keep `min <= size <= max`, `--newer-than T` keeps objects
//! last modified at or after `T`, `--older-than T` those last modified before `T`.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};

/// The destination key of a source key, and back: `<src_prefix><rest>` is written to
/// `<dst_prefix><rest>`. Both empty: every key is its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    /// The prefix every source key of the run starts with.
    pub src_prefix: String,
    /// What replaces it at the destination.
    pub dst_prefix: String,
}

impl KeyMap {
    /// A map from `src_prefix` to `dst_prefix`.
    pub fn new(src_prefix: &str, dst_prefix: &str) -> KeyMap {
        KeyMap {
            src_prefix: src_prefix.to_string(),
            dst_prefix: dst_prefix.to_string(),
        }
    }

    /// True when every key is its own (no prefix, or the same on both sides).
    pub fn is_identity(&self) -> bool {
        self.src_prefix == self.dst_prefix
    }

    /// The destination key of source key `key`. A key outside the source prefix (never
    /// listed by a run with that prefix) keeps its whole self after the destination
    /// prefix, so that no two source keys share a destination key.
    pub fn dst_key(&self, key: &str) -> String {
        if self.is_identity() {
            return key.to_string();
        }
        let rest = key.strip_prefix(self.src_prefix.as_str()).unwrap_or(key);
        format!("{}{rest}", self.dst_prefix)
    }

    /// The source key a destination key stands for; `None` outside the destination
    /// prefix.
    pub fn src_key(&self, key: &str) -> Option<String> {
        if self.is_identity() {
            return Some(key.to_string());
        }
        let rest = key.strip_prefix(self.dst_prefix.as_str())?;
        Some(format!("{}{rest}", self.src_prefix))
    }
}

/// One `--include`/`--exclude` rule, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `--include` (true) or `--exclude`.
    pub include: bool,
    /// The glob.
    pub glob: String,
}

impl Rule {
    /// The rule as the task flag `--filter` takes it: `include:GLOB` or `exclude:GLOB`
    /// (one word: a task's command line is split on spaces).
    pub fn to_filter(&self) -> String {
        let kind = if self.include { "include" } else { "exclude" };
        format!("{kind}:{}", self.glob)
    }

    /// Parses `include:GLOB` or `exclude:GLOB`, checking the glob.
    pub fn parse_filter(text: &str) -> Result<Rule, String> {
        let (include, glob) = if let Some(glob) = text.strip_prefix("include:") {
            (true, glob)
        } else if let Some(glob) = text.strip_prefix("exclude:") {
            (false, glob)
        } else {
            return Err(format!(
                "expected `include:GLOB` or `exclude:GLOB`, found {text:?}"
            ));
        };
        let rule = Rule {
            include,
            glob: glob.to_string(),
        };
        rule.matcher()?;
        Ok(rule)
    }

    /// Checks the glob of `--include` or `--exclude`.
    pub fn checked(include: bool, glob: &str) -> Result<Rule, String> {
        let rule = Rule {
            include,
            glob: glob.to_string(),
        };
        rule.matcher()?;
        Ok(rule)
    }

    fn matcher(&self) -> Result<GlobMatcher, String> {
        let anchored = self.glob.strip_prefix('/');
        let pattern = match anchored {
            Some(rest) => rest.to_string(),
            // Unanchored: the glob matches the key's last segments.
            None if self.glob.starts_with("**/") => self.glob.clone(),
            None => format!("**/{}", self.glob),
        };
        if self.glob.is_empty() || pattern.is_empty() {
            return Err("an empty glob matches nothing".to_string());
        }
        GlobBuilder::new(&pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .empty_alternates(true)
            .build()
            .map(|glob| glob.compile_matcher())
            .map_err(|e| format!("bad glob {:?}: {}", self.glob, e.kind()))
    }
}

/// An instant, in whole seconds since the Unix epoch (UTC), as `--newer-than` and
/// `--older-than` carry it on the task command lines (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses an RFC 3339 time (`2025-06-01T00:00:00Z`, `2025-06-01T02:00:00+02:00`).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|at| Timestamp(at.unix_timestamp()))
            .map_err(|e| {
                format!(
                    "expected an RFC 3339 time such as 2025-06-01T00:00:00Z, found {text:?} ({e})"
                )
            })
    }

    /// Parses an RFC 3339 time, or a duration before `now` (`7d`, `12h`, `30m`, `45s`,
    /// `2w`, or a sum such as `1d12h`).
    pub fn parse_relative(text: &str, now: Timestamp) -> Result<Timestamp, String> {
        match parse_duration(text) {
            Some(seconds) => Ok(Timestamp(now.0.saturating_sub(seconds))),
            None => Timestamp::parse_rfc3339(text).map_err(|_| {
                format!(
                    "expected an RFC 3339 time (2025-06-01T00:00:00Z) or a duration before \
                     now (7d, 12h, 30m, 1d12h), found {text:?}"
                )
            }),
        }
    }

    /// Now, in whole seconds.
    pub fn now() -> Timestamp {
        Timestamp(time::OffsetDateTime::now_utc().unix_timestamp())
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC: `2025-06-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = crate::record::format_mtime(self.0).replacen(' ', "T", 1);
        write!(f, "{text}Z")
    }
}

/// Seconds of a duration such as `7d`, `12h`, `1d12h`, `90s`; `None` when `text` is not
/// one.
fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let count: i64 = digits.parse().ok()?;
        total = total.checked_add(count.checked_mul(unit)?)?;
        digits.clear();
    }
    (digits.is_empty() && !text.is_empty()).then_some(total)
}

/// Bytes of a size: a number with an optional suffix, `K`/`M`/`G`/`T` (also `Ki`, `KiB`, …)
/// for powers of 1024 as rclone takes them, `KB`/`MB`/`GB`/`TB` for powers of 1000, `B`
/// for bytes. `1.5G` is allowed (rounded down to a byte).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "expected a size in bytes with an optional suffix (K, M, G, T: powers of 1024; \
             KB, MB, GB, TB: of 1000), found {text:?}"
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let factor: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KI" | "KIB" => 1 << 10,
        "M" | "MI" | "MIB" => 1 << 20,
        "G" | "GI" | "GIB" => 1 << 30,
        "T" | "TI" | "TIB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(factor).ok_or_else(bad);
    }
    let fraction: f64 = number.parse().map_err(|_| bad())?;
    let bytes = fraction * factor as f64;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    // Rounded down on purpose: a fractional byte is no byte.
    Ok(bytes as u64)
}

/// What bucketlist keeps of a listing: the keys under a prefix that pass the filters.
/// Built from the task's flags ([`crate::command::Selection`]).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Keys outside it are not listed.
    pub prefix: String,
    rules: Vec<(bool, GlobMatcher)>,
    only_includes: bool,
    /// Smallest size kept (inclusive).
    pub min_size: Option<u64>,
    /// Largest size kept (inclusive).
    pub max_size: Option<u64>,
    /// Keep objects last modified at or after this instant.
    pub newer_than: Option<Timestamp>,
    /// Keep objects last modified before this instant.
    pub older_than: Option<Timestamp>,
}

/// Whether a listed object is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Under the prefix and through the filters.
    Keep,
    /// Not under the prefix: not the run's at all (not counted).
    Outside,
    /// Under the prefix, left out by a filter (counted as `Filtered`).
    Filtered,
}

impl Selection {
    /// A selection of the keys under `prefix` by `rules` (in order) and the bounds.
    pub fn new(
        prefix: &str,
        rules: &[Rule],
        min_size: Option<u64>,
        max_size: Option<u64>,
        newer_than: Option<Timestamp>,
        older_than: Option<Timestamp>,
    ) -> Result<Selection, String> {
        let compiled = rules
            .iter()
            .map(|rule| Ok((rule.include, rule.matcher()?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Selection {
            prefix: prefix.to_string(),
            only_includes: !rules.is_empty() && rules.iter().all(|r| r.include),
            rules: compiled,
            min_size,
            max_size,
            newer_than,
            older_than,
        })
    }

    /// Whether the object `key` of `size` bytes, last modified at `mtime`, is kept.
    pub fn judge(&self, key: &str, size: u64, mtime: Timestamp) -> Verdict {
        let Some(relative) = key.strip_prefix(self.prefix.as_str()) else {
            return Verdict::Outside;
        };
        let kept = self.min_size.is_none_or(|min| size >= min)
            && self.max_size.is_none_or(|max| size <= max)
            && self.newer_than.is_none_or(|at| mtime >= at)
            && self.older_than.is_none_or(|at| mtime < at)
            && self.key_included(relative);
        if kept {
            Verdict::Keep
        } else {
            Verdict::Filtered
        }
    }

    /// The include/exclude verdict on a key relative to the prefix: the first rule
    /// that matches decides.
    pub fn key_included(&self, relative: &str) -> bool {
        for (include, matcher) in &self.rules {
            if matcher.is_match(relative) {
                return *include;
            }
        }
        !self.only_includes
    }
}

/// The characters a [`KeyRegex`] is percent-encoded for on a task's command line:
/// those Hadoop's argument splitting or the plan's checks would not pass (whitespace,
/// quotes, backslash), `%` itself, and every non-ASCII byte.
const REGEX_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'\'')
    .add(b'\\')
    .add(b'%');

/// `--key-regex`: keys are kept when the regular expression matches anywhere in the
/// whole key (not relative to the prefix: anchor with `^` and `$`). The syntax is the
/// `regex-lite` crate's (Rust's `regex` without Unicode classes: `\w`, `\d`, `\s` are
/// ASCII, `\p{..}` is refused; `.` is any character, unicode included).
#[derive(Debug, Clone)]
pub struct KeyRegex {
    pattern: String,
    regex: regex_lite::Regex,
}

impl KeyRegex {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<KeyRegex, String> {
        let regex = regex_lite::Regex::new(pattern)
            .map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))?;
        Ok(KeyRegex {
            pattern: pattern.to_string(),
            regex,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True when the expression matches somewhere in `key`.
    pub fn is_match(&self, key: &str) -> bool {
        self.regex.is_match(key)
    }

    /// The pattern as a task's command line carries it: percent-encoded wherever it
    /// holds a character that cannot go on a streaming step's command line.
    pub fn to_arg(&self) -> String {
        percent_encoding::utf8_percent_encode(&self.pattern, REGEX_ESCAPE).to_string()
    }

    /// Reads [`KeyRegex::to_arg`]'s form back (a pattern without `%` is itself).
    pub fn parse_arg(text: &str) -> Result<KeyRegex, String> {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|_| format!("{text:?} is not percent-encoded UTF-8"))?;
        KeyRegex::new(&decoded)
    }
}

/// Two expressions are equal when their patterns are.
impl PartialEq for KeyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for KeyRegex {}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(given: &[(bool, &str)]) -> Selection {
        let rules: Vec<Rule> = given
            .iter()
            .map(|(include, glob)| Rule::checked(*include, glob).expect("glob"))
            .collect();
        Selection::new("logs/", &rules, None, None, None, None).expect("selection")
    }

    #[test]
    fn a_star_stays_in_its_segment_and_two_cross_them() {
        let s = rules(&[(true, "/*.gz")]);
        assert!(s.key_included("a.gz"));
        assert!(!s.key_included("x/a.gz"), "anchored, * does not cross /");
        let s = rules(&[(true, "/**/*.gz")]);
        assert!(s.key_included("x/y/a.gz"));
        assert!(s.key_included("a.gz"), "** matches no segment too");
        let s = rules(&[(true, "/2025/**")]);
        assert!(s.key_included("2025/01/a"));
        assert!(!s.key_included("x/2025/01/a"), "anchored at the prefix");
    }

    #[test]
    fn an_unanchored_glob_matches_the_end_at_a_segment_boundary() {
        let s = rules(&[(true, "*.gz")]);
        assert!(s.key_included("a.gz"));
        assert!(s.key_included("x/y/a.gz"));
        assert!(!s.key_included("a.gz.tmp"));
        let s = rules(&[(false, "b/c")]);
        assert!(!s.key_included("a/b/c"));
        assert!(!s.key_included("b/c"));
        assert!(s.key_included("ab/c"), "not at a segment boundary");
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let s = rules(&[(false, "*.tmp"), (true, "*")]);
        assert!(!s.key_included("a.tmp"));
        assert!(s.key_included("a.gz"));
        let s = rules(&[(true, "*"), (false, "*.tmp")]);
        assert!(s.key_included("a.tmp"), "the include came first");
    }

    #[test]
    fn unmatched_keys_are_in_unless_every_rule_includes() {
        assert!(!rules(&[(true, "*.gz")]).key_included("a.txt"));
        assert!(rules(&[(false, "*.gz")]).key_included("a.txt"));
        assert!(rules(&[(true, "*.gz"), (false, "*.tmp")]).key_included("a.txt"));
        assert!(rules(&[]).key_included("a.txt"));
    }

    #[test]
    fn classes_alternatives_and_question_marks() {
        let s = rules(&[(true, "/{a,b}/file[0-9].?z")]);
        assert!(s.key_included("a/file1.gz"));
        assert!(s.key_included("b/file9.xz"));
        assert!(!s.key_included("c/file1.gz"));
        assert!(!s.key_included("a/fileX.gz"));
        let s = rules(&[(true, "/a?b")]);
        assert!(!s.key_included("a/b"), "? does not match /");
    }

    #[test]
    fn bad_globs_are_refused() {
        assert!(Rule::checked(true, "[a").is_err());
        assert!(Rule::checked(true, "{a,b").is_err());
        assert!(Rule::checked(true, "").is_err());
        assert!(Rule::parse_filter("+ x").is_err());
        assert!(Rule::parse_filter("include:[x").is_err());
        assert_eq!(
            Rule::parse_filter("exclude:*.tmp").expect("rule"),
            Rule {
                include: false,
                glob: "*.tmp".into()
            }
        );
        assert_eq!(
            Rule::checked(true, "/a/**").expect("rule").to_filter(),
            "include:/a/**"
        );
    }

    #[test]
    fn the_prefix_selects_and_the_bounds_filter() {
        let s = Selection::new(
            "logs/",
            &[],
            Some(10),
            Some(100),
            Some(Timestamp(1000)),
            Some(Timestamp(2000)),
        )
        .expect("selection");
        assert_eq!(s.judge("other/a", 50, Timestamp(1500)), Verdict::Outside);
        assert_eq!(s.judge("logs/a", 50, Timestamp(1500)), Verdict::Keep);
        assert_eq!(s.judge("logs/a", 10, Timestamp(1000)), Verdict::Keep);
        assert_eq!(s.judge("logs/a", 100, Timestamp(1999)), Verdict::Keep);
        assert_eq!(s.judge("logs/a", 9, Timestamp(1500)), Verdict::Filtered);
        assert_eq!(s.judge("logs/a", 101, Timestamp(1500)), Verdict::Filtered);
        assert_eq!(s.judge("logs/a", 50, Timestamp(999)), Verdict::Filtered);
        assert_eq!(s.judge("logs/a", 50, Timestamp(2000)), Verdict::Filtered);
    }

    #[test]
    fn sizes_take_binary_and_decimal_suffixes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        assert_eq!(parse_size("5MiB"), Ok(5 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("10B"), Ok(10));
        for bad in ["", "K", "1X", "-1", "1.2.3", "99999999999999999999T", "1 K"] {
            let error = parse_size(bad).expect_err(bad);
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_before_now() {
        let now = Timestamp(1_750_000_000);
        assert_eq!(
            Timestamp::parse_relative("7d", now),
            Ok(Timestamp(now.0 - 7 * 86_400))
        );
        assert_eq!(
            Timestamp::parse_relative("1d12h", now),
            Ok(Timestamp(now.0 - 36 * 3600))
        );
        assert_eq!(
            Timestamp::parse_relative("30m", now),
            Ok(Timestamp(now.0 - 1800))
        );
        assert_eq!(
            Timestamp::parse_relative("2w", now),
            Ok(Timestamp(now.0 - 14 * 86_400))
        );
        let at = Timestamp::parse_relative("2025-06-01T00:00:00Z", now).expect("rfc3339");
        assert_eq!(at, Timestamp(1_748_736_000));
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-01T02:00:00+02:00"),
            Ok(Timestamp(1_748_736_000))
        );
        assert_eq!(at.to_string(), "2025-06-01T00:00:00Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_string()), Ok(at));
        for bad in ["", "7", "7x", "d", "2025-06-01", "yesterday"] {
            let error = Timestamp::parse_relative(bad, now).expect_err(bad);
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
        assert!(
            Timestamp::parse_rfc3339("7d").is_err(),
            "tasks take absolute times"
        );
    }

    #[test]
    fn prefixes_map_keys_both_ways() {
        let map = KeyMap::new("logs/2025/", "archive/2025/");
        assert_eq!(map.dst_key("logs/2025/a/b.gz"), "archive/2025/a/b.gz");
        assert_eq!(
            map.src_key("archive/2025/a/b.gz").as_deref(),
            Some("logs/2025/a/b.gz")
        );
        assert_eq!(map.src_key("other/a"), None);
        let to_root = KeyMap::new("logs/", "");
        assert_eq!(to_root.dst_key("logs/a"), "a");
        assert_eq!(to_root.src_key("a").as_deref(), Some("logs/a"));
        let same = KeyMap::default();
        assert!(same.is_identity());
        assert_eq!(same.dst_key("k"), "k");
        // A plain string prefix, as aws s3 sync: no slash is added.
        let bare = KeyMap::new("logs/2025", "old");
        assert_eq!(bare.dst_key("logs/2025-01/a"), "old-01/a");
    }

    #[test]
    fn key_regexes_match_anywhere_and_survive_the_command_line() {
        let regex = KeyRegex::new(r"^logs/\d{4}/.*\.gz$").expect("regex");
        assert!(regex.is_match("logs/2025/a b.gz"));
        assert!(!regex.is_match("x/logs/2025/a.gz"));
        assert!(!regex.is_match("logs/2025/a.gz.tmp"));
        let unanchored = KeyRegex::new("tmp").expect("regex");
        assert!(unanchored.is_match("a/tmp/b") && !unanchored.is_match("a/TMP"));
        for pattern in [r"a b\.c", "100%", "caf\u{e9}'s \"x\"", "-x", r"\t"] {
            let regex = KeyRegex::new(pattern).expect("regex");
            let arg = regex.to_arg();
            assert!(
                !arg.contains([' ', '"', '\'', '\\']) && arg.is_ascii(),
                "{arg}"
            );
            assert_eq!(KeyRegex::parse_arg(&arg).expect("back").as_str(), pattern);
        }
        let error = KeyRegex::new("a(b").expect_err("unbalanced");
        assert!(error.contains("\"a(b\""), "{error}");
    }
}
