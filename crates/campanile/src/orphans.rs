//! Multipart uploads left behind by failed attempts or a failed run, and their clean-up.
//!
//! A run creates one upload per multipart object (multipartlist) and completes it
//! (multipartcomplete). Uploads can be left in progress: a multipartlist attempt killed
//! after creating some uploads is retried and creates new ones; a CreateMultipartUpload
//! whose answer was lost is retried by the SDK and creates a second; a copy step that
//! fails leaves the uploads of its objects, often with every part already copied but
//! never completed (multipartcomplete, the reducer, runs only when every copy task has
//! succeeded). Uploads in progress are invisible but S3 bills their parts until they
//! are completed or aborted.
//!
//! Two clean-ups. multipartlist, right after creating a key's upload, aborts every
//! other upload in progress for that key ([`abort_others`]): this works on EMR too, and
//! catches the uploads of a killed earlier attempt and of a lost CreateMultipartUpload
//! answer as soon as the key is planned again. And the local runner's clean-up
//! ([`finish_run`]) runs when a run's copy has ended, whether it succeeded or failed:
//! every upload still in progress in the destination for a multipart key of the run is
//! either *completed*, when it is the upload the run planned for the key and ListParts
//! shows exactly the planned parts (numbers 1..N, each of its planned size, and part
//! ETags that make the source's multipart ETag, checked before completing and again on
//! the completed object, as multipartcomplete does; for an upload created with the
//! source's checksum algorithm, part checksums that make the source's checksum too,
//! sent with the completion), or *aborted* (a partial upload, an
//! orphan of another attempt, an earlier failed run's). So a failed run keeps every
//! object whose bytes it finished copying, and the `--diff` re-run sends none of them
//! again. The run owns the keys it copies: another writer's upload to one of them,
//! completed later, would make the destination differ from the source, which is what
//! the run is there to prevent. After `rsync --diff` a completion here is conditional
//! on what the diff saw at the destination, as multipartcomplete's: one that the
//! destination refuses (412, someone else wrote the key) is aborted instead. (The upload's `Initiated` time is not used to tell runs
//! apart: clocks differ, and some servers, moto among them, report a fixed date.)
//!
//! A copy of versions (`objectcopy --versions`, docs/versions.md) has neither
//! multipartlist nor a part list: its task creates each multipart version's upload,
//! aborts the key's other uploads in progress right after ([`abort_others`], as
//! multipartlist does), and completes it in the key's order. Its clean-up reads the
//! versions listing (versions records): every upload in progress for a key with a
//! multipart version is aborted, never completed (completing it now would write the
//! version after the key's newer ones).
//!
//! Memory does not grow with the run: the clean-up takes the uploads in progress in
//! passes of at most [`UPLOADS_PER_PASS`] (ListMultipartUploads pages, in key order),
//! and for each pass reads the run's part list (or, when multipartlist did not finish,
//! its listing) from the start, one planned upload at a time. After a successful run
//! there is nothing in progress: one ListMultipartUploads request, no pass.

use std::collections::HashMap;

use futures::StreamExt;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, S3Context, S3ResultExt};
use crate::hadoop_input::input_files;
use crate::input::InputLines;
use crate::multipart::{ByteRange, multipart_etag, parse_md5_hex, part_count_from_etag};
use crate::record::{ListingRecord, PartRecord};
use crate::s3::Client;
use crate::stream::StreamIndex;

/// Uploads in progress taken into memory at once (a key and an upload id each, about
/// 200 bytes): above it the clean-up reads the run's part list once more per pass.
pub const UPLOADS_PER_PASS: usize = 100_000;

/// One in-progress upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its key.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
}

/// An upload as the run planned it: multipartlist's part records of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpload {
    /// The key (at the source and the destination).
    pub key: String,
    /// The source's multipart ETag, which the completed object must get.
    pub etag: String,
    /// The destination upload id; `None` when only the listing is known (multipartlist
    /// did not finish): every upload of the key is then aborted.
    pub upload_id: Option<String>,
    /// The planned byte range of each part, part 1 first.
    pub ranges: Vec<ByteRange>,
    /// What the diff saw at the destination (`rsync --diff`): the completion is
    /// conditional on it, as multipartcomplete's.
    pub destination: Option<crate::record::Destination>,
    /// The source's checksum, when the upload was created with its algorithm: the
    /// parts' checksums (ListParts) must make it, and go with the completion.
    pub checksum: Option<crate::checksum::SourceChecksum>,
}

