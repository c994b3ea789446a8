//! The only place an S3 client is built.
//!
//! An endpoint is given either as a host, as the original Campanile took it
//! (`s3-us-west-2.amazonaws.com`, `s3.eu-west-1.amazonaws.com`), or as a URL
//! (`http://127.0.0.1:3900`). AWS hosts only select the region, and the SDK resolves
//! the endpoint itself; any other endpoint is used as given, with path-style addressing
//! (most S3-compatible servers do not route virtual-hosted buckets).
//!
//! Credentials come from [`crate::credentials`]: without a profile the SDK's default
//! chain (environment, AWS files, SSO, web identity, container, instance role); with
//! `--profile NAME` that profile of the AWS files, its region included, or of a
//! boto-style file (named with `--boto`/`BOTO_CONFIG`, or in a task sandbox). They are
//! checked when the client is built: none found is an [`Error::Credentials`] (exit 2)
//! that names what was tried. A client built for a known bucket
//! ([`ClientOptions::for_bucket`]) records its side, endpoint and credential source,
//! so that a failure on that bucket names them ([`explain_failure`]): which
//! credentials an AccessDenied refused and the IAM action they need, which endpoint
//! could not be reached and the flag that sets it.
//!
//! Retries: the SDK's standard mode (exponential backoff with jitter, throttling
//! errors such as 503 SlowDown included) with more attempts than its default, since a
//! task that gives up costs a whole Hadoop attempt, and without the SDK's retry quota
//! (a token bucket that a sustained SlowDown empties, failing every later request at
//! once): the request-rate governor ([`crate::governor`]) paces every request per key
//! prefix instead, and slows a prefix down on each 503. Checksums: Campanile sends
//! Content-MD5 itself and checks ETags; the SDK computes extra CRC checksums only when
//! an operation requires them, which keeps aws-chunked bodies away from S3-compatible
//! servers that do not speak them. objectcopy sends a whole object's checksum as a
//! header it has (the source's, or the CRC64NVME it computed while spooling), and asks
//! for the source's with `ChecksumMode: ENABLED`, which makes the SDK check a
//! full-object checksum in the answer even under `WhenRequired`.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::credentials::{Resolved, Side};
use crate::error::Error;
use crate::governor::{GovernedHttpClient, Governor, RequestBudget};
use crate::tuning::Tuning;

pub use aws_sdk_s3::Client;

/// Region used when neither the options, the endpoint nor the environment name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to build a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--endpoint`: an S3 host or a URL. `None`: AWS, region from the environment.
    pub endpoint: Option<String>,
    /// `--profile`: a boto or AWS profile name.
    pub profile: Option<String>,
    /// `--region`: overrides the region found from the endpoint or the environment.
    pub region: Option<String>,
    /// Credentials given directly (tools and tests); they win over `profile`.
    /// `Credentials` redacts the secret in its `Debug` output.
    pub credentials: Option<Credentials>,
    /// Attempts per request, first one included ([`Tuning::s3_max_attempts`]).
    pub max_attempts: u32,
    /// TCP + TLS connect timeout ([`Tuning::s3_connect_timeout`]).
    pub connect_timeout: Duration,
    /// Longest wait for response bytes ([`Tuning::s3_read_timeout`]).
    pub read_timeout: Duration,
    /// Requests per second per key prefix ([`crate::governor`]).
    pub budget: RequestBudget,
    /// The side and bucket the client is for, when known: messages name them.
    pub bucket: Option<(Side, String)>,
}

impl ClientOptions {
    /// These options, for `bucket` on `side` (see [`explain_failure`]).
    pub fn for_bucket(self, side: Side, bucket: &str) -> Self {
        ClientOptions {
            bucket: Some((side, bucket.to_string())),
            ..self
        }
    }
}

impl Default for ClientOptions {
    /// AWS, the default credentials chain, and [`Tuning::DEFAULT`]'s attempts and
    /// timeouts.
    fn default() -> Self {
        let tuning = Tuning::DEFAULT;
        ClientOptions {
            endpoint: None,
            profile: None,
            region: None,
            credentials: None,
            max_attempts: tuning.s3_max_attempts,
            connect_timeout: tuning.s3_connect_timeout,
            read_timeout: tuning.s3_read_timeout,
            budget: RequestBudget::default(),
            bucket: None,
        }
    }
}

