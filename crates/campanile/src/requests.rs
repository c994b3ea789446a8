//! Requests by S3 operation. Every request the SDK transmits from this process (each
//! attempt, retries included) is counted under its operation's name (`GetObject`,
//! `UploadPartCopy`, …) by an interceptor every S3 client carries ([`CountRequests`]).
//! A task reports the counts as Hadoop counters of the group [`GROUP`] when it ends
//! ([`write_counters`]), so that the runners sum them like any counter and rsync's
//! summary gives the run's requests by operation. `Requests` cannot be a bucket name
//! (capital letters), so it never mixes with the tasks' bucket groups. The requests of
//! objectcopy's probe of what the destination checks (at most 4 per copy task; see
//! [`crate::task::objectcopy::server_checks`]) count under [`PROBE`], not under their
//! operations, whose counts thus stay those of the copy itself (what `--dry-run`
//! estimates).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The counter group of the requests.
pub const GROUP: &str = "Requests";

/// The name the probe's requests count under, whatever their operation.
pub const PROBE: &str = "ServerChecksProbe";

/// Requests transmitted by this process, by operation.
static COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Counts each request an S3 client transmits, by operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountRequests;

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let path = context
            .request()
            .uri()
            .split('?')
            .next()
            .unwrap_or_default();
        let operation = if path.ends_with(crate::task::objectcopy::server_checks::PROBE_NAME) {
            PROBE
        } else {
            cfg.load::<Metadata>()
                .map_or("Unknown", |metadata| metadata.name())
        };
        add(operation, 1);
        Ok(())
    }
}

fn add(operation: &str, count: u64) {
    // A poisoned lock only means another thread panicked while counting: keep counting.
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    *counts.entry(operation.to_string()).or_insert(0) += count;
}

/// The requests counted so far, by operation.
pub fn counted() -> BTreeMap<String, u64> {
    COUNTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Writes the requests counted so far as reporter counter lines
/// (`reporter:counter:Requests,<operation>,<n>`), and forgets them, so that a second
/// call adds nothing twice.
pub fn write_counters<W: Write>(out: &mut W) -> std::io::Result<()> {
    let counts = std::mem::take(&mut *COUNTS.lock().unwrap_or_else(|e| e.into_inner()));
    for (operation, count) in counts {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        out.write_all(crate::reporter::format_counter(GROUP, &operation, count).as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_once_as_reporter_lines() {
        // Names no SDK operation has: other tests' clients may count at the same time.
        add("TestOnlyCopy", 2);
        add("TestOnlyCreate", 1);
        add("TestOnlyCopy", 1);
        assert!(counted()["TestOnlyCopy"] >= 3);
        let mut out = Vec::new();
        write_counters(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("reporter:counter:Requests,TestOnlyCopy,3\n"),
            "{text}"
        );
        assert!(
            text.contains("reporter:counter:Requests,TestOnlyCreate,1\n"),
            "{text}"
        );
        let mut again = Vec::new();
        write_counters(&mut again).expect("write");
        assert!(
            !String::from_utf8(again).expect("utf8").contains("TestOnly"),
            "written once"
        );
    }
}
