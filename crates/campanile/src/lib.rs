//! Campanile turns a Hadoop cluster (Amazon EMR), or one machine, into a massive S3
//! processing engine: bucket listings, multipart layouts and object copies are split
//! into Hadoop Streaming tasks that read records on stdin and write records on stdout.
//!
//! This crate holds all of the logic, as functions over readers and writers with
//! injected S3 clients; the binaries in `campanile-cli` only parse arguments and wire
//! things up. See docs/architecture.md for the shape of the whole system.

pub mod acl;
pub mod attempt;
pub mod checksum;
pub mod command;
pub mod config;
pub mod counters;
pub mod credentials;
pub mod error;
pub mod governor;
pub mod hadoop_input;
pub mod headers;
pub mod input;
pub mod interrupt;
pub mod inventory;
pub mod logging;
pub mod multipart;
pub mod orphans;
pub mod partfile;
pub mod plan;
pub mod pool;
pub mod record;
pub mod reporter;
pub mod requests;
pub mod retry;
pub mod rsync;
pub mod s3;
pub mod s3_url;
pub mod select;
pub mod skip;
pub mod spool;
pub mod sse_c;
pub mod stage;
pub mod stream;
pub mod task;
pub mod tuning;
pub mod versions;

pub use error::Error;
