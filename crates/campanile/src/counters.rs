//! A job's counters: `(group, counter) -> value`, as the tasks report them
//! (`reporter:counter:` lines) and Hadoop sums them. The local runner sums them
//! itself; on a Hadoop cluster and on EMR they are read from the job's log
//! ([`CounterParser`]). Printed as one table, or as JSON with `--json`.

use std::collections::BTreeMap;
use std::io::Write;

/// Counters of a step: (group, counter) -> value.
pub type Counters = BTreeMap<(String, String), i64>;

/// Reads the counters a Hadoop job prints when it ends (`mapreduce.Job`: a line
/// ending in `Counters: N`, then a group name per line indented by one tab and
/// `name=value` per line indented by two).
#[derive(Debug, Default)]
pub struct CounterParser {
    in_counters: bool,
    group: Option<String>,
}

impl CounterParser {
    /// Takes one log line, adding the counters it names.
    pub fn feed(&mut self, line: &str, counters: &mut Counters) {
        if !self.in_counters {
            let Some((_, count)) = line.rsplit_once("Counters: ") else {
                return;
            };
            if count.trim().parse::<u64>().is_ok() {
                self.in_counters = true;
                self.group = None;
            }
            return;
        }
        if let Some(entry) = line.strip_prefix("\t\t") {
            if let (Some(group), Some((counter, value))) = (&self.group, entry.rsplit_once('='))
                && let Ok(value) = value.trim().parse::<i64>()
            {
                *counters
                    .entry((group.clone(), counter.trim().to_string()))
                    .or_insert(0) += value;
            }
        } else if let Some(group) = line.strip_prefix('\t') {
            self.group = Some(group.trim().to_string());
        } else {
            self.in_counters = false;
        }
    }
}

/// Hadoop's own group of job counters, among those a job's log prints.
pub const JOB_COUNTERS: &str = "Job Counters";

/// The task attempts that failed in a job read from its log: Hadoop counts each
/// failed attempt of a map or reduce task in [`JOB_COUNTERS`] (`Failed map tasks`,
/// `Failed reduce tasks`; a killed attempt is counted apart and is not a failure), the
/// number the local runner keeps in `StepReport::failed_attempts`, so that a cluster
/// run's summary counts its retried attempts too.
pub fn failed_attempts(counters: &Counters) -> usize {
    ["Failed map tasks", "Failed reduce tasks"]
        .iter()
        .filter_map(|name| counters.get(&(JOB_COUNTERS.to_string(), name.to_string())))
        .map(|n| usize::try_from(*n).unwrap_or(0))
        .sum()
}

/// Writes the counters as a table, `group.counter` and the value, one per line.
pub fn write_table<W: Write>(out: &mut W, counters: &Counters) -> std::io::Result<()> {
    let width = counters
        .keys()
        .map(|(g, c)| g.len() + c.len() + 1)
        .max()
        .unwrap_or(0);
    for ((group, counter), value) in counters {
        writeln!(
            out,
            "  {:<width$} {value:>14}",
            format!("{group}.{counter}")
        )?;
    }
    Ok(())
}

/// The counters of a report as a JSON object `{"group": {"counter": value}}`.
pub fn to_json(counters: &Counters) -> serde_json::Value {
    let mut groups = serde_json::Map::new();
    for ((group, counter), value) in counters {
        let entry = groups
            .entry(group.clone())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let serde_json::Value::Object(map) = entry {
            map.insert(counter.clone(), serde_json::Value::from(*value));
        }
    }
    serde_json::Value::Object(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_job_log() {
        let log = "2026-11-30 07:01:02,345 INFO mapreduce.Job:  map 100% reduce 100%\n\
                   2026-11-30 07:01:02,400 INFO mapreduce.Job: Counters: 3\n\
                   \tFile System Counters\n\
                   \t\tFILE: Number of bytes read=120\n\
                   \tsrcbucket\n\
                   \t\tBytes=55045264\n\
                   \t\tObjects=17\n\
                   2026-11-30 07:01:02,401 INFO streaming.StreamJob: Output directory: /1/x.list\n\
                   \tnot a counter\n";
        let mut counters = Counters::new();
        let mut parser = CounterParser::default();
        for line in log.lines() {
            parser.feed(line, &mut counters);
        }
        let key = |g: &str, c: &str| (g.to_string(), c.to_string());
        assert_eq!(counters.len(), 3);
        assert_eq!(counters[&key("srcbucket", "Bytes")], 55_045_264);
        assert_eq!(counters[&key("srcbucket", "Objects")], 17);
        assert_eq!(
            counters[&key("File System Counters", "FILE: Number of bytes read")],
            120
        );
    }

    #[test]
    fn failed_attempts_are_hadoops_failed_map_and_reduce_tasks() {
        let log = "2026-11-30 07:01:02,400 INFO mapreduce.Job: Counters: 4\n\
                   \tJob Counters \n\
                   \t\tFailed map tasks=3\n\
                   \t\tFailed reduce tasks=1\n\
                   \t\tKilled map tasks=2\n\
                   \t\tLaunched map tasks=6\n";
        let mut counters = Counters::new();
        let mut parser = CounterParser::default();
        for line in log.lines() {
            parser.feed(line, &mut counters);
        }
        assert_eq!(failed_attempts(&counters), 4);
        assert_eq!(failed_attempts(&Counters::new()), 0);
    }

    #[test]
    fn tables_align_and_json_groups() {
        let mut counters = Counters::new();
        counters.insert(("srcbucket".into(), "Bytes".into()), 10240);
        counters.insert(("campanile".into(), "Objects".into()), 3);
        let mut table = Vec::new();
        write_table(&mut table, &counters).expect("write");
        assert_eq!(
            String::from_utf8(table).expect("utf8"),
            "  campanile.Objects              3\n  srcbucket.Bytes            10240\n"
        );
        assert_eq!(
            to_json(&counters).to_string(),
            r#"{"campanile":{"Objects":3},"srcbucket":{"Bytes":10240}}"#
        );
    }
}
