//! `s3://bucket/key` locations, as the job's input, output and code prefix are given.

/// An `s3://bucket/key` URI split in two.
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris() {
        assert_eq!(
            parse_s3_uri("s3://codebucket/input/part.all"),
            Some(("codebucket".into(), "input/part.all".into()))
        );
        assert_eq!(parse_s3_uri("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_s3_uri("/local/path"), None);
        assert_eq!(parse_s3_uri("s3:///key"), None);
    }
}
