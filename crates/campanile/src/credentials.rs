//! Credentials of each side: where they come from, checked when the client is built.
//!
//! The standard chain comes first, as every AWS tool has it: without a profile, the
//! SDK's default chain (environment, the default profile of the AWS files with SSO or
//! role assumption, web identity, container, instance metadata); with `--profile NAME`
//! (`--src-profile`, `--dst-profile`), that profile of `~/.aws/config` and
//! `~/.aws/credentials` (or `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`),
//! *including its region*, with whatever it uses (keys, SSO, `role_arn`,
//! `credential_process`).
//!
//! A boto-style file (the article's `.boto`) is read only where the article reads it,
//! or when it is named:
//!
//! - named with `--boto FILE` (every binary takes it; a local run passes it to its
//!   tasks) or `BOTO_CONFIG` (boto's own variable, read as if it were `--boto`): its
//!   `[profile NAME]` is looked up before the AWS files;
//! - inside a Hadoop task sandbox (Hadoop Streaming, or the local runner, which sets
//!   the same `mapreduce_task_attempt_id`), where the step ships the `.boto` under
//!   `--code` into the task's working directory: `./.boto`, `~/.boto`,
//!   `/etc/boto.cfg`, after the AWS files.
//!
//! A `./.boto` in the current directory of a command started by hand is not read: no
//! standard tool reads one there, and whoever could write to that directory could pick
//! the credentials (name it with `--boto ./.boto`).
//!
//! A boto `[profile NAME]` section holds either
//!
//! - long-lived keys, the article's way: `aws_access_key_id` and
//!   `aws_secret_access_key` (and an optional session token); or
//! - a role to assume, with no secret at all: `role_arn`, `credential_source`
//!   (`Ec2InstanceMetadata` on EMR: the node's instance profile; `Environment`;
//!   `EcsContainer`), optional `external_id` and `role_session_name`. This is the
//!   shape of an AWS config file's role profile, so one staged file serves both the
//!   tasks and the AWS CLI. The base credentials come from the named source and
//!   AssumeRole from STS (its endpoint from the usual configuration, e.g.
//!   `AWS_ENDPOINT_URL_STS`); the SDK refreshes the session before it expires.
//!
//! Credentials are resolved when the client is built, so a task with missing or
//! unusable credentials fails at its start (exit 2) with one line that names the side,
//! the profile and every place searched, and what to do; never a secret.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};

use crate::error::Error;

/// boto's own variable naming its configuration file; read as if it were `--boto`.
pub const BOTO_CONFIG: &str = "BOTO_CONFIG";

/// The file `--boto` named, for the whole process.
static NAMED_BOTO: OnceLock<PathBuf> = OnceLock::new();

/// Names the boto-style credentials file of this process (`--boto FILE`); it must be
/// a file. Called once by a binary, before any client is built.
pub fn name_boto_file(path: &Path) -> Result<(), Error> {
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "--boto {}: no such file",
            path.display()
        )));
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let _ = NAMED_BOTO.set(absolute);
    Ok(())
}

/// The file `--boto` named, if any.
pub fn named_boto_file() -> Option<PathBuf> {
    NAMED_BOTO.get().cloned()
}

/// True inside a Hadoop task sandbox: Hadoop Streaming (and the local runner) export
/// the task attempt's id.
pub fn in_task_sandbox() -> bool {
    crate::attempt::TaskAttempt::from_env().id.is_some()
}

/// The boto-style file named for this process: `--boto`, else `$BOTO_CONFIG`.
pub fn explicit_boto_file() -> Option<PathBuf> {
    named_boto_file().or_else(|| {
        std::env::var_os(BOTO_CONFIG)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

/// The article's boto files of a task sandbox (`./.boto`, `~/.boto`,
/// `/etc/boto.cfg`); none outside one.
pub fn sandbox_boto_paths() -> Vec<PathBuf> {
    if !in_task_sandbox() {
        return Vec::new();
    }
    let mut paths = vec![PathBuf::from("./.boto")];
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".boto"));
    }
    paths.push(PathBuf::from("/etc/boto.cfg"));
    paths
}

