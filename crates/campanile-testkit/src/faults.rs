//! A fault-injecting HTTP/1.1 proxy for the tests: it sits on 127.0.0.1 in front of a
//! real S3 server and, following a seeded schedule, breaks some exchanges the way S3 and
//! networks do at scale. It lives in the test-support crate only; nothing of it is
//! compiled into the shipped binaries.
//!
//! Requests are forwarded byte for byte (the Host header included, so SigV4 signatures
//! stay valid); each client connection gets its own upstream connection. Bodies are
//! read whole (request by `Content-Length` or chunked framing, response likewise or up to
//! the end of the stream) and re-sent with `Content-Length`, which lets a fault cut or
//! alter them at an exact byte.
//!
//! With [`FaultPlan::kms_buckets`], the proxy also shows the objects of those buckets
//! as S3 shows objects stored with SSE-KMS, which neither Garage nor moto does: their
//! ETags are not the MD5 of their bytes. Every ETag the server gives for them (the
//! `ETag` header of GET, HEAD, PutObject, UploadPart and CompleteMultipartUpload
//! answers; the `<ETag>` elements of ListObjectsV2, ListParts, CompleteMultipartUpload
//! and copy results) is replaced by a value that is not an MD5 of anything the client
//! has (the MD5 of `kms:`, the bucket and the real ETag, with its `-N` kept), the same
//! every time for the same bytes in one bucket but another in another bucket (as S3,
//! whose SSE-KMS ETags are not MD5s of the data: a copy of an object into another
//! bucket gets an ETag of its own);
//! answers say `x-amz-server-side-encryption: aws:kms`; and the ETags the client sends
//! back (`If-Match`, `x-amz-copy-source-if-match`, the parts of a
//! CompleteMultipartUpload) are turned back into the server's. Requests are rewritten,
//! so their signatures no longer hold: use it in front of a server that does not check
//! them (moto).
//!
//! The schedule draws, for the n-th request, whether it is faulted (probability `rate`)
//! and which of the kinds that apply to it: only a PUT body that carries a digest
//! (Content-MD5 or an `x-amz-checksum-<algorithm>` value) can have its body flipped, a
//! HEAD has no body to cut. The requests of objectcopy's probe of the server's checks
//! (their key ends in [`campanile::task::objectcopy::server_checks::PROBE_NAME`]) are
//! never faulted: they are refused by design, and a fault there would take the place
//! of one meant for a copy. The draws depend only on the seed
//! and n; which request is the n-th depends on the order requests arrive in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The ways an exchange can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Answer `503 SlowDown` without forwarding.
    SlowDown,
    /// Answer `500 InternalError` without forwarding.
    InternalError,
    /// Forward the request (the server acts on it), then reset the connection before
    /// any of the answer reaches the client.
    ResetBeforeResponse,
    /// Forward, send the head and half the body, then reset the connection.
    ResetMidBody,
    /// Forward, send the head and half the body, then close the connection cleanly:
    /// the body ends early.
    TruncatedBody,
    /// Flip one bit of an object's bytes in a GET answer. Only object GETs without a
    /// `Range` header, unless [`FaultPlan::flip_ranged_gets`] is set.
    FlipResponseByte,
    /// Flip one bit of a PUT body that carries a digest, Content-MD5 or a checksum
    /// (PutObject, UploadPart), before forwarding it.
    FlipRequestByte,
    /// Forward, then hold the answer back for [`FaultPlan::delay`] (past the client's
    /// read timeout).
    Delay,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::SlowDown,
        FaultKind::InternalError,
        FaultKind::ResetBeforeResponse,
        FaultKind::ResetMidBody,
        FaultKind::TruncatedBody,
        FaultKind::FlipResponseByte,
        FaultKind::FlipRequestByte,
        FaultKind::Delay,
    ];
}

