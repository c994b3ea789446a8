//! The parts of an object, besides its bytes, that a copy must carry over: the content
//! headers (Content-Type, Cache-Control, Content-Encoding, Content-Disposition,
//! Content-Language, Expires), the user metadata (`x-amz-meta-*`), the website
//! redirect location, the server-side encryption setting, the storage class, the tags
//! and the object-lock settings (mode, retain-until date, legal hold). They are read
//! from the HEAD (multipart objects, in multipartlist) or from the GET itself (whole
//! objects, in objectcopy: no extra request) and applied to CreateMultipartUpload or
//! PutObject. Tags cost one GetObjectTagging, made only for an object whose HEAD or
//! GET counts tags (`x-amz-tagging-count`). The object-lock settings show only to a
//! reader allowed `s3:GetObjectRetention` and `s3:GetObjectLegalHold`, and can be set
//! only in a bucket with object lock enabled.
//!
//! [`WriteSettings`] (`--sse`, `--sse-kms-key-id`, `--storage-class`, `--acl`) replace
//! what the source has ([`ObjectHeaders::with_settings`]).
//!
//! A copy does not carry the source's ACL (the destination is another owner's); a
//! rewrite in place (`campanile reencrypt`) does: its grants are read with one
//! GetObjectAcl and written as grant headers ([`ObjectHeaders::read_grants`],
//! [`crate::acl`]).
//!
//! SSE-S3 (`AES256`) is carried over as is. SSE-KMS is carried over as `aws:kms`
//! without the source key id, which belongs to the source account: the destination
//! uses its bucket's default KMS key. SSE-C objects are read with
//! `--src-sse-c-key-file`'s key and written with `--dst-sse-c-key-file`'s
//! ([`crate::sse_c`]); the copies of SSE-C objects written without a key get the
//! destination bucket's default encryption. The ETag of an SSE-KMS or SSE-C object is
//! not the MD5 of its bytes ([`ObjectHeaders::etag_is_not_md5`]).
//!
//! Nothing the source lacks is added: an object stored without a Content-Type (which
//! S3 and Garage allow) is written without one, although the SDK would otherwise send
//! `application/octet-stream` with a PutObject (objectcopy removes it).

use std::collections::HashMap;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ObjectCannedAcl, ObjectLockLegalHoldStatus, ObjectLockMode, ServerSideEncryption, StorageClass,
};

use crate::acl::Grants;
use crate::command::WriteSettings;
use crate::error::{Error, S3ResultExt};
use crate::s3::Client;

/// What a copy carries over besides the bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectHeaders {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Expires.
    pub expires: Option<DateTime>,
    /// User metadata, without the `x-amz-meta-` prefix.
    pub metadata: HashMap<String, String>,
    /// `x-amz-website-redirect-location`.
    pub website_redirect_location: Option<String>,
    /// Server-side encryption.
    pub encryption: Option<ServerSideEncryption>,
    /// KMS key of SSE-KMS: only from `--sse-kms-key-id` (the source's key belongs to
    /// the source's account).
    pub kms_key_id: Option<String>,
    /// Encrypted with a customer key (SSE-C: the response names
    /// `x-amz-server-side-encryption-customer-algorithm`); for a copy, written with
    /// `--dst-sse-c-key-file`. The key itself is never here: requests get it from
    /// [`crate::sse_c`].
    pub sse_customer: bool,
    /// Storage class (S3 names it only when it is not STANDARD).
    pub storage_class: Option<StorageClass>,
    /// Number of tags the source has (`x-amz-tagging-count`).
    pub tag_count: i32,
    /// The tags, URL-encoded as the `x-amz-tagging` header takes them (`k=v&k2=v2`),
    /// once read ([`ObjectHeaders::read_tags`]).
    pub tagging: Option<String>,
    /// Object-lock mode.
    pub lock_mode: Option<ObjectLockMode>,
    /// Object-lock retain-until date.
    pub lock_retain_until: Option<DateTime>,
    /// Object-lock legal hold.
    pub legal_hold: Option<ObjectLockLegalHoldStatus>,
    /// Canned ACL: only from `--acl`.
    pub acl: Option<ObjectCannedAcl>,
    /// The object's own grants, once read ([`ObjectHeaders::read_grants`]: only for a
    /// rewrite in place, whose new object would otherwise get the default ACL); never
    /// together with [`ObjectHeaders::acl`], which replaces them.
    pub grants: Option<Grants>,
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

