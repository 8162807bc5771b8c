//! Reads LHÉO documents with `lheo::reader` and counts formations and sessions: a
//! throughput and memory probe for the import-lheo reader.
//!
//! `cargo run --release --example scan_lheo -- FILE...`

use std::path::Path;
use std::time::Instant;

use lheo_feed::ingest::lines;
use lheo_feed::lheo::reader::{Element, LheoReader, Limits};

fn count_sessions(e: &Element) -> u64 {
    let own = u64::from(e.name == "session");
    own + e.children.iter().map(count_sessions).sum::<u64>()
}

fn main() -> std::process::ExitCode {
    for file in std::env::args().skip(1) {
        let start = Instant::now();
        // Plain or gzip, by magic bytes, as `import-lheo` opens it.
        let input = match lines::open(Path::new(&file)) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("{file}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let mut reader = match LheoReader::new(input, Limits::default()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{file}:{e}");
                return std::process::ExitCode::from(2);
            }
        };
        let (mut formations, mut sessions) = (0u64, 0u64);
        loop {
            match reader.next_formation() {
                Ok(Some(f)) => {
                    formations += 1;
                    sessions += count_sessions(&f);
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("{file}:{e}");
                    return std::process::ExitCode::from(2);
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{file}: {:?}, {formations} formations, {sessions} sessions in {secs:.2} s ({:.0} sessions/s)",
            reader.version(),
            sessions as f64 / secs
        );
    }
    std::process::ExitCode::SUCCESS
}
