//! `check` (the entry rules' report per organisme, without exporting) and `status` (what
//! the store holds).

use clap::{Args, ValueEnum};
use lheo_feed::pipeline;
use lheo_feed::rules::report::Report;

use super::{Ctx, Failure};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
}

/// `lheo-feed check`.
#[derive(Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `lheo-feed status`.
#[derive(Args)]
pub struct StatusArgs {
    #[arg(long)]
    json: bool,
}

/// `lheo-feed check`: every validated offer through the same evaluation as the export.
pub async fn check(args: &CheckArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let organismes = ctx.store.organismes().await?;
    // The report lists every offer, clean ones too, so an organisme sees its whole
    // offer; the pipeline alone keeps only the noteworthy ones.
    let mut all = Vec::new();
    pipeline::run(ctx.store, ctx.opts, |_, outcome, _| {
        all.push(outcome.clone());
        Ok(())
    })
    .await?;
    let mut report = Report::new(&all, &organismes)
        .with_saisies(pipeline::saisies_incompletes(ctx.store).await?, &organismes);
    report.mark_published(&lheo_feed::generation::published_sessions(ctx.store).await?);
    match args.format {
        Format::Text => out!("{}", report.to_text()),
        Format::Json => out_json!(report.to_json()),
        Format::Csv => report
            .write_csv(std::io::stdout().lock())
            .map_err(anyhow::Error::from)?,
    }
    Ok(())
}

/// `lheo-feed status`: counts of what the store holds.
pub async fn status(args: &StatusArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let store = ctx.store;
    let c = store.counts().await?;
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "backend": store.backend(),
                "organismes": c.organismes,
                "offres": c.offres,
                "offres_validees": c.offres_validees,
                "sessions": c.sessions,
            })
        );
    } else {
        outln!(
            "{} store: {} organismes, {} offres ({} validated), {} sessions",
            store.backend(),
            c.organismes,
            c.offres,
            c.offres_validees,
            c.sessions
        );
    }
    Ok(())
}
