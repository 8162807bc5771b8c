//! `import` (FASD JSON Lines), `import-lheo` (LHÉO documents) and `import-region` (the
//! Conseil régional's CSV referential): all or nothing, exit 2 with `FILE:LINE` on bad input.

use std::path::PathBuf;

use clap::Args;
use lheo_feed::ingest::{self, ImportError};
use lheo_feed::store::UpsertCounts;

use super::{input_failure, Ctx, Failure};

/// The files of an import command and its output format.
#[derive(Args)]
pub struct ImportArgs {
    /// Files to import, in order (plain or gzip).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// `import-lheo`'s arguments: the files, and how a formation that cannot become an
/// offer is treated.
#[derive(Args)]
pub struct LheoImportArgs {
    #[command(flatten)]
    common: ImportArgs,
    /// All or nothing: any formation that cannot become an offer refuses the whole
    /// import (by default it is skipped and named in the summary).
    #[arg(long)]
    strict: bool,
}

/// What the JSON Lines and Region imports say when a file is refused.
fn refused(e: ImportError) -> Failure {
    match e {
        ImportError::Input { errors, total } => input_failure(
            &errors,
            total,
            "bad lines",
            "bad line(s)",
            "Fix them and run the import again.",
        ),
        ImportError::Other(e) => e.into(),
    }
}

fn counts(u: &UpsertCounts) -> String {
    format!(
        "{} new, {} changed, {} unchanged",
        u.created, u.changed, u.unchanged
    )
}

/// `lheo-feed import`: FASD JSON Lines.
pub async fn jsonl(args: &ImportArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let import = ingest::import_files(ctx.store, &args.files);
    let s = lheo_feed::progress::Step::around("importing", import)
        .await
        .map_err(refused)?;
    if args.json {
        out_json!(s);
    } else {
        outln!(
            "imported {} lines from {} file(s): organismes {}; offres {} ({} sessions); session lines {}",
            s.lines,
            s.files,
            counts(&s.organismes),
            counts(&s.offres),
            s.sessions_in_offres,
            counts(&s.sessions),
        );
        let b = &s.brouillons;
        if b.created + b.changed + b.unchanged > 0 {
            outln!(
                "drafts with required fields still missing (never exported; `check` lists them): {}",
                counts(b)
            );
        }
    }
    Ok(())
}

/// `lheo-feed import-lheo`: LHÉO 2.2 / 2.3 documents back into offers.
pub async fn lheo(args: &LheoImportArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    use lheo_feed::ingest::lheo::{import_lheo_files, LheoImportError, Mode};
    let mode = if args.strict {
        Mode::Strict
    } else {
        Mode::Lenient
    };
    let files = &args.common.files;
    let s = match import_lheo_files(ctx.store, files, mode).await {
        Ok(s) => s,
        Err(LheoImportError::Input { errors, total }) => {
            return Err(input_failure(
                &errors,
                total,
                "errors",
                "error(s)",
                "Fix the document(s) and run import-lheo again.",
            ))
        }
        Err(LheoImportError::Other(e)) => return Err(e.into()),
    };
    if args.common.json {
        out_json!(s);
    } else {
        outln!(
            "read {} formations from {} LHÉO file(s): imported {} ({} sessions), skipped {}, \
             values kept as given {}; organismes {}; offres {}",
            s.formations_read,
            s.files,
            s.formations,
            s.sessions,
            s.skipped,
            s.kept_as_given,
            counts(&s.organismes),
            counts(&s.offres),
        );
        listed("skipped", &s.skipped_formations, s.skipped)?;
        listed("kept as given", &s.values_kept_as_given, s.kept_as_given)?;
    }
    Ok(())
}

/// One line per listed item, and how many more the list left out.
fn listed(label: &str, items: &[impl std::fmt::Display], total: u64) -> Result<(), Failure> {
    for e in items {
        outln!("{label}: {e}");
    }
    if total > items.len() as u64 {
        outln!("{label}: … and {} more", total - items.len() as u64);
    }
    Ok(())
}

/// `lheo-feed import-region`: the Region's CSV referential.
pub async fn region(args: &ImportArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let s = ingest::region::import_region_files(ctx.store, &args.files)
        .await
        .map_err(refused)?;
    if args.json {
        out_json!(s);
    } else {
        for f in &s.files {
            outln!(
                "{}: {} rows, read as {} with {:?} separators",
                f.file,
                f.rows,
                f.encoding,
                f.separator
            );
        }
        outln!(
            "imported the Region referential: programmes {}; lots {}; organismes {}",
            counts(&s.programmes),
            counts(&s.lots),
            counts(&s.organismes)
        );
    }
    Ok(())
}