/// What to inject.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Seed of the schedule.
    pub seed: u64,
    /// Share of requests faulted, in [0, 1].
    pub rate: f64,
    /// Kinds to choose from.
    pub kinds: Vec<FaultKind>,
    /// How long a [`FaultKind::Delay`] holds the answer.
    pub delay: Duration,
    /// Whether ranged GETs (parts of multipart objects) may have a byte flipped.
    pub flip_ranged_gets: bool,
    /// Most faults to inject; `None` for no limit.
    pub limit: Option<u64>,
    /// Requests per second the "server" takes: above it (over the last second), the
    /// proxy answers `503 SlowDown` itself, as S3 does above a prefix's capacity.
    /// Such answers are counted in [`FaultStats::throttled`], not as faults.
    pub max_requests_per_second: Option<u32>,
    /// Bytes per second the proxy reads a request body at (`Content-Length` bodies):
    /// a slow destination, for writes whose body takes long to send.
    pub request_bytes_per_second: Option<u64>,
    /// Buckets whose objects are shown as S3 shows SSE-KMS objects (see the module
    /// documentation): ETags that are not MD5s, `x-amz-server-side-encryption: aws:kms`.
    pub kms_buckets: Vec<String>,
    /// Requests of this method whose target (path and query) contains this text are
    /// answered `403 AccessDenied` by the proxy, every time, without forwarding: a
    /// permanent refusal of one kind of request (e.g. `("PUT", "partNumber=")`, every
    /// UploadPart), which no retry gets past.
    pub deny: Option<(&'static str, &'static str)>,
    /// Evaluate in the proxy the preconditions S3 evaluates on a server-side copy and on
    /// a completion, which moto 5.2 ignores (see [`s3_precondition`]); a condition that
    /// does not hold is answered as S3 answers it (`412 PreconditionFailed`, or `404
    /// NoSuchKey` for an `If-Match` on a key that holds nothing), without forwarding.
    pub s3_preconditions: bool,
}

impl FaultPlan {
    /// No faults: a plain proxy.
    pub fn none() -> FaultPlan {
        FaultPlan {
            seed: 0,
            rate: 0.0,
            kinds: Vec::new(),
            delay: Duration::from_secs(0),
            flip_ranged_gets: false,
            limit: None,
            max_requests_per_second: None,
            request_bytes_per_second: None,
            kms_buckets: Vec::new(),
            deny: None,
            s3_preconditions: false,
        }
    }

    /// No faults; the objects of `buckets` shown as SSE-KMS objects.
    pub fn kms(buckets: &[&str]) -> FaultPlan {
        FaultPlan {
            kms_buckets: buckets.iter().map(|b| b.to_string()).collect(),
            ..FaultPlan::none()
        }
    }

    /// No random faults; `503 SlowDown` above `per_second` requests per second.
    pub fn rate_limited(per_second: u32) -> FaultPlan {
        FaultPlan {
            max_requests_per_second: Some(per_second),
            ..FaultPlan::none()
        }
    }

    /// No faults; request bodies read at `per_second` bytes per second.
    pub fn slow_uploads(per_second: u64) -> FaultPlan {
        FaultPlan {
            request_bytes_per_second: Some(per_second),
            ..FaultPlan::none()
        }
    }

    /// `rate` of requests faulted with any of `kinds`, from `seed`.
    pub fn mix(seed: u64, rate: f64, kinds: &[FaultKind], delay: Duration) -> FaultPlan {
        FaultPlan {
            seed,
            rate,
            kinds: kinds.to_vec(),
            delay,
            ..FaultPlan::none()
        }
    }
}

/// One forwarded exchange, as hooks see it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Request method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Status the server answered (0 when the proxy answered itself).
    pub status: u16,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
    /// Whether the request carried Content-MD5.
    pub content_md5: bool,
    /// The `x-amz-checksum-<algorithm>` header the request carried (its name, lower
    /// case), if any.
    pub checksum: Option<String>,
    /// Whether it is one of objectcopy's probe requests (never faulted).
    pub probe: bool,
    /// The request's `x-amz-content-sha256` (the signed payload hash, or
    /// `UNSIGNED-PAYLOAD`), if any.
    pub payload_hash: Option<String>,
    /// The ACL headers the request carried (`x-amz-acl`, `x-amz-grant-*`), as
    /// (lower-case name, value).
    pub acl_headers: Vec<(String, String)>,
}

/// Called for each exchange once the server has answered (or the proxy decided to
/// answer itself), before the client gets the answer: a hook that kills the client
/// process leaves the server's action done and its answer lost.
pub type Hook = Arc<dyn Fn(&Exchange) + Send + Sync>;

