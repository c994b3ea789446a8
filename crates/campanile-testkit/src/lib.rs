//! Test support for Campanile (never shipped): real S3 servers on 127.0.0.1 started by
//! the tests themselves, unique buckets, and the article's test bucket.
//!
//! - [`s3`]: the main test server. Garage (a production S3 server) started on free
//!   loopback ports, or, when `CAMPANILE_TEST_ENDPOINT` is set, that endpoint with the
//!   credentials in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_REGION`).
//! - [`faults`]: a fault-injecting proxy to put in front of either (503, 500, resets,
//!   cut or damaged bodies, answers held past the read timeout), on a seeded schedule.
//! - [`moto`]: moto's server mode, for what Garage lacks (storage classes, versioning,
//!   SSE echo, and later EMR and CloudFormation).
//!
//! Each server is started once per test process and killed with it.

pub mod faults;
pub mod fixtures;
pub mod hadoop;
pub mod server;

pub use server::{S3Server, ServerKind, moto, moto_emr_steps, s3, tools_python};

use std::sync::atomic::{AtomicU32, Ordering};

/// A bucket name no other test (in this process or a concurrent one) uses.
pub fn unique_bucket(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(30)
        .collect();
    format!("t-{tag}-{}-{n}-{nanos:x}", std::process::id())
}
