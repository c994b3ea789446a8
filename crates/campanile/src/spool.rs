//! Where objectcopy keeps the bytes of an object or part between the GET and the PUT:
//! in memory up to `maxtmpsize` (most objects and parts never reach a disk), then in a
//! temporary file in one of the `ephemeral` directories, chosen at random to spread
//! the load over the instance's disks. The MD5 (unless the copy does without it, see
//! [`Spool::without_md5`]), the CRC64NVME and the byte count are computed as the bytes
//! arrive, so the data is read once (the CRC64NVME is the checksum a write sends when
//! the source has none of its own). The temporary file is deleted when the
//! spool is dropped, on success and on every error path. The memory buffer may come
//! from a [`BufferPool`], which gets it back when the spool or the body made of it is
//! dropped.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use md5::{Digest, Md5};
use rand::seq::IndexedRandom;
use tempfile::NamedTempFile;

use crate::error::Error;
use crate::pool::{BufferPool, PooledVec};

/// Bytes being collected, with their MD5 and count.
pub struct Spool {
    max_memory: u64,
    directory: PathBuf,
    memory: PooledVec,
    file: Option<NamedTempFile>,
    length: u64,
    /// The MD5 of the bytes, unless [`Spool::without_md5`].
    hasher: Option<Md5>,
    crc64nvme: crc_fast::Digest,
    /// The checksum a part's upload asks for (its source's algorithm), if any.
    checksum: Option<crate::checksum::Hasher>,
}

/// A finished spool: its bytes (in memory or in a file), MD5 and length.
pub struct SpooledBody {
    /// The bytes, or the file holding them.
    pub data: SpooledData,
    /// MD5 of the bytes, when the spool computed it ([`SpooledBody::md5`] computes it
    /// otherwise).
    pub md5: Option<[u8; 16]>,
    /// CRC64NVME of the bytes.
    pub crc64nvme: u64,
    /// Number of bytes.
    pub length: u64,
    /// The checksum asked for with [`Spool::with_checksum`] (binary, big-endian for
    /// a CRC).
    pub checksum: Option<Vec<u8>>,
}

/// Where the bytes of a [`SpooledBody`] are.
pub enum SpooledData {
    /// In memory.
    Memory(Bytes),
    /// In a temporary file, deleted on drop.
    File(NamedTempFile),
}

/// Picks one of the ephemeral directories at random.
pub fn choose_directory(directories: &[PathBuf]) -> PathBuf {
    directories
        .choose(&mut rand::rng())
        .cloned()
        .unwrap_or_else(std::env::temp_dir)
}

impl Spool {
    /// A spool that keeps up to `max_memory` bytes in memory, expecting about
    /// `expected` bytes, and spills into `directory`.
    pub fn new(max_memory: u64, expected: u64, directory: &Path) -> Self {
        Self::pooled(None, max_memory, expected, directory)
    }

    /// [`Spool::new`], with its memory buffer taken from `pool` (if any).
    pub fn pooled(
        pool: Option<&std::sync::Arc<BufferPool>>,
        max_memory: u64,
        expected: u64,
        directory: &Path,
    ) -> Self {
        let capacity = if expected <= max_memory { expected } else { 0 };
        let capacity = usize::try_from(capacity).unwrap_or(0);
        let memory = match pool {
            Some(pool) => pool.take(capacity),
            None => PooledVec::plain(Vec::with_capacity(capacity)),
        };
        Spool {
            max_memory,
            directory: directory.to_path_buf(),
            memory,
            file: None,
            length: 0,
            hasher: Some(Md5::new()),
            crc64nvme: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            checksum: None,
        }
    }

    /// Computes the checksum of `algorithm` of the bytes too (a part of a multipart
    /// object whose upload has the source's checksum algorithm).
    pub fn with_checksum(mut self, algorithm: Option<crate::checksum::Algorithm>) -> Self {
        self.checksum = algorithm.map(crate::checksum::Hasher::new);
        self
    }

    /// Does not compute the MD5 of the bytes as they arrive: for a copy whose write is
    /// proven without it (the server checks a Content-MD5 taken from the source's ETag,
    /// or a checksum, and returns the MD5 of what it stored as the ETag). MD5 is most
    /// of a copy's CPU; [`SpooledBody::md5`] still computes it when a rare path needs it.
    pub fn without_md5(mut self) -> Self {
        self.hasher = None;
        self
    }

