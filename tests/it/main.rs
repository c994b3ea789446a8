//! The end-to-end tests, one module per area, in one test binary: they run the built
//! task binaries (and a few library functions in process) against real S3 and EMR
//! servers on loopback (Garage, moto). One binary links the SDK once and shares one
//! Garage server and the article's bucket between all modules; `cargo test --test it
//! copy::` runs one module.

mod common;

mod bad_input;
mod bootstrap;
mod bucketlist;
mod cleanup_step;
mod copy;
mod delete_sync;
mod diagnostics;
mod dry_run;
mod emr_binaries;
mod fidelity;
mod hadoop;
mod help;
mod iam;
mod in_process;
mod index;
mod interrupts;
mod live;
mod local_runner;
mod map;
mod no_lost_update;
mod partfile;
mod prefixes;
mod progress;
mod proofs;
mod reencrypt;
mod reliability;
mod report;
mod restore;
mod roles;
mod rsync;
mod runs;
mod security;
mod server_side;
mod ssec;
mod stage;
mod summary;
mod verify;
mod versions;
