//! What a retried attempt finds already done, so that it does not do it again.
//!
//! Only a retried attempt asks (the first attempt of a task has nothing to find, and a
//! HEAD per object would cost a request for nothing): a whole object is already copied
//! when the destination holds the key with the source's ETag and size (one HEAD); a
//! part is already uploaded when its upload lists it (ListParts) with the part's
//! size, and its line for multipartcomplete is then written with the ETag ListParts
//! gives (multipartcomplete checks the combined ETag before completing, as for any
//! part), and with the checksum ListParts gives when the upload has the source's
//! checksum algorithm (a part listed without one is copied again: the source's
//! checksum could not be recomputed without it). One ListParts walk (all its pages) per upload per task, shared by the parts
//! of that upload: a killed attempt of a 10,000-part object resumes with ten requests,
//! not 10,000. The walks of the last few uploads are kept (multipartlist writes the
//! parts of an object together, so a split holds them together), not one per upload
//! of the split.
//!
//! Every check is an optimisation, never a condition of the copy: when the HEAD or
//! ListParts fails (a destination that lets the task write but not read, say), the
//! record is copied as on a first attempt.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use tokio::sync::OnceCell;

use crate::record::{PartInfo, PartRecord};
use crate::s3::Client;
use crate::sse_c::{CustomerKey, WithCustomerKey};

/// A part an upload already holds: its ETag (no quotes), size and checksums (in the
/// order of [`crate::checksum::Algorithm::pick`]; none where the server gives none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UploadedPart {
    pub(super) etag: String,
    pub(super) size: u64,
    pub(super) checksums: [Option<String>; 5],
}

/// A part found already in its upload: its ETag, and its checksum of the upload's
/// algorithm when the part record has the source's checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundPart {
    pub(super) etag: String,
    pub(super) checksum: Option<String>,
}

/// The parts of one upload, or why they could not be listed.
type Listing = Result<HashMap<u32, UploadedPart>, String>;

/// The parts of the uploads this attempt has looked at (the last few).
pub(super) struct Finished {
    /// (upload id, its listing, made once), oldest first.
    uploads: RefCell<VecDeque<(String, Rc<OnceCell<Listing>>)>>,
    /// Listings kept at most.
    capacity: usize,
}

impl Finished {
    /// Keeps the listings of up to `capacity` uploads (at least the number of records
    /// copied at once, so that the parts in flight share theirs).
    pub(super) fn new(capacity: usize) -> Self {
        Finished {
            uploads: RefCell::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    /// True when `dst_bucket` already holds the record's whole object under `dst_key`,
    /// with the source's ETag and size (`key`: the copies' SSE-C key, to read it with;
    /// an SSE-C copy's ETag never equals its source's on S3, so it is copied again).
    pub(super) async fn whole_object(
        &self,
        record: &PartRecord,
        dst: &Client,
        dst_bucket: &str,
        dst_key: &str,
        key: Option<&CustomerKey>,
    ) -> bool {
        let object = &record.object;
        let Ok(head) = dst
            .head_object()
            .bucket(dst_bucket)
            .key(dst_key)
            .sse_c(key)
            .send()
            .await
        else {
            return false;
        };
        let etag = head.e_tag().unwrap_or_default().trim_matches('"');
        let size = head.content_length().and_then(|l| u64::try_from(l).ok());
        etag == object.etag && size == Some(object.size)
    }

    /// The part when its upload already holds it with the part's size (and, for a part
    /// record with the source's checksum, with a checksum of its algorithm: without it,
    /// the source's checksum could not be recomputed, so the part is copied again).
    pub(super) async fn part(
        &self,
        record: &PartRecord,
        part: &PartInfo,
        dst: &Client,
        dst_bucket: &str,
        dst_key: &str,
        key: Option<&CustomerKey>,
    ) -> Option<FoundPart> {
        let cell = self.cell(&part.upload_id);
        let listing = cell
            .get_or_init(|| list_parts(dst, dst_bucket, dst_key, &part.upload_id, key))
            .await;
        let found = listing.as_ref().ok()?.get(&part.part_number)?;
        if found.size != record.len() || found.etag.is_empty() {
            return None;
        }
        let checksum = match &part.checksum {
            None => None,
            Some(source) => Some(
                source
                    .algorithm
                    .pick(found.checksums.each_ref().map(Option::as_deref))?
                    .to_string(),
            ),
        };
        Some(FoundPart {
            etag: found.etag.clone(),
            checksum,
        })
    }

    /// The listing cell of `upload_id`, made (and the oldest dropped) if needed.
    fn cell(&self, upload_id: &str) -> Rc<OnceCell<Listing>> {
        let mut uploads = self.uploads.borrow_mut();
        if let Some((_, cell)) = uploads.iter().find(|(id, _)| id == upload_id) {
            return cell.clone();
        }
        if uploads.len() >= self.capacity {
            uploads.pop_front();
        }
        let cell = Rc::new(OnceCell::new());
        uploads.push_back((upload_id.to_string(), cell.clone()));
        cell
    }

    /// How many uploads have a listing (tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.uploads.borrow().len()
    }
}

/// Every part of an upload, page after page (with the upload's SSE-C key, which S3
/// asks for when the upload has a checksum algorithm).
async fn list_parts(
    dst: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    sse_c: Option<&CustomerKey>,
) -> Listing {
    let mut parts = HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = dst
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .sse_c(sse_c)
            .send()
            .await
            .map_err(|e| crate::s3::describe_error(&e))?;
        for part in page.parts() {
            let (Some(number), Some(size)) = (part.part_number(), part.size()) else {
                continue;
            };
            let (Ok(number), Ok(size)) = (u32::try_from(number), u64::try_from(size)) else {
                continue;
            };
            parts.insert(
                number,
                UploadedPart {
                    etag: part
                        .e_tag()
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_string(),
                    size,
                    checksums: [
                        part.checksum_crc32(),
                        part.checksum_crc32_c(),
                        part.checksum_crc64_nvme(),
                        part.checksum_sha1(),
                        part.checksum_sha256(),
                    ]
                    .map(|c| c.map(str::to_string)),
                },
            );
        }
        match (page.is_truncated(), page.next_part_number_marker()) {
            (Some(true), Some(next)) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(parts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listings_of_the_last_uploads_are_kept() {
        let finished = Finished::new(2);
        let a = finished.cell("a");
        assert!(
            Rc::ptr_eq(&a, &finished.cell("a")),
            "one listing per upload"
        );
        finished.cell("b");
        assert_eq!(finished.kept(), 2);
        finished.cell("c");
        assert_eq!(finished.kept(), 2, "the oldest is dropped");
        assert!(
            !Rc::ptr_eq(&a, &finished.cell("a")),
            "listed again if needed"
        );
    }
}
