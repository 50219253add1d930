//! Helpers shared by the benchmark binaries (`server-bench`, `engine-bench`):
//! process memory readings, the machine description, and writing results into
//! docs/benchmarks.md.

pub mod cpu;
pub mod machine;
pub mod markdown;
pub mod process;
