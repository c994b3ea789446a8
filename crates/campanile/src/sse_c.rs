//! SSE-C: objects S3 encrypts with a key the customer keeps and sends with every
//! request that reads or writes them (`x-amz-server-side-encryption-customer-algorithm`
//! `AES256`, `…-customer-key` the key in base64, `…-customer-key-MD5` the base64 MD5
//! of the key). `--src-sse-c-key-file` names the key of every source object,
//! `--dst-sse-c-key-file` the key every copy is written with.
//!
//! A key file holds the 256-bit key as 32 raw bytes, or as the base64 text of 32 bytes
//! (`openssl rand -base64 32`; surrounding whitespace, a trailing newline, allowed).
//! Like ssh with a private key, Campanile refuses a key file that its group or others
//! may read or write (any of the mode bits 0o077): the key decrypts every object
//! written with it, and a file others can read is a key others hold. Each task reads
//! the file itself: command lines, steps, logs and `--dry-run` plans carry the file's
//! path only. Nothing here ever prints the key, its base64 or its MD5: [`CustomerKey`]'s
//! `Debug` and `Display` name the file only, and an error about a key file says what
//! is wrong with it, never what it holds.
//!
//! The key's values are put on a request with [`WithCustomerKey::sse_c`] (the object
//! read or written) and [`WithCopySourceKey::copy_source_sse_c`] (the source of a
//! CopyObject or UploadPartCopy).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::Error;

/// The only algorithm SSE-C has.
pub const ALGORITHM: &str = "AES256";

/// Bytes of an SSE-C key (AES-256).
pub const KEY_BYTES: usize = 32;

/// An SSE-C key read from its file. Cloning copies the key; `Debug` and `Display` show
/// the file's path only.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey {
    /// The file it was read from (named in messages instead of the key).
    path: PathBuf,
    /// The key, base64 (`x-amz-server-side-encryption-customer-key`).
    key_base64: String,
    /// The key's MD5, base64 (`x-amz-server-side-encryption-customer-key-MD5`).
    key_md5_base64: String,
}

impl CustomerKey {
    /// Reads the key file at `path`, refusing one that its group or others may access.
    pub fn from_file(path: &Path) -> Result<CustomerKey, Error> {
        let metadata =
            std::fs::metadata(path).map_err(|e| bad_file(path, format!("cannot be read: {e}")))?;
        if !metadata.is_file() {
            return Err(bad_file(path, "is not a file".to_string()));
        }
        check_private(path, &metadata)?;
        let bytes =
            std::fs::read(path).map_err(|e| bad_file(path, format!("cannot be read: {e}")))?;
        CustomerKey::from_bytes(path, &bytes)
    }

    /// The key held by `bytes`, the contents of the file `path` (named in errors):
    /// 32 raw bytes, or the base64 text of 32 bytes with whitespace around it.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<CustomerKey, Error> {
        let key = if bytes.len() == KEY_BYTES {
            bytes.to_vec()
        } else {
            let text = bytes.trim_ascii();
            if text.is_empty() {
                return Err(bad_file(path, format!("is empty; {EXPECTED}")));
            }
            // The decoder's own message would quote the offending byte: not shown.
            let decoded = STANDARD.decode(text).map_err(|_| {
                bad_file(
                    path,
                    format!(
                        "holds {} bytes that are neither a raw key nor base64 text; {EXPECTED}",
                        bytes.len()
                    ),
                )
            })?;
            if decoded.len() != KEY_BYTES {
                return Err(bad_file(
                    path,
                    format!(
                        "holds the base64 of {} bytes, not of {KEY_BYTES}; {EXPECTED}",
                        decoded.len()
                    ),
                ));
            }
            decoded
        };
        Ok(CustomerKey {
            path: path.to_path_buf(),
            key_base64: STANDARD.encode(&key),
            key_md5_base64: STANDARD.encode(crate::multipart::md5(&key)),
        })
    }

    /// The file the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `x-amz-server-side-encryption-customer-algorithm`: always `AES256`.
    pub fn algorithm(&self) -> &'static str {
        ALGORITHM
    }

    /// `x-amz-server-side-encryption-customer-key`: the key in base64. Secret: for the
    /// request only.
    pub fn key_base64(&self) -> &str {
        &self.key_base64
    }

    /// `x-amz-server-side-encryption-customer-key-MD5`: the key's MD5 in base64.
    pub fn key_md5_base64(&self) -> &str {
        &self.key_md5_base64
    }

    /// Reads the key at `path`, if one is given.
    pub fn load(path: Option<&Path>) -> Result<Option<CustomerKey>, Error> {
        path.map(CustomerKey::from_file).transpose()
    }
}

