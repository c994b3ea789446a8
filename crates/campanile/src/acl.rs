//! An object's ACL carried onto its rewrite (`campanile reencrypt`). A CopyObject or a
//! new multipart upload onto a key gives the new object the default ACL (the owner's
//! FULL_CONTROL), so an object that granted READ to another account or to a group
//! would lose it. The grants are therefore read (GetObjectAcl, see
//! [`crate::headers::ObjectHeaders::read_grants`]) and given on the write itself, in
//! the `x-amz-grant-read`, `-read-acp`, `-write-acp` and `-full-control` headers of
//! CopyObject or CreateMultipartUpload: the new object has them from its first moment,
//! with no window where it is more open (or more closed) than the old one.
//!
//! With grant headers S3 builds the ACL from them alone (the owner's FULL_CONTROL is not
//! added), so every grant goes, the owner's own included. An ACL that is only the
//! owner's FULL_CONTROL (the default, and all a bucket with ACLs disabled, Object
//! Ownership `BucketOwnerEnforced`, can hold) gets no header at all: such a bucket
//! refuses grant headers, and the default ACL is that one. An empty grant list (an
//! owner who removed even their own grant) cannot be written by headers either; the
//! rewrite then has the default ACL. A WRITE grant has no meaning on an object (S3
//! documents it as not applicable) and no header of the writes carries it: it is left
//! out, with a warning.

use aws_sdk_s3::types::{Grant, Owner, Permission, Type};

/// The grant headers of a write: each a comma-separated list of grantees
/// (`id="…"`, `uri="…"`, `emailAddress="…"`), as S3 takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `x-amz-grant-read`.
    pub read: Option<String>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<String>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<String>,
    /// `x-amz-grant-full-control`.
    pub full_control: Option<String>,
}

/// What [`Grants::of_acl`] made of an object's ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The headers to write; `None` when the ACL is the default (only the owner's
    /// FULL_CONTROL, or no grant): no header is sent.
    pub grants: Option<Grants>,
    /// The grants no header can carry (WRITE), as `grantee permission`, for a warning.
    pub left_out: Vec<String>,
}

/// A grantee as a grant header names it.
fn grantee(grant: &Grant) -> Result<String, String> {
    let grantee = grant
        .grantee()
        .ok_or_else(|| "a grant names no grantee".to_string())?;
    let (field, value) = match grantee.r#type() {
        Type::CanonicalUser => ("id", grantee.id()),
        Type::Group => ("uri", grantee.uri()),
        Type::AmazonCustomerByEmail => ("emailAddress", grantee.email_address()),
        other => return Err(format!("a grantee of an unknown type {}", other.as_str())),
    };
    let value = value.ok_or_else(|| {
        format!(
            "a {} grantee without its {field}",
            grantee.r#type().as_str()
        )
    })?;
    if value.contains('"') || value.contains(',') {
        // A header value cannot quote it: no S3 id, group URI or address has one.
        return Err(format!(
            "a grantee {field} a header cannot carry: {value:?}"
        ));
    }
    Ok(format!("{field}=\"{value}\""))
}

fn push(list: &mut Option<String>, item: &str) {
    match list {
        Some(list) if list.split(", ").any(|present| present == item) => {}
        Some(list) => {
            list.push_str(", ");
            list.push_str(item);
        }
        None => *list = Some(item.to_string()),
    }
}

