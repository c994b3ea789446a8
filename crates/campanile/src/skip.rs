//! Objects a task leaves out on purpose, and why. Exit 0 of a run means every listed
//! object is at the destination as promised, so nothing may be left out in silence:
//! each skipped object is counted (a counter per reason, group = the bucket it was
//! read from), announced on the task's status line, and described by a [`Skipped`]
//! row that the run gathers into its skip report (JSON lines: key, size, ETag, reason).

use serde::{Deserialize, Serialize};

/// Why an object was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its data must be restored before it can be read (GLACIER, DEEP_ARCHIVE, the
    /// Intelligent-Tiering archive tiers).
    Archived,
    /// Gone from the source since the listing (404).
    Vanished,
    /// Changed at the source since the listing (412 on the ETag pin, or another ETag).
    Changed,
    /// Its multipart layout could not be told, so its ETag could not be kept.
    UnknownLayout,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 4] = [
        SkipReason::Archived,
        SkipReason::Vanished,
        SkipReason::Changed,
        SkipReason::UnknownLayout,
    ];

    /// The counter that counts objects skipped for this reason.
    pub const fn counter(self) -> &'static str {
        match self {
            SkipReason::Archived => crate::reporter::counters::SKIPPED_ARCHIVED,
            SkipReason::Vanished => crate::reporter::counters::SOURCE_VANISHED,
            SkipReason::Changed => crate::reporter::counters::SOURCE_CHANGED,
            SkipReason::UnknownLayout => crate::reporter::counters::UNKNOWN_PART_LAYOUT,
        }
    }

    /// The reason as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Archived => "archived",
            SkipReason::Vanished => "vanished",
            SkipReason::Changed => "changed",
            SkipReason::UnknownLayout => "unknown_layout",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped object: a row of the skip report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The object's key at the source.
    pub key: String,
    /// Its size as listed.
    pub size: u64,
    /// Its ETag as listed (without quotes).
    pub etag: String,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// What was seen, for a person (storage class, status code, the ETag found…).
    pub detail: String,
}

impl Skipped {
    /// The row as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        // Serializing a struct of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_from_its_json_line() {
        let row = Skipped {
            key: "a\tb/\u{feff}c".into(),
            size: 7,
            etag: "0123-2".into(),
            reason: SkipReason::Changed,
            detail: "412 on If-Match".into(),
        };
        let line = row.to_json_line();
        assert!(line.contains("\"reason\":\"changed\""), "{line}");
        assert!(!line.contains('\n'));
        let back: Skipped = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, row);
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let mut names: Vec<&str> = SkipReason::ALL.iter().map(|r| r.counter()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SkipReason::ALL.len());
    }
}
