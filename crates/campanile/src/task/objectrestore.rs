//! objectrestore (mapper, `campanile restore`): requests the restore of each listed
//! archived object and says what became of it.
//!
//! Each listing record (from `bucketlist --archived`: GLACIER, DEEP_ARCHIVE and
//! INTELLIGENT_TIERING objects) gets a HEAD, pinned to the listed ETag, because only a
//! HEAD tells the whole state: `x-amz-restore` (a restore in progress, or a readable
//! copy and its expiry) and `x-amz-archive-status` (an Intelligent-Tiering object in an
//! archive tier, which no listing shows). Then:
//!
//! | the HEAD says | done | outcome |
//! |---|---|---|
//! | `ongoing-request="false"` | nothing | `restored` (`AlreadyRestored`) |
//! | `ongoing-request="true"` | nothing | `in-progress` (`RestoreInProgress`) |
//! | GLACIER or DEEP_ARCHIVE, no restore | RestoreObject with `--days` and `--tier` | `requested` (`RestoreRequested`) |
//! | an Intelligent-Tiering archive tier | RestoreObject with `--tier`, no days | `requested` |
//! | anything else | nothing | `not-archived` (`NotArchived`) |
//!
//! A RestoreObject answered 409 `RestoreAlreadyInProgress` (another restore started
//! since the HEAD) counts as `in-progress`. So a retried attempt, or a second run,
//! requests nothing twice: repeating the task is safe. With `--dry-run` no restore is
//! requested and the outcome of an object that needs one is `would-request`.
//!
//! An object gone (404) or changed (412 on the pin) since the listing is skipped and
//! reported with a skip row, as in the copy; skip rows of the listing are passed on.
//! Output: `key etag size outcome` per object (key escaped as in every record).

use std::io::{BufRead, Write};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ArchiveStatus, GlacierJobParameters, RestoreRequest, StorageClass, Tier};
use futures::StreamExt;

use crate::error::{Error, S3Context};
use crate::input::checked_records;
use crate::record::{ListingRecord, escape_key};
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, http_status};
use crate::skip::{self, Line, Skipped};
use crate::stream::StreamIndex;

/// Options of objectrestore.
#[derive(Debug, Clone)]
pub struct ObjectRestoreOptions {
    /// Bucket of the objects.
    pub bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// Retrieval tier.
    pub tier: Tier,
    /// Days a restored GLACIER or DEEP_ARCHIVE copy stays readable.
    pub days: u32,
    /// Request nothing.
    pub dry_run: bool,
    /// Objects handled at once.
    pub concurrency: usize,
}

/// What became of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A restore was requested.
    Requested,
    /// `--dry-run`: a restore would be requested.
    WouldRequest,
    /// A restore was already in progress.
    InProgress,
    /// A readable copy exists.
    Restored,
    /// Nothing to restore: a GET reads it as it is.
    NotArchived,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Requested,
        Outcome::WouldRequest,
        Outcome::InProgress,
        Outcome::Restored,
        Outcome::NotArchived,
    ];

    /// The word of the output's fourth field.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Requested => "requested",
            Outcome::WouldRequest => "would-request",
            Outcome::InProgress => "in-progress",
            Outcome::Restored => "restored",
            Outcome::NotArchived => "not-archived",
        }
    }

    /// The outcome a word names.
    pub fn from_word(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.word() == word)
    }

    /// The counter of the outcome (group: the bucket); a dry run's requests count as
    /// requested, since the task that counts them is told it is a dry run.
    pub fn counter(self) -> &'static str {
        match self {
            Outcome::Requested | Outcome::WouldRequest => counters::RESTORE_REQUESTED,
            Outcome::InProgress => counters::RESTORE_IN_PROGRESS,
            Outcome::Restored => counters::ALREADY_RESTORED,
            Outcome::NotArchived => counters::NOT_ARCHIVED,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRestoreSummary {
    /// Objects per outcome.
    pub outcomes: std::collections::BTreeMap<Outcome, u64>,
    /// Objects skipped (gone or changed since the listing).
    pub skipped: u64,
}

/// What the HEAD says an object needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A restore with days (GLACIER, DEEP_ARCHIVE).
    NeedsRestore,
    /// A restore without days (an Intelligent-Tiering archive tier).
    NeedsTierRestore,
    /// Already decided.
    Done(Outcome),
}

/// The state of an object as its HEAD shows it.
fn state(head: &HeadObjectOutput) -> State {
    match head.restore() {
        Some(restore) if restore.contains("ongoing-request=\"false\"") => {
            return State::Done(Outcome::Restored);
        }
        Some(restore) if restore.contains("ongoing-request=\"true\"") => {
            return State::Done(Outcome::InProgress);
        }
        _ => {}
    }
    if matches!(
        head.archive_status(),
        Some(ArchiveStatus::ArchiveAccess | ArchiveStatus::DeepArchiveAccess)
    ) {
        return State::NeedsTierRestore;
    }
    match head.storage_class() {
        Some(StorageClass::Glacier | StorageClass::DeepArchive) => State::NeedsRestore,
        _ => State::Done(Outcome::NotArchived),
    }
}

/// One output line.
pub fn line(object: &ListingRecord, outcome: Outcome) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        escape_key(&object.key),
        object.etag,
        object.size,
        outcome.word()
    )
}

/// What one input line became.
enum Handled {
    Done(ListingRecord, Outcome),
    Skipped(Skipped),
    PassedOn(String),
}