/// Where requests go, derived from `--endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// AWS: the SDK resolves the endpoint; the host may name the region.
    Aws {
        /// Region named by the host, if any.
        region: Option<String>,
    },
    /// Any other S3 server: this URL, path-style addressing.
    Custom {
        /// Base URL, e.g. `http://127.0.0.1:3900`.
        url: String,
    },
}

impl Endpoint {
    /// Parses an endpoint given as a host or as a URL.
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, text),
        };
        if let Some(scheme) = scheme
            && scheme != "http"
            && scheme != "https"
        {
            return Err(Error::Usage(format!(
                "endpoint {text:?}: the scheme must be http or https"
            )));
        }
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if host.is_empty() || rest.contains(char::is_whitespace) {
            return Err(Error::Usage(format!("endpoint {text:?} names no host")));
        }
        if let Some(region) = aws_region_of_host(host) {
            return Ok(Endpoint::Aws { region });
        }
        let url = match scheme {
            Some(_) => text.trim_end_matches('/').to_string(),
            None => format!("https://{}", rest.trim_end_matches('/')),
        };
        Ok(Endpoint::Custom { url })
    }
}

/// For an AWS S3 host, `Some(region)` (`None` inside when the host names no region);
/// `None` for any other host.
fn aws_region_of_host(host: &str) -> Option<Option<String>> {
    let host = host.to_ascii_lowercase();
    let stem = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = stem.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if *label == "s3-external-1" {
            return Some(Some("us-east-1".to_string()));
        }
        if let Some(region) = label.strip_prefix("s3-")
            && !region.is_empty()
            && region != "accelerate"
        {
            return Some(Some(region.to_string()));
        }
        if *label == "s3" {
            let region = labels[i + 1..]
                .iter()
                .find(|l| !matches!(**l, "dualstack" | "fips" | "accelerate"));
            return Some(Some(
                region.map_or(DEFAULT_REGION.to_string(), |r| r.to_string()),
            ));
        }
    }
    Some(None)
}

/// Builds an S3 client.
pub async fn client(options: &ClientOptions) -> Result<Client, Error> {
    let endpoint = options
        .endpoint
        .as_deref()
        .map(Endpoint::parse)
        .transpose()?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(options.max_attempts.max(1))
                .with_initial_backoff(Tuning::DEFAULT.s3_initial_backoff)
                .with_max_backoff(Tuning::DEFAULT.s3_max_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .build(),
        );
    let endpoint_region = match &endpoint {
        Some(Endpoint::Aws { region }) => region.clone(),
        _ => None,
    };
    let given_region = options.region.clone().or(endpoint_region);
    if let Some(region) = &given_region {
        loader = loader.region(Region::new(region.clone()));
    }
    let side = options
        .bucket
        .as_ref()
        .map_or(Side::Only, |(side, _)| *side);
    let sts_region = Region::new(
        given_region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_string()),
    );
    let resolved = match &options.credentials {
        Some(credentials) => {
            loader =
                loader.credentials_provider(SharedCredentialsProvider::new(credentials.clone()));
            None
        }
        None => {
            Some(crate::credentials::resolve(options.profile.as_deref(), side, sts_region).await?)
        }
    };
    if let Some(side_credentials) = &resolved {
        match &side_credentials.resolved {
            Resolved::Provider(provider) => {
                loader = loader.credentials_provider(provider.clone());
            }
            Resolved::AwsProfile(profile) => {
                // The named profile's keys (or SSO, role, process) even when the
                // environment holds others, and its region unless one is given.
                loader = loader.profile_name(profile).credentials_provider(
                    SharedCredentialsProvider::new(
                        aws_config::profile::ProfileFileCredentialsProvider::builder()
                            .profile_name(profile)
                            .build(),
                    ),
                );
                if given_region.is_none()
                    && let Some(region) =
                        crate::credentials::aws_profile(profile).and_then(|aws| aws.region)
                {
                    loader = loader.region(Region::new(region));
                }
            }
            Resolved::DefaultChain => {}
        }
    }
    let shared = loader.load().await;
    if let Some(side_credentials) = &resolved {
        check_credentials(&shared, side_credentials, side).await?;
        let region = shared.region().map_or(DEFAULT_REGION, |r| r.as_ref());
        let endpoint_text = match &endpoint {
            Some(Endpoint::Custom { url }) => url.clone(),
            _ => format!("AWS S3 ({region})"),
        };
        note_side(options, side_credentials, region, endpoint_text);
    }
    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_partition(
            RetryPartition::custom("campanile")
                .token_bucket(TokenBucket::unlimited())
                .build(),
        );
    if shared.region().is_none() {
        builder = builder.region(Region::new(DEFAULT_REGION));
    }
    let path_style = matches!(endpoint, Some(Endpoint::Custom { .. }));
    if let Some(Endpoint::Custom { url }) = &endpoint {
        builder = builder.endpoint_url(url).force_path_style(true);
    }
    builder = builder.http_client(GovernedHttpClient::new(
        default_http_client(),
        Governor::for_process(options.budget),
        path_style,
    ));
    // Requests by operation, which the tasks report as counters (crate::requests).
    builder = builder.interceptor(crate::requests::CountRequests);
    Ok(Client::from_conf(builder.build()))
}