/// What a key file must hold, for the error messages.
const EXPECTED: &str = "an SSE-C key file holds a 256-bit key: 32 raw bytes, or their base64 \
                        text (44 characters, e.g. from `openssl rand -base64 32`)";

fn bad_file(path: &Path, what: String) -> Error {
    Error::Usage(format!("SSE-C key file {}: {what}", path.display()))
}

/// Refuses a key file its group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad_file(
            path,
            format!(
                "may be accessed by its group or others (mode {mode:04o}); the key decrypts \
                 every object written with it: `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), Error> {
    Ok(())
}

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerKey")
            .field("path", &self.path)
            .field("key", &"** redacted **")
            .finish()
    }
}

impl fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the SSE-C key of {}", self.path.display())
    }
}

/// The SSE-C keys of a copy: the source objects', and the one the copies are written
/// with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseCKeys {
    /// The key of every source object (`--src-sse-c-key-file`).
    pub src: Option<CustomerKey>,
    /// The key every copy is written with (`--dst-sse-c-key-file`).
    pub dst: Option<CustomerKey>,
}

impl SseCKeys {
    /// Reads the key files given.
    pub fn load(src: Option<&Path>, dst: Option<&Path>) -> Result<SseCKeys, Error> {
        Ok(SseCKeys {
            src: CustomerKey::load(src)?,
            dst: CustomerKey::load(dst)?,
        })
    }
}

/// A request that reads or writes an object, and takes its SSE-C key.
pub trait WithCustomerKey: Sized {
    /// Sets (or, with `None`, leaves unset) the three SSE-C headers.
    fn set_customer_key(
        self,
        algorithm: Option<String>,
        key: Option<String>,
        key_md5: Option<String>,
    ) -> Self;

    /// The request with `key`'s headers, or unchanged without a key.
    fn sse_c(self, key: Option<&CustomerKey>) -> Self {
        match key {
            Some(key) => self.set_customer_key(
                Some(ALGORITHM.to_string()),
                Some(key.key_base64.clone()),
                Some(key.key_md5_base64.clone()),
            ),
            None => self,
        }
    }
}

/// A server-side copy, which takes the SSE-C key of its source.
pub trait WithCopySourceKey: Sized {
    /// Sets the three `x-amz-copy-source-server-side-encryption-customer-*` headers.
    fn set_copy_source_customer_key(
        self,
        algorithm: Option<String>,
        key: Option<String>,
        key_md5: Option<String>,
    ) -> Self;

    /// The request with `key` as its source's key, or unchanged without a key.
    fn copy_source_sse_c(self, key: Option<&CustomerKey>) -> Self {
        match key {
            Some(key) => self.set_copy_source_customer_key(
                Some(ALGORITHM.to_string()),
                Some(key.key_base64.clone()),
                Some(key.key_md5_base64.clone()),
            ),
            None => self,
        }
    }
}

/// The fluent builders' setters have the same names in every operation.
macro_rules! with_customer_key {
    ($($builder:ty),* $(,)?) => {$(
        impl WithCustomerKey for $builder {
            fn set_customer_key(
                self,
                algorithm: Option<String>,
                key: Option<String>,
                key_md5: Option<String>,
            ) -> Self {
                self.set_sse_customer_algorithm(algorithm)
                    .set_sse_customer_key(key)
                    .set_sse_customer_key_md5(key_md5)
            }
        }
    )*};
}

macro_rules! with_copy_source_key {
    ($($builder:ty),* $(,)?) => {$(
        impl WithCopySourceKey for $builder {
            fn set_copy_source_customer_key(
                self,
                algorithm: Option<String>,
                key: Option<String>,
                key_md5: Option<String>,
            ) -> Self {
                self.set_copy_source_sse_customer_algorithm(algorithm)
                    .set_copy_source_sse_customer_key(key)
                    .set_copy_source_sse_customer_key_md5(key_md5)
            }
        }
    )*};
}

use aws_sdk_s3::operation::{
    complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder,
    copy_object::builders::CopyObjectFluentBuilder,
    create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    get_object::builders::GetObjectFluentBuilder, head_object::builders::HeadObjectFluentBuilder,
    list_parts::builders::ListPartsFluentBuilder, put_object::builders::PutObjectFluentBuilder,
    upload_part::builders::UploadPartFluentBuilder,
    upload_part_copy::builders::UploadPartCopyFluentBuilder,
};

