//! Starting real S3 servers on loopback for the tests.

#![allow(unsafe_code)] // pre_exec/prctl: the server dies with the test process

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;
use campanile::s3::{Client, ClientOptions};

/// Which server a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Garage, started by the testkit.
    Garage,
    /// moto's server mode, started by the testkit.
    Moto,
    /// moto with EMR steps that advance on each DescribeStep (`moto_emr_steps.py`).
    MotoEmrSteps,
    /// An endpoint named by `CAMPANILE_TEST_ENDPOINT`.
    External,
}

/// A running S3 server and how to reach it.
#[derive(Debug)]
pub struct S3Server {
    /// What it is.
    pub kind: ServerKind,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Signing region.
    pub region: String,
    /// Data directory of a server we started (kept for inspection).
    pub dir: Option<PathBuf>,
}

impl S3Server {
    /// Client options that reach this server with its credentials.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            endpoint: Some(self.endpoint.clone()),
            region: Some(self.region.clone()),
            credentials: Some(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "campanile-testkit",
            )),
            ..Default::default()
        }
    }

    /// A client built through Campanile's own client builder.
    pub async fn client(&self) -> Client {
        campanile::s3::client(&self.client_options())
            .await
            .expect("build S3 client")
    }

    /// Environment for a task binary run against this server: credentials in the
    /// standard variables, no instance-metadata look-ups, no user AWS files.
    pub fn command_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", "/nonexistent/campanile-test".to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/campanile-test".to_string(),
            ),
        ]
    }

    /// An EMR client for this (moto) server.
    pub async fn emr_client(&self) -> aws_sdk_emr::Client {
        let config = aws_sdk_emr::config::Builder::new()
            .behavior_version(aws_sdk_emr::config::BehaviorVersion::latest())
            .region(aws_sdk_emr::config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "campanile-testkit",
            ))
            .build();
        aws_sdk_emr::Client::from_conf(config)
    }

    /// Starts an EMR cluster (RunJobFlow) that waits for steps; returns its id.
    pub async fn create_cluster(&self, name: &str) -> String {
        self.create_cluster_logging(name, None).await
    }

    /// [`S3Server::create_cluster`] with a log URI, where EMR puts the steps' logs.
    pub async fn create_cluster_logging(&self, name: &str, log_uri: Option<&str>) -> String {
        use aws_sdk_emr::types::{InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig};
        let group = |role: InstanceRoleType, count: i32| {
            InstanceGroupConfig::builder()
                .instance_role(role)
                .instance_type("m5.xlarge")
                .instance_count(count)
                .build()
        };
        let started = self
            .emr_client()
            .await
            .run_job_flow()
            .name(name)
            .set_log_uri(log_uri.map(str::to_string))
            .release_label("emr-7.12.0")
            .job_flow_role("EMR_EC2_DefaultRole")
            .service_role("EMR_DefaultRole")
            .instances(
                JobFlowInstancesConfig::builder()
                    .instance_groups(group(InstanceRoleType::Master, 1))
                    .instance_groups(group(InstanceRoleType::Core, 2))
                    .keep_job_flow_alive_when_no_steps(true)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("RunJobFlow: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
            });
        started.job_flow_id().expect("job flow id").to_string()
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, client: &Client, name: &str) {
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "create bucket {name} on {}: {}",
                    self.endpoint,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
    }
}

/// The main S3 test server: `CAMPANILE_TEST_ENDPOINT` if set, otherwise Garage.
pub fn s3() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| external().unwrap_or_else(|| start(ServerKind::Garage)))
}

/// moto's server mode (storage classes, versioning, SSE echo, EMR).
pub fn moto() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| start(ServerKind::Moto))
}

/// moto whose EMR steps advance one state per DescribeStep (for `rsync --wait`): a
/// step named with `.fail` fails and cancels the rest. See `moto_emr_steps.py`.
pub fn moto_emr_steps() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| start(ServerKind::MotoEmrSteps))
}

fn external() -> Option<S3Server> {
    let endpoint = std::env::var("CAMPANILE_TEST_ENDPOINT").ok()?;
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("CAMPANILE_TEST_ENDPOINT is set, so {name} must be set too"))
    };
    Some(S3Server {
        kind: ServerKind::External,
        endpoint,
        access_key: var("AWS_ACCESS_KEY_ID"),
        secret_key: var("AWS_SECRET_ACCESS_KEY"),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_string()),
        dir: None,
    })
}

