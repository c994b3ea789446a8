//! The least-privilege IAM template: it creates its stack and user on a real
//! CloudFormation API on loopback (moto), and every S3 call the tasks make (found in
//! the code) is allowed on the side that makes it, and nothing else is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Which IAM action each S3 operation the tasks call needs, and on which side(s):
/// `R` the source (Operation=Read), `W` the destination (Operation=Write).
const OPERATIONS: [(&str, &str, &str); 21] = [
    ("list_objects_v2", "s3:ListBucket", "RW"),
    ("get_bucket_location", "s3:GetBucketLocation", "RW"),
    ("head_object", "s3:GetObject", "RW"),
    ("get_object", "s3:GetObject", "R"),
    ("put_object", "s3:PutObject", "W"),
    ("create_multipart_upload", "s3:PutObject", "W"),
    ("upload_part", "s3:PutObject", "W"),
    ("complete_multipart_upload", "s3:PutObject", "W"),
    ("abort_multipart_upload", "s3:AbortMultipartUpload", "W"),
    // Orphaned uploads (multipartlist, and the end of a local run).
    (
        "list_multipart_uploads",
        "s3:ListBucketMultipartUploads",
        "W",
    ),
    // A retried objectcopy attempt (the parts its upload already holds), and the
    // clean-up after a local run (an upload whose parts were all copied is completed,
    // not aborted).
    ("list_parts", "s3:ListMultipartUploadParts", "W"),
    // The server-side mode, with the destination's credentials (which then also need
    // read on the source: the template's users are for the default, two-account mode).
    ("copy_object", "s3:PutObject", "W"),
    ("upload_part_copy", "s3:PutObject", "W"),
    // The source's tags, read when its HEAD or GET counts some (headers.rs).
    ("get_object_tagging", "s3:GetObjectTagging", "R"),
    // A refused conditional PUT (`rsync --diff`): whether the destination holds the
    // checksum the PUT sent, when a HEAD does not say (objectcopy's transfer.rs).
    ("get_object_attributes", "s3:GetObjectAttributes", "W"),
    // `campanile restore` only, on the source: not in the copy's templates (a copy
    // never restores); docs/iam.md lists it with the other optional actions.
    ("restore_object", "s3:RestoreObject", ""),
    // `rsync --delete` only, on the destination: a copy without it deletes nothing.
    ("delete_object", "s3:DeleteObject", ""),
    ("delete_objects", "s3:DeleteObject", ""),
    // `campanile reencrypt` only (its objects' grants, kept on the rewrite): a copy
    // does not carry ACLs; docs/iam.md lists it with the other optional actions.
    ("get_object_acl", "s3:GetObjectAcl", ""),
    // `rsync --all-versions` / `--version-at` only (docs/versions.md).
    ("get_bucket_versioning", "s3:GetBucketVersioning", ""),
    ("list_object_versions", "s3:ListBucketVersions", ""),
];

/// Actions a write needs for a header it carries rather than for an operation:
/// `x-amz-tagging` on PutObject and CreateMultipartUpload needs s3:PutObjectTagging.
/// (The optional ones, needed only when used, are in docs/records.md: `--acl` needs
/// s3:PutObjectAcl; carrying object-lock settings s3:PutObjectRetention and
/// s3:PutObjectLegalHold; SSE-KMS the key's kms:GenerateDataKey and kms:Decrypt.)
const HEADER_ACTIONS: [(&str, &str); 1] = [("s3:PutObjectTagging", "W")];

/// S3 client operations called in the task code and rsync (`.operation()` followed by
/// `.bucket(`), read from the source files.
fn operations_in_code() -> BTreeSet<String> {
    let src = crate::common::repo_root().join("crates/campanile/src");
    // The task modules, objectcopy's folder included.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![src.join("task")];
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(&dir)
            .expect("task dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
        {
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.push(src.join("rsync/mod.rs"));
    files.push(src.join("headers.rs"));
    files.push(src.join("orphans.rs"));
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        let compact: String = text.split_whitespace().collect();
        for piece in compact.split("()").collect::<Vec<_>>().windows(2) {
            let name = piece[0].rsplit('.').next().unwrap_or_default();
            let snake = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if snake && piece[1].starts_with(".bucket(") {
                found.insert(name.to_string());
            }
        }
    }
    found
}

fn python() -> PathBuf {
    let tools = std::env::var_os("CAMPANILE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/campanile")
        });
    tools.join("venv/bin/python")
}

fn stack(operation: &str, bucket: &str) -> serde_json::Value {
    let server = campanile_testkit::moto();
    let output = std::process::Command::new(python())
        .arg(crate::common::repo_root().join("tests/cfn_stack.py"))
        .arg(&server.endpoint)
        .arg(crate::common::repo_root().join("cloudformation/s3_migration_user.json"))
        .arg(bucket)
        .arg(operation)
        .output()
        .expect("run cfn_stack.py (bash scripts/test installs its virtualenv)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn the_code_calls_only_operations_the_table_knows() {
    let found = operations_in_code();
    let known: BTreeSet<String> = OPERATIONS.iter().map(|(op, _, _)| op.to_string()).collect();
    assert!(found.len() >= 8, "the scan found too little: {found:?}");
    let unknown: Vec<&String> = found.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "new S3 calls {unknown:?}: add them to OPERATIONS and to cloudformation/s3_migration_user.json"
    );
}

