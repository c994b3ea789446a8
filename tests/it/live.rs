//! Live buckets: objects deleted or overwritten between the listing and the copy are
//! skipped and reported, never retried; one object that fails does not stop the
//! others; a retried attempt skips what an earlier one finished and resumes a multipart
//! upload from its uploaded parts. Against Garage, with the fault proxy counting the
//! requests where it matters. See docs/reliability.md.

use std::sync::{Arc, Mutex};

use crate::common::*;
use campanile_testkit::faults::{Exchange, FaultPlan, FaultProxy};
use campanile_testkit::fixtures;

const MIB: u64 = 1024 * 1024;

/// Whole objects and two-part objects: `keep/…` stay, `gone/…` are deleted and
/// `changed/…` overwritten after the listing.
fn live_objects() -> Vec<fixtures::FixtureObject> {
    let mut objects: Vec<fixtures::FixtureObject> = (0..4)
        .map(|i| fixtures::FixtureObject::whole(format!("keep/{i}"), 100_000 + i))
        .collect();
    objects.push(fixtures::FixtureObject::whole("gone/whole", 1000));
    objects.push(fixtures::FixtureObject::whole("changed/whole", 1000));
    for key in ["keep/multi", "gone/multi", "changed/multi"] {
        objects.push(fixtures::FixtureObject::multipart(
            key,
            5 * MIB + 1,
            5 * MIB,
        ));
    }
    objects
}

/// Deletes `gone/…` and overwrites `changed/…` (other bytes, so another ETag; the
/// multipart one with the same layout).
async fn delete_and_overwrite(client: &aws_sdk_s3::Client, src: &str) {
    for key in ["gone/whole", "gone/multi"] {
        client
            .delete_object()
            .bucket(src)
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    fixtures::put_object(client, src, "changed/whole", vec![9; 1000]).await;
    let bytes = vec![9; (5 * MIB + 1) as usize];
    fixtures::put_multipart(client, src, "changed/multi", &bytes, &[5 * MIB]).await;
}

fn lines_with_part_etag<'a>(run: &'a Run, part_etag: &str) -> Vec<&'a str> {
    run.lines()
        .into_iter()
        .filter(|l| l.split('\t').nth(3) == Some(part_etag))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_deleted_or_overwritten_after_the_listing_are_skipped_and_the_rest_copied() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "live").await;
    let objects = live_objects();
    fixtures::upload_all(&client, &src, &objects).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    delete_and_overwrite(&client, &src).await;

    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let copied = run(OBJECTCOPY, &args, &parts.stdout, server, &[]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    // Whole objects: counted and reported by objectcopy.
    assert_eq!(
        copied.counter(&src, "SourceVanished"),
        1,
        "{}",
        copied.stderr
    );
    assert_eq!(
        copied.counter(&src, "SourceChanged"),
        1,
        "{}",
        copied.stderr
    );
    assert!(
        copied
            .stderr
            .contains(&format!("skipped {src}/gone/whole: vanished")),
        "{}",
        copied.stderr
    );
    assert!(
        copied
            .stderr
            .contains(&format!("skipped {src}/changed/whole: changed")),
        "{}",
        copied.stderr
    );
    // Parts: marked for multipartcomplete, not counted per part.
    assert_eq!(lines_with_part_etag(&copied, "skipped:vanished").len(), 2);
    assert_eq!(lines_with_part_etag(&copied, "skipped:changed").len(), 2);
    assert_eq!(copied.counter(&dst, "Objects"), 4);
    assert_eq!(copied.counter(&dst, "Parts"), 2, "keep/multi's two parts");

    let complete = run(
        MULTIPARTCOMPLETE,
        &[
            "--bucket",
            &dst,
            "--src-bucket",
            &src,
            "--endpoint",
            &server.endpoint,
        ],
        &copied.stdout,
        server,
        &[],
    );
    assert_eq!(complete.code, 0, "{}", complete.stderr);
    assert_eq!(
        complete.counter(&src, "SourceVanished"),
        1,
        "once per object: {}",
        complete.stderr
    );
    assert_eq!(
        complete.counter(&src, "SourceChanged"),
        1,
        "once per object"
    );
    assert_eq!(complete.counter(&dst, "Uploads"), 1, "keep/multi completed");
    assert!(
        complete
            .stderr
            .contains(&format!("skipped {src}/gone/multi: vanished")),
        "{}",
        complete.stderr
    );

    let mut landed = keys(&client, &dst).await;
    landed.sort();
    let mut kept: Vec<String> = objects
        .iter()
        .map(|o| o.key.clone())
        .filter(|k| k.starts_with("keep/"))
        .collect();
    kept.sort();
    assert_eq!(landed, kept, "exactly the objects that stayed");
    for key in &kept {
        assert_same_object(&client, &src, &dst, key).await;
    }
    assert_eq!(
        uploads_in_progress(&client, &dst).await,
        0,
        "the skipped objects' uploads are aborted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multipartlist_skips_objects_deleted_or_overwritten_after_the_listing() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "live-mlist").await;
    fixtures::upload_all(&client, &src, &live_objects()).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    delete_and_overwrite(&client, &src).await;
    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let planned = run(MULTIPARTLIST, &args, &list.stdout, server, &[]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert_eq!(planned.counter(&src, "SourceVanished"), 1, "gone/multi");
    assert_eq!(planned.counter(&src, "SourceChanged"), 1, "changed/multi");
    assert_eq!(planned.counter(&src, "Objects"), 9, "every listed object");
    let (rows, records): (Vec<&str>, Vec<&str>) = planned
        .lines()
        .into_iter()
        .partition(|l| campanile::skip::is_row(l));
    let multipart: Vec<&str> = records
        .iter()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .filter(|k| k.ends_with("multi"))
        .collect();
    assert_eq!(multipart, ["keep/multi", "keep/multi"]);
    // Whole objects pass through without a request: objectcopy finds them out.
    assert_eq!(records.len(), 6 + 2);
    // The two skipped objects go on as skip rows, towards the run's report.
    let mut skipped: Vec<(String, campanile::skip::SkipReason)> = rows
        .iter()
        .map(|l| campanile::skip::Skipped::from_row(l).expect("a skip row"))
        .map(|row| (row.key, row.reason))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            (
                "changed/multi".to_string(),
                campanile::skip::SkipReason::Changed
            ),
            (
                "gone/multi".to_string(),
                campanile::skip::SkipReason::Vanished
            )
        ]
    );
    assert_eq!(
        uploads_in_progress(&client, &dst).await,
        1,
        "an upload for keep/multi only"
    );
}

