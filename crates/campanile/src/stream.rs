//! The "streaming environment" check of the original Campanile.
//!
//! Under Hadoop Streaming with `NLineInputFormat` a mapper's stdin is
//! `<byte offset>\t<original line>` (the key is kept because the input format is not
//! `TextInputFormat`, see `PipeMapper.configure`); in a plain shell it is just the
//! line. A task is "in a stream" exactly when `mapred_input_format_class` is
//! `org.apache.hadoop.mapred.lib.NLineInputFormat` **and** `mapreduce_task_ismap` is
//! `true`: reducers see the same input format class but never get an offset.
//! Hadoop exports each job setting to the task's environment with every character
//! that is not alphanumeric turned into `_`, which is where these two names come from.

/// The old-API input format class that Campanile's steps use.
pub const NLINE_INPUT_FORMAT: &str = "org.apache.hadoop.mapred.lib.NLineInputFormat";

/// How many leading fields of each input line belong to Hadoop, not to the record:
/// 1 for a mapper under NLineInputFormat (the byte offset), 0 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIndex(pub usize);

impl StreamIndex {
    /// Plain shell: every line is a record.
    pub const SHELL: StreamIndex = StreamIndex(0);
    /// Mapper under NLineInputFormat: drop the offset field.
    pub const NLINE_MAPPER: StreamIndex = StreamIndex(1);

    /// Reads the rule from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The rule over any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let nline = lookup("mapred_input_format_class").as_deref() == Some(NLINE_INPUT_FORMAT);
        let is_map = lookup("mapreduce_task_ismap").as_deref() == Some("true");
        if nline && is_map {
            Self::NLINE_MAPPER
        } else {
            Self::SHELL
        }
    }

    /// Removes the Hadoop-owned leading fields from `line`. Returns `None` when the line
    /// has fewer fields than the index says (a mapper line without its offset).
    pub fn strip<'a>(&self, line: &'a str) -> Option<&'a str> {
        let mut rest = line;
        for _ in 0..self.0 {
            let (_, tail) = rest.split_once('\t')?;
            rest = tail;
        }
        Some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn index(vars: &[(&str, &str)]) -> StreamIndex {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StreamIndex::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn both_variables_are_needed() {
        assert_eq!(
            index(&[
                ("mapred_input_format_class", NLINE_INPUT_FORMAT),
                ("mapreduce_task_ismap", "true")
            ]),
            StreamIndex::NLINE_MAPPER
        );
        assert_eq!(
            index(&[("mapred_input_format_class", NLINE_INPUT_FORMAT)]),
            StreamIndex::SHELL
        );
        assert_eq!(
            index(&[("mapreduce_task_ismap", "true")]),
            StreamIndex::SHELL
        );
        assert_eq!(index(&[]), StreamIndex::SHELL);
    }

    #[test]
    fn reducers_never_get_an_offset() {
        assert_eq!(
            index(&[
                ("mapred_input_format_class", NLINE_INPUT_FORMAT),
                ("mapreduce_task_ismap", "false")
            ]),
            StreamIndex::SHELL
        );
    }

    #[test]
    fn other_input_formats_are_plain() {
        assert_eq!(
            index(&[
                (
                    "mapred_input_format_class",
                    "org.apache.hadoop.mapred.TextInputFormat"
                ),
                ("mapreduce_task_ismap", "true")
            ]),
            StreamIndex::SHELL
        );
    }

    #[test]
    fn strip_drops_the_offset_only() {
        assert_eq!(StreamIndex::NLINE_MAPPER.strip("42\t/,0"), Some("/,0"));
        assert_eq!(StreamIndex::NLINE_MAPPER.strip("7\ta\tb"), Some("a\tb"));
        assert_eq!(StreamIndex::NLINE_MAPPER.strip("6\t"), Some(""));
        assert_eq!(StreamIndex::NLINE_MAPPER.strip("no-offset"), None);
        assert_eq!(StreamIndex::SHELL.strip("42\t/,0"), Some("42\t/,0"));
    }
}