/// Every boto-style file this process reads, highest priority first: the named one,
/// then, in a task sandbox, the article's.
pub fn boto_paths() -> Vec<PathBuf> {
    explicit_boto_file()
        .into_iter()
        .chain(sandbox_boto_paths())
        .collect()
}

/// Says (at info level: `-v`) that a `./.boto` here is not read, when it is not.
pub fn hint_unread_boto() {
    if Path::new("./.boto").is_file() && !in_task_sandbox() && explicit_boto_file().is_none() {
        tracing::info!(
            "./.boto is not read outside a Hadoop task: give --boto ./.boto to use its profiles"
        );
    }
}

/// The AWS shared config and credentials files (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config`, `~/.aws/credentials`).
pub fn aws_files() -> (PathBuf, PathBuf) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
    };
    (
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    )
}

/// Where a profile of the AWS files was found, and its region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsProfile {
    /// The files that have a section for it (config, credentials).
    pub files: Vec<PathBuf>,
    /// Its `region`, from the config file.
    pub region: Option<String>,
}

/// Looks a profile up in the AWS files: `[profile NAME]` (`[default]`) in the config
/// file, `[NAME]` in the credentials file. `None` when neither has it. A file that
/// cannot be parsed counts as not having it (the SDK then says what is wrong).
pub fn aws_profile(name: &str) -> Option<AwsProfile> {
    let (config, credentials) = aws_files();
    aws_profile_in(name, &config, &credentials)
}

/// [`aws_profile`] in the given config and credentials files.
pub fn aws_profile_in(name: &str, config: &Path, credentials: &Path) -> Option<AwsProfile> {
    let mut found = AwsProfile {
        files: Vec::new(),
        region: None,
    };
    let load = |path: &Path| {
        path.is_file()
            .then(|| ini::Ini::load_from_file(path).ok())
            .flatten()
    };
    if let Some(ini) = load(config) {
        let section = ini.section(Some(format!("profile {name}"))).or_else(|| {
            (name == "default")
                .then(|| ini.section(Some("default")))
                .flatten()
        });
        if let Some(section) = section {
            found.files.push(config.to_path_buf());
            found.region = section
                .get("region")
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string);
        }
    }
    if let Some(ini) = load(credentials)
        && ini.section(Some(name)).is_some()
    {
        found.files.push(credentials.to_path_buf());
    }
    (!found.files.is_empty()).then_some(found)
}

/// `~/…` for a path under the home directory, so messages stay short.
pub fn short_path(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from)
        && !home.as_os_str().is_empty()
        && let Ok(rest) = path.strip_prefix(&home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// A warning when a credentials file can be read by other users of the machine, or
/// `None` when its mode is private (no group or other bits).
pub fn readable_by_others(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "credentials file {} is readable by other users (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

/// Where the base credentials of a role profile come from (`credential_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// The instance profile of the node (EMR), through IMDS.
    Ec2InstanceMetadata,
    /// The standard environment variables.
    Environment,
    /// The ECS or EKS container credentials endpoint.
    EcsContainer,
}

impl CredentialSource {
    fn parse(text: &str) -> Option<CredentialSource> {
        match text {
            "Ec2InstanceMetadata" => Some(CredentialSource::Ec2InstanceMetadata),
            "Environment" => Some(CredentialSource::Environment),
            "EcsContainer" => Some(CredentialSource::EcsContainer),
            _ => None,
        }
    }
}

/// A profile section that names a role to assume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleProfile {
    /// The role's ARN.
    pub role_arn: String,
    /// Where the credentials that assume it come from.
    pub credential_source: CredentialSource,
    /// The external id the role's trust policy asks for, if any.
    pub external_id: Option<String>,
    /// The session name (default `campanile`), as CloudTrail shows it.
    pub session_name: String,
}

/// What a boto-style profile section holds.
#[derive(Debug, Clone)]
pub enum BotoProfile {
    /// Long-lived keys (`Credentials` redacts the secret in its `Debug` output).
    Keys(Credentials),
    /// A role to assume.
    Role(RoleProfile),
}

/// Looks for `[profile NAME]` in the given boto-style files: the first file that has
/// the section decides.
pub fn boto_profile(profile: &str, paths: &[PathBuf]) -> Result<Option<BotoProfile>, Error> {
    Ok(boto_profile_in(profile, paths)?.map(|(_, found)| found))
}