/// Asks the credentials of a client built from a profile of the AWS files now, so
/// that a profile that gives none fails at the start with a message naming it. The
/// default chain is left to the first request (it may end at instance metadata,
/// which is not asked before a request needs it); a failure there is turned into
/// the same kind of message by [`credentials_failure`].
async fn check_credentials(
    shared: &aws_config::SdkConfig,
    side_credentials: &crate::credentials::SideCredentials,
    side: Side,
) -> Result<(), Error> {
    use aws_credential_types::provider::ProvideCredentials;
    let Resolved::AwsProfile(profile) = &side_credentials.resolved else {
        return Ok(());
    };
    let Some(provider) = shared.credentials_provider() else {
        return Err(Error::Credentials(crate::credentials::profile_unusable(
            profile,
            side,
            "no provider",
        )));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(error) => Err(Error::Credentials(crate::credentials::profile_unusable(
            profile,
            side,
            &innermost(&error),
        ))),
    }
}

/// When a request failed because its client found no credentials (the default chain
/// came up empty, a profile's session could not be had), the message that says what
/// was tried and what to do, for an [`Error::Credentials`].
pub fn credentials_failure<E, R>(
    error: &aws_sdk_s3::error::SdkError<E, R>,
    bucket: &str,
) -> Option<String>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut found = None;
    while let Some(e) = current {
        if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
            found = Some(credentials);
            break;
        }
        current = e.source();
    }
    let failure = found?;
    let info = side_of(bucket);
    let side = info.as_ref().map_or(Side::Only, |info| info.side);
    let profile = info.as_ref().and_then(|info| info.profile.clone());
    Some(match (profile, failure) {
        (Some(profile), _) => {
            crate::credentials::profile_unusable(&profile, side, &innermost(failure))
        }
        (None, CredentialsError::CredentialsNotLoaded(_)) => {
            crate::credentials::no_credentials(side, None)
        }
        (None, _) => format!(
            "credentials for {} from {}: {}",
            side.name(),
            info.map_or_else(|| "the default chain".to_string(), |i| i.credentials),
            innermost(failure)
        ),
    })
}

/// The innermost message of an error chain (the cause, without the wrappers).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// What a failure on a bucket can name: the side, its endpoint, its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideInfo {
    /// Which side the bucket is.
    pub side: Side,
    /// The endpoint's URL, or `AWS S3 (<region>)`.
    pub endpoint: String,
    /// Where the credentials come from ([`crate::credentials::SideCredentials::source`]).
    pub credentials: String,
    /// The profile named for the side, if any.
    pub profile: Option<String>,
}

/// The sides of this process's clients, by bucket.
static SIDES: std::sync::Mutex<Vec<(String, SideInfo)>> = std::sync::Mutex::new(Vec::new());