    /// Adds bytes.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(chunk);
        }
        self.crc64nvme.update(chunk);
        if let Some(checksum) = &mut self.checksum {
            checksum.update(chunk);
        }
        self.length += chunk.len() as u64;
        if self.file.is_none() && self.length > self.max_memory {
            let mut file = tempfile::Builder::new()
                .prefix("campanile-")
                .tempfile_in(&self.directory)
                .map_err(|e| {
                    Error::io(
                        format!("creating a spool file in {}", self.directory.display()),
                        e,
                    )
                })?;
            file.write_all(self.memory.as_slice())
                .map_err(|e| Error::io("writing the spool file", e))?;
            // Gives a pooled buffer back at once.
            self.memory = PooledVec::default();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file
                .write_all(chunk)
                .map_err(|e| Error::io("writing the spool file", e)),
            None => {
                self.memory.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Ends the spool.
    pub fn finish(self) -> Result<SpooledBody, Error> {
        let md5: Option<[u8; 16]> = self.hasher.map(|hasher| hasher.finalize().into());
        let data = match self.file {
            Some(mut file) => {
                file.flush()
                    .map_err(|e| Error::io("writing the spool file", e))?;
                SpooledData::File(file)
            }
            None => SpooledData::Memory(self.memory.into_bytes()),
        };
        Ok(SpooledBody {
            data,
            md5,
            crc64nvme: self.crc64nvme.finalize(),
            length: self.length,
            checksum: self.checksum.map(crate::checksum::Hasher::finish),
        })
    }
}

impl SpooledBody {
    /// A request body over the spooled bytes; retries of the request re-read them.
    pub async fn byte_stream(&self) -> Result<ByteStream, Error> {
        match &self.data {
            SpooledData::Memory(bytes) => Ok(ByteStream::from(bytes.clone())),
            SpooledData::File(file) => ByteStream::read_from()
                .path(file.path())
                .length(aws_sdk_s3::primitives::Length::Exact(self.length))
                .build()
                .await
                .map_err(|e| {
                    Error::io(
                        "reading the spool file",
                        std::io::Error::other(e.to_string()),
                    )
                }),
        }
    }

    /// MD5 of the bytes: the one computed as they arrived, else computed now from the
    /// memory or the file (a second pass, for the rare copy that needs it after all).
    pub fn md5(&self) -> Result<[u8; 16], Error> {
        if let Some(md5) = self.md5 {
            return Ok(md5);
        }
        let mut hasher = Md5::new();
        match &self.data {
            SpooledData::Memory(bytes) => hasher.update(bytes),
            SpooledData::File(file) => {
                use std::io::Read;
                let mut reader = std::fs::File::open(file.path())
                    .map_err(|e| Error::io("reading the spool file", e))?;
                let mut buffer = vec![0u8; 1 << 20];
                loop {
                    let read = reader
                        .read(&mut buffer)
                        .map_err(|e| Error::io("reading the spool file", e))?;
                    if read == 0 {
                        break;
                    }
                    hasher.update(&buffer[..read]);
                }
            }
        }
        Ok(hasher.finalize().into())
    }

    /// Content-MD5 header value (base64 of the digest).
    pub fn content_md5(&self) -> Result<String, Error> {
        use base64::Engine;
        Ok(base64::engine::general_purpose::STANDARD.encode(self.md5()?))
    }

    /// `x-amz-checksum-crc64nvme` header value (base64 of the big-endian CRC).
    pub fn checksum_crc64nvme(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.crc64nvme.to_be_bytes())
    }

    /// Hex MD5, as an ETag.
    pub fn md5_hex(&self) -> Result<String, Error> {
        Ok(crate::multipart::hex(&self.md5()?))
    }

    /// True when the bytes went to a file.
    pub fn is_on_disk(&self) -> bool {
        matches!(self.data, SpooledData::File(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_bodies_stay_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::new(100, 6, dir.path());
        spool.write(b"abc").expect("write");
        spool.write(b"def").expect("write");
        let body = spool.finish().expect("finish");
        assert!(!body.is_on_disk());
        assert_eq!(body.length, 6);
        assert_eq!(
            body.md5_hex().expect("md5"),
            crate::multipart::single_etag(b"abcdef")
        );
        assert_eq!(body.content_md5().expect("md5"), "6AtQFwmJUPxYqtg8jBSXjg==");
        // The check value of CRC-64/NVME ("123456789": 0xAE8B14860A799888).
        let mut spool = Spool::new(100, 9, &std::env::temp_dir());
        spool.write(b"123456789").expect("write");
        let nine = spool.finish().expect("finish");
        assert_eq!(nine.crc64nvme, 0xAE8B_1486_0A79_9888);
        assert_eq!(nine.checksum_crc64nvme(), "rosUhgp5mIg=");
        let collected = body.byte_stream().await.expect("stream").collect().await;
        assert_eq!(collected.expect("bytes").into_bytes().as_ref(), b"abcdef");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn large_bodies_spill_to_disk_and_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::new(4, 10, dir.path());
        spool.write(b"abc").expect("write");
        spool.write(b"defg").expect("write");
        spool.write(b"hij").expect("write");
        let body = spool.finish().expect("finish");
        assert!(body.is_on_disk());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        let collected = body.byte_stream().await.expect("stream").collect().await;
        assert_eq!(
            collected.expect("bytes").into_bytes().as_ref(),
            b"abcdefghij"
        );
        assert_eq!(
            body.md5_hex().expect("md5"),
            crate::multipart::single_etag(b"abcdefghij")
        );
        drop(body);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn without_md5_the_digest_is_computed_when_asked_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        for max_memory in [100, 4] {
            let mut spool = Spool::new(max_memory, 10, dir.path()).without_md5();
            spool.write(b"abcde").expect("write");
            spool.write(b"fghij").expect("write");
            let body = spool.finish().expect("finish");
            assert_eq!(body.is_on_disk(), max_memory < 10);
            assert_eq!(body.md5, None, "not computed while spooling");
            assert_eq!(
                body.md5_hex().expect("md5"),
                crate::multipart::single_etag(b"abcdefghij")
            );
            // The CRC64NVME is computed either way.
            assert_eq!(
                body.crc64nvme,
                crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, b"abcdefghij")
            );
        }
    }

    #[test]
    fn an_abandoned_spool_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::new(1, 10, dir.path());
        spool.write(b"abcdef").expect("write");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        drop(spool);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn a_pooled_buffer_comes_back_from_a_body_and_from_an_abandoned_spool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let size = 2 * crate::pool::MIN_POOLED;
        let pool = BufferPool::new(8 * size as u64);
        let chunk = vec![5u8; size];
        // A body sent (the stream is a clone) and dropped: the buffer is back.
        let mut spool = Spool::pooled(Some(&pool), size as u64, size as u64, dir.path());
        spool.write(&chunk).expect("write");
        let body = spool.finish().expect("finish");
        let collected = body.byte_stream().await.expect("stream").collect().await;
        assert_eq!(collected.expect("bytes").into_bytes().len(), size);
        assert_eq!(pool.idle_buffers(), 0, "the body holds it");
        drop(body);
        assert_eq!(pool.idle_buffers(), 1);
        assert_eq!(pool.lent_bytes(), 0);
        // A GET that breaks off half way (its spool dropped unfinished).
        let mut spool = Spool::pooled(Some(&pool), size as u64, size as u64, dir.path());
        assert_eq!(pool.idle_buffers(), 0, "reused");
        spool.write(&chunk[..size / 2]).expect("write");
        drop(spool);
        assert_eq!(pool.idle_buffers(), 1);
        // A body larger than announced spills: the buffer comes back at the spill.
        let mut spool = Spool::pooled(Some(&pool), size as u64, size as u64, dir.path());
        spool.write(&chunk).expect("write");
        spool.write(b"one more").expect("write");
        assert_eq!(pool.idle_buffers(), 1, "back when the bytes went to a file");
        drop(spool);
        assert_eq!(pool.lent_bytes(), 0);
    }

    #[test]
    fn directories_are_chosen_among_the_given_ones() {
        let dirs = vec![PathBuf::from("/mnt"), PathBuf::from("/mnt1")];
        for _ in 0..20 {
            assert!(dirs.contains(&choose_directory(&dirs)));
        }
        assert_eq!(choose_directory(&[]), std::env::temp_dir());
    }
}