/// What the clean-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanUp {
    /// Uploads completed: all their parts were copied.
    pub completed: Vec<Upload>,
    /// Uploads aborted: partial, or not the run's planned upload.
    pub aborted: Vec<Upload>,
    /// Passes over the run's records (one per [`UPLOADS_PER_PASS`] uploads in
    /// progress; none when nothing is in progress).
    pub passes: u64,
    /// Why the parts of some planned uploads could not be listed (those were aborted).
    pub unlisted: Vec<String>,
}

/// A ListParts that failed: the upload's completeness cannot be told.
struct Unlisted(Error);

/// How the clean-up completes an upload: CompleteMultipartUpload's attempts and the
/// longest pause between them (multipartcomplete's).
pub type CompleteAttempts = (u32, Duration);

/// Completes or aborts every upload in progress in `bucket` for a multipart key of
/// the run: `parts` is multipartlist's output (the copy's input), used when it exists;
/// otherwise `listing` (the listing multipartlist read), whose multipart keys' uploads
/// are all aborted. The records carry source keys: `keys` maps them to the
/// destination keys of the uploads. See the module documentation.
pub async fn finish_run(
    client: &Client,
    bucket: &str,
    keys: &crate::select::KeyMap,
    parts: &Path,
    listing: &Path,
    attempts: CompleteAttempts,
    per_pass: usize,
) -> Result<CleanUp, Error> {
    let mut done = CleanUp::default();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let (found, next) = uploads_page(client, bucket, markers, per_pass.max(1)).await?;
        if !found.is_empty() {
            done.passes += 1;
            let mut pending: HashMap<String, Pending> = found
                .into_iter()
                .map(|(key, ids)| {
                    (
                        key,
                        Pending {
                            ids,
                            of_the_run: false,
                        },
                    )
                })
                .collect();
            let source = if parts.exists() { parts } else { listing };
            let mut batch = Vec::new();
            for plan in planned_uploads(source, parts.exists())? {
                let mut plan = plan?;
                // The upload in progress is the destination key's.
                plan.key = keys.dst_key(&plan.key);
                let Some(entry) = pending.get_mut(&plan.key) else {
                    continue;
                };
                entry.of_the_run = true;
                // The planned upload is finished with its plan; the key's other
                // uploads once every plan of the key has been seen (end of the pass).
                let planned = plan.upload_id.as_deref();
                let mine = planned.and_then(|id| {
                    let at = entry.ids.iter().position(|u| u == id)?;
                    Some(entry.ids.swap_remove(at))
                });
                if let Some(upload_id) = mine {
                    batch.push((plan, upload_id));
                }
                if batch.len() >= FINISH_BATCH {
                    finish_batch(
                        client,
                        bucket,
                        std::mem::take(&mut batch),
                        attempts,
                        &mut done,
                    )
                    .await?;
                }
            }
            finish_batch(client, bucket, batch, attempts, &mut done).await?;
            // Other uploads of the run's keys are orphans, and so are the uploads of
            // objectcopy's probe (never completed; one is left only by a task killed
            // during its probe; a concurrent run's task whose probe upload goes only
            // falls back to computing its MD5s); the rest is another writer's, on keys
            // this run does not copy, and stays.
            let orphans: Vec<Upload> = pending
                .into_iter()
                .filter(|(key, entry)| {
                    entry.of_the_run
                        || key.ends_with(crate::task::objectcopy::server_checks::PROBE_NAME)
                })
                .flat_map(|(key, entry)| {
                    entry.ids.into_iter().map(move |upload_id| Upload {
                        key: key.clone(),
                        upload_id,
                    })
                })
                .collect();
            abort_all(client, bucket, &orphans).await?;
            done.aborted.extend(orphans);
        }
        match next {
            Some(next) => markers = next,
            None => return Ok(done),
        }
    }
}

