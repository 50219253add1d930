//! How busy the machine was with other work while we measured: all CPU time
//! (/proc/stat) minus ours and our server's (/proc/PID/stat). On a 2-core
//! machine shared with builds, that is the first thing to check when a number
//! looks off.

use std::time::Instant;

/// CPU time counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    busy: u64,
    ours: u64,
}

impl CpuSample {
    /// Reads the counters; `pids` are processes of ours besides this one
    /// (a server running as a child).
    pub fn now(pids: &[u32]) -> CpuSample {
        let busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let line = s.lines().next()?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal …
                Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
            })
            .unwrap_or(0);
        let ours = std::iter::once(std::process::id())
            .chain(pids.iter().copied())
            .map(process_ticks)
            .sum();
        CpuSample {
            at: Instant::now(),
            busy,
            ours,
        }
    }

    /// Average cores other processes kept busy between `self` and `later`.
    pub fn others_since(&self, later: &CpuSample) -> f64 {
        let secs = later.at.duration_since(self.at).as_secs_f64();
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let busy = later.busy.saturating_sub(self.busy);
        let ours = later.ours.saturating_sub(self.ours);
        if secs <= 0.0 {
            return 0.0;
        }
        (busy.saturating_sub(ours) as f64 / hz / secs).max(0.0)
    }
}

/// CPU time a process (all its threads) has used, in milliseconds.
pub fn process_cpu_ms(pid: u32) -> f64 {
    let (user, sys) = process_cpu_split_ms(pid);
    user + sys
}

/// CPU time a process has used in user space and in the kernel, in milliseconds.
pub fn process_cpu_split_ms(pid: u32) -> (f64, f64) {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (user, sys) = process_times(pid);
    (user as f64 * 1000.0 / hz, sys as f64 * 1000.0 / hz)
}

/// Waits until process `pid` uses less than 5% of a core over 250 ms, or
/// `max` has passed (a server still busy closing thousands of sockets would
/// skew what is measured next).
pub async fn wait_idle(pid: u32, max: std::time::Duration) {
    let deadline = Instant::now() + max;
    let mut last = process_cpu_ms(pid);
    while Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = process_cpu_ms(pid);
        if now - last < 12.5 {
            return;
        }
        last = now;
    }
}

/// utime + stime of a process (its own threads), in clock ticks.
fn process_ticks(pid: u32) -> u64 {
    let (user, sys) = process_times(pid);
    user + sys
}

/// utime and stime of a process, in clock ticks.
fn process_times(pid: u32) -> (u64, u64) {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
            Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
        })
        .unwrap_or((0, 0))
}
