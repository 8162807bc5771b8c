//! `export`: the full LHÉO document of the validated offers, written atomically.
//!
//! The document is streamed to a temporary file beside the target, hashed as it is
//! written, synced, and renamed over the target only when complete: a crash or a kill
//! mid-export leaves the previous file whole. An export with nothing to publish writes
//! nothing, because LHÉO cannot hold an empty `<offres>` and consumers treat an empty
//! document as an error.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::lheo::{document_header, DOCUMENT_FOOTER};
use crate::pipeline::{self, PassCounts, PassOptions};
use crate::rules::Outcome;
use crate::store::Store;

/// The machine-readable summary of an export (`export --json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportSummary {
    pub file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub horodatage_export: String,
    #[serde(flatten)]
    pub counts: PassCounts,
}

/// Why an export published nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "nothing to publish: none of the {offres} validated offers has an exportable session \
         ({rejetees} rejected, {inactives} with every session ended). LHÉO cannot hold an empty \
         <offres>, so no file was written and {file} was left as it was. Run `lheo-feed check` \
         to see why offers are rejected."
    )]
    Empty {
        offres: u64,
        rejetees: u64,
        inactives: u64,
        file: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Hashes and counts what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lheo.xml".into());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Exports the validated offers of `store` to `out`.
pub async fn export_to_file(
    store: &Store,
    opts: &PassOptions,
    horodatage_export: &str,
    out: &Path,
) -> Result<(ExportSummary, Vec<Outcome>), ExportError> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    }
    let tmp = temp_path(out);
    let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    // Remove the temporary file on every early return.
    struct Cleanup<'a>(&'a Path, bool);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if self.1 {
                let _ = fs::remove_file(self.0);
            }
        }
    }
    let mut cleanup = Cleanup(&tmp, true);
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    w.write_all(document_header(horodatage_export).as_bytes())
        .context("writing the export")?;
    let (counts, outcomes) = pipeline::run(store, opts, |_, _, fragment| {
        if let Some(f) = fragment {
            w.write_all(f.xml.as_bytes())
                .context("writing the export")?;
        }
        Ok(())
    })
    .await?;
    if counts.formations == 0 {
        return Err(ExportError::Empty {
            offres: counts.offres_lues,
            rejetees: counts.offres_rejetees,
            inactives: counts.offres_inactives,
            file: out.display().to_string(),
        });
    }
    w.write_all(DOCUMENT_FOOTER.as_bytes())
        .context("writing the export")?;
    w.flush().context("writing the export")?;
    let HashingWriter {
        inner,
        hasher,
        bytes,
    } = w;
    let file = inner
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing the export: {}", e.error()))?;
    file.sync_all().context("syncing the export to disk")?;
    drop(file);
    fs::rename(&tmp, out)
        .with_context(|| format!("cannot move the export into place at {}", out.display()))?;
    cleanup.1 = false;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok((
        ExportSummary {
            file: out.to_path_buf(),
            bytes,
            sha256: hex::encode(hasher.finalize()),
            horodatage_export: horodatage_export.to_owned(),
            counts,
        },
        outcomes,
    ))
}