/// Counts of what went through the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests received.
    pub requests: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// Requests answered `503 SlowDown` for going over
    /// [`FaultPlan::max_requests_per_second`].
    pub throttled: u64,
    /// With a rate limit: per whole second since the proxy started, the requests
    /// forwarded and the requests throttled.
    pub per_second: BTreeMap<u64, (u64, u64)>,
}

impl FaultStats {
    /// All faults injected.
    pub fn faults(&self) -> u64 {
        self.injected.values().sum()
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: FaultPlan,
    rng: StdRng,
    stats: FaultStats,
    hook: Option<Hook>,
    started: std::time::Instant,
    /// Times of the requests forwarded within the last second (rate limit).
    recent: std::collections::VecDeque<std::time::Instant>,
    /// The SSE-KMS ETags shown so far, and the server's ETag of each.
    kms_etags: std::collections::HashMap<String, String>,
}

impl Shared {
    /// With a rate limit, whether this request goes over it (and the books).
    fn over_rate(&mut self) -> bool {
        let Some(limit) = self.plan.max_requests_per_second else {
            return false;
        };
        let now = std::time::Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        let over = self.recent.len() >= limit as usize;
        let second = now.duration_since(self.started).as_secs();
        let entry = self.stats.per_second.entry(second).or_insert((0, 0));
        if over {
            entry.1 += 1;
            self.stats.throttled += 1;
        } else {
            entry.0 += 1;
            self.recent.push_back(now);
        }
        over
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (a URL such as
    /// `http://127.0.0.1:3900`).
    pub async fn start(upstream: &str, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/');
        let upstream: SocketAddr = tokio::net::lookup_host(upstream)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("upstream has no address"))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            upstream,
            rng: StdRng::seed_from_u64(plan.seed),
            plan,
            stats: FaultStats::default(),
            hook: None,
            started: std::time::Instant::now(),
            recent: Default::default(),
            kms_etags: Default::default(),
        }));
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(socket, shared).await;
                });
            }
        });
        Ok(FaultProxy { addr, shared, task })
    }

    /// Endpoint URL for clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What has gone through so far.
    pub fn stats(&self) -> FaultStats {
        lock(&self.shared).stats.clone()
    }

    /// Replaces the plan (and restarts the schedule from its seed).
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut shared = lock(&self.shared);
        shared.rng = StdRng::seed_from_u64(plan.seed);
        shared.plan = plan;
    }

    /// Installs a hook called after every exchange.
    pub fn set_hook(&self, hook: Hook) {
        lock(&self.shared).hook = Some(hook);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An HTTP message head: the first line and the header lines, as received.
struct Head {
    first_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// The head with `Content-Length: len` and without chunked framing.
    fn encode_with_length(&self, len: usize) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.first_line);
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("content-length: {len}\r\n\r\n"));
        out.into_bytes()
    }
}

async fn read_head<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<Head>> {
    let mut first_line = String::new();
    if reader.read_line(&mut first_line).await? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("connection closed inside a head"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| std::io::Error::other(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some(Head {
        first_line: first_line.trim_end_matches(['\r', '\n']).to_string(),
        headers,
    }))
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).await?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).await?;
    }
}

