//! The files of an export (end of step 1, steps 3 and 4). The new snapshot is finished
//! (synced, hashed), or the previous generation's document kept byte for byte when no
//! offer changed; until
//! the commit every file written is deleted if the export stops ([`Staged`]). Before the
//! commit the snapshot, its gzip twin and the delta document move to their names; after
//! it, the stable output name is pointed at the generation's file.
//!
//! The previous generation's document is only renamed after the commit
//! ([`files::supersede`]), which readers of its name see as its removal; the next export
//! unlinks it while it streams ([`Sweep`]), and the daemon at once, in the background
//! (`crate::daemon`). Unlinking a multi-gigabyte file costs seconds (1.6–2.9 s for 9 GB on
//! an ext4 mounted with `discard`); nothing waits on it there, where after the commit the
//! command that published did. The price is a second document on disk between a command's
//! exports (`docs/generations.md`, "What a generation holds").

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::candidates::Plan;
use super::commit::Recorded;
use super::files;
use super::stream::Streamed;
use super::{pause_at, ExportOptions, Phases, Snapshot};
use crate::lheo::DOCUMENT_FOOTER;
use crate::store::{GenerationRow, GenerationTx};

/// When no offer changed, the previous document stays the document, byte for byte: the
/// same horodatage-export, SHA-256 and ETag, so that a partner or consumer that holds it
/// downloads nothing again, and an unchanged night costs no rewrite of the whole snapshot
/// (8 GB at a million sessions). Otherwise the streamed file is finished (synced).
pub(super) fn finish_snapshot(
    plan: &Plan,
    opts: &ExportOptions,
    streamed: &mut Streamed,
) -> anyhow::Result<Snapshot> {
    let kept = plan.intact_prev().filter(|_| streamed.changes.is_empty());
    Ok(match (kept, streamed.snapshot.take()) {
        (Some(p), s) => {
            drop(s); // deletes the temporary file, if one was streamed
            Snapshot {
                path: PathBuf::from(&p.file_path),
                bytes: p.file_bytes.max(0) as u64,
                digest: p.file_digest,
                fingerprint: p.file_fingerprint.clone(),
                horodatage_export: p.horodatage_export.clone(),
                kept: true,
            }
        }
        (None, Some(s)) => {
            let f = s.finish(DOCUMENT_FOOTER)?;
            Snapshot {
                fingerprint: files::fingerprint(&f.tmp)
                    .context("cannot read back the snapshot's metadata")?,
                path: f.tmp,
                bytes: f.bytes,
                digest: f.digest,
                horodatage_export: opts.horodatage_export.clone(),
                kept: false,
            }
        }
        (None, None) => unreachable!("a snapshot is streamed unless the previous one is kept"),
    })
}

/// The files an export has written until its commit, deleted if it stops before: a new
/// document and its twin, or a kept document's twin made now (while the transaction
/// writes) if it had none.
pub(super) struct Staged {
    // Fields drop in their order: the twin task is joined before the guard deletes the
    // files it writes.
    twin_task: Option<files::GzipTwinTask>,
    guard: TempGuard,
    twin_kept: bool,
}

impl Staged {
    pub fn new(snapshot: &Snapshot) -> Staged {
        let twin_kept = snapshot.kept && files::gzip_twin(&snapshot.path).exists();
        let guard = TempGuard(match (snapshot.kept, twin_kept) {
            (false, _) => [
                vec![snapshot.path.clone()],
                files::twin_paths(&snapshot.path).to_vec(),
            ]
            .concat(),
            (true, false) => vec![files::gzip_twin(&snapshot.path)],
            (true, true) => Vec::new(),
        });
        let twin_task =
            (snapshot.kept && !twin_kept).then(|| files::GzipTwinTask::start(&snapshot.path));
        Staged {
            twin_task,
            guard,
            twin_kept,
        }
    }

    /// One more file to delete if the export stops before its commit.
    pub fn delete_on_failure(&mut self, path: PathBuf) {
        self.guard.0.push(path);
    }
}

