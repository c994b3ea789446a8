//! The parts of an object, besides its bytes, that a copy must carry over: the content
//! headers (Content-Type, Cache-Control, Content-Encoding, Content-Disposition,
//! Content-Language), the user metadata (`x-amz-meta-*`) and the server-side
//! encryption setting. They are read from the HEAD (multipart objects, in
//! multipartlist) or from the GET itself (whole objects, in objectcopy: no extra
//! request) and applied to CreateMultipartUpload or PutObject.
//!
//! SSE-S3 (`AES256`) is carried over as is. SSE-KMS is carried over as `aws:kms`
//! without the source key id, which belongs to the source account: the destination
//! uses its bucket's default KMS key. Objects encrypted with SSE-C cannot be read
//! without their key and are not supported.
//!
//! Nothing the source lacks is added: an object stored without a Content-Type (which
//! S3 and Garage allow) is written without one, although the SDK would otherwise send
//! `application/octet-stream` with a PutObject (objectcopy removes it).

use std::collections::HashMap;

use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::types::ServerSideEncryption;

/// What a copy carries over besides the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// User metadata, without the `x-amz-meta-` prefix.
    pub metadata: HashMap<String, String>,
    /// Server-side encryption.
    pub encryption: Option<ServerSideEncryption>,
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

impl ObjectHeaders {
    /// From a HeadObject response.
    pub fn from_head(head: &HeadObjectOutput) -> Self {
        ObjectHeaders {
            content_type: owned(head.content_type()),
            cache_control: owned(head.cache_control()),
            content_encoding: owned(head.content_encoding()),
            content_disposition: owned(head.content_disposition()),
            content_language: owned(head.content_language()),
            metadata: head.metadata().cloned().unwrap_or_default(),
            encryption: portable_encryption(head.server_side_encryption()),
        }
    }

    /// From a GetObject response.
    pub fn from_get(get: &GetObjectOutput) -> Self {
        ObjectHeaders {
            content_type: owned(get.content_type()),
            cache_control: owned(get.cache_control()),
            content_encoding: owned(get.content_encoding()),
            content_disposition: owned(get.content_disposition()),
            content_language: owned(get.content_language()),
            metadata: get.metadata().cloned().unwrap_or_default(),
            encryption: portable_encryption(get.server_side_encryption()),
        }
    }

    /// True when the object's ETag is not the MD5 of its bytes (SSE-KMS), so the copy
    /// can only be checked by Content-MD5, not by ETag.
    pub fn etag_is_not_md5(&self) -> bool {
        matches!(
            self.encryption,
            Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
        )
    }

    /// Applies the headers to a PutObject request.
    pub fn apply_to_put(&self, request: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
        request
            .set_content_type(self.content_type.clone())
            .set_cache_control(self.cache_control.clone())
            .set_content_encoding(self.content_encoding.clone())
            .set_content_disposition(self.content_disposition.clone())
            .set_content_language(self.content_language.clone())
            .set_metadata(self.metadata_or_none())
            .set_server_side_encryption(self.encryption.clone())
    }

    /// Applies the headers to a CreateMultipartUpload request.
    pub fn apply_to_create(
        &self,
        request: CreateMultipartUploadFluentBuilder,
    ) -> CreateMultipartUploadFluentBuilder {
        request
            .set_content_type(self.content_type.clone())
            .set_cache_control(self.cache_control.clone())
            .set_content_encoding(self.content_encoding.clone())
            .set_content_disposition(self.content_disposition.clone())
            .set_content_language(self.content_language.clone())
            .set_metadata(self.metadata_or_none())
            .set_server_side_encryption(self.encryption.clone())
    }

    fn metadata_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.metadata.is_empty()).then(|| self.metadata.clone())
    }
}