/// SSE settings a destination can be asked for; anything else is left to the
/// destination bucket's default.
fn portable_encryption(sse: Option<&ServerSideEncryption>) -> Option<ServerSideEncryption> {
    match sse? {
        ServerSideEncryption::Aes256 => Some(ServerSideEncryption::Aes256),
        ServerSideEncryption::AwsKms => Some(ServerSideEncryption::AwsKms),
        ServerSideEncryption::AwsKmsDsse => Some(ServerSideEncryption::AwsKmsDsse),
        _ => None,
    }
}

/// The Expires header as S3 returned it (an HTTP date); one that does not parse is
/// not carried (S3 would not take it back either).
fn expires(raw: Option<&str>) -> Option<DateTime> {
    DateTime::from_str(raw?, DateTimeFormat::HttpDate).ok()
}

/// What `x-amz-tagging` escapes in a tag's key or value: all but unreserved
/// characters (it is a URL query string).
const TAG_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Builds [`ObjectHeaders`] from a HeadObject or GetObject response, whose accessors
/// have the same names.
macro_rules! from_response {
    ($response:expr) => {{
        let r = $response;
        ObjectHeaders {
            content_type: owned(r.content_type()),
            cache_control: owned(r.cache_control()),
            content_encoding: owned(r.content_encoding()),
            content_disposition: owned(r.content_disposition()),
            content_language: owned(r.content_language()),
            expires: expires(r.expires_string()),
            metadata: r.metadata().cloned().unwrap_or_default(),
            website_redirect_location: owned(r.website_redirect_location()),
            encryption: portable_encryption(r.server_side_encryption()),
            kms_key_id: None,
            sse_customer: r.sse_customer_algorithm().is_some(),
            storage_class: r.storage_class().cloned(),
            tag_count: r.tag_count().unwrap_or(0),
            tagging: None,
            lock_mode: r.object_lock_mode().cloned(),
            lock_retain_until: r.object_lock_retain_until_date().cloned(),
            legal_hold: r.object_lock_legal_hold_status().cloned(),
            acl: None,
            grants: None,
        }
    }};
}

