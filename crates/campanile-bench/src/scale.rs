//! `campanile-bench scale`: `rsync --local` of many tiny objects (1 M by default)
//! between two buckets of one Garage server (LMDB) on 127.0.0.1: objects/s, and the
//! peak of the summed RSS of rsync's whole process tree (the runner and every task it
//! starts, sampled by [`crate::measure::measure`]). Loading the objects takes a while
//! (Garage takes about 1,000 small PUTs/s here), so they are uploaded many at once and
//! the loading time is reported apart. Keys are `<hex digit>/<number>`, spread over
//! 16 prefixes that the part file names (`,0` … `,f`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use campanile_testkit::server::{self, GarageSettings, ServerKind};
use futures::StreamExt;

use crate::measure::measure;

/// The key of object `i`: its prefix digit from a hash, so the 16 prefixes fill evenly.
pub fn key(i: u64) -> String {
    format!(
        "{:x}/{i:09}",
        (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) & 0xf
    )
}

/// A Garage server on its LMDB metadata engine (Garage's default and faster one) on
/// 127.0.0.1, and its process.
pub fn garage_lmdb() -> (campanile_testkit::S3Server, std::process::Child) {
    server::launch_with(
        ServerKind::Garage,
        &GarageSettings {
            db_engine: Some("lmdb".into()),
            ..Default::default()
        },
    )
    .expect("start Garage")
}

/// Uploads `objects` objects of `object_size` bytes (keys [`key`]) into `bucket`,
/// `concurrency` PUTs in flight, printing progress every tenth.
pub async fn load_tiny(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    objects: u64,
    object_size: usize,
    concurrency: usize,
) {
    let loaded = Instant::now();
    let body = vec![b'x'; object_size];
    let body = &body;
    let mut puts = futures::stream::iter(0..objects)
        .map(|i| async move {
            client
                .put_object()
                .bucket(bucket)
                .key(key(i))
                .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("{}: {e:?}", key(i)))
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = 0u64;
    while let Some(put) = puts.next().await {
        put.expect("PutObject");
        done += 1;
        if done.is_multiple_of((objects / 10).max(1)) {
            eprintln!(
                "loaded {done} objects into {bucket} in {:.0} s",
                loaded.elapsed().as_secs_f64()
            );
        }
    }
}

/// Deletes every object of `bucket`, 1,000 keys per DeleteObjects, 8 requests in flight.
pub async fn empty_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    let mut batches = Vec::new();
    while let Some(page) = pages.next().await {
        let keys: Vec<ObjectIdentifier> = page
            .expect("ListObjectsV2")
            .contents()
            .iter()
            .filter_map(|o| ObjectIdentifier::builder().key(o.key()?).build().ok())
            .collect();
        if !keys.is_empty() {
            batches.push(keys);
        }
    }
    let mut deletes = futures::stream::iter(batches)
        .map(|keys| async move {
            let delete = Delete::builder()
                .set_objects(Some(keys))
                .quiet(true)
                .build()
                .expect("a Delete with objects");
            client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
        })
        .buffer_unordered(8);
    while let Some(deleted) = deletes.next().await {
        deleted.expect("DeleteObjects");
    }
}

/// Options of the benchmark.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Objects to load and copy.
    pub objects: u64,
    /// Bytes per object.
    pub object_size: usize,
    /// PUTs in flight while loading.
    pub load_concurrency: usize,
    /// Extra rsync arguments.
    pub rsync_args: Vec<String>,
}

/// Loads the source, runs rsync --local once, checks the destination and prints a table.
pub fn run(bin: &Path, options: &ScaleOptions) {
    let work = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (server, garage) = garage_lmdb();
    let (src, dst) = ("scale-src", "scale-dst");
    let loaded = Instant::now();
    runtime.block_on(async {
        let client = server.client().await;
        server.create_bucket(&client, src).await;
        server.create_bucket(&client, dst).await;
        load_tiny(
            &client,
            src,
            options.objects,
            options.object_size,
            options.load_concurrency,
        )
        .await;
    });
    let load_seconds = loaded.elapsed().as_secs_f64();
    let part_file = work.path().join("part.hex");
    let lines: String = (0..16).map(|d| format!(",{d:x}\n")).collect();
    std::fs::write(&part_file, lines).expect("part file");
    let mut command = Command::new(bin.join("rsync"));
    for (key, value) in server.command_env() {
        command.env(key, value);
    }
    command
        .args(["--input", &part_file.display().to_string()])
        .args(["--src-bucket", src, "--dst-bucket", dst])
        .args(["--src-endpoint", &server.endpoint])
        .args(["--dst-endpoint", &server.endpoint])
        .args(["--run-dir", &work.path().join("runs").display().to_string()])
        .args(["--output", &work.path().join("out").display().to_string()])
        .args(["--uuid", "scale", "--quiet"])
        .args(&options.rsync_args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    eprintln!("scale: rsync --local of {} objects", options.objects);
    let measured = measure(command, Some(garage.id())).expect("rsync");
    assert!(measured.success, "rsync failed");
    let copied = runtime.block_on(async {
        let client = server.client().await;
        let mut count = 0u64;
        let mut pages = client.list_objects_v2().bucket(dst).into_paginator().send();
        while let Some(page) = pages.next().await {
            count += page.expect("ListObjectsV2").contents().len() as u64;
        }
        count
    });
    let n = options.objects as f64;
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| loading {} objects of {} B ({} PUTs in flight) | {:.0} s ({:.0} objects/s) |",
        options.objects,
        options.object_size,
        options.load_concurrency,
        load_seconds,
        n / load_seconds
    );
    println!(
        "| rsync --local {} | {:.1} s, {:.0} objects/s |",
        options.rsync_args.join(" "),
        measured.seconds,
        n / measured.seconds
    );
    println!(
        "| peak RSS of rsync's process tree (runner + tasks) | {:.1} MiB |",
        measured.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "| CPU seconds: rsync's tree / Garage | {:.1} / {:.1} |",
        measured.cpu_seconds, measured.server_cpu_seconds
    );
    println!(
        "| objects at the destination | {copied} of {} |",
        options.objects
    );
}