/// Records a client's side (when it is built for a bucket) and says, once per side
/// and source, where its credentials come from (`-v`).
fn note_side(
    options: &ClientOptions,
    side_credentials: &crate::credentials::SideCredentials,
    region: &str,
    endpoint: String,
) {
    let side = options
        .bucket
        .as_ref()
        .map_or(Side::Only, |(side, _)| *side);
    let mut source = side_credentials.source.clone();
    if !source.contains(", region ") {
        source.push_str(&format!(", region {region}"));
    }
    let info = SideInfo {
        side,
        endpoint,
        credentials: source.clone(),
        profile: options.profile.clone(),
    };
    let Ok(mut sides) = SIDES.lock() else {
        return;
    };
    let bucket = options
        .bucket
        .as_ref()
        .map(|(_, bucket)| bucket.clone())
        .unwrap_or_default();
    if sides
        .iter()
        .any(|(b, known)| *b == bucket && *known == info)
    {
        return;
    }
    let said = sides
        .iter()
        .any(|(_, known)| known.side == side && known.credentials == info.credentials);
    if !said {
        let name = match side {
            Side::Source => "source",
            Side::Destination => "destination",
            Side::Only => "S3",
        };
        tracing::info!("{name} credentials: {source}");
    }
    sides.push((bucket, info));
}

/// The side a bucket was recorded with by a client built for it, if any.
pub fn side_of(bucket: &str) -> Option<SideInfo> {
    let sides = SIDES.lock().ok()?;
    sides
        .iter()
        .rev()
        .find(|(b, _)| b == bucket)
        .map(|(_, info)| info.clone())
}

/// The IAM action an S3 operation needs, and the resource it needs it on.
pub fn iam_action(operation: &str, bucket: &str, key: &str) -> (&'static str, String) {
    let on_bucket = format!("arn:aws:s3:::{bucket}");
    let on_object = format!("arn:aws:s3:::{bucket}/{key}");
    match operation {
        "ListObjectsV2" | "ListObjects" => ("s3:ListBucket", on_bucket),
        "GetBucketLocation" => ("s3:GetBucketLocation", on_bucket),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", on_bucket),
        "ListParts" => ("s3:ListMultipartUploadParts", on_object),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", on_object),
        "GetObjectTagging" => ("s3:GetObjectTagging", on_object),
        "GetObjectAcl" => ("s3:GetObjectAcl", on_object),
        "GetObjectAttributes" => ("s3:GetObjectAttributes", on_object),
        "DeleteObject" => ("s3:DeleteObject", on_object),
        "PutObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "CopyObject" => ("s3:PutObject", on_object),
        _ => ("s3:GetObject", on_object),
    }
}

/// A message of Campanile's own for a failed request, when it knows better than the
/// service's code: `AccessDenied` names the side's credentials and the IAM action they
/// need; an endpoint that cannot be reached is named with the flag that sets it.
/// `None`: the service's code and message say it.
pub fn explain_failure<E, R>(
    operation: &str,
    bucket: &str,
    key: &str,
    error: &aws_sdk_s3::error::SdkError<E, R>,
) -> Option<String>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let side = side_of(bucket);
    let headless_403 = error.code().is_none()
        && matches!(error, SdkError::ServiceError(_))
        && status_of(error) == Some(403);
    if error.code() == Some("AccessDenied") || headless_403 {
        let (action, resource) = iam_action(operation, bucket, key);
        let said = match error.message() {
            Some(message) => format!("AccessDenied: {message}"),
            None if headless_403 => {
                "HTTP 403 Forbidden (a HEAD answer names no cause: access denied, or keys \
                 the server refuses)"
                    .to_string()
            }
            None => "AccessDenied".to_string(),
        };
        let who = match &side {
            Some(info) => format!("{} credentials ({})", info.side.whose(), info.credentials),
            None => "these credentials".to_string(),
        };
        return Some(format!(
            "{said}; {who} need {action} on {resource} (see docs/iam.md)"
        ));
    }
    if let SdkError::DispatchFailure(failure) = error
        && (failure.is_io() || failure.is_timeout())
    {
        let cause = match failure.as_connector_error() {
            Some(connector) => io_cause(connector),
            None => "unreachable".to_string(),
        };
        return Some(match &side {
            Some(info) => {
                let which = match info.side {
                    Side::Source => " (source endpoint)",
                    Side::Destination => " (destination endpoint)",
                    Side::Only => "",
                };
                format!(
                    "cannot reach {}{which}: {cause}; check {}",
                    info.endpoint,
                    info.side.flag("endpoint")
                )
            }
            None => format!("cannot reach the endpoint: {cause}; check the endpoint given"),
        });
    }
    None
}

