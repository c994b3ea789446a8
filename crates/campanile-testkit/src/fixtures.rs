//! The article's test bucket, generated deterministically (no tarball to ship): 256
//! objects `00`..`ff` of 10,240 bytes, except that `10` and `000/00` are 20,971,520
//! bytes uploaded in 8 MiB parts, so their ETags end in `-3`. The key `000/00` shows
//! why part-file delimiters matter: `/,0` and `,000/` must list `00` and `000/00`
//! exactly once each.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use campanile::s3::Client;
use futures::{StreamExt, TryStreamExt};

/// Size of the small objects.
pub const SMALL_SIZE: u64 = 10_240;
/// Size of the multipart objects.
pub const LARGE_SIZE: u64 = 20_971_520;
/// Part size of the multipart objects (the AWS CLI default).
pub const LARGE_PART_SIZE: u64 = 8 * 1024 * 1024;

/// One object of a fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureObject {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Part size of a multipart upload; `None` for a single PUT.
    pub part_size: Option<u64>,
}

impl FixtureObject {
    /// An object uploaded with one PUT.
    pub fn whole(key: impl Into<String>, size: u64) -> FixtureObject {
        FixtureObject {
            key: key.into(),
            size,
            part_size: None,
        }
    }

    /// An object uploaded in parts of `part_size` bytes.
    pub fn multipart(key: impl Into<String>, size: u64, part_size: u64) -> FixtureObject {
        FixtureObject {
            key: key.into(),
            size,
            part_size: Some(part_size),
        }
    }

    /// The object's deterministic content.
    pub fn bytes(&self) -> Vec<u8> {
        fixture_bytes(&self.key, self.size)
    }
}

/// The article's test bucket.
pub fn article_objects() -> Vec<FixtureObject> {
    let mut objects: Vec<FixtureObject> = (0..=255u32)
        .map(|i| format!("{i:02x}"))
        .map(|key| {
            let large = key == "10";
            FixtureObject {
                key,
                size: if large { LARGE_SIZE } else { SMALL_SIZE },
                part_size: large.then_some(LARGE_PART_SIZE),
            }
        })
        .collect();
    objects.push(FixtureObject::multipart(
        "000/00",
        LARGE_SIZE,
        LARGE_PART_SIZE,
    ));
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects
}

/// The article's part file (`var/input/srcbucket/part.all`): `/,0` then `,000/`, then
/// `,1` .. `,f`.
pub fn article_part_file() -> String {
    let mut text = String::from("/,0\n,000/\n");
    for digit in "123456789abcdef".chars() {
        text.push_str(&format!(",{digit}\n"));
    }
    text
}

/// Deterministic pseudo-random bytes for `key` (xorshift64* seeded by the key's MD5).
pub fn fixture_bytes(key: &str, size: u64) -> Vec<u8> {
    let digest = campanile::multipart::md5(key.as_bytes());
    let mut state = u64::from_le_bytes(digest[..8].try_into().unwrap_or([1; 8])) | 1;
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while (out.len() as u64) < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let take = usize::try_from((size - out.len() as u64).min(8)).unwrap_or(8);
        out.extend_from_slice(&word.to_le_bytes()[..take]);
    }
    out
}

/// Uploads `data` with a single PUT.
pub async fn put_object(client: &Client, bucket: &str, key: &str, data: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
}

/// Uploads `data` as a multipart upload with parts of the given sizes (the last part
/// takes the rest). Returns the ETag without quotes.
pub async fn put_multipart(
    client: &Client,
    bucket: &str,
    key: &str,
    data: &[u8],
    part_sizes: &[u64],
) -> String {
    let fail = |what: &str, e: String| -> ! { panic!("{what} s3://{bucket}/{key}: {e}") };
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| {
            fail(
                "create upload",
                aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            )
        });
    let upload_id = upload.upload_id().unwrap_or_default().to_string();
    let mut parts = Vec::new();
    let mut offset = 0usize;
    for (index, size) in part_sizes.iter().enumerate() {
        let end = if index + 1 == part_sizes.len() {
            data.len()
        } else {
            (offset + usize::try_from(*size).unwrap_or(usize::MAX)).min(data.len())
        };
        let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(data[offset..end].to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| {
                fail(
                    "upload part",
                    aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                )
            });
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_string))
                .build(),
        );
        offset = end;
    }
    let done = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            fail(
                "complete upload",
                aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            )
        });
    done.e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

/// Uploads one fixture object.
pub async fn upload(client: &Client, bucket: &str, object: &FixtureObject) {
    let data = object.bytes();
    match object.part_size {
        None => put_object(client, bucket, &object.key, data).await,
        Some(part_size) => {
            let parts = object.size.div_ceil(part_size).max(1);
            let sizes = vec![part_size; usize::try_from(parts).unwrap_or(1)];
            put_multipart(client, bucket, &object.key, &data, &sizes).await;
        }
    }
}

/// Every object of `bucket`, all pages.
pub async fn list_objects(client: &Client, bucket: &str) -> Vec<aws_sdk_s3::types::Object> {
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| {
            panic!(
                "list s3://{bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
        objects.extend(page.contents().iter().cloned());
    }
    objects
}

/// Uploads every object of `objects`, 16 at a time.
pub async fn upload_all(client: &Client, bucket: &str, objects: &[FixtureObject]) {
    futures::stream::iter(objects)
        .map(|object| async move {
            upload(client, bucket, object).await;
            Ok::<(), ()>(())
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_article_layout() {
        let objects = article_objects();
        assert_eq!(objects.len(), 257);
        let large: Vec<&str> = objects
            .iter()
            .filter(|o| o.part_size.is_some())
            .map(|o| o.key.as_str())
            .collect();
        assert_eq!(large, vec!["000/00", "10"]);
        assert_eq!(objects[0].key, "00");
        assert_eq!(objects[1].key, "000/00");
        assert_eq!(objects.last().map(|o| o.key.as_str()), Some("ff"));
    }

    #[test]
    fn content_is_deterministic_and_distinct() {
        assert_eq!(fixture_bytes("00", 100), fixture_bytes("00", 100));
        assert_ne!(fixture_bytes("00", 100), fixture_bytes("01", 100));
        assert_eq!(fixture_bytes("00", 10_240).len(), 10_240);
        assert_eq!(fixture_bytes("00", 13).len(), 13);
        assert_eq!(
            &fixture_bytes("00", 13)[..],
            &fixture_bytes("00", 100)[..13]
        );
    }

    #[test]
    fn the_part_file_covers_every_key_once() {
        let lines: Vec<String> = article_part_file().lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 17);
        assert_eq!(lines[0], "/,0");
        assert_eq!(lines[1], ",000/");
        assert_eq!(lines[16], ",f");
    }
}
