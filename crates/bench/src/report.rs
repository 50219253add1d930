//! The results as a Markdown section, and writing it into docs/benchmarks.md.

use crate::fanout::{FanoutResult, Latency, percentile};
use crate::throughput::ThroughputRow;
pub use frontdesk_bench::machine::Machine;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Marks the start of the generated section in docs/benchmarks.md.
pub const START_MARK: &str = "<!-- server-bench:start -->";
/// Marks its end.
pub const END_MARK: &str = "<!-- server-bench:end -->";

/// Target: server memory per held connection, in bytes (40 KiB).
pub const TARGET_BYTES_PER_CONN: f64 = 40.0 * 1024.0;
/// Target: p99 broadcast latency with 1,000 clients.
pub const TARGET_P99: Duration = Duration::from_millis(20);
/// Target: committed events per second.
pub const TARGET_EVENTS_PER_SEC: f64 = 2000.0;

/// Everything one benchmark run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// When it ran (UTC).
    pub date: String,
    /// Where it ran.
    pub machine: Machine,
    /// clinic-server as a child process.
    pub rust: Option<FanoutResult>,
    /// The Node reference server.
    pub node: Option<FanoutResult>,
    /// Column title of the Node server (Node and socket.io versions).
    pub node_label: String,
    /// In-process clinic-server, committed events per second.
    pub throughput: Vec<ThroughputRow>,
    /// The command line that produced it.
    pub command: String,
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

fn latency_cell(l: &Latency) -> String {
    let mut s = format!(
        "{} / {} / {} / {} ms",
        ms(l.pct(50.0)),
        ms(l.pct(95.0)),
        ms(l.pct(99.0)),
        ms(l.pct(100.0))
    );
    if l.missed > 0 {
        let _ = write!(s, " ({} receipts missing)", l.missed);
    }
    s
}

fn cpu_cell(l: &Latency) -> String {
    format!(
        "{:.1} ms ({:.1}) / {:.1} ms",
        l.server_cpu_ms, l.server_sys_ms, l.client_cpu_ms
    )
}