async fn read_sized<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    head: &Head,
    bytes_per_second: Option<u64>,
) -> std::io::Result<Vec<u8>> {
    if head.is_chunked() {
        return read_chunked(reader).await;
    }
    let len: usize = match head.header("content-length") {
        Some(v) => v
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad content-length {v:?}")))?,
        None => 0,
    };
    let mut body = vec![0u8; len];
    match bytes_per_second {
        // A tenth of the rate every 100 ms: the client's sends stall in between.
        Some(rate) => {
            let step = usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1);
            for chunk in body.chunks_mut(step) {
                reader.read_exact(chunk).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        None => {
            reader.read_exact(&mut body).await?;
        }
    }
    Ok(body)
}

/// The parts of a request the schedule looks at.
struct RequestFacts {
    method: String,
    target: String,
    ranged: bool,
    has_content_md5: bool,
    /// The name of its `x-amz-checksum-<algorithm>` header, if any.
    checksum: Option<String>,
    body_len: usize,
}

impl RequestFacts {
    /// Whether the body carries a digest the server can check it against.
    fn has_body_digest(&self) -> bool {
        self.method == "PUT" && (self.has_content_md5 || self.checksum.is_some())
    }

    /// One of objectcopy's probe requests.
    fn is_probe(&self) -> bool {
        let path = self.target.split('?').next().unwrap_or("");
        path.ends_with(campanile::task::objectcopy::server_checks::PROBE_NAME)
    }

    /// A GET of an object (not a listing or a multipart call): `/bucket/key` path-style.
    fn is_object_get(&self) -> bool {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        self.method == "GET"
            && path.trim_start_matches('/').contains('/')
            && !path.ends_with('/')
            && !query.contains("uploadId")
            && !query.contains("uploads")
    }
}

/// The name of a request's `x-amz-checksum-<algorithm>` header (not `-algorithm`,
/// `-type` or `-mode`, which carry no value of the body).
fn checksum_header(head: &Head) -> Option<String> {
    head.headers.iter().find_map(|(name, _)| {
        let name = name.to_ascii_lowercase();
        let algorithm = name.strip_prefix("x-amz-checksum-")?;
        (!matches!(algorithm, "algorithm" | "type" | "mode")).then_some(name)
    })
}

fn applicable(kind: FaultKind, request: &RequestFacts, plan: &FaultPlan) -> bool {
    match kind {
        FaultKind::SlowDown
        | FaultKind::InternalError
        | FaultKind::ResetBeforeResponse
        | FaultKind::Delay => true,
        // The answer must have a body to cut; HEAD answers never do.
        FaultKind::ResetMidBody | FaultKind::TruncatedBody => request.method != "HEAD",
        FaultKind::FlipResponseByte => {
            request.is_object_get() && (!request.ranged || plan.flip_ranged_gets)
        }
        FaultKind::FlipRequestByte => request.has_body_digest() && request.body_len > 0,
    }
}

fn draw(shared: &Mutex<Shared>, request: &RequestFacts) -> (Option<FaultKind>, u64, Duration) {
    let mut guard = lock(shared);
    let shared = &mut *guard;
    shared.stats.requests += 1;
    if request.is_probe() {
        return (None, 0, shared.plan.delay);
    }
    if shared.over_rate() {
        return (Some(FaultKind::SlowDown), 0, shared.plan.delay);
    }
    let faulted = shared.rng.random::<f64>() < shared.plan.rate;
    let pick: usize = shared.rng.random_range(0..usize::MAX);
    let position: u64 = shared.rng.random();
    let kinds: Vec<FaultKind> = shared
        .plan
        .kinds
        .iter()
        .copied()
        .filter(|k| applicable(*k, request, &shared.plan))
        .collect();
    let within_limit = shared
        .plan
        .limit
        .is_none_or(|limit| shared.stats.faults() < limit);
    let fault = if faulted && within_limit && !kinds.is_empty() {
        let kind = kinds[pick % kinds.len()];
        *shared.stats.injected.entry(kind).or_insert(0) += 1;
        Some(kind)
    } else {
        None
    };
    (fault, position, shared.plan.delay)
}

fn error_answer(status: u16, code: &str) -> Vec<u8> {
    let reason = match status {
        503 => "Service Unavailable",
        403 => "Forbidden",
        404 => "Not Found",
        412 => "Precondition Failed",
        _ => "Internal Server Error",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test proxy</Message></Error>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Closes `socket` with a TCP reset rather than a clean shutdown.
fn reset(socket: TcpStream) {
    let _ = socket.set_zero_linger();
    drop(socket);
}

async fn serve_connection(client: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let upstream_addr = lock(&shared).upstream;
    let mut client = BufReader::new(client);
    let mut upstream: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(head) = read_head(&mut client).await? else {
            return Ok(());
        };
        if head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            client
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let throttle = lock(&shared).plan.request_bytes_per_second;
        let mut body = read_sized(&mut client, &head, throttle).await?;
        let mut parts = head.first_line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let facts = RequestFacts {
            method: method.clone(),
            target: target.clone(),
            ranged: head.header("range").is_some(),
            has_content_md5: head.header("content-md5").is_some(),
            checksum: checksum_header(&head),
            body_len: body.len(),
        };
        let (fault, position, delay) = draw(&shared, &facts);
        let kms = is_kms_bucket(&shared, &target);
        // A server-side copy from an SSE-KMS bucket names the source's ETag too.
        let kms_source = head
            .header("x-amz-copy-source")
            .is_some_and(|source| is_kms_bucket(&shared, &format!("/{source}")));
        let mut head = head;
        if kms || kms_source {
            kms_request(&shared, &mut head, &mut body);
        }
        let mut exchange = Exchange {
            method,
            target,
            status: 0,
            fault,
            content_md5: facts.has_content_md5,
            checksum: facts.checksum.clone(),
            probe: facts.is_probe(),
            payload_hash: head.header("x-amz-content-sha256").map(str::to_string),
            acl_headers: head
                .headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .filter(|(name, _)| name == "x-amz-acl" || name.starts_with("x-amz-grant-"))
                .collect(),
        };
        let denied = lock(&shared)
            .plan
            .deny
            .is_some_and(|(m, text)| exchange.method == m && exchange.target.contains(text));
        if denied {
            call_hook(&shared, &exchange);
            client
                .get_mut()
                .write_all(&error_answer(403, "AccessDenied"))
                .await?;
            continue;
        }
        let preconditions = lock(&shared).plan.s3_preconditions;
        if preconditions
            && let Some((status, code)) =
                s3_precondition(&head, &exchange.method, &exchange.target, upstream_addr).await?
        {
            exchange.status = status;
            call_hook(&shared, &exchange);
            client
                .get_mut()
                .write_all(&error_answer(status, code))
                .await?;
            continue;
        }
        match fault {
            Some(FaultKind::SlowDown) => {
                call_hook(&shared, &exchange);
                client
                    .get_mut()
                    .write_all(&error_answer(503, "SlowDown"))
                    .await?;
                continue;
            }
            Some(FaultKind::InternalError) => {
                call_hook(&shared, &exchange);
                client
                    .get_mut()
                    .write_all(&error_answer(500, "InternalError"))
                    .await?;
                continue;
            }
            Some(FaultKind::FlipRequestByte) => flip(&mut body, position),
            _ => {}
        }

        let request = [head.encode_with_length(body.len()), body].concat();
        let (mut answer_head, mut answer_body) =
            forward(&mut upstream, upstream_addr, &request, &exchange.method).await?;
        if kms {
            let bucket = bucket_of(&exchange.target).to_string();
            kms_answer(&shared, &bucket, &mut answer_head, &mut answer_body);
        }
        exchange.status = answer_head
            .first_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if answer_head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            upstream = None;
        }
        let is_head = exchange.method == "HEAD";
        let answer_len = if is_head {
            answer_head
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        } else {
            answer_body.len()
        };
        let encoded_head = answer_head.encode_with_length(answer_len);
        let half = answer_body.len() / 2;
        call_hook(&shared, &exchange);
        match fault {
            Some(FaultKind::ResetBeforeResponse) => {
                reset(client.into_inner());
                return Ok(());
            }
            Some(FaultKind::ResetMidBody) | Some(FaultKind::TruncatedBody) => {
                client.get_mut().write_all(&encoded_head).await?;
                client.get_mut().write_all(&answer_body[..half]).await?;
                client.get_mut().flush().await?;
                let socket = client.into_inner();
                if fault == Some(FaultKind::ResetMidBody) {
                    reset(socket);
                } else {
                    let mut socket = socket;
                    let _ = socket.shutdown().await;
                }
                return Ok(());
            }
            Some(FaultKind::FlipResponseByte) => flip(&mut answer_body, position),
            Some(FaultKind::Delay) => tokio::time::sleep(delay).await,
            _ => {}
        }
        let answer = if is_head {
            encoded_head
        } else {
            [encoded_head, answer_body].concat()
        };
        client.get_mut().write_all(&answer).await?;
    }
}

/// The request's bucket (path-style: the first segment).
fn bucket_of(target: &str) -> &str {
    let path = target.split('?').next().unwrap_or_default();
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

/// Whether the request's bucket is an SSE-KMS one.
fn is_kms_bucket(shared: &Mutex<Shared>, target: &str) -> bool {
    let bucket = bucket_of(target);
    lock(shared).plan.kms_buckets.iter().any(|b| b == bucket)
}

/// The SSE-KMS ETag shown for the server's `real` one (no quotes) in `bucket`: not an
/// MD5 of the bytes, another for the same bytes in another bucket, the part count kept.
fn kms_etag(bucket: &str, real: &str) -> String {
    let (hex, count) = match real.split_once('-') {
        Some((hex, count)) => (hex, Some(count)),
        None => (real, None),
    };
    let fake = campanile::multipart::hex(&campanile::multipart::md5(
        format!("kms:{bucket}:{hex}").as_bytes(),
    ));
    match count {
        Some(count) => format!("{fake}-{count}"),
        None => fake,
    }
}

/// Replaces every ETag between `open` and `close` in `text` with `map(etag)` (quotes
/// kept as they were: `"` or `&quot;`).
fn map_etags(text: &str, open: &str, close: &str, mut map: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let inner_start = start + open.len();
        let Some(len) = rest[inner_start..].find(close) else {
            break;
        };
        out.push_str(&rest[..inner_start]);
        let inner = &rest[inner_start..inner_start + len];
        let quote = if inner.starts_with("&quot;") {
            "&quot;"
        } else if inner.starts_with('"') {
            "\""
        } else {
            ""
        };
        let bare = inner.trim_start_matches(quote).trim_end_matches(quote);
        out.push_str(&format!("{quote}{}{quote}", map(bare)));
        rest = &rest[inner_start + len..];
    }
    out.push_str(rest);
    out
}

/// An answer about an SSE-KMS object: its ETags shown as S3 would, and its encryption
/// said.
fn kms_answer(shared: &Mutex<Shared>, bucket: &str, head: &mut Head, body: &mut Vec<u8>) {
    let ok = head
        .first_line
        .split(' ')
        .nth(1)
        .is_some_and(|s| s.starts_with('2'));
    if !ok {
        return;
    }
    let mut guard = lock(shared);
    let mut fake = |real: &str| {
        let shown = kms_etag(bucket, real);
        guard.kms_etags.insert(shown.clone(), real.to_string());
        shown
    };
    for (name, value) in head.headers.iter_mut() {
        if name.eq_ignore_ascii_case("etag") {
            *value = format!("\"{}\"", fake(value.trim_matches('"')));
        }
    }
    head.headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("x-amz-server-side-encryption"));
    head.headers.push((
        "x-amz-server-side-encryption".to_string(),
        "aws:kms".to_string(),
    ));
    if let Ok(text) = std::str::from_utf8(body)
        && text.contains("<ETag>")
    {
        *body = map_etags(text, "<ETag>", "</ETag>", &mut fake).into_bytes();
    }
}