/// Runs objectrestore over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &ObjectRestoreOptions,
) -> Result<ObjectRestoreSummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(ListingRecord::parse),
    )?;
    let mut summary = ObjectRestoreSummary::default();
    let mut handled = futures::stream::iter(records)
        .map(|item| async move {
            match item? {
                Line::Record(object) => restore_one(object, client, options).await,
                Line::Skipped(row) => Ok(Handled::PassedOn(row)),
            }
        })
        .buffered(options.concurrency.max(1));
    while let Some(result) = handled.next().await {
        match result? {
            Handled::Done(object, outcome) => {
                writeln!(output, "{}", line(&object, outcome))
                    .map_err(|e| Error::io("writing stdout", e))?;
                *summary.outcomes.entry(outcome).or_default() += 1;
                reporter.counter(&options.bucket, outcome.counter(), 1)?;
                reporter.counter(&options.bucket, counters::OBJECTS, 1)?;
                reporter.status(&format!(
                    "{}/{}: {}",
                    options.bucket,
                    object.key,
                    outcome.word()
                ))?;
            }
            Handled::Skipped(row) => {
                summary.skipped += 1;
                skip::report(output, reporter, &options.bucket, &row)?;
            }
            Handled::PassedOn(row) => skip::pass_on(output, &row)?,
        }
    }
    drop(handled);
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

/// HEADs one object and requests its restore when it needs one.
async fn restore_one(
    object: ListingRecord,
    client: &Client,
    options: &ObjectRestoreOptions,
) -> Result<Handled, Error> {
    let head = match head(client, &options.bucket, &object).await {
        Ok(head) => head,
        Err(Error::SourceMoved {
            reason, message, ..
        }) => {
            return Ok(Handled::Skipped(Skipped {
                key: object.key.clone(),
                size: object.size,
                etag: object.etag.clone(),
                reason,
                detail: message,
            }));
        }
        Err(error) => return Err(error),
    };
    let days = match state(&head) {
        State::Done(outcome) => return Ok(Handled::Done(object, outcome)),
        _ if options.dry_run => return Ok(Handled::Done(object, Outcome::WouldRequest)),
        State::NeedsRestore => Some(i32::try_from(options.days).unwrap_or(i32::MAX)),
        State::NeedsTierRestore => None,
    };
    let outcome =
        request_restore(client, &options.bucket, &object.key, days, &options.tier).await?;
    Ok(Handled::Done(object, outcome))
}

/// RestoreObject: `requested`, or `in-progress` when S3 says one already is (409
/// `RestoreAlreadyInProgress`).
async fn request_restore(
    client: &Client,
    bucket: &str,
    key: &str,
    days: Option<i32>,
    tier: &Tier,
) -> Result<Outcome, Error> {
    let context = S3Context::new("RestoreObject", bucket, key);
    let parameters = GlacierJobParameters::builder()
        .tier(tier.clone())
        .build()
        .map_err(|e| Error::Internal(format!("RestoreObject parameters: {e}")))?;
    let request = RestoreRequest::builder()
        .set_days(days)
        .glacier_job_parameters(parameters)
        .build();
    match client
        .restore_object()
        .bucket(bucket)
        .key(key)
        .restore_request(request)
        .send()
        .await
    {
        Ok(_) => Ok(Outcome::Requested),
        Err(error)
            if http_status(&error) == Some(409)
                && error.code() == Some("RestoreAlreadyInProgress") =>
        {
            Ok(Outcome::InProgress)
        }
        Err(error) => Err(context.sdk(error)),
    }
}

/// HEAD of the object, pinned to the listed ETag: gone (404) or changed (412) since
/// the listing is an [`Error::SourceMoved`].
async fn head(
    client: &Client,
    bucket: &str,
    object: &ListingRecord,
) -> Result<HeadObjectOutput, Error> {
    client
        .head_object()
        .bucket(bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag))
        .send()
        .await
        .map_err(|e| {
            S3Context::new("HeadObject", bucket, &object.key).pinned_head_failure(e, &object.etag)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        class: Option<StorageClass>,
        restore: Option<&str>,
        archive: Option<ArchiveStatus>,
    ) -> HeadObjectOutput {
        HeadObjectOutput::builder()
            .set_storage_class(class)
            .set_restore(restore.map(str::to_string))
            .set_archive_status(archive)
            .build()
    }

    #[test]
    fn the_head_decides_what_an_object_needs() {
        assert_eq!(
            state(&head(Some(StorageClass::Glacier), None, None)),
            State::NeedsRestore
        );
        assert_eq!(
            state(&head(Some(StorageClass::DeepArchive), None, None)),
            State::NeedsRestore
        );
        assert_eq!(
            state(&head(
                Some(StorageClass::Glacier),
                Some("ongoing-request=\"true\""),
                None
            )),
            State::Done(Outcome::InProgress)
        );
        assert_eq!(
            state(&head(
                Some(StorageClass::DeepArchive),
                Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
                None
            )),
            State::Done(Outcome::Restored)
        );
        assert_eq!(
            state(&head(
                Some(StorageClass::IntelligentTiering),
                None,
                Some(ArchiveStatus::DeepArchiveAccess)
            )),
            State::NeedsTierRestore
        );
        assert_eq!(
            state(&head(Some(StorageClass::IntelligentTiering), None, None)),
            State::Done(Outcome::NotArchived)
        );
        assert_eq!(
            state(&head(None, None, None)),
            State::Done(Outcome::NotArchived)
        );
    }

    #[test]
    fn outcomes_read_back_from_their_words() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_word(outcome.word()), Some(outcome));
        }
        assert_eq!(Outcome::from_word("skipped"), None);
    }
}