/// [`boto_profile`], with the file that had it.
pub fn boto_profile_in(
    profile: &str,
    paths: &[PathBuf],
) -> Result<Option<(PathBuf, BotoProfile)>, Error> {
    let section = format!("profile {profile}");
    for path in paths.iter().filter(|p| p.is_file()) {
        let ini = ini::Ini::load_from_file(path).map_err(|e| Error::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let Some(properties) = ini.section(Some(section.as_str())) else {
            continue;
        };
        let get = |key: &str| {
            properties
                .get(key)
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let bad = |message: String| {
            Error::Credentials(format!("{}: [{section}] {message}", path.display()))
        };
        let id = get("aws_access_key_id");
        let secret = get("aws_secret_access_key");
        if let Some(role_arn) = get("role_arn") {
            if id.is_some() || secret.is_some() {
                return Err(bad(
                    "holds both keys and a role_arn: keep one (the role, preferably)".into(),
                ));
            }
            let source = get("credential_source").ok_or_else(|| {
                bad(
                    "has a role_arn but no credential_source (Ec2InstanceMetadata on EMR, \
                     Environment or EcsContainer)"
                        .into(),
                )
            })?;
            let credential_source = CredentialSource::parse(source).ok_or_else(|| {
                bad(format!(
                    "credential_source {source:?} is not Ec2InstanceMetadata, Environment or EcsContainer"
                ))
            })?;
            return Ok(Some((
                path.clone(),
                BotoProfile::Role(RoleProfile {
                    role_arn: role_arn.to_string(),
                    credential_source,
                    external_id: get("external_id").map(str::to_string),
                    session_name: get("role_session_name").unwrap_or("campanile").to_string(),
                }),
            )));
        }
        return match (id, secret) {
            (Some(id), Some(secret)) => {
                if let Some(warning) = readable_by_others(path) {
                    tracing::warn!("{warning}");
                }
                let token = get("aws_security_token")
                    .or_else(|| get("aws_session_token"))
                    .map(str::to_string);
                Ok(Some((
                    path.clone(),
                    BotoProfile::Keys(Credentials::new(id, secret, token, None, "boto")),
                )))
            }
            _ => Err(bad(
                "needs both aws_access_key_id and aws_secret_access_key, or a role_arn with its \
                 credential_source"
                    .into(),
            )),
        };
    }
    Ok(None)
}

/// The base credentials of a role profile.
fn source_provider(source: CredentialSource) -> SharedCredentialsProvider {
    match source {
        CredentialSource::Ec2InstanceMetadata => SharedCredentialsProvider::new(
            aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
        ),
        CredentialSource::Environment => SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ),
        CredentialSource::EcsContainer => SharedCredentialsProvider::new(
            aws_config::ecs::EcsCredentialsProvider::builder().build(),
        ),
    }
}

/// A provider that assumes the profile's role (STS in `region`).
async fn assume_role(role: &RoleProfile, region: Region) -> SharedCredentialsProvider {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region.clone())
        .load()
        .await;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(&role.session_name)
        .region(region)
        .configure(&config);
    if let Some(external_id) = &role.external_id {
        builder = builder.external_id(external_id);
    }
    SharedCredentialsProvider::new(
        builder
            .build_from_provider(source_provider(role.credential_source))
            .await,
    )
}

/// Which side of a copy a client is for, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The source bucket (`--src-profile`, `--src-endpoint`).
    Source,
    /// The destination bucket (`--dst-profile`, `--dst-endpoint`).
    Destination,
    /// The one bucket of a task that has one (`--profile`, `--endpoint`).
    Only,
}

impl Side {
    /// Whose credentials: `the source's`, `the destination's`, or `the`.
    pub fn whose(self) -> &'static str {
        match self {
            Side::Source => "the source's",
            Side::Destination => "the destination's",
            Side::Only => "the",
        }
    }

    /// `the source`, `the destination`, or `the bucket`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "the source",
            Side::Destination => "the destination",
            Side::Only => "the bucket",
        }
    }

    /// The flag that names this side's `what` (`profile`, `endpoint`):
    /// `--src-profile`, `--dst-endpoint`, `--profile`.
    pub fn flag(self, what: &str) -> String {
        match self {
            Side::Source => format!("--src-{what}"),
            Side::Destination => format!("--dst-{what}"),
            Side::Only => format!("--{what}"),
        }
    }
}

