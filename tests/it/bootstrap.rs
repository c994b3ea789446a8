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

#[test]
fn refuses_a_node_that_is_not_x86_64() {
    let (url, requests) = serve(Imds {
        token_failures: 0,
        refuse_tokens: false,
        ephemeral: &[],
    });
    let root = root_with(16_000_000, "");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bootstrap/campanile.sh");
    let output = Command::new("bash")
        .arg(script)
        .env("CAMPANILE_ROOT", root.path())
        .env("CAMPANILE_IMDS_ENDPOINT", &url)
        .env("CAMPANILE_ARCH", "aarch64")
        .output()
        .expect("run bootstrap");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("this node is aarch64"), "{stderr}");
    assert!(stderr.contains("x86_64 only"), "{stderr}");
    // Refused before anything was asked or written.
    assert_eq!(requests.load(Ordering::Relaxed), 0);
    assert!(!root.path().join("etc").exists());
}

/// The user the bootstrap action runs as in `runs_as_a_user_with_sudo…`, as EMR runs
/// it as `hadoop`: not root, with password-less sudo.
const BOOTSTRAP_USER: &str = "campanile-boot";

/// How this test process runs a command as root: directly when it is root (CI), else
/// through password-less sudo. Anything else fails the test: it is never skipped.
fn root_prefix() -> Vec<&'static str> {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return Vec::new();
    }
    let sudo = Command::new("sudo").args(["-n", "true"]).output();
    match sudo {
        Ok(output) if output.status.success() => vec!["sudo", "-n"],
        _ => panic!(
            "this test creates the user {BOOTSTRAP_USER} with password-less sudo, as EMR's \
             hadoop user: run it as root (as CI does) or as a user with password-less sudo"
        ),
    }
}