/// Starts a server of `kind` and waits until it answers. The process is started from
/// a thread that lives as long as the test process, with `PR_SET_PDEATHSIG`, so it is
/// killed when the test process exits, however it exits.
fn start(kind: ServerKind) -> S3Server {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("{kind:?}-server"))
        .spawn(move || {
            let result = launch(kind);
            let child = result.as_ref().ok().map(|(_, child)| child.id());
            let _ = sender.send(result.map(|(server, _)| server));
            if child.is_some() {
                loop {
                    std::thread::park();
                }
            }
        })
        .expect("spawn server thread");
    match receiver.recv().expect("server thread") {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

/// Starts a server, cleaning up data directories left by earlier test processes.
pub fn launch(kind: ServerKind) -> Result<(S3Server, Child), String> {
    launch_with(kind, &GarageSettings::default())
}

/// How a launched Garage is set up (the benchmarks vary it; the tests use the default).
#[derive(Debug, Clone, Default)]
pub struct GarageSettings {
    /// Log every request (one `Endpoint: <Operation>` line each) to
    /// `<dir>/garage.log`, for request counting.
    pub log_requests: bool,
    /// Garage's metadata engine: `sqlite` (the default here), or `lmdb` (Garage's own
    /// default, when the binary was built with it).
    pub db_engine: Option<String>,
    /// The region Garage signs for (`s3_region`; default `us-east-1`): a request
    /// signed for another region is refused.
    pub region: Option<String>,
}

/// Like [`launch`], with Garage set up by `settings`.
pub fn launch_with(
    kind: ServerKind,
    settings: &GarageSettings,
) -> Result<(S3Server, Child), String> {
    let root = std::env::temp_dir().join("campanile-test-servers");
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    remove_stale_dirs(&root);
    // `<n>-<kind>-<pid>`: unique within the process, and the pid last so that
    // remove_stale_dirs can tell whose it is.
    static LAUNCHED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root.join(format!("{n}-{kind:?}-{}", std::process::id()).to_lowercase());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut last_error = String::new();
    for _ in 0..3 {
        let result = match kind {
            ServerKind::Garage => launch_garage(&dir, settings),
            ServerKind::Moto => launch_moto(&dir, false),
            ServerKind::MotoEmrSteps => launch_moto(&dir, true),
            ServerKind::External => return Err("external servers are not launched".into()),
        };
        match result {
            Ok(started) => return Ok(started),
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn remove_stale_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn find_program(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn spawn_with_parent_death(mut command: Command, log: &Path) -> Result<Child, String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("create log: {e}"))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("clone log: {e}"))?;
    command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| format!("start {:?}: {e}", command.get_program()))
}

/// Sends `GET <path>` and returns the HTTP status code, if anything answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_until_ready(
    child: &mut Child,
    port: u16,
    path: &str,
    ready: impl Fn(u16) -> bool,
    log: &Path,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "server exited with {status} before it was ready; log {}:\n{}",
                log.display(),
                tail(&text, 20)
            ));
        }
        if http_status(port, path).is_some_and(&ready) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    Err(format!(
        "server on port {port} did not answer within 60 s; log {}",
        log.display()
    ))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The access key and secret of the single-node Garage test server. Garage key ids
/// are `GK` + 24 hex digits, secrets 64 hex digits.
const GARAGE_ACCESS_KEY: &str = "GK0000000000000000c0ffee01";
const GARAGE_SECRET_KEY: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e70001";