impl Grants {
    /// The grant headers that give a new object the ACL of `owner` and `grants` (a
    /// GetObjectAcl answer). `Err`: a grant the headers cannot express (a grantee
    /// without its id, URI or address, or of an unknown type, or an unknown
    /// permission): the object cannot be rewritten with its ACL kept.
    pub fn of_acl(owner: Option<&Owner>, grants: &[Grant]) -> Result<Carried, String> {
        let mut carried = Grants::default();
        let mut left_out = Vec::new();
        for grant in grants {
            let who = grantee(grant)?;
            let list = match grant.permission() {
                Some(Permission::Read) => &mut carried.read,
                Some(Permission::ReadAcp) => &mut carried.read_acp,
                Some(Permission::WriteAcp) => &mut carried.write_acp,
                Some(Permission::FullControl) => &mut carried.full_control,
                Some(Permission::Write) => {
                    left_out.push(format!("{who} WRITE"));
                    continue;
                }
                Some(other) => return Err(format!("an unknown permission {}", other.as_str())),
                None => return Err(format!("a grant to {who} without a permission")),
            };
            push(list, &who);
        }
        // The default: nothing, or only the owner's FULL_CONTROL.
        let owners_own = owner.and_then(Owner::id).map(|id| Grants {
            full_control: Some(format!("id=\"{id}\"")),
            ..Grants::default()
        });
        let default = carried == Grants::default() || Some(&carried) == owners_own.as_ref();
        Ok(Carried {
            grants: (!default).then_some(carried),
            left_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::Grantee;

    const OWNER: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

    fn owner() -> Owner {
        Owner::builder().id(OWNER).display_name("me").build()
    }

    fn user(id: &str, permission: Permission) -> Grant {
        let grantee = Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id(id)
            .build()
            .expect("grantee");
        Grant::builder()
            .grantee(grantee)
            .permission(permission)
            .build()
    }

    fn group(uri: &str, permission: Permission) -> Grant {
        let grantee = Grantee::builder()
            .r#type(Type::Group)
            .uri(uri)
            .build()
            .expect("grantee");
        Grant::builder()
            .grantee(grantee)
            .permission(permission)
            .build()
    }

    #[test]
    fn the_owners_full_control_alone_sends_no_header() {
        let only = Grants::of_acl(Some(&owner()), &[user(OWNER, Permission::FullControl)])
            .expect("carried");
        assert_eq!(only.grants, None);
        assert!(only.left_out.is_empty());
        let none = Grants::of_acl(Some(&owner()), &[]).expect("carried");
        assert_eq!(none.grants, None);
    }

    #[test]
    fn every_grant_goes_the_owners_included() {
        let carried = Grants::of_acl(
            Some(&owner()),
            &[
                user(OWNER, Permission::FullControl),
                group(ALL_USERS, Permission::Read),
                user("other", Permission::Read),
                user("other", Permission::ReadAcp),
                user("auditor", Permission::WriteAcp),
            ],
        )
        .expect("carried");
        assert_eq!(
            carried.grants,
            Some(Grants {
                read: Some(format!("uri=\"{ALL_USERS}\", id=\"other\"")),
                read_acp: Some("id=\"other\"".into()),
                write_acp: Some("id=\"auditor\"".into()),
                full_control: Some(format!("id=\"{OWNER}\"")),
            })
        );
    }

    #[test]
    fn an_acl_without_the_owner_is_kept_as_it_is() {
        // The owner removed their own grant and gave READ to a group: the rewrite must
        // not add the owner's FULL_CONTROL back.
        let carried =
            Grants::of_acl(Some(&owner()), &[group(ALL_USERS, Permission::Read)]).expect("carried");
        assert_eq!(
            carried.grants,
            Some(Grants {
                read: Some(format!("uri=\"{ALL_USERS}\"")),
                ..Grants::default()
            })
        );
        // Another account's FULL_CONTROL alone is no default either.
        let other =
            Grants::of_acl(Some(&owner()), &[user("x", Permission::FullControl)]).expect("carried");
        assert_eq!(
            other.grants.and_then(|g| g.full_control),
            Some("id=\"x\"".into())
        );
    }

    #[test]
    fn duplicates_are_sent_once_and_write_is_left_out() {
        let carried = Grants::of_acl(
            Some(&owner()),
            &[
                user(OWNER, Permission::FullControl),
                group(ALL_USERS, Permission::Read),
                group(ALL_USERS, Permission::Read),
                user("x", Permission::Write),
            ],
        )
        .expect("carried");
        let grants = carried.grants.expect("grants");
        assert_eq!(grants.read, Some(format!("uri=\"{ALL_USERS}\"")));
        assert_eq!(carried.left_out, ["id=\"x\" WRITE"]);
        // The owner's FULL_CONTROL and a WRITE grant: what headers can carry is the
        // default, so nothing is sent.
        let write_only = Grants::of_acl(
            Some(&owner()),
            &[
                user(OWNER, Permission::FullControl),
                user("x", Permission::Write),
            ],
        )
        .expect("carried");
        assert_eq!(write_only.grants, None);
    }

    #[test]
    fn grants_the_headers_cannot_express_are_refused() {
        let no_id = Grant::builder()
            .grantee(
                Grantee::builder()
                    .r#type(Type::CanonicalUser)
                    .build()
                    .expect("grantee"),
            )
            .permission(Permission::Read)
            .build();
        let error = Grants::of_acl(Some(&owner()), &[no_id]).expect_err("refused");
        assert!(error.contains("without its id"), "{error}");
        let email = Grant::builder()
            .grantee(
                Grantee::builder()
                    .r#type(Type::AmazonCustomerByEmail)
                    .email_address("a@example.com")
                    .build()
                    .expect("grantee"),
            )
            .permission(Permission::Read)
            .build();
        let carried = Grants::of_acl(Some(&owner()), &[email]).expect("carried");
        assert_eq!(
            carried.grants.and_then(|g| g.read),
            Some("emailAddress=\"a@example.com\"".into())
        );
    }
}
