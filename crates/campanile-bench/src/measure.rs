//! Measuring a command the way the peer benchmark reports it: wall time, CPU seconds
//! of the whole process tree (the child and every descendant it waited for, from
//! wait4(2)), the peak of the tree's summed resident memory (sampled from /proc every
//! 20 ms: a multi-process tool is charged for all of its processes at once; a peak
//! shorter than that can be missed), and the
//! CPU seconds of another process (the S3 server) over the same time.

#![allow(unsafe_code)] // wait4(2): the rusage of a finished child and its descendants

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The median of `values` with their minimum and maximum (`(median, min, max)`; the
/// upper middle value of an even count), zeros when there are none.
pub fn median(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.as_slice() {
        [] => (0.0, 0.0, 0.0),
        all => (all[all.len() / 2], all[0], all[all.len() - 1]),
    }
}

/// What one run of a command cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measurement {
    /// Exit status 0.
    pub success: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// User + system CPU seconds of the command and its descendants.
    pub cpu_seconds: f64,
    /// Peak of the summed RSS of the command's process tree, in KiB.
    pub peak_rss_kib: u64,
    /// CPU seconds the watched server process used meanwhile.
    pub server_cpu_seconds: f64,
}

/// The fields of /proc/<pid>/stat after the command name (which is in parentheses
/// and may hold spaces): index 0 is the state, 1 the parent pid, 11 and 12 the user
/// and system ticks, 21 the RSS in pages.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// User + system CPU seconds of `pid` so far (its own, from /proc/<pid>/stat).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let Some(fields) = stat_fields(pid) else {
        return 0.0;
    };
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks / hz
}

fn page_kib() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(bytes).unwrap_or(4096).max(1024) / 1024
}

/// Sum of the RSS (KiB) of `root` and all its descendants now.
fn tree_rss_kib(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut rss: HashMap<u32, u64> = HashMap::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if let (Some(ppid), Some(pages)) = (
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(21).and_then(|f| f.parse::<u64>().ok()),
        ) {
            parent.insert(pid, ppid);
            rss.insert(pid, pages * page_kib());
        }
    }
    rss.iter()
        .filter(|(pid, _)| {
            let mut at = **pid;
            for _ in 0..64 {
                if at == root {
                    return true;
                }
                match parent.get(&at) {
                    Some(p) if *p != 0 && *p != at => at = *p,
                    _ => return false,
                }
            }
            false
        })
        .map(|(_, kib)| *kib)
        .sum()
}

/// Runs `command` to the end and measures it; `server_pid` is the process whose CPU
/// time is charged to the server.
pub fn measure(mut command: Command, server_pid: Option<u32>) -> std::io::Result<Measurement> {
    let server_before = server_pid.map(process_cpu_seconds).unwrap_or(0.0);
    let started = Instant::now();
    let child = command.spawn()?;
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold; the Child is not waited on
    // again (it is forgotten below).
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    std::mem::forget(child);
    if waited < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let server_after = server_pid.map(process_cpu_seconds).unwrap_or(0.0);
    Ok(Measurement {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        seconds,
        cpu_seconds: cpu(usage.ru_utime) + cpu(usage.ru_stime),
        // Sampled only: wait4's ru_maxrss is no floor, as Linux carries the spawning
        // process's peak RSS over into the child at exec.
        peak_rss_kib: peak.load(Ordering::Relaxed),
        server_cpu_seconds: server_after - server_before,
    })
}

/// What one process (not its children) cost: its own peak resident memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessPeak {
    /// Exit status 0.
    pub success: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The process's own peak RSS (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

/// `VmHWM` (the peak resident set of the process's current program) from
/// /proc/<pid>/status, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `command` to the end and reports its own peak RSS: `VmHWM`, read every 5 ms
/// until it exits (the kernel keeps the high-water mark, so a sample misses only the
/// growth of the last 5 ms). Neither wait4's `ru_maxrss` (seeded with the spawning
/// process's RSS at exec) nor the tree's summed RSS (the tasks a runner starts) would
/// measure the process alone.
pub fn measure_peak(mut command: Command) -> std::io::Result<ProcessPeak> {
    let started = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(ProcessPeak {
        success: status.success(),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_kib: peak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_measured() {
        let mut command = Command::new("sh");
        command.args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]);
        let m = measure(command, Some(std::process::id())).expect("measure");
        assert!(m.success);
        assert!(m.seconds > 0.0);
        assert!(m.cpu_seconds > 0.0, "{m:?}");
        assert!(m.peak_rss_kib > 0, "{m:?}");
        let failing = measure(Command::new("false"), None).expect("measure");
        assert!(!failing.success);
    }

    #[test]
    fn a_process_peak_is_its_own() {
        // 64 MiB touched by the child itself: its peak, whatever the spawner's.
        let mut command = Command::new("python3");
        command.args([
            "-c",
            "import time; x = bytearray(64 << 20); time.sleep(0.05)",
        ]);
        let peak = measure_peak(command).expect("measure");
        assert!(peak.success);
        assert!(peak.peak_rss_kib > 64 * 1024, "{peak:?}");
        let small = measure_peak(Command::new("true")).expect("measure");
        assert!(small.peak_rss_kib < 16 * 1024, "{small:?}");
    }
}
