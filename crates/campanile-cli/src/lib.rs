//! The Campanile binaries' edge: each binary in `src/bin/` parses its arguments (the
//! clap structs of [`campanile::command`], or rsync's in [`rsync`], `campanile index`'s
//! in [`index`]), builds clients
//! and calls its library function inside [`process::run_task`], which maps the result
//! to an exit status. Nothing else lives here.

pub mod index;
pub mod jobs;
pub mod map;
pub mod process;
pub mod reencrypt;
pub mod restore;
pub mod rsync;
pub mod verify;
