//! bootstrap/campanile.sh run here against a small HTTP server on 127.0.0.1 that plays
//! the EC2 instance metadata service (IMDSv2), with a temporary root for the files it
//! reads (/proc) and writes (/etc/campanile.cfg).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOKEN: &str = "AQAEAFake-session-token==";

/// What the fake metadata service answers.
#[derive(Clone, Copy)]
struct Imds {
    /// Token requests answered 503 before the first success (tests the retries).
    token_failures: usize,
    /// Never give a token (IMDSv2 unavailable).
    refuse_tokens: bool,
    /// Block devices listed, with their device names.
    ephemeral: &'static [(&'static str, &'static str)],
}

/// Serves until the test process ends; returns the base URL and the request count.
fn serve(imds: Imds) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        let mut token_calls = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::Relaxed);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut token = None;
            let mut ttl = false;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((header, ""));
                match name.to_ascii_lowercase().as_str() {
                    "x-aws-ec2-metadata-token" => token = Some(value.trim().to_string()),
                    "x-aws-ec2-metadata-token-ttl-seconds" => ttl = true,
                    _ => {}
                }
            }
            let mut words = request_line.split_whitespace();
            let method = words.next().unwrap_or_default();
            let path = words.next().unwrap_or_default();
            let (status, body) = if method == "PUT" && path == "/latest/api/token" {
                token_calls += 1;
                if imds.refuse_tokens || !ttl {
                    ("403 Forbidden", String::new())
                } else if token_calls <= imds.token_failures {
                    ("503 Service Unavailable", String::new())
                } else {
                    ("200 OK", TOKEN.to_string())
                }
            } else if token.as_deref() != Some(TOKEN) {
                ("401 Unauthorized", String::new())
            } else {
                let devices: Vec<String> =
                    imds.ephemeral.iter().map(|(n, _)| n.to_string()).collect();
                match path.strip_prefix("/latest/meta-data/") {
                    Some("instance-type") => ("200 OK", "m5d.2xlarge".to_string()),
                    Some("block-device-mapping/") => (
                        "200 OK",
                        ["ami".to_string(), "root".to_string()]
                            .into_iter()
                            .chain(devices)
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    Some(other) => match imds
                        .ephemeral
                        .iter()
                        .find(|(n, _)| other == format!("block-device-mapping/{n}"))
                    {
                        Some((_, device)) => ("200 OK", device.to_string()),
                        None => ("404 Not Found", String::new()),
                    },
                    None => ("404 Not Found", String::new()),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, requests)
}

fn root_with(meminfo_kb: u64, mounts: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("proc")).expect("mkdir");
    std::fs::write(
        root.path().join("proc/meminfo"),
        format!("MemTotal:       {meminfo_kb} kB\nMemFree:        1000 kB\n"),
    )
    .expect("meminfo");
    std::fs::write(root.path().join("proc/mounts"), mounts).expect("mounts");
    root
}

fn bootstrap(root: &Path, imds: &str, args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bootstrap/campanile.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("CAMPANILE_ROOT", root)
        .env("CAMPANILE_IMDS_ENDPOINT", imds)
        .output()
        .expect("run bootstrap")
}

#[test]
fn writes_the_config_from_memory_and_instance_store_volumes() {
    let (url, requests) = serve(Imds {
        token_failures: 2,
        refuse_tokens: false,
        ephemeral: &[("ephemeral0", "sdb"), ("ephemeral1", "sdc")],
    });
    let root = root_with(
        32_505_856,
        "/dev/nvme0n1p1 / xfs rw 0 0\n/dev/xvdb /mnt xfs rw 0 0\n/dev/xvdc /mnt1 xfs rw 0 0\n/dev/sdd /data ext4 rw 0 0\nproc /proc proc rw 0 0\n",
    );
    let output = bootstrap(root.path(), &url, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(root.path().join("etc/campanile.cfg")).expect("config");
    // 31 GiB / 16 is above the 1 GiB cap
    assert!(config.contains("\nmaxtmpsize=1073741824\n"), "{config}");
    assert!(config.contains("\nephemeral=/mnt,/mnt1\n"), "{config}");
    assert!(config.contains("m5d.2xlarge"), "{config}");
    // 2 refused token requests were retried
    let served = requests.load(Ordering::Relaxed);
    assert!(served >= 3 + 4, "{served} requests");
    // The config is what objectcopy reads.
    let parsed = campanile::config::Config::load_from(&[root.path().join("etc/campanile.cfg")])
        .expect("parse");
    assert_eq!(parsed.max_tmp_size, 1_073_741_824);
    assert_eq!(parsed.ephemeral.len(), 2);
}

#[test]
fn an_instance_without_instance_store_uses_tmp() {
    let (url, _) = serve(Imds {
        token_failures: 0,
        refuse_tokens: false,
        ephemeral: &[],
    });
    let root = root_with(524_288, "/dev/nvme0n1p1 / xfs rw 0 0\n");
    let output = bootstrap(root.path(), &url, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(root.path().join("etc/campanile.cfg")).expect("config");
    // 512 MiB / 16 is below the 64 MiB floor
    assert!(config.contains("\nmaxtmpsize=67108864\n"), "{config}");
    assert!(config.contains("\nephemeral=/tmp\n"), "{config}");
}

#[test]
fn without_an_imdsv2_token_nothing_is_written() {
    let (url, _) = serve(Imds {
        token_failures: 0,
        refuse_tokens: true,
        ephemeral: &[],
    });
    let root = root_with(16_000_000, "");
    let output = bootstrap(root.path(), &url, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no IMDSv2 token"));
    assert!(!root.path().join("etc/campanile.cfg").exists());
}

#[test]
fn version_and_usage() {
    let root = root_with(1, "");
    let version = bootstrap(root.path(), "http://127.0.0.1:9", &["-V"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("campanile bootstrap "));
    let help = bootstrap(root.path(), "http://127.0.0.1:9", &["-h"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("-c CODE"));
    let bad = bootstrap(root.path(), "http://127.0.0.1:9", &["-x"]);
    assert_eq!(bad.status.code(), Some(2));
}
