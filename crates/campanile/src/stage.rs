//! Staging the code prefix (`--code`) that EMR steps read: the task binaries (at
//! `<code>/<task>` for `-files`, and at `<code>/bin/x86_64/<task>` for the bootstrap
//! action, with `bin/x86_64/SHA256SUMS` that the action checks before it installs
//! anything), `diff.q` and `delete.q`, `campanile.cfg`, the credentials file and `bootstrap/`.
//! Idempotent: an object whose ETag already equals the MD5 of the local bytes is left
//! alone.
//!
//! The credentials file (`.boto` under the code prefix, as the article names it) is
//! written with server-side encryption, and its content is never printed. When it
//! holds long-lived keys rather than role profiles ([`crate::credentials`]), staging
//! first checks that the code bucket blocks every kind of public access, refuses
//! otherwise, and warns that roles would need no secret at all.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

use crate::command::Task;
use crate::error::{Error, S3ResultExt};
use crate::s3::Client;

/// The Hive diff script, shipped inside the binary.
pub const DIFF_Q: &str = include_str!("../../../hive/diff.q");
/// The Hive script of `rsync --delete` on a cluster, shipped inside the binary.
pub const DELETE_Q: &str = include_str!("../../../hive/delete.q");
/// The bootstrap action, shipped inside the binary.
pub const BOOTSTRAP: &str = include_str!("../../../bootstrap/campanile.sh");
/// The sample configuration, used when no campanile.cfg is given.
pub const SAMPLE_CONFIG: &str = include_str!("../../../etc/campanile.cfg");

/// The architecture of the staged binaries, whatever the staging host's: EMR nodes run
/// the x86_64 binaries of `scripts/build-emr` (every streaming step ships them with
/// `-files`), and the bootstrap action refuses any other node.
pub const EMR_ARCH: &str = "x86_64";

/// The task binaries staged: every [`Task`], and nothing else (rsync runs where the
/// user is, never on the nodes).
pub const TASKS: [&str; Task::ALL.len()] = {
    let mut programs = [""; Task::ALL.len()];
    let mut index = 0;
    while index < programs.len() {
        programs[index] = Task::ALL[index].program();
        index += 1;
    }
    programs
};

/// Where one staged object's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// Bytes built into the program.
    Embedded(&'static str),
    /// Bytes made while staging (the checksum file).
    Generated(Vec<u8>),
}

/// One object to stage under the code prefix.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Key relative to the code prefix.
    pub name: String,
    /// Its bytes.
    pub source: Source,
    /// Written with server-side encryption (the credentials file).
    pub encrypted: bool,
}

impl Staged {
    fn plain(name: impl Into<String>, source: Source) -> Staged {
        Staged {
            name: name.into(),
            source,
            encrypted: false,
        }
    }
}

/// The name of the checksum file beside the bootstrap action's binaries.
pub const SHA256SUMS: &str = "SHA256SUMS";

/// What staging did to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Uploaded (new or changed).
    Uploaded,
    /// Already there with the same bytes.
    Unchanged,
}

/// The standard set: binaries from `bin_dir` (with their SHA-256 sums), the given
/// config and credentials files.
pub fn standard_set(
    bin_dir: &Path,
    config: Option<&Path>,
    credentials: &Path,
) -> Result<Vec<Staged>, Error> {
    let arch = EMR_ARCH;
    let mut set = Vec::new();
    let mut sums = String::new();
    for task in TASKS {
        let file = bin_dir.join(task);
        let bytes = read(&Source::File(file.clone()))?;
        sums.push_str(&format!("{}  {task}\n", sha256_hex(&bytes)));
        set.push(Staged::plain(task, Source::File(file.clone())));
        set.push(Staged::plain(
            format!("bin/{arch}/{task}"),
            Source::File(file),
        ));
    }
    set.push(Staged::plain(
        format!("bin/{arch}/{SHA256SUMS}"),
        Source::Generated(sums.into_bytes()),
    ));
    set.push(Staged::plain("diff.q", Source::Embedded(DIFF_Q)));
    set.push(Staged::plain("delete.q", Source::Embedded(DELETE_Q)));
    set.push(Staged::plain(
        "bootstrap/campanile.sh",
        Source::Embedded(BOOTSTRAP),
    ));
    set.push(Staged::plain(
        crate::plan::CONFIG_FILE,
        match config {
            Some(path) => Source::File(path.to_path_buf()),
            None => Source::Embedded(SAMPLE_CONFIG),
        },
    ));
    set.push(Staged {
        name: crate::plan::CREDENTIALS_FILE.into(),
        source: Source::File(credentials.to_path_buf()),
        encrypted: true,
    });
    Ok(set)
}

