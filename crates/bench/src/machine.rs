//! The machine a benchmark ran on, for the record beside its numbers.

/// The machine the numbers were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `uname -sr`.
    pub kernel: String,
    /// Cores available to this process (as `nproc` counts them).
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `MemTotal` from /proc/meminfo, in GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// One line for a report: "kernel · N cores · CPU · X GiB RAM".
    pub fn describe(&self) -> String {
        format!(
            "{} · {} cores · {} · {:.1} GiB RAM",
            self.kernel, self.cores, self.cpu, self.memory_gib
        )
    }

    /// Describes this machine.
    pub fn detect() -> Machine {
        let kernel = std::process::Command::new("uname")
            .arg("-sr")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        Machine {
            kernel,
            cores,
            cpu,
            memory_gib,
        }
    }
}

/// The value of the first `name : value` line.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_owned())
}