/// Applies [`ObjectHeaders`] to a PutObject or CreateMultipartUpload request, whose
/// setters have the same names.
macro_rules! apply {
    ($headers:expr, $request:expr) => {{
        let h = $headers;
        $request
            .set_content_type(h.content_type.clone())
            .set_cache_control(h.cache_control.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_language(h.content_language.clone())
            .set_expires(h.expires)
            .set_metadata(h.metadata_or_none())
            .set_website_redirect_location(h.website_redirect_location.clone())
            .set_server_side_encryption(h.encryption.clone())
            .set_ssekms_key_id(h.kms_key_id.clone())
            .set_storage_class(h.storage_class.clone())
            .set_tagging(h.tagging.clone())
            .set_object_lock_mode(h.lock_mode.clone())
            .set_object_lock_retain_until_date(h.lock_retain_until)
            .set_object_lock_legal_hold_status(h.legal_hold.clone())
            .set_acl(h.acl.clone())
            .set_grant_read(h.grants.as_ref().and_then(|g| g.read.clone()))
            .set_grant_read_acp(h.grants.as_ref().and_then(|g| g.read_acp.clone()))
            .set_grant_write_acp(h.grants.as_ref().and_then(|g| g.write_acp.clone()))
            .set_grant_full_control(h.grants.as_ref().and_then(|g| g.full_control.clone()))
    }};
}

impl ObjectHeaders {
    /// From a HeadObject response.
    pub fn from_head(head: &HeadObjectOutput) -> Self {
        from_response!(head)
    }

    /// From a GetObject response.
    pub fn from_get(get: &GetObjectOutput) -> Self {
        from_response!(get)
    }

    /// These headers with `settings` in place of the source's encryption, storage
    /// class and ACL.
    pub fn with_settings(mut self, settings: &WriteSettings) -> Self {
        // A copy is SSE-C only with a key of its own; an SSE-C write takes no other
        // encryption header.
        self.sse_customer = settings.dst_sse_c_key_file.is_some();
        if self.sse_customer {
            self.encryption = None;
            self.kms_key_id = None;
        }
        match (settings.sse.as_deref(), &settings.sse_kms_key_id) {
            (Some("AES256"), _) => {
                self.encryption = Some(ServerSideEncryption::Aes256);
                self.kms_key_id = None;
            }
            (Some(_), key) | (None, key @ Some(_)) => {
                self.encryption = Some(ServerSideEncryption::AwsKms);
                self.kms_key_id = key.clone();
            }
            (None, None) => {}
        }
        if let Some(class) = &settings.storage_class {
            self.storage_class = Some(StorageClass::from(class.as_str()));
        }
        if let Some(acl) = &settings.acl {
            // `--acl` replaces the object's ACL: its grants are not carried (S3 refuses
            // a canned ACL with grant headers).
            self.acl = Some(ObjectCannedAcl::from(acl.as_str()));
            self.grants = None;
        }
        self
    }

    /// Reads the source's tags (one GetObjectTagging) when it has any.
    pub async fn read_tags(&mut self, src: &Client, bucket: &str, key: &str) -> Result<(), Error> {
        if self.tag_count <= 0 {
            return Ok(());
        }
        let tags = src
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .context("GetObjectTagging", bucket, key)?;
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, TAG_ESCAPE).to_string();
        let pairs: Vec<String> = tags
            .tag_set()
            .iter()
            .map(|tag| format!("{}={}", encode(tag.key()), encode(tag.value())))
            .collect();
        self.tagging = (!pairs.is_empty()).then(|| pairs.join("&"));
        Ok(())
    }

    /// Reads the object's ACL (one GetObjectAcl) and keeps its grants for the write,
    /// unless it is the default (see [`crate::acl`]). A refusal (AccessDenied) fails
    /// with the key and what the job needs: `s3:GetObjectAcl`, or `--acl` to replace
    /// the ACLs instead.
    pub async fn read_grants(
        &mut self,
        client: &Client,
        bucket: &str,
        key: &str,
    ) -> Result<(), Error> {
        let acl = client
            .get_object_acl()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .context_with("GetObjectAcl", bucket, key, |error| {
                let denied = error.code() == Some("AccessDenied")
                    || crate::s3::http_status(error) == Some(403);
                let explained = crate::s3::explain_failure("GetObjectAcl", bucket, key, error)?;
                denied.then(|| {
                    format!(
                        "{explained}; the rewrite keeps each object's ACL, so it reads it: \
                         allow s3:GetObjectAcl, or give --acl CANNED-ACL to replace the ACLs"
                    )
                })
            })?;
        let carried = Grants::of_acl(acl.owner(), acl.grants()).map_err(|problem| {
            crate::error::S3Context::new("GetObjectAcl", bucket, key).problem(format!(
                "its ACL cannot be written back with the rewrite ({problem}); give --acl \
                 CANNED-ACL to replace it"
            ))
        })?;
        for grant in &carried.left_out {
            tracing::warn!(
                "s3://{bucket}/{key}: its ACL's grant {grant} is not carried (WRITE means \
                 nothing on an object and no write header takes it)"
            );
        }
        self.grants = carried.grants;
        Ok(())
    }

    /// True when the object's ETag is not the MD5 of its bytes (SSE-KMS, SSE-C: so S3
    /// documents it), so the copy can only be checked by Content-MD5 and checksums, not
    /// by ETag.
    pub fn etag_is_not_md5(&self) -> bool {
        self.sse_customer
            || matches!(
                self.encryption,
                Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
            )
    }

    /// Applies the headers to a PutObject request.
    pub fn apply_to_put(&self, request: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
        apply!(self, request)
    }

    /// Applies the headers to a CopyObject request (with `REPLACE`: the copy gets
    /// these instead of the source's own).
    pub fn apply_to_copy(&self, request: CopyObjectFluentBuilder) -> CopyObjectFluentBuilder {
        apply!(self, request)
    }

    /// Applies the headers to a CreateMultipartUpload request.
    pub fn apply_to_create(
        &self,
        request: CreateMultipartUploadFluentBuilder,
    ) -> CreateMultipartUploadFluentBuilder {
        apply!(self, request)
    }

    fn metadata_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.metadata.is_empty()).then(|| self.metadata.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_replace_the_sources_encryption_class_and_acl() {
        let source = ObjectHeaders {
            encryption: Some(ServerSideEncryption::AwsKms),
            storage_class: Some(StorageClass::StandardIa),
            ..Default::default()
        };
        let kept = source.clone().with_settings(&WriteSettings::default());
        assert_eq!(kept, source);
        let aes = source.clone().with_settings(&WriteSettings {
            sse: Some("AES256".into()),
            storage_class: Some("GLACIER_IR".into()),
            acl: Some("bucket-owner-full-control".into()),
            ..Default::default()
        });
        assert_eq!(aes.encryption, Some(ServerSideEncryption::Aes256));
        assert!(!aes.etag_is_not_md5());
        assert_eq!(aes.storage_class, Some(StorageClass::GlacierIr));
        assert_eq!(aes.acl, Some(ObjectCannedAcl::BucketOwnerFullControl));
        // A key alone means SSE-KMS with that key.
        let kms = ObjectHeaders::default().with_settings(&WriteSettings {
            sse_kms_key_id: Some("alias/k".into()),
            ..Default::default()
        });
        assert_eq!(kms.encryption, Some(ServerSideEncryption::AwsKms));
        assert_eq!(kms.kms_key_id.as_deref(), Some("alias/k"));
        assert!(kms.etag_is_not_md5());
    }

    #[test]
    fn acl_replaces_the_objects_grants() {
        let source = ObjectHeaders {
            grants: Some(Grants {
                read: Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"".into()),
                ..Grants::default()
            }),
            ..Default::default()
        };
        let kept = source.clone().with_settings(&WriteSettings {
            storage_class: Some("STANDARD_IA".into()),
            ..Default::default()
        });
        assert_eq!(kept.grants, source.grants);
        assert_eq!(kept.acl, None);
        // S3 refuses a canned ACL with grant headers: --acl alone goes.
        let replaced = source.with_settings(&WriteSettings {
            acl: Some("private".into()),
            ..Default::default()
        });
        assert_eq!(replaced.grants, None);
        assert_eq!(replaced.acl, Some(ObjectCannedAcl::Private));
    }

    #[test]
    fn sse_c_objects_have_no_md5_etag_and_their_copies_one_encryption() {
        let source = ObjectHeaders {
            sse_customer: true,
            ..Default::default()
        };
        assert!(source.etag_is_not_md5());
        // Read with a key, written without one: a plain copy (the bucket's default).
        let plain = source.clone().with_settings(&WriteSettings::default());
        assert!(!plain.sse_customer);
        assert!(!plain.etag_is_not_md5());
        // Written with a key: SSE-C, and no other encryption header.
        let sse_s3 = ObjectHeaders {
            encryption: Some(ServerSideEncryption::Aes256),
            ..Default::default()
        };
        let copy = sse_s3.with_settings(&WriteSettings {
            dst_sse_c_key_file: Some("/k".into()),
            ..Default::default()
        });
        assert!(copy.sse_customer);
        assert_eq!(copy.encryption, None);
        assert!(copy.etag_is_not_md5());
    }

    #[test]
    fn expires_is_an_http_date() {
        let parsed = expires(Some("Wed, 18 May 2033 03:33:20 GMT")).expect("date");
        assert_eq!(parsed.secs(), 2_000_000_000);
        assert_eq!(expires(Some("soon")), None);
    }
}
