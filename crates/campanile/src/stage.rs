//! Staging the code prefix (`--code`) that EMR steps read: the task binaries (at
//! `<code>/<task>` for `-files`, and at `<code>/bin/x86_64/<task>` for the bootstrap
//! action), `diff.q`, `campanile.cfg`, the credentials file and `bootstrap/`.
//! Idempotent: an object whose ETag already equals the MD5 of the local bytes is left
//! alone. The credentials file's content is never printed; only its key is.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

use crate::command::Task;
use crate::error::{Error, S3ResultExt};
use crate::s3::Client;

/// The Hive diff script, shipped inside the binary.
pub const DIFF_Q: &str = include_str!("../../../hive/diff.q");
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
}

/// One object to stage under the code prefix.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Key relative to the code prefix.
    pub name: String,
    /// Its bytes.
    pub source: Source,
}

/// What staging did to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Uploaded (new or changed).
    Uploaded,
    /// Already there with the same bytes.
    Unchanged,
}

/// The standard set: binaries from `bin_dir`, the given config and credentials files.
pub fn standard_set(bin_dir: &Path, config: Option<&Path>, credentials: &Path) -> Vec<Staged> {
    let arch = EMR_ARCH;
    let mut set = Vec::new();
    for task in TASKS {
        let file = bin_dir.join(task);
        set.push(Staged {
            name: task.to_string(),
            source: Source::File(file.clone()),
        });
        set.push(Staged {
            name: format!("bin/{arch}/{task}"),
            source: Source::File(file),
        });
    }
    set.push(Staged {
        name: "diff.q".into(),
        source: Source::Embedded(DIFF_Q),
    });
    set.push(Staged {
        name: "bootstrap/campanile.sh".into(),
        source: Source::Embedded(BOOTSTRAP),
    });
    set.push(Staged {
        name: crate::plan::CONFIG_FILE.into(),
        source: match config {
            Some(path) => Source::File(path.to_path_buf()),
            None => Source::Embedded(SAMPLE_CONFIG),
        },
    });
    set.push(Staged {
        name: crate::plan::CREDENTIALS_FILE.into(),
        source: Source::File(credentials.to_path_buf()),
    });
    set
}

fn read(source: &Source) -> Result<Vec<u8>, Error> {
    match source {
        Source::Embedded(text) => Ok(text.as_bytes().to_vec()),
        Source::File(path) => {
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        }
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
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_md5(base64::engine::general_purpose::STANDARD.encode(md5))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .context("PutObject", bucket, &key)?;
        done.push((key, Outcome::Uploaded));
    }
    Ok(done)
}