/// How a client gets its credentials, once resolved.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A provider of Campanile's own (a boto profile's keys or role).
    Provider(SharedCredentialsProvider),
    /// A profile of the AWS files: the SDK loads its credentials and its region.
    AwsProfile(String),
    /// The SDK's default chain.
    DefaultChain,
}

/// The credentials of one side and where they come from (never the keys).
#[derive(Debug, Clone)]
pub struct SideCredentials {
    /// How the client gets them.
    pub resolved: Resolved,
    /// Where they come from, for `-v` and for messages: `profile "src" in
    /// ~/.aws/config`, `the environment (AWS_ACCESS_KEY_ID)`, ….
    pub source: String,
}

/// Resolves where the credentials of `profile` (or of the default chain) come from;
/// a boto profile's role is assumed with STS in `sts_region`. A profile found nowhere
/// is an [`Error::Credentials`] naming every place searched.
pub async fn resolve(
    profile: Option<&str>,
    side: Side,
    sts_region: Region,
) -> Result<SideCredentials, Error> {
    let Some(profile) = profile else {
        return Ok(SideCredentials {
            resolved: Resolved::DefaultChain,
            source: default_chain_source(),
        });
    };
    let explicit: Vec<PathBuf> = explicit_boto_file().into_iter().collect();
    if let Some(found) = boto_side(profile, side, &explicit, sts_region.clone()).await? {
        return Ok(found);
    }
    if let Some(aws) = aws_profile(profile) {
        let files: Vec<String> = aws.files.iter().map(|f| short_path(f)).collect();
        let mut source = format!("profile {profile:?} in {}", files.join(" and "));
        if let Some(region) = &aws.region {
            source.push_str(&format!(", region {region}"));
        }
        return Ok(SideCredentials {
            resolved: Resolved::AwsProfile(profile.to_string()),
            source,
        });
    }
    let sandbox = sandbox_boto_paths();
    if let Some(found) = boto_side(profile, side, &sandbox, sts_region).await? {
        return Ok(found);
    }
    Err(Error::Credentials(profile_not_found(
        profile, side, &explicit, &sandbox,
    )))
}

/// The profile in the first of `paths` that has it, as a side's credentials.
async fn boto_side(
    profile: &str,
    side: Side,
    paths: &[PathBuf],
    sts_region: Region,
) -> Result<Option<SideCredentials>, Error> {
    let Some((path, found)) = boto_profile_in(profile, paths)? else {
        return Ok(None);
    };
    let file = short_path(&path);
    match found {
        BotoProfile::Keys(credentials) => Ok(Some(SideCredentials {
            resolved: Resolved::Provider(SharedCredentialsProvider::new(credentials)),
            source: format!("profile {profile:?} in {file} (keys)"),
        })),
        BotoProfile::Role(role) => {
            let provider = assume_role(&role, sts_region).await;
            match provider.provide_credentials().await {
                Ok(_) => Ok(Some(SideCredentials {
                    resolved: Resolved::Provider(provider),
                    source: format!(
                        "profile {profile:?} in {file}: role {} assumed with {:?} credentials",
                        role.role_arn, role.credential_source
                    ),
                })),
                Err(error) => Err(Error::Credentials(format!(
                    "profile {profile:?} for {} ({file}): assuming role {} with {:?} credentials \
                     failed ({}); check the role's trust policy and that this machine has the \
                     source credentials",
                    side.name(),
                    role.role_arn,
                    role.credential_source,
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ))),
            }
        }
    }
}

/// The message of a profile found nowhere.
fn profile_not_found(
    profile: &str,
    side: Side,
    explicit: &[PathBuf],
    sandbox: &[PathBuf],
) -> String {
    let (config, credentials) = aws_files();
    let mut searched = vec![short_path(&config), short_path(&credentials)];
    searched.extend(explicit.iter().chain(sandbox).map(|p| short_path(p)));
    let mut message = format!(
        "profile {profile:?} for {} was not found: searched {}",
        side.name(),
        searched.join(", ")
    );
    if explicit.is_empty() && sandbox.is_empty() {
        message.push_str(
            " (no .boto is read outside a Hadoop task unless named with --boto FILE or BOTO_CONFIG)",
        );
    }
    if Path::new("./.boto").is_file() && !in_task_sandbox() && explicit.is_empty() {
        message.push_str("; ./.boto exists here: give --boto ./.boto to use it");
    } else {
        message.push_str(&format!(
            "; add [profile {profile}] to {} or name another file with --boto FILE",
            short_path(&config)
        ));
    }
    message
}