/// The uploads of one key in progress, and whether the run copies the key.
struct Pending {
    ids: Vec<String>,
    of_the_run: bool,
}

/// Planned uploads finished at once ([`FINISH_CONCURRENCY`] requests in flight).
const FINISH_BATCH: usize = 64;

/// ListParts and completions in flight at once.
const FINISH_CONCURRENCY: usize = 16;

/// Completes each planned upload of `batch` whose parts are all there, aborts the
/// others, and records which.
async fn finish_batch(
    client: &Client,
    bucket: &str,
    batch: Vec<(PlannedUpload, String)>,
    attempts: CompleteAttempts,
    done: &mut CleanUp,
) -> Result<(), Error> {
    let mut finished = futures::stream::iter(batch)
        .map(|(plan, upload_id)| async move {
            let whole = match complete_if_whole(client, bucket, &plan, attempts).await? {
                Ok(whole) => (whole, None),
                // Parts that cannot be listed cannot be shown complete: the upload is
                // aborted (nothing stays billed), and said.
                Err(Unlisted(error)) => (false, Some(error.to_string())),
            };
            let upload = Upload {
                key: plan.key,
                upload_id,
            };
            if !whole.0 {
                abort_all(client, bucket, std::slice::from_ref(&upload)).await?;
            }
            Ok::<_, Error>((upload, whole))
        })
        .buffer_unordered(FINISH_CONCURRENCY);
    while let Some(result) = finished.next().await {
        let (upload, (whole, unlisted)) = result?;
        done.unlisted.extend(unlisted);
        if whole {
            done.completed.push(upload);
        } else {
            done.aborted.push(upload);
        }
    }
    Ok(())
}

/// In-progress uploads from `markers` on, up to about `most` of them, grouped by key;
/// and the markers of the rest, if any.
#[allow(clippy::type_complexity)]
async fn uploads_page(
    client: &Client,
    bucket: &str,
    mut markers: (Option<String>, Option<String>),
    most: usize,
) -> Result<
    (
        HashMap<String, Vec<String>>,
        Option<(Option<String>, Option<String>)>,
    ),
    Error,
> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    let mut count = 0;
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(bucket)
            .set_key_marker(markers.0.clone())
            .set_upload_id_marker(markers.1.clone())
            .max_uploads(i32::try_from((most - count).min(1000)).unwrap_or(1000))
            .send()
            .await
            .context("ListMultipartUploads", bucket, "")?;
        for upload in page.uploads() {
            if let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) {
                found
                    .entry(key.to_string())
                    .or_default()
                    .push(upload_id.to_string());
                count += 1;
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok((found, None));
        }
        let next = (
            page.next_key_marker().map(str::to_string),
            page.next_upload_id_marker().map(str::to_string),
        );
        if next == markers || next.0.is_none() {
            return Err(S3Context::new("ListMultipartUploads", bucket, "")
                .problem("a truncated page did not move the key marker on"));
        }
        markers = next;
        if count >= most {
            return Ok((found, Some(markers)));
        }
    }
}