/// The SHA-256 of `bytes`, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::multipart::hex(&sha2::Sha256::digest(bytes))
}

/// The SHA-256 of the staged checksum file, for the bootstrap action's `-s`: with it,
/// a node installs nothing unless the sums it fetched are the ones staged here.
pub fn sums_digest(set: &[Staged]) -> Option<String> {
    set.iter()
        .find(|s| s.name.ends_with(SHA256SUMS))
        .and_then(|s| match &s.source {
            Source::Generated(bytes) => Some(sha256_hex(bytes)),
            _ => None,
        })
}

/// What the credentials file holds, as staging sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsKind {
    /// Role profiles only: nothing secret.
    Roles,
    /// Long-lived keys.
    Keys,
}

/// Checks the credentials file before it is staged: a file with long-lived keys goes
/// only to a bucket that blocks public access (all four settings), and is reported as
/// [`CredentialsKind::Keys`] so the caller warns; a file of role profiles needs no check.
///
/// `check_public_access` false skips the check, for S3-compatible servers that have no
/// public access block API (Garage, a private MinIO): never for AWS.
pub async fn check_credentials(
    client: &Client,
    bucket: &str,
    credentials: &Path,
    check_public_access: bool,
) -> Result<CredentialsKind, Error> {
    let text = std::fs::read_to_string(credentials)
        .map_err(|e| Error::io(format!("reading {}", credentials.display()), e))?;
    if !crate::credentials::holds_secret_keys(&text) {
        return Ok(CredentialsKind::Roles);
    }
    if !check_public_access {
        return Ok(CredentialsKind::Keys);
    }
    let refused = |why: String| {
        Error::Usage(format!(
            "{} holds long-lived keys and {why}: refusing to stage it. Block public access \
             (aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration \
             BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true), \
             or better, stage role profiles (role_arn + credential_source) that hold no secret",
            credentials.display()
        ))
    };
    let answer = client.get_public_access_block().bucket(bucket).send().await;
    let blocked = match answer {
        Ok(output) => output.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        // S3's answer for a bucket that has never been given the setting.
        Err(error)
            if aws_sdk_s3::error::ProvideErrorMetadata::code(&error)
                == Some("NoSuchPublicAccessBlockConfiguration") =>
        {
            false
        }
        Err(error) => {
            return Err(refused(format!(
                "whether s3://{bucket} blocks public access cannot be told ({})",
                crate::s3::describe_error(&error)
            )));
        }
    };
    if blocked {
        Ok(CredentialsKind::Keys)
    } else {
        Err(refused(format!(
            "s3://{bucket} does not block every kind of public access"
        )))
    }
}

/// The warning printed when long-lived keys are staged.
pub const KEYS_WARNING: &str = "warning: the credentials file holds long-lived keys, now in the code \
bucket (encrypted, public access blocked): anyone who can read that bucket can use them until they \
are rotated. Roles need no secret: give the EMR nodes an instance profile that reads the source, and \
stage a profile with role_arn and credential_source = Ec2InstanceMetadata for the destination \
(cloudformation/s3_migration_role.json creates that role).";

fn read(source: &Source) -> Result<Vec<u8>, Error> {
    match source {
        Source::Embedded(text) => Ok(text.as_bytes().to_vec()),
        Source::File(path) => {
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        }
        Source::Generated(bytes) => Ok(bytes.clone()),
    }
}

/// Uploads every object of `set` under `s3://bucket/prefix/` unless it is there already.
pub async fn stage(
    client: &Client,
    bucket: &str,
    prefix: &str,
    set: &[Staged],
) -> Result<Vec<(String, Outcome)>, Error> {
    let mut done = Vec::new();
    for staged in set {
        let bytes = read(&staged.source)?;
        let md5 = crate::multipart::md5(&bytes);
        let key = if prefix.is_empty() {
            staged.name.clone()
        } else {
            format!("{}/{}", prefix.trim_end_matches('/'), staged.name)
        };
        let current = client
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .ok();
        let same = current
            .and_then(|h| h.e_tag().map(|e| e.trim_matches('"').to_string()))
            .is_some_and(|etag| etag == crate::multipart::hex(&md5));
        if same {
            done.push((key, Outcome::Unchanged));
            continue;
        }
        use base64::Engine;
        let mut put = client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_md5(base64::engine::general_purpose::STANDARD.encode(md5))
            .body(ByteStream::from(bytes));
        if staged.encrypted {
            put = put.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256);
        }
        put.send().await.context("PutObject", bucket, &key)?;
        done.push((key, Outcome::Uploaded));
    }
    Ok(done)
}
