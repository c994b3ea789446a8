//! The binaries for EMR nodes (scripts/build-emr, run by scripts/test before the
//! tests): every one needs at most glibc 2.17 (Amazon Linux 2 has 2.26, AL2023 2.34),
//! is stripped, and starts.

use std::path::PathBuf;
use std::process::Command;

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist/bin/x86_64")
}

/// (major, minor) of every `GLIBC_x.y` version a binary's dynamic symbols need.
fn glibc_versions(binary: &PathBuf) -> Vec<(u32, u32)> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .expect("objdump (binutils)");
    assert!(output.status.success(), "objdump {}", binary.display());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut versions: Vec<(u32, u32)> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

#[test]
fn emr_binaries_need_at_most_glibc_2_17_and_start() {
    for task in campanile::stage::TASKS {
        let binary = dist().join(task);
        assert!(
            binary.is_file(),
            "{} is missing: run scripts/build-emr (scripts/test does)",
            binary.display()
        );
        let versions = glibc_versions(&binary);
        assert!(
            !versions.is_empty(),
            "{task}: no glibc symbol versions found"
        );
        let newest = versions[versions.len() - 1];
        assert!(
            newest <= (2, 17),
            "{task} needs GLIBC_{}.{}",
            newest.0,
            newest.1
        );
        let symbols = Command::new("objdump")
            .arg("-h")
            .arg(&binary)
            .output()
            .expect("objdump");
        assert!(
            !String::from_utf8_lossy(&symbols.stdout).contains(".debug_info"),
            "{task} is not stripped"
        );
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .expect("start");
        assert!(version.status.success(), "{task} --version");
    }
}