/// A request about an SSE-KMS object: the ETags the client got turned back into the
/// server's.
fn kms_request(shared: &Mutex<Shared>, head: &mut Head, body: &mut Vec<u8>) {
    let guard = lock(shared);
    let real = |shown: &str| {
        guard
            .kms_etags
            .get(shown)
            .cloned()
            .unwrap_or_else(|| shown.to_string())
    };
    for (name, value) in head.headers.iter_mut() {
        if name.eq_ignore_ascii_case("if-match")
            || name.eq_ignore_ascii_case("x-amz-copy-source-if-match")
        {
            *value = format!("\"{}\"", real(value.trim_matches('"')));
        }
    }
    if let Ok(text) = std::str::from_utf8(body)
        && text.contains("<ETag>")
    {
        *body = map_etags(text, "<ETag>", "</ETag>", real).into_bytes();
    }
}

fn call_hook(shared: &Mutex<Shared>, exchange: &Exchange) {
    let hook = lock(shared).hook.clone();
    if let Some(hook) = hook {
        hook(exchange);
    }
}

/// S3's preconditions on the requests moto 5.2 takes without evaluating them (its
/// `responses.py`: CopyObject reads only `x-amz-copy-source-if-none-match`,
/// UploadPartCopy no condition, CompleteMultipartUpload only `If-None-Match: *`):
///
/// - `x-amz-copy-source-if-match` on CopyObject and UploadPartCopy, against the source;
/// - `If-Match` and `If-None-Match: *` on CopyObject, and `If-Match` on
///   CompleteMultipartUpload, against the key written.
///
/// Each is evaluated with a HEAD of the object named (with the request's Authorization,
/// whose signature does not hold for it: moto checks none) just before the request
/// would be forwarded; `Some((status, code))` is
/// the answer S3 gives when one does not hold. A model for the tests, not atomic as
/// S3's evaluation is: a write landing between the HEAD and the request is not seen.
async fn s3_precondition(
    head: &Head,
    method: &str,
    target: &str,
    upstream: SocketAddr,
) -> std::io::Result<Option<(u16, &'static str)>> {
    let path = target.split('?').next().unwrap_or(target);
    let copy_source = head.header("x-amz-copy-source");
    let completion = method == "POST" && target.contains("uploadId=");
    let copy_object = method == "PUT" && copy_source.is_some() && !target.contains("uploadId=");
    let host = head.header("host").unwrap_or("localhost").to_string();
    // The request's own Authorization (its signature does not cover the HEAD, but moto
    // checks none): moto tells the account, whose buckets it answers for, by its key.
    let authorization = head
        .header("authorization")
        .map(|value| format!("authorization: {value}\r\n"))
        .unwrap_or_default();
    let etag_of = |path: String| {
        let (host, authorization) = (host.clone(), authorization.clone());
        async move {
            let request = format!(
                "HEAD {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}content-length: 0\r\n\r\n"
            );
            let (answer, _) = forward(&mut None, upstream, request.as_bytes(), "HEAD").await?;
            let status = answer.first_line.split(' ').nth(1).unwrap_or("");
            Ok::<_, std::io::Error>(
                (status == "200")
                    .then(|| {
                        answer
                            .header("etag")
                            .map(|e| e.trim_matches('"').to_string())
                    })
                    .flatten(),
            )
        }
    };
    let matches = |condition: &str, etag: &str| {
        condition
            .split(',')
            .any(|c| c.trim().trim_matches('"') == etag || c.trim() == "*")
    };
    if method == "PUT"
        && let (Some(source), Some(condition)) =
            (copy_source, head.header("x-amz-copy-source-if-match"))
    {
        let source = source
            .split('?')
            .next()
            .unwrap_or(source)
            .trim_start_matches('/');
        match etag_of(format!("/{source}")).await? {
            None => return Ok(Some((404, "NoSuchKey"))),
            Some(etag) if !matches(condition, &etag) => {
                return Ok(Some((412, "PreconditionFailed")));
            }
            Some(_) => {}
        }
    }
    if copy_object || completion {
        let written = etag_of(path.to_string()).await?;
        if let Some(condition) = head.header("if-match") {
            match &written {
                None => return Ok(Some((404, "NoSuchKey"))),
                Some(etag) if !matches(condition, etag) => {
                    return Ok(Some((412, "PreconditionFailed")));
                }
                Some(_) => {}
            }
        }
        if copy_object && head.header("if-none-match") == Some("*") && written.is_some() {
            return Ok(Some((412, "PreconditionFailed")));
        }
    }
    Ok(None)
}

