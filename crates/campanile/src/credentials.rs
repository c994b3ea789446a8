//! Credentials of a named profile (`--profile`, `--src-profile`, `--dst-profile`).
//!
//! Boto-style files come first, for drop-in compatibility with Campanile set-ups that
//! ship a `.boto` file into the Hadoop sandbox (`./.boto`, `~/.boto`, `/etc/boto.cfg`,
//! or `$BOTO_CONFIG`), then the AWS shared config and credentials files. A
//! `[profile NAME]` section holds either
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
//! Credentials are resolved when the client is built, so a task with a missing or
//! unusable profile fails at its start, with a message that names the profile, the
//! files searched and the role, never a secret.

use std::path::PathBuf;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};

use crate::error::Error;

/// Boto-style files searched for `[profile NAME]`, highest priority first.
pub fn boto_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(explicit) = std::env::var_os("BOTO_CONFIG") {
        paths.push(PathBuf::from(explicit));
    }
    paths.push(PathBuf::from("./.boto"));
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".boto"));
    }
    paths.push(PathBuf::from("/etc/boto.cfg"));
    paths
}

/// A warning when a credentials file can be read by other users of the machine, or
/// `None` when its mode is private (no group or other bits).
pub fn readable_by_others(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: credentials file {} is readable by other users (mode {:o}); chmod 600 it",
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
            return Ok(Some(BotoProfile::Role(RoleProfile {
                role_arn: role_arn.to_string(),
                credential_source,
                external_id: get("external_id").map(str::to_string),
                session_name: get("role_session_name").unwrap_or("campanile").to_string(),
            })));
        }
        return match (id, secret) {
            (Some(id), Some(secret)) => {
                if let Some(warning) = readable_by_others(path) {
                    eprintln!("{warning}");
                }
                let token = get("aws_security_token")
                    .or_else(|| get("aws_session_token"))
                    .map(str::to_string);
                Ok(Some(BotoProfile::Keys(Credentials::new(
                    id, secret, token, None, "boto",
                ))))
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

/// Resolves the credentials of a named profile, checking now that they work so a
/// task fails at start with a clear message rather than at its first request.
pub async fn profile_credentials(
    profile: &str,
    region: Region,
) -> Result<SharedCredentialsProvider, Error> {
    let boto = boto_paths();
    match boto_profile(profile, &boto)? {
        Some(BotoProfile::Keys(credentials)) => {
            return Ok(SharedCredentialsProvider::new(credentials));
        }
        Some(BotoProfile::Role(role)) => {
            let provider = assume_role(&role, region).await;
            return match provider.provide_credentials().await {
                Ok(_) => Ok(provider),
                Err(error) => Err(Error::Credentials(format!(
                    "profile {profile:?}: assuming role {} with {:?} credentials failed ({}); \
                     check the role's trust policy and that this machine has the source credentials",
                    role.role_arn,
                    role.credential_source,
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ))),
            };
        }
        None => {}
    }
    let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_name(profile)
        .build();
    match provider.provide_credentials().await {
        Ok(_) => Ok(SharedCredentialsProvider::new(provider)),
        Err(error) => {
            let searched: Vec<String> = boto.iter().map(|p| p.display().to_string()).collect();
            Err(Error::Credentials(format!(
                "profile {profile:?} was not found in {} nor usable from the AWS config and credentials files ({})",
                searched.join(", "),
                aws_sdk_s3::error::DisplayErrorContext(&error)
            )))
        }
    }
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
