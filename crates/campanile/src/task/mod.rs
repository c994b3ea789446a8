//! The Campanile tasks, each a function over stdin/stdout/stderr with injected S3
//! clients. The binaries only parse arguments and call these.

pub mod abort_run;
pub mod bucketlist;
pub mod multipartcomplete;
pub mod multipartlist;
pub mod objectcopy;
pub mod objectdelete;
pub mod objectindex;
pub mod objectmap;
pub mod objectrestore;
pub mod objectverify;