/// Replaces the size (field 3) of `key`'s line, or the upload id (field 5) of its part
/// `part`: both make the record fail for good (a GET that announces another size, an
/// UploadPart to no upload), neither is a changed source.
fn break_line(lines: &str, key: &str, part: Option<&str>) -> String {
    lines
        .lines()
        .map(|line| {
            let mut fields: Vec<String> = line.split('\t').map(str::to_string).collect();
            if fields[0] == key {
                match part {
                    None => {
                        let size: u64 = fields[2].parse().expect("size");
                        fields[2] = (size + 1).to_string();
                    }
                    Some(number) if fields[5] == number => {
                        fields[4] = "no-such-upload".to_string();
                    }
                    Some(_) => {}
                }
            }
            format!("{}\n", fields.join("\t"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_object_does_not_stop_the_others_and_the_task_names_it() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "one-bad").await;
    let mut objects: Vec<fixtures::FixtureObject> = (0..6)
        .map(|i| fixtures::FixtureObject::whole(format!("good/{i}"), 50_000 + i))
        .collect();
    objects.push(fixtures::FixtureObject::whole("bad/whole", 1000));
    objects.push(fixtures::FixtureObject::multipart(
        "bad/multi",
        5 * MIB + 1,
        5 * MIB,
    ));
    fixtures::upload_all(&client, &src, &objects).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let broken = break_line(&parts.stdout, "bad/whole", None);
    let broken = break_line(&broken, "bad/multi", Some("2"));

    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    // One record at a time, so that the failures come before most of the copies.
    let mut one_at_a_time = args.clone();
    one_at_a_time.extend(["--concurrency", "1"]);
    let copied = run(OBJECTCOPY, &one_at_a_time, &broken, server, &[]);
    assert_eq!(copied.code, 1, "{}", copied.stderr);
    let last = copied.stderr.lines().last().unwrap_or("");
    assert!(last.contains("2 record(s) failed"), "{}", copied.stderr);
    assert!(last.contains("bad/whole: "), "{last}");
    assert!(
        last.contains("announced 1000 bytes, expected 1001"),
        "{last}"
    );
    assert!(
        last.contains("bad/multi (part 2 of upload no-such-upload): "),
        "{last}"
    );
    assert!(last.contains("NoSuchUpload"), "{last}");
    // Everything else was copied, the good part included.
    assert_eq!(copied.counter(&dst, "Objects"), 6);
    assert_eq!(copied.counter(&dst, "Parts"), 1);
    assert_eq!(copied.lines().len(), 1, "bad/multi's part 1");
    let mut landed = keys(&client, &dst).await;
    landed.sort();
    let good: Vec<String> = (0..6).map(|i| format!("good/{i}")).collect();
    assert_eq!(landed, good);
    for key in &good {
        assert_same_object(&client, &src, &dst, key).await;
    }
}

/// A request the proxy saw: method and target.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn count(seen: &Seen, what: impl Fn(&str, &str) -> bool) -> usize {
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(method, target)| what(method, target))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_attempt_skips_finished_objects_and_uploaded_parts() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "resume").await;
    let mut objects: Vec<fixtures::FixtureObject> = (0..6)
        .map(|i| fixtures::FixtureObject::whole(format!("w/{i}"), 30_000 + i))
        .collect();
    objects.push(fixtures::FixtureObject::multipart(
        "multi",
        11 * MIB,
        5 * MIB,
    ));
    fixtures::upload_all(&client, &src, &objects).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let all: Vec<&str> = parts.lines();
    assert_eq!(all.len(), 6 + 3);

    // The first attempt got through w/0..w/2 and parts 1 and 2 before it died.
    let done: String = all
        .iter()
        .filter(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            matches!(fields[0], "w/0" | "w/1" | "w/2")
                || (fields[0] == "multi" && matches!(fields[5], "1" | "2"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let first = stage(OBJECTCOPY, &both, &done, server);
    assert_eq!(first.lines().len(), 2);

    // The retried attempt, on the whole split, through a proxy that counts requests.
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("start proxy");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = seen.clone();
        proxy.set_hook(Arc::new(move |e: &Exchange| {
            // objectcopy's probe of the server's checks is not the copy's work.
            if !e.probe {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((e.method.clone(), e.target.clone()));
            }
        }));
    }
    let through_proxy = src_dst_args(server, &src, &dst)
        .into_iter()
        .map(|a| {
            if a == server.endpoint {
                proxy.endpoint()
            } else {
                a
            }
        })
        .collect::<Vec<String>>();
    let args: Vec<&str> = through_proxy.iter().map(String::as_str).collect();
    let retried = run(
        OBJECTCOPY,
        &args,
        &parts.stdout,
        server,
        &[
            (
                "mapreduce_task_attempt_id",
                "attempt_1700000000000_0001_m_000000_1",
            ),
            ("CAMPANILE_ATTEMPT_PAUSE_MAX", "0.2"),
        ],
    );
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert!(
        retried.stderr.contains("attempt 2 of this task: waiting"),
        "a retried attempt pauses first:\n{}",
        retried.stderr
    );
    assert_eq!(
        retried.counter(&dst, "AlreadyCopied"),
        5,
        "{}",
        retried.stderr
    );
    assert_eq!(retried.counter(&dst, "Objects"), 3);
    assert_eq!(retried.counter(&dst, "Parts"), 1);
    // No body sent again: writes and source reads only for what was not done.
    let writes = count(&seen, |m, _| m == "PUT");
    let source_gets = count(&seen, |m, t| m == "GET" && t.contains(&format!("/{src}/")));
    let list_parts = count(&seen, |m, t| m == "GET" && t.contains("uploadId="));
    assert_eq!(writes, 3 + 1, "w/3..w/5 and part 3");
    assert_eq!(source_gets, 3 + 1);
    assert_eq!(
        list_parts, 1,
        "one ListParts for the upload, not one per part"
    );
    // The parts found come with the ETags ListParts gives: those of the first attempt.
    let part_line = |run: &Run, number: &str| -> String {
        run.lines()
            .into_iter()
            .find(|l| l.split('\t').nth(4) == Some(number))
            .map(str::to_string)
            .expect("a part line")
    };
    for number in ["1", "2"] {
        assert_eq!(part_line(&retried, number), part_line(&first, number));
    }
    drop(proxy);
    complete_uploads(server, &dst, &retried.stdout);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_attempt_copies_everything_without_looking() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "no-resume").await;
    fixtures::put_object(&client, &src, "a", vec![1; 1000]).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    stage(OBJECTCOPY, &both, &parts.stdout, server);
    // Again, as a first attempt (attempt 0): copied again, nothing counted as found.
    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let again = run(
        OBJECTCOPY,
        &args,
        &parts.stdout,
        server,
        &[(
            "mapreduce_task_attempt_id",
            "attempt_1700000000000_0001_m_000000_0",
        )],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.counter(&dst, "Objects"), 1);
    assert_eq!(again.counter(&dst, "AlreadyCopied"), 0);
    assert!(!again.stderr.contains("waiting"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_attempt_lists_an_uploads_parts_page_by_page_once() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "resume-pages").await;
    // An upload that already holds 1,001 one-byte parts (more than one ListParts page
    // of 1,000), as a killed attempt would have left it; the source is not even
    // needed, since nothing is read from it.
    const PARTS: u32 = 1001;
    let upload_id = client
        .create_multipart_upload()
        .bucket(&dst)
        .key("many")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_string();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut uploads = tokio::task::JoinSet::new();
    for number in 1..=PARTS {
        let (client, dst, upload_id) = (client.clone(), dst.clone(), upload_id.clone());
        let limit = limit.clone();
        uploads.spawn(async move {
            let _turn = limit.acquire().await.expect("semaphore");
            let part = client
                .upload_part()
                .bucket(&dst)
                .key("many")
                .upload_id(&upload_id)
                .part_number(number as i32)
                .body(vec![(number % 251) as u8].into())
                .send()
                .await
                .expect("upload part");
            let etag = part
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            (number, etag)
        });
    }
    let etags: std::collections::BTreeMap<u32, String> =
        uploads.join_all().await.into_iter().collect();
    let object_etag = format!("{}-{PARTS}", "0".repeat(32));
    let records: String = (1..=PARTS)
        .map(|n| {
            let byte = u64::from(n) - 1;
            format!(
                "many\t{object_etag}\t{PARTS}\t2026-11-30 00:00:00\t{upload_id}\t{n}\t{PARTS}\t{byte}\t{byte}\n"
            )
        })
        .collect();

    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("start proxy");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = seen.clone();
        proxy.set_hook(Arc::new(move |e: &Exchange| {
            // objectcopy's probe of the server's checks is not the copy's work.
            if !e.probe {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((e.method.clone(), e.target.clone()));
            }
        }));
    }
    let endpoint = proxy.endpoint();
    let args = [
        "--src-bucket",
        &src,
        "--src-endpoint",
        &endpoint,
        "--dst-bucket",
        &dst,
        "--dst-endpoint",
        &endpoint,
    ];
    let retried = run(
        OBJECTCOPY,
        &args,
        &records,
        server,
        &[(
            "mapreduce_task_attempt_id",
            "attempt_1700000000000_0001_m_000007_3",
        )],
    );
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert_eq!(retried.counter(&dst, "AlreadyCopied"), i64::from(PARTS));
    assert_eq!(count(&seen, |m, _| m == "PUT"), 0, "no part sent again");
    assert_eq!(count(&seen, |m, t| m == "GET" && t.contains(&src)), 0);
    assert_eq!(
        count(&seen, |m, t| m == "GET" && t.contains("uploadId=")),
        2,
        "two pages of one ListParts walk, for 1,001 parts"
    );
    let lines = retried.lines();
    assert_eq!(lines.len(), PARTS as usize);
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let number: u32 = fields[4].parse().expect("part number");
        assert_eq!(fields[3], etags[&number], "part {number}");
    }
    client
        .abort_multipart_upload()
        .bucket(&dst)
        .key("many")
        .upload_id(&upload_id)
        .send()
        .await
        .expect("abort");
}
