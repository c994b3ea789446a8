//! The only place an S3 client is built.
//!
//! An endpoint is given either as a host, as the original Campanile took it
//! (`s3-us-west-2.amazonaws.com`, `s3.eu-west-1.amazonaws.com`), or as a URL
//! (`http://127.0.0.1:3900`). AWS hosts only select the region, and the SDK resolves
//! the endpoint itself; any other endpoint is used as given, with path-style addressing
//! (most S3-compatible servers do not route virtual-hosted buckets).
//!
//! Credentials for `--profile NAME` come from [`crate::credentials`] (boto-style
//! files with keys or a role to assume, then the AWS files). Without a profile the
//! SDK's default chain applies (environment, AWS files, instance role).
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
    let region = given_region.unwrap_or_else(|| DEFAULT_REGION.to_string());
    if let Some(credentials) = &options.credentials {
        loader = loader.credentials_provider(SharedCredentialsProvider::new(credentials.clone()));
    } else if let Some(profile) = &options.profile {
        loader = loader.credentials_provider(
            crate::credentials::profile_credentials(profile, Region::new(region)).await?,
        );
    }
    let shared = loader.load().await;
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

/// A one-line description of an SDK error: service code and message when the service
/// answered, the transport failure otherwise. Never includes credentials.
pub fn describe_error<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(code) = error.code() {
        return match error.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        };
    }
    aws_sdk_s3::error::DisplayErrorContext(error).to_string()
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
