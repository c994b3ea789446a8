//! Part files from an S3 Inventory report instead of the bucket ([`crate::inventory`]
//! reads it): the keys are read once, streaming; a uniform sample of them (reservoir
//! sampling, at most [`SAMPLE_KEYS`]) gives the cut points, so memory does not grow
//! with the bucket: each line then holds the target number of keys give or take the
//! sampling error (about ±1/√(sample keys per line)), and exactly when the whole report
//! fits in the sample.

use super::generate::Generated;
use super::line::PartLine;
use crate::error::Error;
use crate::inventory::{check_source, load_manifest};
use crate::s3::Client;

/// Keys kept in the sample at most.
pub const SAMPLE_KEYS: usize = 1_000_000;

/// A uniform sample of the keys offered (reservoir sampling), and their number.
#[derive(Debug)]
pub struct KeySample {
    keys: Vec<String>,
    seen: u64,
    capacity: usize,
    state: u64,
}

impl KeySample {
    /// An empty sample keeping at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        KeySample {
            keys: Vec::new(),
            seen: 0,
            capacity: capacity.max(1),
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Offers one key.
    pub fn offer(&mut self, key: String) {
        self.seen += 1;
        if self.keys.len() < self.capacity {
            self.keys.push(key);
            return;
        }
        // xorshift64*: a fixed seed, so that a report always gives the same part file.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) % self.seen;
        if let Ok(slot) = usize::try_from(draw)
            && slot < self.capacity
        {
            self.keys[slot] = key;
        }
    }

    /// Keys offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Cuts the key space at the sample's quantiles into lines of about `target` keys
    /// (exactly, when every key is in the sample).
    pub fn cut(mut self, target: u64) -> Generated {
        self.keys.sort_unstable();
        self.keys.dedup();
        let target = target.max(1);
        let exact = self.keys.len() as u64 == self.seen;
        let lines = self.seen.div_ceil(target).max(1);
        let len = self.keys.len() as u64;
        let mut starts: Vec<String> = Vec::new();
        for j in 1..lines {
            // The first key of line j: key number j * target in the whole bucket, or
            // the same quantile of the sample.
            let index = if exact { j * target } else { j * len / lines };
            if let Some(key) = usize::try_from(index).ok().and_then(|i| self.keys.get(i))
                && starts.last().is_none_or(|last| last < key)
            {
                starts.push(key.clone());
            }
        }
        let mut result = Vec::with_capacity(starts.len() + 1);
        let mut start = String::new();
        for next in &starts {
            result.push(PartLine::Range {
                start: std::mem::replace(&mut start, next.clone()),
                end: Some(next.clone()),
            });
        }
        result.push(PartLine::Range { start, end: None });
        let estimates = if exact {
            let mut bounds: Vec<u64> = vec![0];
            for next in &starts {
                bounds.push(self.keys.partition_point(|k| k < next) as u64);
            }
            bounds.push(self.seen);
            bounds.windows(2).map(|w| (w[1] - w[0]) as f64).collect()
        } else {
            vec![self.seen as f64 / result.len() as f64; result.len()]
        };
        Generated {
            lines: result,
            estimates,
            requests: 0,
            exact,
        }
    }
}

/// Makes a part file from the S3 Inventory report whose `manifest.json` is at
/// `manifest` (an `s3://` URI, read through `client`, or a local path), for `bucket`.
pub async fn generate(
    client: &Client,
    manifest: &str,
    bucket: &str,
    target: u64,
) -> Result<Generated, Error> {
    let (parsed, directory) = load_manifest(client, manifest).await?;
    check_source(&parsed, manifest, bucket)?;
    let mut sample = KeySample::new(SAMPLE_KEYS);
    for file in parsed
        .data_files(directory.as_deref())
        .map_err(|e| Error::Usage(format!("{manifest}: {e}")))?
    {
        let data = file.open(client).await?;
        file.read(data, |object| {
            sample.offer(object.key);
            Ok(())
        })?;
    }
    Ok(sample.cut(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_of_every_key_cuts_exactly() {
        let mut sample = KeySample::new(10);
        for key in ["b", "a", "tab\tkey x", "c"] {
            sample.offer(key.to_string());
        }
        let generated = sample.cut(2);
        assert!(generated.exact);
        assert_eq!(
            generated.lines,
            [
                PartLine::Range {
                    start: String::new(),
                    end: Some("c".into())
                },
                PartLine::Range {
                    start: "c".into(),
                    end: None
                }
            ]
        );
        assert_eq!(generated.estimates, [2.0, 2.0]);
    }

    #[test]
    fn a_sample_cuts_near_the_quantiles() {
        let mut sample = KeySample::new(20_000);
        for i in 0..200_000 {
            sample.offer(format!("{i:07}"));
        }
        let generated = sample.cut(10_000);
        assert!(!generated.exact);
        assert_eq!(generated.lines.len(), 20);
        let mut previous = 0;
        for line in &generated.lines[1..] {
            let PartLine::Range { start, .. } = line else {
                unreachable!()
            };
            let at: i64 = start.parse().expect("number");
            let size = at - previous;
            assert!((7_000..=13_000).contains(&size), "{size}");
            previous = at;
        }
    }
}
