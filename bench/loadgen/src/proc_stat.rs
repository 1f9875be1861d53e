//! Sampling of a process's CPU time and memory from `/proc` (Linux only).

use serde_json::{json, Value};

/// One sample of a process's resource usage.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// utime + stime in seconds.
    pub cpu_secs: f64,
    /// Resident set size (VmRSS) in KiB.
    pub rss_kb: u64,
    /// Peak resident set size (VmHWM) in KiB.
    pub hwm_kb: u64,
}

impl ProcSample {
    /// JSON form.
    pub fn to_json(self) -> Value {
        json!({"cpu_secs": self.cpu_secs, "rss_kb": self.rss_kb, "hwm_kb": self.hwm_kb})
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Samples `/proc/<pid>` (`pid` = `None` means this process).
pub fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let base = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_secs: (utime + stime) as f64 / clock_ticks(),
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
    })
}