/// Puts the generation's files in place, commits, then points the stable name at the
/// generation's file and removes the previous one's. The write lock is held, so no other
/// export is between these steps.
pub(super) async fn commit(
    tx: GenerationTx,
    mut staged: Staged,
    plan: &Plan,
    snapshot: &Snapshot,
    recorded: &Recorded,
    sweep: Sweep,
    phases: &Phases,
) -> anyhow::Result<()> {
    let generation_file = &recorded.generation_file;
    sweep.wait().await;
    // Leftovers of killed runs first.
    let keep: Vec<i64> = plan
        .prev
        .iter()
        .map(|p| p.id)
        .chain([recorded.id])
        .collect();
    for removed in files::remove_leftovers(&plan.out, &keep) {
        tracing::info!(file = %removed.display(), "removed a leftover of an interrupted export");
    }
    if let Some(d) = &recorded.delta_out {
        files::remove_leftovers(d, &[]);
    }
    if let Some(task) = staged.twin_task.take() {
        task.wait()?;
        phases.done("gzip twin written");
    }
    if snapshot.kept {
        // A second name for the previous document: the previous generation's name goes
        // after the commit, this one stays.
        files::hard_link_into_place(&snapshot.path, generation_file)?;
    } else {
        files::rename_into_place(&snapshot.path, generation_file)?;
    }
    staged.delete_on_failure(generation_file.clone());
    let twins = files::twin_into_place(&snapshot.path, generation_file, staged.twin_kept)?;
    staged.guard.0.extend(twins);
    if let (Some(f), Some(path)) = (&recorded.delta_file, &recorded.delta_out) {
        files::rename_into_place(&f.tmp, path)?;
        staged.delete_on_failure(path.clone());
    }
    phases.done("generation written");
    pause_at("before_commit").await;
    tx.commit().await?;
    staged.guard.0.clear();
    pause_at("after_commit").await;

    phases.done("committed");
    files::link_into_place(generation_file, &plan.out)?;
    if let Some(p) = &plan.prev {
        let old = PathBuf::from(&p.file_path);
        if old != *generation_file {
            files::supersede(&plan.out, &old, p.id);
        }
    }
    Ok(())
}

/// The removal of superseded documents ([`files::remove_superseded`]) on a blocking
/// thread of the runtime while the export streams.
pub(super) struct Sweep(Option<tokio::task::JoinHandle<()>>);

impl Sweep {
    pub fn start(plan: &Plan) -> Sweep {
        let Some(current) = plan.prev.as_ref().map(|p| p.id) else {
            return Sweep(None);
        };
        let out = plan.out.clone();
        Sweep(Some(tokio::task::spawn_blocking(move || {
            for removed in files::remove_superseded(&out, current) {
                tracing::debug!(file = %removed.display(), "removed a superseded generation's file");
            }
        })))
    }

    /// Waits for it (without holding a runtime thread): the commit's leftover removal and
    /// renames come after it, so that two removals never race and a test sees the
    /// directory settled.
    async fn wait(self) {
        if let Some(handle) = self.0 {
            let _ = handle.await;
        }
    }
}

/// Deletes its files when dropped (an export that stops before its commit).
struct TempGuard(Vec<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Points the previous generation's output name at its file again, if a kill after its
/// commit left the name on an older document (or someone removed it).
pub(super) fn repair_output(prev: &GenerationRow) {
    let file = Path::new(&prev.file_path);
    let out = Path::new(&prev.out_path);
    if file.as_os_str().is_empty() || !file.exists() || files::same_file(file, out) {
        return;
    }
    match files::link_into_place(file, out) {
        Ok(()) => tracing::warn!(
            generation = prev.id,
            file = %out.display(),
            "the output of generation {} was not in place (an interrupted export?): restored",
            prev.id
        ),
        Err(e) => tracing::warn!("cannot restore the output of generation {}: {e:#}", prev.id),
    }
}
