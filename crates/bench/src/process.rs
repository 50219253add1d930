//! Servers under test as child processes, and reading their memory from /proc.

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server running as a child of this process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Its process id, for /proc.
    pub pid: u32,
    /// Where it listens (loopback).
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `cmd` with stderr to `log`, and waits (up to a minute) for its
    /// first stdout line, which must contain `listening on http://<addr>`.
    pub async fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<ServerProcess> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let pid = child.id().context("child has no pid")?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("no output within 60 s")?
            .context("reading its output")?;
        let Some(first) = first else {
            let status = child.wait().await?;
            bail!(
                "{cmd:?} exited ({status}) before saying where it listens; see {}",
                log.display()
            );
        };
        let addr = first
            .split_once("listening on http://")
            .map(|(_, a)| a.trim())
            .with_context(|| format!("unexpected first line {first:?}"))?
            .parse()
            .with_context(|| format!("address in {first:?}"))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess { child, pid, addr })
    }

    /// Its resident memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid)
    }

    /// Asks it to stop (SIGINT, as Ctrl-C) and kills it if it has not within 10 s.
    pub async fn stop(mut self) {
        let pid = libc::pid_t::try_from(self.pid).unwrap_or(0);
        if pid > 0 {
            // SAFETY: kill(2) with our own child's pid has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A process's memory, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident set size (`VmRSS` of /proc/PID/status).
    pub rss_kib: u64,
    /// Proportional set size (`Pss` of /proc/PID/smaps_rollup): resident
    /// memory with shared pages divided among the processes sharing them.
    pub pss_kib: u64,
}

impl Memory {
    /// Reads the memory of process `pid`.
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))?;
        Ok(Memory {
            rss_kib: kib_field(&status, "VmRSS:").context("no VmRSS")?,
            pss_kib: kib_field(&rollup, "Pss:").context("no Pss")?,
        })
    }
}

/// The number of a `Name:   1234 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Raises this process's open-file limit to at least `want` (children inherit
/// it). Raises the hard limit too where allowed; otherwise stops at it.
/// Returns the soft limit in force afterwards.
pub fn raise_nofile(want: libc::rlim_t) -> anyhow::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return Ok(lim.rlim_cur);
        }
        if lim.rlim_max < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok(want);
            }
        }
        lim.rlim_cur = lim.rlim_max.min(want);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
        Ok(lim.rlim_cur)
    }
}
