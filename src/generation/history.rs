//! Reading past generations: what the current one publishes, and what changed between
//! two of them (`lheo-feed diff`).

use anyhow::Context;

use crate::model::FasCode;
use crate::store::Store;

/// The sessions the current generation publishes, read from its live fragments (ours,
/// canonical: each `<session` start tag carries `numero="F-A-S"`). Codes only, so memory
/// stays small at national scale (≈ 24 bytes a session).
pub async fn published_sessions(
    store: &Store,
) -> anyhow::Result<std::collections::HashSet<FasCode>> {
    let mut out = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = store.published_page(after, 1000, true).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.numero);
        for row in page {
            let Some(stored) = row.fragment else { continue };
            let bytes = stored.into_plain()?;
            let xml = std::str::from_utf8(&bytes).context("a published fragment is not UTF-8")?;
            for tail in xml.split("<session numero=\"").skip(1) {
                if let Some(code) = tail.split('"').next().and_then(|c| FasCode::parse(c).ok()) {
                    out.insert(code);
                }
            }
        }
    }
    Ok(out)
}

/// Created, updated and withdrawn offers between two generations.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    pub from: i64,
    pub to: i64,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub withdrawn: Vec<String>,
}

/// The net change of each offer from generation `from` (0: before the first) to `to`:
/// created (not published in `from`, published in `to`), withdrawn (the other way round),
/// updated (published in both with different hashes). An offer changed and changed back
/// is not listed.
pub async fn diff(store: &Store, from: i64, to: i64) -> anyhow::Result<Diff> {
    let history = store.changes_history(from, to).await?;
    let mut d = Diff {
        from,
        to,
        ..Diff::default()
    };
    let mut i = 0;
    while i < history.len() {
        let numero = history[i].numero;
        // (published?, hash) as of `from`, then as of `to`.
        let mut at_from: Option<&str> = None;
        let mut at_to: Option<&str> = None;
        while i < history.len() && history[i].numero == numero {
            let c = &history[i];
            let state = (c.op != "withdrawn").then_some(c.hash.as_str());
            if c.generation <= from {
                at_from = state;
            }
            at_to = state;
            i += 1;
        }
        let n = numero.to_string();
        match (at_from, at_to) {
            (None, Some(_)) => d.created.push(n),
            (Some(_), None) => d.withdrawn.push(n),
            (Some(a), Some(b)) if a != b => d.updated.push(n),
            _ => {}
        }
    }
    Ok(d)
}

/// Checks a `diff` range: `from` (0 or a generation) before `to` (a generation).
pub async fn check_range(store: &Store, from: i64, to: i64) -> anyhow::Result<Result<(), String>> {
    if from < 0 || to <= from {
        return Ok(Err(format!(
            "diff A B needs 0 <= A < B (got {from} and {to}): A = 0 means before the first generation"
        )));
    }
    if from > 0 && store.generation(from).await?.is_none() {
        return Ok(Err(format!(
            "there is no generation {from} (see `lheo-feed generations`)"
        )));
    }
    if store.generation(to).await?.is_none() {
        return Ok(Err(format!(
            "there is no generation {to} (see `lheo-feed generations`)"
        )));
    }
    Ok(Ok(()))
}