/// Completes the planned upload when ListParts shows exactly its planned parts and
/// their ETags make the source's; returns false (nothing done, so it is aborted)
/// otherwise. An upload created with the source's checksum algorithm (the plan's
/// `checksum`) is completed only when its parts' checksums make the source's value,
/// and with them (S3 requires every part's checksum then); one created with an
/// algorithm the plan does not name is never completed here (the re-run copies the
/// object again).
async fn complete_if_whole(
    client: &Client,
    bucket: &str,
    plan: &PlannedUpload,
    attempts: CompleteAttempts,
) -> Result<Result<bool, Unlisted>, Error> {
    let Some(upload_id) = plan.upload_id.as_deref() else {
        return Ok(Ok(false));
    };
    let listed = listed_parts(
        client,
        bucket,
        &plan.key,
        upload_id,
        plan.checksum.is_some(),
    );
    let parts = match listed.await {
        Ok(Some(parts)) => parts,
        Ok(None) => return Ok(Ok(false)),
        Err(error) => return Ok(Err(Unlisted(error))),
    };
    let whole = !plan.ranges.is_empty()
        && parts.len() == plan.ranges.len()
        && parts.iter().zip(&plan.ranges).zip(1..).all(
            |(((number, size, ..), range), expected)| *number == expected && *size == range.len(),
        );
    if !whole {
        return Ok(Ok(false));
    }
    let Some(digests) = parts
        .iter()
        .map(|(_, _, etag, _)| parse_md5_hex(etag))
        .collect::<Option<Vec<[u8; 16]>>>()
    else {
        return Ok(Ok(false));
    };
    if multipart_etag(&digests) != plan.etag {
        return Ok(Ok(false));
    }
    // An upload created with the source's checksum algorithm: the parts' checksums
    // must make the source's value (and S3 needs them to complete it); an upload whose
    // parts are listed without one (moto gives none) is left to be aborted.
    let checksums = match &plan.checksum {
        None => None,
        Some(source) => {
            let Some(values) = parts
                .iter()
                .map(|(.., checksums)| {
                    source
                        .algorithm
                        .pick(checksums.each_ref().map(Option::as_deref))
                        .map(str::to_string)
                })
                .collect::<Option<Vec<String>>>()
            else {
                return Ok(Ok(false));
            };
            let lengths: Vec<(&str, u64)> = values
                .iter()
                .zip(&plan.ranges)
                .map(|(value, range)| (value.as_str(), range.len()))
                .collect();
            let made = crate::checksum::combine(source.algorithm, source.kind, &lengths);
            if !made.is_some_and(|made| source.matches(&made)) {
                return Ok(Ok(false));
            }
            Some((source, values))
        }
    };
    let numbered: Vec<(u32, String)> = parts
        .into_iter()
        .map(|(number, _, etag, _)| (number, etag))
        .collect();
    let completed = crate::task::multipartcomplete::complete_upload(
        client,
        bucket,
        &plan.key,
        upload_id,
        &plan.etag,
        &numbered,
        checksums
            .as_ref()
            .map(|(source, values)| (*source, values.as_slice())),
        plan.destination.as_ref(),
        attempts,
    )
    .await;
    let etag = match completed {
        // Someone else wrote the key during the run (`rsync --diff`): not
        // overwritten; the upload is aborted with the others.
        Err(Error::SourceMoved {
            reason: crate::skip::SkipReason::DestinationChanged,
            ..
        }) => return Ok(Ok(false)),
        other => other?,
    };
    if etag != plan.etag {
        return Err(Error::Integrity {
            bucket: bucket.to_string(),
            key: plan.key.clone(),
            message: format!(
                "the clean-up completed upload {upload_id} and the object got the ETag {etag}, the source's is {}",
                plan.etag
            ),
        });
    }
    Ok(Ok(true))
}

/// One part ListParts gives: number, size, ETag (no quotes), and its checksums (in the
/// order of [`crate::checksum::Algorithm::pick`]).
type ListedPart = (u32, u64, String, [Option<String>; 5]);

/// The parts of an upload (number, size, ETag without quotes, checksums), in
/// part-number order; `None` when the upload is gone (completed or aborted meanwhile), or was created
/// with a checksum algorithm that the plan does not name (`checksum` false: it could
/// not be proven nor completed here).
async fn listed_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    checksum: bool,
) -> Result<Option<Vec<ListedPart>>, Error> {
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.clone())
            .send()
            .await;
        let page = match page {
            // Parts with checksums the plan does not name (see [`complete_if_whole`]):
            // not completed here.
            Ok(page) if page.checksum_algorithm().is_some() && !checksum => return Ok(None),
            Ok(page) => page,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.meta().code() == Some("NoSuchUpload")) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(S3Context::new("ListParts", bucket, key).sdk(error)),
        };
        for part in page.parts() {
            let (Some(number), Some(size), Some(etag)) =
                (part.part_number(), part.size(), part.e_tag())
            else {
                continue;
            };
            parts.push((
                u32::try_from(number).unwrap_or(0),
                u64::try_from(size).unwrap_or(u64::MAX),
                etag.trim_matches('"').to_string(),
                [
                    part.checksum_crc32(),
                    part.checksum_crc32_c(),
                    part.checksum_crc64_nvme(),
                    part.checksum_sha1(),
                    part.checksum_sha256(),
                ]
                .map(|c| c.map(str::to_string)),
            ));
        }
        let next = page.next_part_number_marker().map(str::to_string);
        if page.is_truncated() != Some(true) {
            break;
        }
        if next.is_none() || next == marker {
            return Err(S3Context::new("ListParts", bucket, key)
                .problem("a truncated page did not move the part marker on"));
        }
        marker = next;
    }
    parts.sort_by_key(|(number, ..)| *number);
    Ok(Some(parts))
}