impl Report {
    /// The Markdown section, between (and including) the markers.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "{START_MARK}");
        let _ = writeln!(md, "## Server benchmark (`server-bench`)\n");
        let _ = writeln!(
            md,
            "Measured {} with `{}` ({} build; `bench/run-server-bench.sh` builds and runs it).\n",
            self.date,
            self.command,
            if cfg!(debug_assertions) {
                "**debug**"
            } else {
                "release"
            }
        );
        let _ = writeln!(
            md,
            "Machine: {} · {} cores (`nproc`) · {} · {:.1} GiB RAM. The servers and the benchmark's clients share these cores.\n",
            m.kernel, m.cores, m.cpu, m.memory_gib
        );
        self.fanout_table(&mut md);
        self.throughput_table(&mut md);
        self.method(&mut md);
        let _ = writeln!(md, "{END_MARK}");
        md
    }

    fn fanout_table(&self, md: &mut String) {
        if self.rust.is_none() && self.node.is_none() {
            return;
        }
        let cols: Vec<&FanoutResult> = [self.rust.as_ref(), self.node.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        let _ = writeln!(md, "### Connections held and broadcast latency\n");
        let mut head = String::from("| |");
        let mut rule = String::from("|---|");
        if self.rust.is_some() {
            head.push_str(" clinic-server (Rust) |");
            rule.push_str("---:|");
        }
        if self.node.is_some() {
            let _ = write!(head, " {} |", self.node_label);
            rule.push_str("---:|");
        }
        head.push_str(" target (clinic-server) |");
        rule.push_str("---|");
        let _ = writeln!(md, "{head}\n{rule}");
        let row = |md: &mut String, name: &str, f: &dyn Fn(&FanoutResult) -> String, t: String| {
            let _ = write!(md, "| {name} |");
            for c in &cols {
                let _ = write!(md, " {} |", f(c));
            }
            let _ = writeln!(md, " {t} |");
        };
        let rust = self.rust.as_ref();
        row(
            md,
            "connections requested",
            &|r| r.requested.to_string(),
            String::new(),
        );
        row(
            md,
            "established / failed",
            &|r| format!("{} / {}", r.established, r.failed),
            String::new(),
        );
        row(
            md,
            "still open after settling",
            &|r| r.still_open.to_string(),
            String::new(),
        );
        row(
            md,
            "time to establish",
            &|r| {
                format!(
                    "{:.1} s ({:.0}/s)",
                    r.connect_time.as_secs_f64(),
                    r.established as f64 / r.connect_time.as_secs_f64().max(1e-9)
                )
            },
            String::new(),
        );
        row(
            md,
            "server RSS before → after",
            &|r| format!("{} → {}", mib(r.before.rss_kib), mib(r.after.rss_kib)),
            String::new(),
        );
        row(
            md,
            "**server memory per connection (RSS)**",
            &|r| format!("**{}**", kib(r.rss_per_conn())),
            rust.map_or(String::new(), |r| {
                format!(
                    "≤ 40 KiB: {}",
                    verdict(r.rss_per_conn() <= TARGET_BYTES_PER_CONN)
                )
            }),
        );
        row(
            md,
            "server memory per connection (PSS)",
            &|r| kib(r.pss_per_conn()),
            String::new(),
        );
        if cols.iter().any(|c| c.after_broadcasts.is_some()) {
            row(
                md,
                "server memory per connection (RSS) after the broadcasts to all",
                &|r| r.rss_per_conn_after_broadcasts().map_or("–".into(), kib),
                String::new(),
            );
        }
        if cols.iter().any(|c| c.latency.events > 0) {
            let clients = cols[0].latency.clients;
            let events = cols[0].latency.events;
            row(
                md,
                &format!(
                    "**broadcast latency, {clients} clients × {events} events, p50 / p95 / p99 / max**"
                ),
                &|r| latency_cell(&r.latency),
                rust.map_or(String::new(), |r| {
                    format!(
                        "p99 ≤ 20 ms: {}",
                        verdict(r.latency.missed == 0 && r.latency.pct(99.0) <= TARGET_P99)
                    )
                }),
            );
            if let Some(all) = cols[0].latency_all.as_ref() {
                row(
                    md,
                    &format!(
                        "broadcast latency, {} clients × {} events, p50 / p95 / p99 / max",
                        all.clients, all.events
                    ),
                    &|r| r.latency_all.as_ref().map_or("–".into(), latency_cell),
                    "(informational)".into(),
                );
            }
            row(
                md,
                &format!("triggering request round trip, p50 / p99 ({clients} clients)"),
                &|r| {
                    format!(
                        "{} / {} ms",
                        ms(percentile(&r.latency.trigger_us, 50.0)),
                        ms(percentile(&r.latency.trigger_us, 99.0))
                    )
                },
                String::new(),
            );
            row(
                md,
                &format!(
                    "CPU per event ({clients} clients): server (kernel part) / benchmark clients"
                ),
                &|r| cpu_cell(&r.latency),
                String::new(),
            );
            if let Some(all) = cols[0].latency_all.as_ref() {
                row(
                    md,
                    &format!(
                        "CPU per event ({} clients): server (kernel part) / benchmark clients",
                        all.clients
                    ),
                    &|r| r.latency_all.as_ref().map_or("–".into(), cpu_cell),
                    String::new(),
                );
            }
            row(
                md,
                "event frame size",
                &|r| format!("{} B", r.latency.frame_bytes),
                String::new(),
            );
        }
        row(
            md,
            "other processes' CPU load meanwhile",
            &|r| format!("{:.2} cores", r.other_cores),
            String::new(),
        );
        let errors: Vec<String> = cols
            .iter()
            .zip(["clinic-server", "Node"])
            .filter(|(c, _)| !c.errors.is_empty())
            .map(|(c, n)| format!("{n}: {:?}", c.errors))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "\nConnection failures: {}", errors.join("; "));
        }
        let _ = writeln!(md);
    }

    fn throughput_table(&self, md: &mut String) {
        if self.throughput.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "### Committed events per second (clinic-server in-process)\n"
        );
        let _ = writeln!(
            md,
            "| database | writers | events | seconds | **events/s** | failed requests | listeners with every event | other processes' CPU load | target |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for r in &self.throughput {
            let missing = if r.missing > 0 {
                format!(" ({} receipts missing)", r.missing)
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | **{:.0}** | {} | {} / {}{} | {:.2} cores | ≥ 2,000/s: {} |",
                r.database,
                r.writers,
                r.events,
                r.elapsed.as_secs_f64(),
                r.per_second(),
                r.failed_requests,
                r.complete_listeners,
                r.listeners,
                missing,
                r.other_cores,
                verdict(r.per_second() >= TARGET_EVENTS_PER_SEC)
            );
        }
        let _ = writeln!(md);
    }

    fn method(&self, md: &mut String) {
        let listeners = self.throughput.first().map_or(0, |r| r.listeners);
        let _ = writeln!(
            md,
            "### How it is measured

- **Connections held**: clinic-server runs as a child process
  (`clinic-server --listen 127.0.0.1:0 --db <temp> --demo`, default settings), the Node
  reference as `node --expose-gc bench/node/fanout-server.mjs`. One login as `reception`;
  every connection is a Socket.IO v5 WebSocket (`/socket.io/?EIO=4&transport=websocket`)
  that CONNECTs with that access token, opened from loopback sources 127.0.0.2… and held by
  one tokio task that answers pings. Memory per connection is the server's growth in
  `VmRSS` (/proc/PID/status) and `Pss` (/proc/PID/smaps_rollup) from before the first
  connection to 2 s after the last, divided by the connections established, and again after
  the broadcasts to all of them (buffers that grew to carry an event stay allocated). Node
  gets a full GC before each reading. Kernel socket buffers are in neither process's RSS.
- **Broadcast latency**: one event at a time, each after the previous one reached every
  client (plus 25 ms), after 3 warm-up events. Latency runs from just before the HTTP
  request that causes the event to the moment each client reads the frame off its socket.
  For clinic-server the request is `PATCH /api/appointments/{{id}}` (auth, a SQLite
  transaction appending the event, then `appointment.updated` to the tenant room); for
  Node it is `POST /emit`, which only emits (no auth, no storage), with the payload padded
  to clinic-server's frame size. Both servers put every socket in a tenant room and a user
  room and emit to the tenant room. The all-connections row is measured with every held
  connection open; the smaller row after closing all but that many of them.
  \"CPU per event\" is the CPU time (utime + stime) the server process and the benchmark
  process used over the measured events, divided by their number; as they share the cores,
  the last client cannot get an event much sooner than (server + clients) / cores.
- **Committed events per second**: clinic-server started in-process
  (`clinic_server::start_with_db`, `ServerConfig::for_tests()` with the per-user mutation
  limit raised from 50/s to 1,000,000/s, since one user does all the writing, and
  `socket_buffer` 16,384), demo tenant seeded, {listeners} sockets listening (the \"listeners\"
  column); the database file lives in the temporary folder ($TMPDIR or /tmp). Writers post
  `POST /api/threads/{{id}}/messages` (with an `Idempotency-Key`, as the desktop client
  does) back to back for the run's duration; events = growth of `latest_seq`
  (`/api/events`). Each event goes in full to the thread's members and redacted to the rest
  of the tenant. \"Listeners with every event\" checks that the fan-out kept up.
- **Other processes' CPU load**: busy time in /proc/stat minus that of the benchmark and
  the server under test, in cores. Well above 0 means other work (a build, say) competed
  for the cores and the numbers are pessimistic."
        );
    }

    /// Replaces the marked section of `path` (creating the file, or
    /// appending the section, if needed).
    pub fn write_into(&self, path: &Path) -> anyhow::Result<()> {
        frontdesk_bench::markdown::replace_section(path, START_MARK, END_MARK, &self.markdown())
    }
}