#[test]
fn each_side_is_allowed_what_its_tasks_call_and_no_more() {
    for (operation, side) in [("Read", 'R'), ("Write", 'W')] {
        let bucket = format!("iam-{}", operation.to_lowercase());
        let created = stack(operation, &bucket);
        assert_eq!(created["status"], "CREATE_COMPLETE");
        assert!(
            created["outputs"]["UserKeyCreateCmd"]
                .as_str()
                .is_some_and(|c| c.contains("create-access-key")),
            "{created}"
        );
        assert_allows_exactly_what_the_tasks_call(&created, side, &bucket);
    }
}

/// Asserts that the policy actions in `created["actions"]` (resource -> actions) are
/// exactly those the tasks call on `side` of `bucket`, each on its resource.
fn assert_allows_exactly_what_the_tasks_call(
    created: &serde_json::Value,
    side: char,
    bucket: &str,
) {
    let found = operations_in_code();
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (resource, actions) in created["actions"].as_object().expect("actions") {
        for action in actions.as_array().expect("list") {
            allowed
                .entry(action.as_str().expect("action").to_string())
                .or_default()
                .insert(resource.clone());
        }
    }
    let needed: BTreeSet<&str> = OPERATIONS
        .iter()
        .filter(|(op, _, sides)| found.contains(*op) && sides.contains(side))
        .map(|(_, action, _)| *action)
        .chain(
            HEADER_ACTIONS
                .iter()
                .filter(|(_, sides)| sides.contains(side))
                .map(|(action, _)| *action),
        )
        .collect();
    for action in &needed {
        let resources = allowed
            .get(*action)
            .unwrap_or_else(|| panic!("side {side} lacks {action}: {created}"));
        let object_level = !matches!(
            *action,
            "s3:ListBucket" | "s3:GetBucketLocation" | "s3:ListBucketMultipartUploads"
        );
        let expected = if object_level {
            format!("arn:aws:s3:::{bucket}/*")
        } else {
            format!("arn:aws:s3:::{bucket}")
        };
        assert!(resources.contains(&expected), "{action} on {resources:?}");
    }
    // Nothing beyond what the tasks need.
    let extra: Vec<&String> = allowed
        .keys()
        .filter(|a| !needed.contains(a.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "side {side} allows more than needed: {extra:?}"
    );
}

#[test]
fn the_templates_pass_cfn_lint() {
    let lint = python().with_file_name("cfn-lint");
    for template in ["s3_migration_user.json", "s3_migration_role.json"] {
        let output = std::process::Command::new(&lint)
            .arg(
                crate::common::repo_root()
                    .join("cloudformation")
                    .join(template),
            )
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (bash scripts/test installs it)", lint.display()));
        assert!(
            output.status.success(),
            "{template}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_destination_role_trusts_only_the_cluster_role_and_writes_only_its_bucket() {
    let server = campanile_testkit::moto();
    let trusted = "arn:aws:iam::111122223333:role/EMR_EC2_DefaultRole";
    for external_id in ["", "run-42"] {
        let bucket = format!(
            "iam-role{}",
            if external_id.is_empty() { "" } else { "-ext" }
        );
        let output = std::process::Command::new(python())
            .arg(crate::common::repo_root().join("tests/cfn_role_stack.py"))
            .arg(&server.endpoint)
            .arg(crate::common::repo_root().join("cloudformation/s3_migration_role.json"))
            .args([bucket.as_str(), trusted, external_id])
            .output()
            .expect("run cfn_role_stack.py (bash scripts/test installs its virtualenv)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(created["status"], "CREATE_COMPLETE");
        // Trusted: the cluster nodes' role, to assume this one, nothing else.
        let statements = created["trust"]["Statement"]
            .as_array()
            .expect("statements");
        assert_eq!(statements.len(), 1, "{created}");
        let trust = &statements[0];
        assert_eq!(trust["Effect"], "Allow");
        assert_eq!(trust["Action"], "sts:AssumeRole");
        assert_eq!(trust["Principal"]["AWS"], trusted);
        if external_id.is_empty() {
            assert!(trust.get("Condition").is_none(), "{trust}");
        } else {
            assert_eq!(
                trust["Condition"]["StringEquals"]["sts:ExternalId"],
                external_id
            );
        }
        // Its permissions: exactly the destination side's.
        assert_allows_exactly_what_the_tasks_call(&created, 'W', &bucket);
        // The profile to stage: no secret, and the credentials module reads it as a role.
        let section = created["outputs"]["ProfileSection"]
            .as_str()
            .expect("profile");
        assert!(
            !campanile::credentials::holds_secret_keys(section),
            "{section}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(".boto");
        std::fs::write(&file, format!("{section}\n")).expect("write");
        let profile = campanile::credentials::boto_profile("destination", &[file]).expect("parse");
        let Some(campanile::credentials::BotoProfile::Role(role)) = profile else {
            panic!("not a role profile: {section}");
        };
        assert_eq!(
            role.role_arn,
            created["outputs"]["RoleArn"].as_str().expect("arn")
        );
        assert_eq!(
            role.credential_source,
            campanile::credentials::CredentialSource::Ec2InstanceMetadata
        );
        assert_eq!(
            role.external_id.as_deref(),
            Some(external_id).filter(|e| !e.is_empty())
        );
    }
}