with_customer_key!(
    GetObjectFluentBuilder,
    HeadObjectFluentBuilder,
    PutObjectFluentBuilder,
    CreateMultipartUploadFluentBuilder,
    UploadPartFluentBuilder,
    CompleteMultipartUploadFluentBuilder,
    ListPartsFluentBuilder,
    CopyObjectFluentBuilder,
    UploadPartCopyFluentBuilder,
);

with_copy_source_key!(CopyObjectFluentBuilder, UploadPartCopyFluentBuilder);

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("/keys/dst.key")
    }

    /// A key whose bytes are 0, 1, …, 31.
    fn raw() -> Vec<u8> {
        (0..32).collect()
    }

    #[test]
    fn raw_and_base64_files_give_the_same_key() {
        let from_raw = CustomerKey::from_bytes(path(), &raw()).expect("raw");
        let text = format!("{}\n", STANDARD.encode(raw()));
        let from_text = CustomerKey::from_bytes(path(), text.as_bytes()).expect("text");
        assert_eq!(from_raw, from_text);
        let crlf = format!("  {}\r\n", STANDARD.encode(raw()));
        assert_eq!(
            CustomerKey::from_bytes(path(), crlf.as_bytes()).expect("crlf"),
            from_raw
        );
        assert_eq!(from_raw.algorithm(), "AES256");
        assert_eq!(from_raw.key_base64(), STANDARD.encode(raw()));
        assert_eq!(
            from_raw.key_md5_base64(),
            STANDARD.encode(crate::multipart::md5(&raw()))
        );
        // A raw key whose last byte is a newline is still 32 raw bytes.
        let mut newline = raw();
        newline[31] = b'\n';
        let key = CustomerKey::from_bytes(path(), &newline).expect("raw with a newline");
        assert_eq!(key.key_base64(), STANDARD.encode(&newline));
    }

    #[test]
    fn anything_else_is_refused_naming_the_file_not_its_contents() {
        let secretish = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        let cases: [(&[u8], &str); 5] = [
            (b"", "is empty"),
            (b"\n\n", "is empty"),
            (&[7u8; 31], "neither a raw key nor base64"),
            (secretish.as_bytes(), "the base64 of 20 bytes, not of 32"),
            (
                b"not base64 at all, no: it has spaces!",
                "neither a raw key",
            ),
        ];
        for (bytes, what) in cases {
            let error = CustomerKey::from_bytes(path(), bytes).expect_err("refused");
            let message = error.to_string();
            assert!(
                message.starts_with("SSE-C key file /keys/dst.key: "),
                "{message}"
            );
            assert!(message.contains(what), "{message}");
            assert!(message.contains("32 raw bytes"), "{message}");
            assert!(!message.contains(secretish), "{message}");
            assert!(!message.contains("spaces"), "{message}");
            assert_eq!(error.exit_code(), 2);
        }
        let long = STANDARD.encode([1u8; 33]);
        let error = CustomerKey::from_bytes(path(), long.as_bytes()).expect_err("33 bytes");
        assert!(error.to_string().contains("of 33 bytes"), "{error}");
        assert!(!error.to_string().contains(&long), "{error}");
    }

    #[test]
    fn debug_and_display_name_the_file_only() {
        let key = CustomerKey::from_bytes(path(), &raw()).expect("key");
        let keys = SseCKeys {
            src: Some(key.clone()),
            dst: Some(key.clone()),
        };
        for shown in [
            format!("{key:?}"),
            format!("{key:#?}"),
            format!("{key}"),
            format!("{keys:?}"),
        ] {
            assert!(shown.contains("/keys/dst.key"), "{shown}");
            assert!(!shown.contains(key.key_base64()), "{shown}");
            assert!(!shown.contains(key.key_md5_base64()), "{shown}");
            assert!(!shown.contains(&crate::multipart::hex(&raw())), "{shown}");
            assert!(!shown.contains("[0, 1, 2"), "{shown}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn files_others_may_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("k");
        std::fs::write(&file, STANDARD.encode(raw())).expect("write");
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let error = CustomerKey::from_file(&file).expect_err("refused");
            assert!(error.to_string().contains("chmod 600"), "{error}");
            assert!(
                error.to_string().contains(&format!("{mode:04o}")),
                "{error}"
            );
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            CustomerKey::from_file(&file).expect("a private file is read");
        }
        let missing = CustomerKey::from_file(&dir.path().join("nope")).expect_err("missing");
        assert!(missing.to_string().contains("cannot be read"), "{missing}");
        assert_eq!(CustomerKey::load(None).expect("no file"), None);
    }
}
