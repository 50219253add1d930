//! Writing a generated section into docs/benchmarks.md between two markers,
//! leaving the rest of the file (other benchmarks' sections) alone.

use anyhow::Context;
use std::path::Path;

/// Replaces the text between `start` and `end` (markers included) in `path`
/// with `section`, which must itself begin with `start` and end with `end`.
/// Creates the file with a heading, or appends the section, if needed.
pub fn replace_section(path: &Path, start: &str, end: &str, section: &str) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# Benchmarks\n\nNumbers measured on this project's machines, each section written by the \
             benchmark named in it.\n\n"
                .to_owned()
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let updated = match (text.find(start), text.find(end)) {
        (Some(s), Some(e)) if e > s => {
            let stop = e + end.len();
            let stop = if text[stop..].starts_with('\n') {
                stop + 1
            } else {
                stop
            };
            format!("{}{section}{}", &text[..s], &text[stop..])
        }
        _ => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{section}")
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// The opening of a benchmark's section: its start marker, heading, how and
/// when it was measured, the machine, and the head of the results table.
pub fn section_head(start: &str, heading: &str, measured: &str, machine: &str) -> String {
    format!(
        "{start}\n## {heading}\n\n{measured}\n\nMachine: {machine}\n\n| measurement | result | target |\n|---|---:|---|\n"
    )
}

/// Prints a benchmark's section and, if asked, writes it into `write`
/// between its markers.
pub fn publish(section: &str, write: Option<&Path>, start: &str, end: &str) -> anyhow::Result<()> {
    println!("\n{section}");
    match write {
        Some(path) => replace_section(path, start, end, section),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_only_its_own_section() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.md");
        std::fs::write(&p, "# B\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\n<!-- b:start -->\nold b\n<!-- b:end -->\n").unwrap();
        super::replace_section(
            &p,
            "<!-- a:start -->",
            "<!-- a:end -->",
            "<!-- a:start -->\nnew a\n<!-- a:end -->\n",
        )
        .unwrap();
        let t = std::fs::read_to_string(&p).unwrap();
        assert!(t.contains("new a") && !t.contains("old a") && t.contains("old b"));
        super::replace_section(
            &p,
            "<!-- c:start -->",
            "<!-- c:end -->",
            "<!-- c:start -->\nc\n<!-- c:end -->\n",
        )
        .unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .ends_with("<!-- c:end -->\n")
        );
    }

    #[test]
    fn a_section_head_is_marker_heading_how_machine_and_table_head() {
        assert_eq!(
            super::section_head("<!-- x:start -->", "X", "Measured today.", "a box."),
            "<!-- x:start -->\n## X\n\nMeasured today.\n\nMachine: a box.\n\n| measurement | result | target |\n|---|---:|---|\n"
        );
    }
}
