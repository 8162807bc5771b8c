//! The `runs` table: the daemon's scheduled, caught-up and on-demand exports
//! (`migrations/*/0006_runs.sql`). The logic is in `src/daemon/mod.rs`; `docs/scheduling.md`
//! explains the states.
//!
//! A run moves `queued` → `running` → `succeeded` | `failed`. A run found `running` by an
//! instance that holds the export lock was left by an instance that died (the runner holds
//! the lock for the whole run) and becomes `interrupted`, which is picked up again like
//! `queued`.

use anyhow::Result;
use chrono::{DateTime, SubsecRound, Utc};

use super::Store;

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Scheduled,
    CatchUp,
    OnDemand,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::CatchUp => "catch_up",
            RunKind::OnDemand => "on_demand",
        }
    }
}

/// One run, as the table holds it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    pub state: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub instance: Option<String>,
    pub attempts: i64,
    pub base_generation: Option<i64>,
    pub generation_id: Option<i64>,
    pub error: Option<String>,
    pub progress: Option<String>,
}

const RUN_COLUMNS: &str = "id, kind, scheduled_for, requested_at, requested_by, state, \
     started_at, finished_at, instance, attempts, base_generation, generation_id, error, \
     progress";

/// States in which a run still has to be done.
const PENDING: &str = "('queued', 'interrupted')";

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

impl Store {
    /// Queues an on-demand run; its id. (The admin endpoint and `runs request` call this.)
    pub async fn request_run(&self, requested_by: &str) -> Result<i64> {
        let sql = "INSERT INTO runs (kind, requested_at, requested_by, state) \
                   VALUES ('on_demand', $1, $2, 'queued') RETURNING id";
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(now()).bind(requested_by).fetch_one(pool).await?
        }))
    }

    /// Queues the run of a schedule slot, unless the slot already has one (recorded by
    /// this or another instance): its id when this call recorded it.
    pub async fn record_slot(
        &self,
        slot: DateTime<Utc>,
        kind: RunKind,
        requested_by: &str,
    ) -> Result<Option<i64>> {
        let sql = "INSERT INTO runs (kind, scheduled_for, requested_at, requested_by, state) \
                   VALUES ($1, $2, $3, $4, 'queued') \
                   ON CONFLICT (scheduled_for) DO NOTHING RETURNING id";
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(kind.as_str())
                .bind(slot.trunc_subsecs(0))
                .bind(now())
                .bind(requested_by)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Whether a slot has a run.
    pub async fn slot_recorded(&self, slot: DateTime<Utc>) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM runs WHERE scheduled_for = $1";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(slot.trunc_subsecs(0)).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// The last `limit` runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
        }))
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        }))
    }

    /// Whether any run is queued, interrupted or running (possibly by a dead instance).
    pub async fn runs_to_look_at(&self) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM runs \
                   WHERE state IN ('queued', 'interrupted', 'running')";
        let n: i64 = on_pool!(self, pool => { sqlx::query_scalar(sql).fetch_one(pool).await? });
        Ok(n > 0)
    }

    /// Marks `running` runs as `interrupted`. Only for the holder of the export lock: the
    /// instance that was running them has died, since a runner holds that lock throughout.
    pub async fn interrupt_orphaned_runs(&self) -> Result<Vec<i64>> {
        let sql = "UPDATE runs SET state = 'interrupted', \
                   progress = 'interrupted: the instance running it stopped' \
                   WHERE state = 'running' RETURNING id";
        Ok(on_pool!(self, pool => { sqlx::query_scalar(sql).fetch_all(pool).await? }))
    }

    /// The oldest run still to do.
    pub async fn next_pending_run(&self) -> Result<Option<RunRow>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs WHERE state IN {PENDING} ORDER BY id LIMIT 1");
        Ok(on_pool!(self, pool => { sqlx::query_as(&sql).fetch_optional(pool).await? }))
    }

    /// Takes a pending run for `instance`: `false` when it is no longer pending. The base
    /// generation (0: none yet) is set on the first attempt only.
    pub async fn claim_run(&self, id: i64, instance: &str, base_generation: i64) -> Result<bool> {
        let sql = format!(
            "UPDATE runs SET state = 'running', instance = $1, attempts = attempts + 1, \
             started_at = $2, base_generation = COALESCE(base_generation, $3), \
             progress = 'starting', error = NULL \
             WHERE id = $4 AND state IN {PENDING}"
        );
        let done = on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(instance)
                .bind(now())
                .bind(base_generation)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Records what a run is doing.
    pub async fn set_run_progress(&self, id: i64, progress: &str) -> Result<()> {
        let sql = "UPDATE runs SET progress = $1 WHERE id = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(progress).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Ends a run: `succeeded` (with its generation), `failed` or `interrupted` (with why).
    pub async fn finish_run(
        &self,
        id: i64,
        state: &str,
        generation_id: Option<i64>,
        error: Option<&str>,
        progress: &str,
    ) -> Result<()> {
        let finished = (state != "interrupted").then(now);
        let sql = "UPDATE runs SET state = $1, generation_id = $2, error = $3, progress = $4, \
                   finished_at = $5 WHERE id = $6";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(state)
                .bind(generation_id)
                .bind(error)
                .bind(progress)
                .bind(finished)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