/// Where the SDK's default chain takes its credentials from, as far as the
/// environment and the AWS files tell (its order: environment, profile, web identity,
/// container, instance metadata).
fn default_chain_source() -> String {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID") {
        return "the environment (AWS_ACCESS_KEY_ID)".to_string();
    }
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string());
    if let Some(aws) = aws_profile(&profile) {
        let files: Vec<String> = aws.files.iter().map(|f| short_path(f)).collect();
        let mut source = format!("profile {profile:?} in {}", files.join(" and "));
        if let Some(region) = &aws.region {
            source.push_str(&format!(", region {region}"));
        }
        return source;
    }
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string();
    }
    if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return "the container credentials endpoint".to_string();
    }
    "instance metadata (IMDS)".to_string()
}

/// The message of a default chain that found no credentials (`cause`: what the SDK
/// said, when it is more than that none was found).
pub fn no_credentials(side: Side, cause: Option<&str>) -> String {
    let cause = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    let (config, credentials) = aws_files();
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let imds = if std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    {
        "instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
    } else {
        "instance metadata (IMDS)"
    };
    format!(
        "no credentials for {}: tried the environment (AWS_ACCESS_KEY_ID), profile {profile:?} \
         in {} and {}, web identity, the container endpoint and {imds}{cause}; set \
         AWS_PROFILE or give {} (a profile of the AWS files, or of a file named with --boto FILE)",
        side.name(),
        short_path(&config),
        short_path(&credentials),
        side.flag("profile")
    )
}

