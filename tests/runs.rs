//! The `runs` table and the export lock (issue 7) on real SQLite and PostgreSQL: a slot is
//! recorded once, a run is claimed once, orphaned runs are interrupted and picked up again,
//! and the export lock is exclusive and released.

mod common;

use chrono::{DateTime, Utc};
use common::TestDb;
use lheo_feed::daemon::lock::ExportLock;
use lheo_feed::store::RunKind;

fn slot(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn a_slot_is_recorded_and_claimed_once(db: &TestDb) {
    let store = db.open().await;
    let t = slot("2026-03-29T01:00:00Z");
    assert!(!store.slot_recorded(t).await.unwrap());
    let first = store
        .record_slot(t, RunKind::Scheduled, "a:1")
        .await
        .unwrap();
    assert!(first.is_some());
    // The other instance sees the same slot come due: nothing recorded.
    assert_eq!(
        store.record_slot(t, RunKind::CatchUp, "b:2").await.unwrap(),
        None
    );
    assert!(store.slot_recorded(t).await.unwrap());
    // On-demand runs have no slot and never collide.
    let d1 = store.request_run("cli").await.unwrap();
    let d2 = store.request_run("admin").await.unwrap();
    assert_ne!(d1, d2);

    let next = store.next_pending_run().await.unwrap().unwrap();
    assert_eq!(Some(next.id), first);
    assert_eq!(next.scheduled_for, Some(t));
    assert!(store.claim_run(next.id, "a:1", 0).await.unwrap());
    assert!(
        !store.claim_run(next.id, "b:2", 0).await.unwrap(),
        "claimed twice on {:?}",
        db.backend
    );
    // The runner dies; whoever holds the lock next marks it interrupted and takes it.
    assert_eq!(
        store.interrupt_orphaned_runs().await.unwrap(),
        vec![next.id]
    );
    let again = store.next_pending_run().await.unwrap().unwrap();
    assert_eq!(again.id, next.id);
    assert_eq!(again.state, "interrupted");
    assert_eq!(again.attempts, 1);
    assert!(store.claim_run(again.id, "b:2", 7).await.unwrap());
    store
        .finish_run(
            again.id,
            "failed",
            None,
            Some("nothing to publish"),
            "failed",
        )
        .await
        .unwrap();
    let done = store.run(again.id).await.unwrap().unwrap();
    assert_eq!(done.state, "failed");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.instance.as_deref(), Some("b:2"));
    assert_eq!(done.base_generation, Some(0), "kept from the first attempt");
    assert_eq!(done.error.as_deref(), Some("nothing to publish"));
    assert!(done.finished_at.is_some());
    // The on-demand ones are next, oldest first.
    assert_eq!(store.next_pending_run().await.unwrap().unwrap().id, d1);
    assert_eq!(store.runs(10).await.unwrap().len(), 3);
    store.close().await;
}

async fn the_export_lock_is_exclusive_and_released(db: &TestDb) {
    let store = db.open().await;
    let held = ExportLock::try_acquire(&store).await.unwrap().unwrap();
    assert!(
        ExportLock::try_acquire(&store).await.unwrap().is_none(),
        "a second holder on {:?}",
        db.backend
    );
    // A waiter gives up when told to stop.
    let waited = ExportLock::acquire_or_stop(
        &store,
        tokio::time::sleep(std::time::Duration::from_millis(600)),
    )
    .await
    .unwrap();
    assert!(waited.is_none());
    held.release().await;
    let again = ExportLock::try_acquire(&store).await.unwrap();
    assert!(again.is_some(), "released on {:?}", db.backend);
    drop(again);
    store.close().await;
}

backend_tests!(
    a_slot_is_recorded_and_claimed_once,
    the_export_lock_is_exclusive_and_released
);