/// Flips one bit of `body` at a position drawn from `position`.
fn flip(body: &mut [u8], position: u64) {
    if body.is_empty() {
        return;
    }
    let index = (position % body.len() as u64) as usize;
    body[index] ^= 1 << (position % 8);
}

/// Sends `request` upstream (reconnecting once when a kept-alive connection was closed)
/// and reads the whole answer, skipping interim `1xx` answers.
async fn forward(
    upstream: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    request: &[u8],
    method: &str,
) -> std::io::Result<(Head, Vec<u8>)> {
    for attempt in 0..2 {
        if upstream.is_none() {
            *upstream = Some(BufReader::new(TcpStream::connect(addr).await?));
        }
        let Some(connection) = upstream.as_mut() else {
            continue;
        };
        match exchange_once(connection, request, method).await {
            Ok(answer) => return Ok(answer),
            // A kept-alive connection the server closed meanwhile: once more, afresh.
            Err(_) if attempt == 0 => *upstream = None,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("upstream unreachable"))
}

async fn exchange_once(
    connection: &mut BufReader<TcpStream>,
    request: &[u8],
    method: &str,
) -> std::io::Result<(Head, Vec<u8>)> {
    connection.get_mut().write_all(request).await?;
    loop {
        let head = read_head(connection)
            .await?
            .ok_or_else(|| std::io::Error::other("upstream closed the connection"))?;
        let status: u16 = head
            .first_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            continue;
        }
        if method == "HEAD" || status == 204 || status == 304 {
            return Ok((head, Vec::new()));
        }
        if head.is_chunked() || head.header("content-length").is_some() {
            let body = read_sized(connection, &head, None).await?;
            return Ok((head, body));
        }
        let mut body = Vec::new();
        connection.read_to_end(&mut body).await?;
        return Ok((head, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(method: &str, target: &str, ranged: bool, md5: bool) -> RequestFacts {
        RequestFacts {
            method: method.to_string(),
            target: target.to_string(),
            ranged,
            has_content_md5: md5,
            checksum: None,
            body_len: 10,
        }
    }

    #[test]
    fn kms_etags_are_not_md5s_and_map_back() {
        let real = "5d41402abc4b2a76b9719d911017c592";
        let shown = kms_etag("b", real);
        assert_eq!(shown.len(), 32);
        assert_ne!(shown, real);
        assert_eq!(kms_etag("b", real), shown, "the same every time");
        assert_ne!(kms_etag("c", real), shown, "another in another bucket");
        let multipart = kms_etag("b", &format!("{real}-3"));
        assert!(multipart.ends_with("-3") && !multipart.starts_with(real));
        let xml = format!("<a><ETag>&quot;{real}&quot;</ETag><ETag>\"{real}-3\"</ETag></a>");
        let mapped = map_etags(&xml, "<ETag>", "</ETag>", |e| kms_etag("b", e));
        assert_eq!(
            mapped,
            format!("<a><ETag>&quot;{shown}&quot;</ETag><ETag>\"{multipart}\"</ETag></a>")
        );
    }

    #[test]
    fn flips_apply_only_where_a_check_exists() {
        let plan = FaultPlan::none();
        let get = facts("GET", "/bucket/key?x-id=GetObject", false, false);
        let ranged = facts("GET", "/bucket/key", true, false);
        let list = facts("GET", "/bucket?list-type=2", false, false);
        let list_parts = facts("GET", "/bucket/key?uploadId=abc", false, false);
        let put = facts("PUT", "/bucket/key", false, true);
        let head = facts("HEAD", "/bucket/key", false, false);
        assert!(applicable(FaultKind::FlipResponseByte, &get, &plan));
        assert!(!applicable(FaultKind::FlipResponseByte, &ranged, &plan));
        assert!(!applicable(FaultKind::FlipResponseByte, &list, &plan));
        assert!(!applicable(FaultKind::FlipResponseByte, &list_parts, &plan));
        assert!(applicable(FaultKind::FlipRequestByte, &put, &plan));
        assert!(!applicable(FaultKind::FlipRequestByte, &get, &plan));
        assert!(!applicable(FaultKind::TruncatedBody, &head, &plan));
        // A part with a checksum and no Content-MD5 (no client MD5): the server checks
        // it, so it may be flipped; a POST (a completion) never is.
        let part = RequestFacts {
            checksum: Some("x-amz-checksum-crc64nvme".to_string()),
            ..facts("PUT", "/bucket/key?partNumber=1&uploadId=abc", false, false)
        };
        assert!(applicable(FaultKind::FlipRequestByte, &part, &plan));
        let plain = facts("PUT", "/bucket/key?partNumber=1&uploadId=abc", false, false);
        assert!(!applicable(FaultKind::FlipRequestByte, &plain, &plan));
        let complete = RequestFacts {
            checksum: Some("x-amz-checksum-crc32".to_string()),
            ..facts("POST", "/bucket/key?uploadId=abc", false, false)
        };
        assert!(!applicable(FaultKind::FlipRequestByte, &complete, &plan));
        let probe = facts(
            "PUT",
            "/bucket/dir/.campanile-checksum-probe?partNumber=1",
            false,
            true,
        );
        assert!(probe.is_probe() && !put.is_probe());
        let ranged_plan = FaultPlan {
            flip_ranged_gets: true,
            ..FaultPlan::none()
        };
        assert!(applicable(
            FaultKind::FlipResponseByte,
            &ranged,
            &ranged_plan
        ));
    }

    #[test]
    fn a_flip_changes_exactly_one_bit() {
        let mut body = vec![0u8; 100];
        flip(&mut body, 12345);
        let ones: u32 = body.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 1);
    }
}