/// The message of an AWS-files profile that gave no credentials (an expired SSO
/// session, a role that cannot be assumed, a profile without keys).
pub fn profile_unusable(profile: &str, side: Side, cause: &str) -> String {
    let files = aws_profile(profile)
        .map(|aws| {
            aws.files
                .iter()
                .map(|f| short_path(f))
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .unwrap_or_else(|| "the AWS files".to_string());
    let sso = if cause.contains("SSO") || cause.contains("sso") || cause.contains("token") {
        format!(" (an SSO session: aws sso login --profile {profile})")
    } else {
        String::new()
    };
    format!(
        "profile {profile:?} for {} ({files}) gives no credentials: {cause}; fix the profile{sso}",
        side.name()
    )
}

/// Whether a credentials file holds a long-lived secret key in any section.
pub fn holds_secret_keys(text: &str) -> bool {
    text.lines().any(|line| {
        line.split_once('=').is_some_and(|(key, value)| {
            key.trim() == "aws_secret_access_key" && !value.trim().is_empty()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boto_profiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dir.path().join("first.boto");
        let second = dir.path().join("second.boto");
        std::fs::write(
            &first,
            "[Credentials]\naws_access_key_id = X\n[profile jeff]\naws_access_key_id = AKIAJEFF\naws_secret_access_key = s3cr3t\n",
        )
        .expect("write");
        std::fs::write(
            &second,
            "[profile jeff]\naws_access_key_id = OTHER\naws_secret_access_key = other\n[profile jassy]\naws_access_key_id = AKIAJASSY\n",
        )
        .expect("write");
        let paths = vec![dir.path().join("missing"), first, second];
        let Some(BotoProfile::Keys(jeff)) = boto_profile("jeff", &paths).expect("ok") else {
            panic!("jeff has keys");
        };
        assert_eq!(jeff.access_key_id(), "AKIAJEFF");
        assert_eq!(jeff.secret_access_key(), "s3cr3t");
        assert!(boto_profile("nobody", &paths).expect("ok").is_none());
        let error = boto_profile("jassy", &paths).expect_err("incomplete");
        assert!(error.to_string().contains("aws_secret_access_key"));
        assert!(!format!("{jeff:?}").contains("s3cr3t"));
    }

    #[test]
    fn aws_profiles_are_found_with_their_region() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &config,
            "[default]\nregion = us-west-2\n[profile far]\nregion = eu-central-9\n\
             [profile sso]\nsso_session = corp\n",
        )
        .expect("write");
        std::fs::write(
            &credentials,
            "[far]\naws_access_key_id = A\naws_secret_access_key = B\n[keys-only]\n\
             aws_access_key_id = A\naws_secret_access_key = B\n",
        )
        .expect("write");
        let far = aws_profile_in("far", &config, &credentials).expect("far");
        assert_eq!(far.region.as_deref(), Some("eu-central-9"));
        assert_eq!(far.files, vec![config.clone(), credentials.clone()]);
        let default = aws_profile_in("default", &config, &credentials).expect("default");
        assert_eq!(default.region.as_deref(), Some("us-west-2"));
        let keys = aws_profile_in("keys-only", &config, &credentials).expect("keys");
        assert_eq!((keys.region, keys.files), (None, vec![credentials.clone()]));
        let sso = aws_profile_in("sso", &config, &credentials).expect("sso");
        assert_eq!(sso.files, vec![config.clone()]);
        assert!(aws_profile_in("nobody", &config, &credentials).is_none());
        assert!(
            aws_profile_in("far", &dir.path().join("none"), &dir.path().join("none")).is_none()
        );
    }

    #[test]
    fn sides_name_their_flags() {
        assert_eq!(Side::Source.flag("profile"), "--src-profile");
        assert_eq!(Side::Destination.flag("endpoint"), "--dst-endpoint");
        assert_eq!(Side::Only.flag("profile"), "--profile");
    }

    #[test]
    fn credentials_files_readable_by_others_are_flagged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".boto");
        std::fs::write(&path, "[profile p]\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let warning = readable_by_others(&path).expect("flagged");
        assert!(
            warning.contains("chmod 600") && warning.contains("644"),
            "{warning}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(readable_by_others(&path), None);
    }

    #[test]
    fn a_role_profile_holds_no_secret_and_names_its_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".boto");
        std::fs::write(
            &path,
            "[profile dst]\nrole_arn = arn:aws:iam::222222222222:role/campanile-destination\n\
             credential_source = Ec2InstanceMetadata\nexternal_id = run-42\n\
             [profile bad]\nrole_arn = arn:aws:iam::2:role/x\n\
             [profile worse]\nrole_arn = arn:aws:iam::2:role/x\ncredential_source = Ec2\n\
             [profile both]\nrole_arn = arn:aws:iam::2:role/x\ncredential_source = Environment\n\
             aws_access_key_id = A\naws_secret_access_key = B\n",
        )
        .expect("write");
        let paths = vec![path];
        let Some(BotoProfile::Role(role)) = boto_profile("dst", &paths).expect("ok") else {
            panic!("dst is a role");
        };
        assert_eq!(
            role,
            RoleProfile {
                role_arn: "arn:aws:iam::222222222222:role/campanile-destination".into(),
                credential_source: CredentialSource::Ec2InstanceMetadata,
                external_id: Some("run-42".into()),
                session_name: "campanile".into(),
            }
        );
        let missing = boto_profile("bad", &paths).expect_err("no source");
        assert!(
            missing.to_string().contains("credential_source"),
            "{missing}"
        );
        let unknown = boto_profile("worse", &paths).expect_err("bad source");
        assert!(unknown.to_string().contains("\"Ec2\""), "{unknown}");
        let both = boto_profile("both", &paths).expect_err("ambiguous");
        assert!(
            both.to_string().contains("both keys and a role_arn"),
            "{both}"
        );
    }

    #[test]
    fn secret_keys_are_found_in_any_section() {
        assert!(holds_secret_keys(
            "[profile a]\naws_access_key_id = A\naws_secret_access_key = s\n"
        ));
        assert!(holds_secret_keys(
            "[Credentials]\n aws_secret_access_key=s\n"
        ));
        assert!(!holds_secret_keys(
            "[profile dst]\nrole_arn = arn:aws:iam::2:role/x\ncredential_source = Ec2InstanceMetadata\n"
        ));
        assert!(!holds_secret_keys("[profile a]\naws_secret_access_key =\n"));
    }
}