/// The run's planned uploads, one at a time: from multipartlist's part records
/// (`parts` true; consecutive lines of one upload make one plan, skip rows and whole
/// objects are passed over) or from a listing's multipart records (no upload id). A
/// listing of versions (`rsync --all-versions`, `--version-at`: versions records,
/// [`crate::versions`]) plans, with no upload id, each key that has a multipart
/// version.
pub fn planned_uploads(
    source: &Path,
    parts: bool,
) -> Result<impl Iterator<Item = Result<PlannedUpload, Error>>, Error> {
    let files = input_files(source)?;
    let lines = files.into_iter().flat_map(|file| {
        let opened = std::fs::File::open(&file)
            .map(std::io::BufReader::new)
            .map_err(|e| Error::io(format!("opening {}", file.display()), e));
        let lines: Box<dyn Iterator<Item = Result<(String, u64, String), Error>>> = match opened {
            Ok(reader) => Box::new(named_lines(reader, file.display().to_string())),
            Err(error) => Box::new(std::iter::once(Err(error))),
        };
        lines
    });
    Ok(Plans {
        lines: Box::new(lines),
        parts,
        pending: None,
        broken: false,
    })
}

fn named_lines<R: BufRead>(
    reader: R,
    file: String,
) -> impl Iterator<Item = Result<(String, u64, String), Error>> {
    InputLines::new(reader, StreamIndex::SHELL)
        .map(move |line| line.map(|line| (line.text, line.number, file.clone())))
}

/// Groups part records into planned uploads.
struct Plans {
    lines: Box<dyn Iterator<Item = Result<(String, u64, String), Error>>>,
    parts: bool,
    pending: Option<PlannedUpload>,
    /// The pending upload's parts were out of order or repeated.
    broken: bool,
}

impl Plans {
    fn next_plan(&mut self) -> Result<Option<PlannedUpload>, Error> {
        for line in self.lines.by_ref() {
            let (text, number, file) = line?;
            if crate::skip::is_row(&text) {
                continue;
            }
            let bad = |e: crate::record::RecordError| Error::Input {
                line: number,
                message: format!("{file}: {e}"),
            };
            if !self.parts && crate::versions::is_versions_line(&text) {
                // A copy of versions: its tasks complete their own uploads, in order;
                // an upload in progress of a key with a multipart version can only be
                // a killed or failed attempt's, and is aborted (no upload id planned).
                let record = crate::versions::VersionsRecord::parse(&text).map_err(bad)?;
                let multipart = record.versions.iter().rev().find_map(|v| {
                    v.etag
                        .as_ref()
                        .filter(|etag| part_count_from_etag(etag).is_some())
                });
                if let Some(etag) = multipart {
                    return Ok(Some(PlannedUpload {
                        etag: etag.clone(),
                        key: record.key,
                        upload_id: None,
                        ranges: Vec::new(),
                        destination: None,
                        checksum: None,
                    }));
                }
                continue;
            }
            if !self.parts {
                let record = ListingRecord::parse(&text).map_err(bad)?;
                if part_count_from_etag(&record.etag).is_some() {
                    return Ok(Some(PlannedUpload {
                        key: record.key,
                        etag: record.etag,
                        upload_id: None,
                        ranges: Vec::new(),
                        destination: record.destination,
                        checksum: None,
                    }));
                }
                continue;
            }
            let record = PartRecord::parse(&text).map_err(bad)?;
            let Some(part) = record.part else {
                continue;
            };
            let same = self.pending.as_ref().is_some_and(|p| {
                p.key == record.object.key && p.upload_id.as_deref() == Some(&part.upload_id)
            });
            if same && let Some(pending) = self.pending.as_mut() {
                let slot = usize::try_from(part.part_number).unwrap_or(usize::MAX);
                if slot == pending.ranges.len() + 1 {
                    pending.ranges.push(part.range());
                } else {
                    self.broken = true;
                }
                continue;
            }
            let broken = std::mem::replace(&mut self.broken, part.part_number != 1);
            let next = PlannedUpload {
                key: record.object.key,
                etag: record.object.etag,
                ranges: vec![part.range()],
                upload_id: Some(part.upload_id),
                destination: record.object.destination,
                checksum: part.checksum,
            };
            if let Some(done) = self.pending.replace(next) {
                return Ok(Some(Self::checked(done, broken)));
            }
        }
        let broken = std::mem::take(&mut self.broken);
        Ok(self.pending.take().map(|done| Self::checked(done, broken)))
    }

