//! A run's JSON files that tell a live run from a dead one (`unfinished.json`,
//! `run.json`): written whole through a temporary file and a rename, so that a reader
//! never sees half of one, and locked (`flock`) under the temporary name before the
//! rename, so that a scan for dead runs never sees a live run's file unlocked. The
//! lock lives as long as the [`LockedFile`]; the kernel drops it when the process dies.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::Error;

/// A file held locked for as long as this value lives.
#[derive(Debug)]
pub struct LockedFile(File);

impl Drop for LockedFile {
    fn drop(&mut self) {
        // Unlocked explicitly, not only closed: a child forked by another thread and not
        // yet exec'd shares the open file, and would hold the lock until its exec.
        let _ = self.0.unlock();
    }
}

/// Writes `value` as `dir/name` (pretty JSON and a newline) through `dir/.name.tmp`
/// and a rename; with `lock`, the file is locked before it is renamed and stays locked
/// while the returned value lives.
pub fn write_json<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    lock: bool,
) -> Result<Option<LockedFile>, Error> {
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let context = |what: &str| format!("{what} {}", temporary.display());
    let mut file = File::create(&temporary).map_err(|e| Error::io(context("creating"), e))?;
    if lock {
        file.lock().map_err(|e| Error::io(context("locking"), e))?;
    }
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot write the run's record: {e}")))?;
    text.push(b'\n');
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(context("writing"), e))?;
    std::fs::rename(&temporary, &path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok(lock.then_some(LockedFile(file)))
}
