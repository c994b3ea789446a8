//! Benchmarks of Campanile (never shipped), on Garage servers on 127.0.0.1 started by
//! the benchmarks themselves (through campanile-testkit). Two binaries:
//!
//! - `campanile-bench`: the copy path (`copy`: the article's shell pipeline, one large
//!   object, requests per object), the embedded local runner (`local`), memory at
//!   growing input sizes (`memory`), an `rsync --local` of many tiny objects
//!   (`scale`) and the same plan on the local runner and on a Hadoop cluster
//!   (`hadoop`).
//! - `campanile-compare`: Campanile against s5cmd, rclone, the AWS CLI and s3sync;
//!   `bash scripts/bench` installs the peers and runs it.
//!
//! docs/benchmarks.md describes the workloads and records the results. This library
//! holds what the binaries share: [`measure`], a command's wall time, CPU and memory,
//! and the `memory` and `scale` benchmarks.

pub mod hadoop;
pub mod measure;
pub mod memory;
pub mod scale;
