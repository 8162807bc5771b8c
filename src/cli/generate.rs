//! `generate`: deterministic synthetic FASD data for load tests (needs no store).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::Failure;

/// `lheo-feed generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// How many sessions.
    #[arg(long)]
    sessions: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file; gzip when it ends in .gz.
    #[arg(long)]
    out: PathBuf,
}

pub fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    let out = &args.out;
    let (sessions, seed) = (args.sessions, args.seed);
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    let buffered = std::io::BufWriter::with_capacity(1 << 20, file);
    let counts = if out.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(buffered, flate2::Compression::fast());
        let c = lheo_feed::generate::generate(&mut gz, sessions, seed);
        c.and_then(|c| gz.finish().and_then(|mut w| w.flush()).map(|_| c))
    } else {
        lheo_feed::generate::generate(buffered, sessions, seed)
    }
    .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    outln!(
        "generated {} organismes, {} offres, {} sessions (seed {seed}) in {}",
        counts.0,
        counts.1,
        counts.2,
        out.display()
    );
    Ok(())
}