    /// Out of order or repeated parts make no layout: an empty one, which no
    /// ListParts answer matches, so the upload is aborted, never completed wrongly.
    fn checked(mut plan: PlannedUpload, broken: bool) -> PlannedUpload {
        if broken {
            plan.ranges.clear();
        }
        plan
    }
}

impl Iterator for Plans {
    type Item = Result<PlannedUpload, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_plan().transpose()
    }
}

/// Uploads in progress in `bucket` under `prefix` whose key `wanted` accepts.
async fn list_uploads(
    client: &Client,
    bucket: &str,
    prefix: Option<&str>,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<Upload>, Error> {
    let mut found = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_string))
            .set_key_marker(markers.0.clone())
            .set_upload_id_marker(markers.1.clone())
            .send()
            .await
            .context("ListMultipartUploads", bucket, "")?;
        for upload in page.uploads() {
            let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                continue;
            };
            if wanted(key) {
                found.push(Upload {
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                });
            }
        }
        let next = (
            page.next_key_marker().map(str::to_string),
            page.next_upload_id_marker().map(str::to_string),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        if next == markers || next.0.is_none() {
            return Err(S3Context::new("ListMultipartUploads", bucket, "")
                .problem("a truncated page did not move the key marker on"));
        }
        markers = next;
    }
    Ok(found)
}

/// Aborts every upload in progress for exactly `key` but `keep` (called by
/// multipartlist right after it created `keep`): uploads of earlier attempts for the
/// same key, a second upload the SDK created when it retried a CreateMultipartUpload
/// whose answer was lost, or uploads of an earlier failed run. Returns them.
pub async fn abort_others(
    client: &Client,
    bucket: &str,
    key: &str,
    keep: &str,
) -> Result<Vec<Upload>, Error> {
    let others: Vec<Upload> = list_uploads(client, bucket, Some(key), |k| k == key)
        .await?
        .into_iter()
        .filter(|u| u.upload_id != keep)
        .collect();
    abort_all(client, bucket, &others).await?;
    Ok(others)
}