fn run_as_root(prefix: &[&str], args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = prefix.to_vec();
    all.extend_from_slice(args);
    Command::new(all[0])
        .args(&all[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {all:?}: {e}"))
}

/// Creates BOOTSTRAP_USER (no home, no password) with a sudoers entry like hadoop's on
/// EMR. Idempotent: the user is kept for later runs.
fn ensure_bootstrap_user(prefix: &[&str]) {
    assert!(
        Command::new("sudo").arg("-V").output().is_ok(),
        "sudo is not installed: scripts/tools.sh ensure_sudo installs it (as root)"
    );
    if !run_as_root(prefix, &["id", "-u", BOOTSTRAP_USER])
        .status
        .success()
    {
        let added = run_as_root(
            prefix,
            &[
                "useradd",
                "--no-create-home",
                "--shell",
                "/bin/sh",
                BOOTSTRAP_USER,
            ],
        );
        assert!(
            added.status.success(),
            "useradd {BOOTSTRAP_USER}: {}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    let entry = tempfile::NamedTempFile::new().expect("sudoers entry");
    std::fs::write(
        entry.path(),
        format!("{BOOTSTRAP_USER} ALL=(ALL) NOPASSWD: ALL\n"),
    )
    .expect("write sudoers entry");
    let path = entry.path().to_str().expect("utf-8 path");
    let checked = run_as_root(prefix, &["visudo", "-cf", path]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let installed = run_as_root(
        prefix,
        &[
            "install",
            "-m",
            "0440",
            "-o",
            "root",
            "-g",
            "root",
            path,
            "/etc/sudoers.d/campanile-boot",
        ],
    );
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes `SHA256SUMS` for the task binaries in `bin` (as campanile-stage does) and
/// returns its own SHA-256, the action's `-s`.
fn write_sums(bin: &Path) -> String {
    let sums: String = campanile::stage::TASKS
        .iter()
        .map(|task| {
            let bytes = std::fs::read(bin.join(task)).expect("a binary");
            format!("{}  {task}\n", campanile::stage::sha256_hex(&bytes))
        })
        .collect();
    let path = bin.join(campanile::stage::SHA256SUMS);
    std::fs::write(&path, &sums).expect("SHA256SUMS");
    chmod(&path, 0o644);
    campanile::stage::sha256_hex(sums.as_bytes())
}

/// A directory holding an `aws` that serves `aws s3 cp --quiet s3://code/KEY DEST`
/// from `code`: what is tested is which objects the action fetches and what it does
/// with them.
fn aws_stand_in(work: &Path, code: &Path) -> std::path::PathBuf {
    let shim = work.join("shim");
    std::fs::create_dir(&shim).expect("mkdir");
    chmod(&shim, 0o755);
    std::fs::write(
        shim.join("aws"),
        format!(
            "#!/bin/sh\n[ \"$1 $2 $3\" = 's3 cp --quiet' ] || {{ echo \"aws stand-in: $*\" >&2; exit 2; }}\n\
             exec cp \"{}/${{4#s3://code/}}\" \"$5\"\n",
            code.display()
        ),
    )
    .expect("write the aws stand-in");
    chmod(&shim.join("aws"), 0o755);
    shim
}

#[test]
fn installs_nothing_unless_every_binary_has_its_staged_sha256() {
    let (url, _) = serve(Imds {
        token_failures: 0,
        refuse_tokens: false,
        ephemeral: &[],
    });
    let work = tempfile::tempdir().expect("tempdir");
    let code = work.path().join("code");
    let bin = code.join("bin").join(campanile::stage::EMR_ARCH);
    std::fs::create_dir_all(&bin).expect("mkdir");
    for task in campanile::stage::TASKS {
        std::fs::write(bin.join(task), format!("#!/bin/sh\necho {task}\n")).expect("write");
        chmod(&bin.join(task), 0o755);
    }
    let digest = write_sums(&bin);
    let shim = aws_stand_in(work.path(), &code);
    let path = format!("{}:/usr/bin:/bin", shim.display());
    let run = |args: &[&str]| {
        let root = root_with(8_000_000, "/dev/nvme0n1p1 / xfs rw 0 0\n");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bootstrap/campanile.sh");
        let output = Command::new("bash")
            .arg(script)
            .args(args)
            .env("PATH", &path)
            .env("CAMPANILE_ROOT", root.path())
            .env("CAMPANILE_IMDS_ENDPOINT", &url)
            .output()
            .expect("run bootstrap");
        let installed = std::fs::read_dir(root.path().join("bin"))
            .map(|entries| entries.count())
            .unwrap_or(0);
        (output, installed)
    };
    let args = ["-c", "s3://code", "-s", digest.as_str(), "-d", "/bin"];
    let (output, installed) = run(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(installed, campanile::stage::TASKS.len());

    // A binary changed after staging: nothing is installed, and the log names it.
    let original = std::fs::read(bin.join("objectcopy")).expect("read");
    std::fs::write(bin.join("objectcopy"), "#!/bin/sh\necho tampered\n").expect("write");
    let (output, installed) = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(installed, 0, "{stderr}");
    assert!(
        stderr.contains("objectcopy does not match its SHA-256"),
        "{stderr}"
    );

    // Binaries and sums both replaced: -s still refuses.
    std::fs::write(bin.join("objectcopy"), &original).expect("restore");
    write_sums(&bin);
    std::fs::write(bin.join("objectcopy"), "#!/bin/sh\necho tampered\n").expect("write");
    write_sums(&bin);
    let (output, installed) = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(installed, 0, "{stderr}");
    assert!(stderr.contains("is not the one staged"), "{stderr}");
}

/// As on EMR: the bootstrap action runs as a user who is not root and has sudo; it
/// must write /etc/campanile.cfg and install the task binaries (not rsync) as root,
/// and a task then started as that user in a working directory holding the staged
/// sample campanile.cfg (as `-files` ships it) must take the instance's values.
///
/// The AWS CLI the action calls is replaced by a script that serves `aws s3 cp
/// --quiet s3://code/KEY DEST` from a local directory holding the built binaries:
/// what is tested is which objects the action fetches and where it installs them.
#[test]
fn runs_as_a_user_with_sudo_and_a_task_reads_its_config() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let prefix = root_prefix();
    ensure_bootstrap_user(&prefix);
    let (url, _) = serve(Imds {
        token_failures: 0,
        refuse_tokens: false,
        ephemeral: &[("ephemeral0", "sdb"), ("ephemeral1", "sdc")],
    });
    // The node's root: owned by this test process, mode 0755, so BOOTSTRAP_USER can
    // read /proc in it but write nothing without sudo.
    let root = root_with(
        16_252_928,
        "/dev/nvme0n1p1 / xfs rw 0 0\n/dev/nvme1n1 /mnt xfs rw 0 0\n/dev/nvme2n1 /mnt1 xfs rw 0 0\n",
    );
    for dir in [root.path(), &root.path().join("proc")] {
        chmod(dir, 0o755);
    }
    for file in ["proc/meminfo", "proc/mounts"] {
        chmod(&root.path().join(file), 0o644);
    }
    // What the user can read: the script, the aws stand-in and the code bucket's objects.
    let work = tempfile::tempdir().expect("tempdir");
    chmod(work.path(), 0o755);
    let script = work.path().join("campanile.sh");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bootstrap/campanile.sh"),
        &script,
    )
    .expect("copy the bootstrap action");
    chmod(&script, 0o755);
    let code = work.path().join("code");
    let bin = code.join("bin").join(campanile::stage::EMR_ARCH);
    std::fs::create_dir_all(&bin).expect("mkdir");
    for (task, exe) in [
        ("bucketlist", env!("CARGO_BIN_EXE_bucketlist")),
        ("multipartlist", env!("CARGO_BIN_EXE_multipartlist")),
        ("objectcopy", env!("CARGO_BIN_EXE_objectcopy")),
        ("multipartcomplete", env!("CARGO_BIN_EXE_multipartcomplete")),
        ("objectrestore", env!("CARGO_BIN_EXE_objectrestore")),
        ("objectindex", env!("CARGO_BIN_EXE_objectindex")),
        ("objectverify", env!("CARGO_BIN_EXE_objectverify")),
        ("objectmap", env!("CARGO_BIN_EXE_objectmap")),
        ("objectdelete", env!("CARGO_BIN_EXE_objectdelete")),
        ("rsync", env!("CARGO_BIN_EXE_rsync")),
    ] {
        std::fs::copy(exe, bin.join(task)).expect("copy a binary");
        chmod(&bin.join(task), 0o755);
    }
    let digest = write_sums(&bin);
    for dir in [code.as_path(), &code.join("bin"), &bin] {
        chmod(dir, 0o755);
    }
    let shim = aws_stand_in(work.path(), &code);

    let output = Command::new("sudo")
        .args(["-n", "-u", BOOTSTRAP_USER, "env"])
        .arg(format!(
            "PATH={}:/usr/local/bin:/usr/bin:/bin",
            shim.display()
        ))
        .arg(format!("CAMPANILE_ROOT={}", root.path().display()))
        .arg(format!("CAMPANILE_IMDS_ENDPOINT={url}"))
        .arg("bash")
        .arg(&script)
        .args(["-c", "s3://code", "-s", &digest, "-d", "/usr/local/bin"])
        .current_dir(work.path())
        .output()
        .expect("run the bootstrap action through sudo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // Written as root (through sudo), readable by everyone.
    let config_path = root.path().join("etc/campanile.cfg");
    let meta = std::fs::metadata(&config_path).expect("the instance config");
    assert_eq!(meta.uid(), 0, "written without sudo");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let config = std::fs::read_to_string(&config_path).expect("config");
    // 15.5 GiB / 16
    assert!(config.contains("\nmaxtmpsize=1040187392\n"), "{config}");
    assert!(config.contains("\nephemeral=/mnt,/mnt1\n"), "{config}");

    // The five task binaries, root-owned and executable; no rsync on the node's PATH.
    let bin_dir = root.path().join("usr/local/bin");
    let mut installed: Vec<String> = std::fs::read_dir(&bin_dir)
        .expect("the binary directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    installed.sort();
    assert_eq!(
        installed,
        [
            "bucketlist",
            "multipartcomplete",
            "multipartlist",
            "objectcopy",
            "objectdelete",
            "objectindex",
            "objectmap",
            "objectrestore",
            "objectverify"
        ]
    );
    for task in &installed {
        let meta = std::fs::metadata(bin_dir.join(task)).expect("binary");
        assert_eq!(meta.uid(), 0, "{task} installed without sudo");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{task}");
    }

    // A task as the same user, in a working directory with the shipped sample config.
    let task_dir = tempfile::tempdir().expect("tempdir");
    chmod(task_dir.path(), 0o755);
    std::fs::write(
        task_dir.path().join("campanile.cfg"),
        campanile::stage::SAMPLE_CONFIG,
    )
    .expect("the shipped config");
    chmod(&task_dir.path().join("campanile.cfg"), 0o644);
    let task = Command::new("sudo")
        .args(["-n", "-u", BOOTSTRAP_USER, "env"])
        .arg(format!("CAMPANILE_ROOT={}", root.path().display()))
        .arg(bin_dir.join("objectcopy"))
        .args([
            "--debug",
            "--src-bucket",
            "srcbucket",
            "--dst-bucket",
            "dstbucket",
        ])
        .args(["--src-endpoint", "http://127.0.0.1:9"])
        .args(["--dst-endpoint", "http://127.0.0.1:9"])
        .current_dir(task_dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run objectcopy through sudo");
    let task_stderr = String::from_utf8_lossy(&task.stderr);
    assert!(task.status.success(), "{task_stderr}");
    let from = format!("(from {})", config_path.display());
    assert!(
        task_stderr.contains(&format!("maxtmpsize=1040187392 {from}")),
        "{task_stderr}"
    );
    assert!(
        task_stderr.contains(&format!("ephemeral=/mnt,/mnt1 {from}")),
        "{task_stderr}"
    );
    // What sudo wrote is root's: a non-root test process removes it through sudo.
    if !prefix.is_empty() {
        let root_dir = root.path().to_str().expect("utf-8 path");
        run_as_root(&prefix, &["rm", "-rf", root_dir]);
    }
}
