//! Trains the zstd dictionary that stored fragments and findings are compressed with
//! (`src/store/fragments.rs`), from a store that has exported the bundled fixtures:
//!
//! ```text
//! rm -rf /tmp/dict && mkdir /tmp/dict
//! lheo-feed --database-url sqlite:///tmp/dict/s.sqlite import fixtures/offres.jsonl
//! lheo-feed --database-url sqlite:///tmp/dict/s.sqlite export --today 2025-06-02 \
//!     --out /tmp/dict/out/lheo.xml
//! cargo run --release --example train_fragment_dictionary -- /tmp/dict/s.sqlite \
//!     src/store/fragments-NEW.zdict
//! ```
//!
//! A dictionary is never replaced: rows written with it must stay readable. A new one gets
//! a new file and an entry in `fragments.rs`'s list, beside the old ones. Prints what the
//! samples weigh in LZ4, zstd alone and zstd with the new dictionary.

use anyhow::{bail, Context, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

/// 32 KiB: the samples are some 400 KB; zstd's guide is a dictionary about a hundredth of
/// its samples, and a larger one learned nothing more from the fixtures.
const DICTIONARY_BYTES: usize = 32 << 10;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, out] = args.as_slice() else {
        bail!("usage: train_fragment_dictionary STORE.sqlite OUT.zdict");
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(store)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open {store}"))?;
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for query in [
        "SELECT fragment_compressed FROM published WHERE fragment_compressed IS NOT NULL",
        "SELECT findings_compressed FROM evaluations WHERE findings_compressed IS NOT NULL",
    ] {
        for row in sqlx::query(query).fetch_all(&mut conn).await? {
            let stored: Vec<u8> = row.get(0);
            samples.push(lheo_feed::store::fragments::decompress(&stored)?);
        }
    }
    if samples.len() < 10 {
        bail!(
            "{store} holds {} samples: export the fixtures first",
            samples.len()
        );
    }
    let dictionary = zstd::dict::from_samples(&samples, DICTIONARY_BYTES)?;
    std::fs::write(out, &dictionary).with_context(|| format!("cannot write {out}"))?;

    let plain: usize = samples.iter().map(Vec::len).sum();
    let lz4: usize = samples
        .iter()
        .map(|s| lz4_flex::block::compress(s).len())
        .sum();
    let mut alone = zstd::bulk::Compressor::new(1)?;
    let mut with = zstd::bulk::Compressor::with_dictionary(1, &dictionary)?;
    let (mut a, mut w) = (0, 0);
    for s in &samples {
        a += alone.compress(s)?.len();
        w += with.compress(s)?.len();
    }
    println!(
        "{} samples, {plain} bytes: LZ4 {lz4}, zstd {a}, zstd with the dictionary {w} \
         (on its own samples); dictionary {} bytes, id {} -> {out}",
        samples.len(),
        dictionary.len(),
        zstd::zstd_safe::get_dict_id_from_dict(&dictionary).map_or(0, |id| id.get()),
    );
    Ok(())
}