async fn abort_all(client: &Client, bucket: &str, uploads: &[Upload]) -> Result<(), Error> {
    for upload in uploads {
        let aborted = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await;
        if let Err(error) = aborted
            && error
                .as_service_error()
                .is_none_or(|e| e.meta().code() != Some("NoSuchUpload"))
        {
            let key = format!("{} (upload {})", upload.key, upload.upload_id);
            return Err(S3Context::new("AbortMultipartUpload", bucket, key).sdk(error));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(dir: &Path, parts: bool) -> Result<Vec<PlannedUpload>, Error> {
        planned_uploads(dir, parts)?.collect()
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join(name), text).expect("write");
    }

    #[test]
    fn only_multipart_keys_are_collected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listing = "a\t0123456789abcdef0123456789abcdef\t5\t2020-01-01 00:00:00\n\
                       b\t0123456789abcdef0123456789abcdef-3\t50\t2020-01-01 00:00:00\n\
                       z\t0123456789abcdef0123456789abcdef-3\t50\tskipped:archived:GLACIER\n\
                       c\\td\t0123456789abcdef0123456789abcdef-2\t50\t2020-01-01 00:00:00\n";
        write(dir.path(), "part-00000", listing);
        let keys: Vec<String> = plans(dir.path(), false)
            .expect("parse")
            .into_iter()
            .map(|p| {
                assert_eq!(p.upload_id, None);
                p.key
            })
            .collect();
        assert_eq!(keys, vec!["b".to_string(), "c\td".to_string()]);
    }

    #[test]
    fn a_versions_listing_plans_the_keys_with_a_multipart_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md5 = "0123456789abcdef0123456789abcdef";
        let version = |id: &str, etag: &str| {
            let size = if etag == "delete-marker" { 0 } else { 5 };
            format!("{id}\t{etag}\t{size}\t2026-11-30 10:00:00")
        };
        let listing = [
            format!("whole\tversions:1\t{}\n", version("v1", md5)),
            format!(
                "multi\tversions:3\t{}\t{}\t{}\n",
                version("v1", &format!("{md5}-2")),
                version("v2", md5),
                version("v3", "delete-marker")
            ),
            format!("marker\tversions:1\t{}\n", version("v1", "delete-marker")),
        ]
        .concat();
        write(dir.path(), "part-00000", &listing);
        let found = plans(dir.path(), false).expect("parse");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, "multi");
        assert_eq!(found[0].etag, format!("{md5}-2"));
        // No upload id: every upload of the key in progress is aborted, none completed.
        assert_eq!(found[0].upload_id, None);
        assert!(found[0].ranges.is_empty());
    }

    #[test]
    fn a_bad_listing_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let diff = dir.path().join("diff");
        write(
            &diff,
            "part-00000",
            "a\tnot-an-etag\t5\t2020-01-01 00:00:00\n",
        );
        let error = plans(&diff, false).expect_err("bad etag");
        let text = error.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(text.contains("diff/part-00000"), "{text}");
    }

    #[test]
    fn part_records_make_one_plan_per_upload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let etag = "0123456789abcdef0123456789abcdef";
        let object =
            |key: &str, parts: u32| format!("{key}\t{etag}-{parts}\t30\t2020-01-01 00:00:00");
        let part = |key: &str, up: &str, n: u32, of: u32, first: u64, last: u64| {
            format!("{}\t{up}\t{n}\t{of}\t{first}\t{last}\n", object(key, of))
        };
        let text = [
            part("m", "u1", 1, 2, 0, 19),
            part("m", "u1", 2, 2, 20, 29),
            format!("w\t{etag}\t5\t2020-01-01 00:00:00\t\\N\t\\N\t\\N\t\\N\t\\N\n"),
            part("n", "u2", 2, 2, 20, 29),
            part("n", "u2", 1, 2, 0, 19),
            format!(
                "{}\n",
                crate::skip::Skipped {
                    key: "s".into(),
                    size: 1,
                    etag: etag.into(),
                    reason: crate::skip::SkipReason::UnknownLayout,
                    detail: String::new(),
                }
                .to_row()
            ),
        ]
        .concat();
        write(dir.path(), "part-00000", &text);
        write(dir.path(), "part-00001", &part("o", "u3", 1, 1, 0, 29));
        let found = plans(dir.path(), true).expect("plans");
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].key, "m");
        assert_eq!(found[0].upload_id.as_deref(), Some("u1"));
        assert_eq!(
            found[0].ranges,
            vec![
                ByteRange { first: 0, last: 19 },
                ByteRange {
                    first: 20,
                    last: 29
                }
            ]
        );
        // Parts out of order make no layout: that upload can only be aborted.
        assert_eq!(found[1].key, "n");
        assert!(found[1].ranges.is_empty());
        assert_eq!(found[2].key, "o");
        assert_eq!(found[2].ranges.len(), 1);
    }
}