/// What an I/O failure of a connection was, in a few words: the io error's kind when
/// there is one (`connection refused`), else the innermost message (a DNS failure).
fn io_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            )
        {
            return io.kind().to_string();
        }
        current = e.source();
    }
    innermost(error)
}

/// The SDK's own default HTTPS client (hyper 1, rustls with aws-lc, proxy settings
/// from the environment), built here because the governor wraps it: a loaded
/// `SdkConfig` leaves the default to the service client, out of reach.
fn default_http_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = aws_smithy_http_client::ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Streams the body of `s3://bucket/key` into `out` (flushed) and returns the bytes
/// written: a job's own files (part files, inventory reports, outputs) of any size,
/// without holding them in memory.
pub async fn download_to(
    client: &Client,
    bucket: &str,
    key: &str,
    out: &mut impl std::io::Write,
) -> Result<u64, Error> {
    use crate::error::{S3Context, S3ResultExt};
    let mut object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .context("GetObject", bucket, key)?;
    let mut written = 0u64;
    while let Some(chunk) = object
        .body
        .try_next()
        .await
        .map_err(|e| S3Context::new("GetObject", bucket, key).explained(e.to_string(), e))?
    {
        out.write_all(&chunk)
            .map_err(|e| Error::io(format!("writing s3://{bucket}/{key} down"), e))?;
        written += chunk.len() as u64;
    }
    out.flush()
        .map_err(|e| Error::io(format!("writing s3://{bucket}/{key} down"), e))?;
    Ok(written)
}

/// Downloads the part files (`part-*`, gzip or not, under their own names) of the job
/// output `dir` (`s3://bucket/prefix`) into the local directory `to`, and returns
/// their paths in key order: how a run reads back what its cluster tasks wrote.
pub async fn download_part_files(
    client: &Client,
    dir: &str,
    to: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, Error> {
    use crate::error::S3ResultExt;
    let (bucket, prefix) = crate::s3_url::parse_s3_uri(dir)
        .ok_or_else(|| Error::Usage(format!("{dir:?} is not an s3://bucket/prefix URI")))?;
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let mut files = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("ListObjectsV2", &bucket, &prefix)?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let name = &key[prefix.len().min(key.len())..];
            if !name.starts_with("part-") || name.contains('/') {
                continue;
            }
            let local = to.join(name);
            let mut file = std::fs::File::create(&local)
                .map_err(|e| Error::io(format!("creating {}", local.display()), e))?;
            download_to(client, &bucket, key, &mut file).await?;
            files.push(local);
        }
    }
    Ok(files)
}

/// A one-line description of an SDK error: service code and message when the service
/// answered, the transport failure otherwise. Never includes credentials.
pub fn describe_error<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(code) = error.code() {
        return match error.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        };
    }
    // An answer without an error code (a HEAD has no body): its status, rather than
    // the SDK's dump of the whole response.
    if let (aws_sdk_s3::error::SdkError::ServiceError(_), Some(status)) = (error, status_of(error))
    {
        return format!(
            "HTTP {status}{} (the answer names no error code)",
            reason(status)
        );
    }
    aws_sdk_s3::error::DisplayErrorContext(error).to_string()
}

/// The HTTP status of the answer behind an SDK error, when there is one.
fn status_of<E, R: 'static>(error: &aws_sdk_s3::error::SdkError<E, R>) -> Option<u16> {
    let raw = error.raw_response()?;
    (raw as &dyn std::any::Any)
        .downcast_ref::<HttpResponse>()
        .map(|response| response.status().as_u16())
}

/// ` Forbidden` for 403 and the like: the reason phrase of the statuses S3 answers.
fn reason(status: u16) -> &'static str {
    match status {
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        405 => " Method Not Allowed",
        409 => " Conflict",
        412 => " Precondition Failed",
        416 => " Range Not Satisfiable",
        500 => " Internal Server Error",
        501 => " Not Implemented",
        503 => " Service Unavailable",
        _ => "",
    }
}