fn launch_garage(dir: &Path, settings: &GarageSettings) -> Result<(S3Server, Child), String> {
    let garage = find_program("CAMPANILE_GARAGE", "garage").ok_or_else(|| {
        "the Garage S3 server is needed by this test and was not found on PATH (or in \
         $CAMPANILE_GARAGE). Install it with `bash scripts/test`, which runs (cargo install garage \
         --version 2.5.0 --locked --no-default-features --features bundled-libs,sqlite,lmdb), or \
         point CAMPANILE_TEST_ENDPOINT at another S3 server"
            .to_string()
    })?;
    let s3_port = free_port()?;
    let rpc_port = free_port()?;
    let config = dir.join("garage.toml");
    let rpc_secret = campanile::multipart::hex(&campanile::multipart::md5(
        dir.as_os_str().as_encoded_bytes(),
    ))
    .repeat(2);
    std::fs::write(
        &config,
        format!(
            "metadata_dir = \"{meta}\"\n\
             data_dir = \"{data}\"\n\
             db_engine = \"{db_engine}\"\n\
             replication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{rpc_secret}\"\n\
             [s3_api]\n\
             s3_region = \"{region}\"\n\
             api_bind_addr = \"127.0.0.1:{s3_port}\"\n",
            meta = dir.join("meta").display(),
            data = dir.join("data").display(),
            db_engine = settings.db_engine.as_deref().unwrap_or("sqlite"),
            region = settings.region.as_deref().unwrap_or("us-east-1"),
        ),
    )
    .map_err(|e| format!("write {}: {e}", config.display()))?;
    let mut command = Command::new(&garage);
    command
        .arg("-c")
        .arg(&config)
        .args(["server", "--single-node", "--default-access-key"])
        .env("GARAGE_DEFAULT_ACCESS_KEY", GARAGE_ACCESS_KEY)
        .env("GARAGE_DEFAULT_SECRET_KEY", GARAGE_SECRET_KEY)
        .env(
            "RUST_LOG",
            if settings.log_requests {
                "garage=warn,garage_api_common::generic_server=debug"
            } else {
                "garage=warn"
            },
        );
    let log = dir.join("garage.log");
    let mut child = spawn_with_parent_death(command, &log)?;
    // An unsigned request is refused with 403 once the S3 API is up.
    wait_until_ready(&mut child, s3_port, "/", |status| status == 403, &log)?;
    Ok((
        S3Server {
            kind: ServerKind::Garage,
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            access_key: GARAGE_ACCESS_KEY.to_string(),
            secret_key: GARAGE_SECRET_KEY.to_string(),
            region: settings
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_string()),
            dir: Some(dir.to_path_buf()),
        },
        child,
    ))
}

/// moto's server script: the pinned one in scripts/tools.sh's virtualenv first (older
/// versions answer CompleteMultipartUpload with a root element the SDK refuses).
fn moto_server_program() -> Result<PathBuf, String> {
    let tools = std::env::var_os("CAMPANILE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/campanile")));
    let pinned = tools
        .map(|t| t.join("venv/bin/moto_server"))
        .filter(|p| p.is_file() && std::env::var_os("CAMPANILE_MOTO_SERVER").is_none());
    pinned
        .or_else(|| find_program("CAMPANILE_MOTO_SERVER", "moto_server"))
        .ok_or_else(|| {
            "moto's server mode is needed by this test and `moto_server` was not found on PATH \
             (or in $CAMPANILE_MOTO_SERVER). Install it with `bash scripts/test`, which runs (pip install \
             'moto[server]' into ~/.cache/campanile/venv and puts it on PATH)"
                .to_string()
        })
}

/// The Python of the test tools' virtualenv (moto and its dependencies, `cryptography`
/// among them), or `python3`.
pub fn tools_python() -> PathBuf {
    moto_server_program()
        .map(|moto| moto.with_file_name("python"))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn launch_moto(dir: &Path, moving_steps: bool) -> Result<(S3Server, Child), String> {
    let moto = moto_server_program()?;
    let port = free_port()?;
    let mut command = if moving_steps {
        let mut command = Command::new(tools_python());
        command.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/moto_emr_steps.py"));
        command
    } else {
        Command::new(&moto)
    };
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let log = dir.join("moto.log");
    let mut child = spawn_with_parent_death(command, &log)?;
    wait_until_ready(&mut child, port, "/moto-api/", |status| status == 200, &log)?;
    Ok((
        S3Server {
            kind: if moving_steps {
                ServerKind::MotoEmrSteps
            } else {
                ServerKind::Moto
            },
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: "moto-test-access-key".to_string(),
            secret_key: "moto-test-secret-key".to_string(),
            region: "us-east-1".to_string(),
            dir: Some(dir.to_path_buf()),
        },
        child,
    ))
}