/// HTTP status of a failed request, when the service answered.
pub fn http_status<E>(error: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Option<u16> {
    error
        .raw_response()
        .map(|response| response.status().as_u16())
}

/// True when the service answered with a service error (4xx/5xx) rather than the
/// request failing on the way (connection, timeout, body).
pub fn is_service_error<E>(error: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> bool {
    matches!(error, aws_sdk_s3::error::SdkError::ServiceError(_))
}

/// Decodes a key from a listing made with `encoding-type=url` (`+` is a space, as S3
/// writes it). Fails on a bad escape (a `%` not followed by two hex digits, which
/// `percent-encoding` would pass through as it is) or on bytes that are not UTF-8.
pub fn url_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let escapes_ok = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    if !escapes_ok {
        return Err(format!("bad percent escape in {text:?}"));
    }
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| format!("decoded key is not UTF-8: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_hosts_select_a_region() {
        let aws = |region: &str| Endpoint::Aws {
            region: Some(region.to_string()),
        };
        assert_eq!(
            Endpoint::parse("s3-us-west-2.amazonaws.com").expect("parse"),
            aws("us-west-2")
        );
        assert_eq!(
            Endpoint::parse("s3.eu-west-1.amazonaws.com").expect("parse"),
            aws("eu-west-1")
        );
        assert_eq!(
            Endpoint::parse("s3.amazonaws.com").expect("parse"),
            aws("us-east-1")
        );
        assert_eq!(
            Endpoint::parse("s3-external-1.amazonaws.com").expect("parse"),
            aws("us-east-1")
        );
        assert_eq!(
            Endpoint::parse("https://s3.dualstack.ap-south-1.amazonaws.com").expect("parse"),
            aws("ap-south-1")
        );
    }

    #[test]
    fn other_endpoints_are_used_as_given() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:9000/").expect("parse"),
            Endpoint::Custom {
                url: "http://127.0.0.1:9000".into()
            }
        );
        assert_eq!(
            Endpoint::parse("storage.example.com").expect("parse"),
            Endpoint::Custom {
                url: "https://storage.example.com".into()
            }
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://").is_err());
    }

    #[test]
    fn every_operation_names_its_iam_action_and_resource() {
        assert_eq!(
            iam_action("ListObjectsV2", "b", "p/"),
            ("s3:ListBucket", "arn:aws:s3:::b".to_string())
        );
        assert_eq!(
            iam_action("UploadPart", "b", "k"),
            ("s3:PutObject", "arn:aws:s3:::b/k".to_string())
        );
        assert_eq!(
            iam_action("HeadObject", "b", "k"),
            ("s3:GetObject", "arn:aws:s3:::b/k".to_string())
        );
        assert_eq!(
            iam_action("ListMultipartUploads", "b", "").0,
            "s3:ListBucketMultipartUploads"
        );
        assert_eq!(
            iam_action("ListParts", "b", "k").0,
            "s3:ListMultipartUploadParts"
        );
        assert_eq!(
            iam_action("GetObjectAcl", "b", "k"),
            ("s3:GetObjectAcl", "arn:aws:s3:::b/k".to_string())
        );
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("a+b%2Bc%25d").expect("decode"), "a b+c%d");
        assert_eq!(url_decode("tab%09lf%0A").expect("decode"), "tab\tlf\n");
        assert_eq!(url_decode("%E6%97%A5%F0%9F%9A%80").expect("decode"), "日🚀");
        assert!(url_decode("%zz").is_err());
        assert!(url_decode("%ff").is_err());
        assert!(url_decode("%2").is_err());
        // Edge cases: escapes of escapes are decoded once, `%` at the end or before a
        // non-ASCII character is refused, lower-case hex is fine.
        assert_eq!(url_decode("%2541").expect("decode"), "%41");
        assert_eq!(url_decode("%2b%2F").expect("decode"), "+/");
        assert_eq!(url_decode("").expect("decode"), "");
        assert_eq!(
            url_decode("plain/key.txt").expect("decode"),
            "plain/key.txt"
        );
        assert_eq!(url_decode("%20+").expect("decode"), "  ");
        assert!(url_decode("a%").is_err());
        assert!(url_decode("%%41").is_err());
        assert!(url_decode("%é1").is_err());
        assert!(url_decode("%C3").is_err(), "half a UTF-8 sequence");
        let error = url_decode("a%zz").expect_err("bad escape");
        assert_eq!(error, "bad percent escape in \"a%zz\"");
    }
}
