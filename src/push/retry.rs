//! When to try again: a ladder of delays (Svix's by default: immediately, 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 10 h), each drawn with full jitter, and a receiver's
//! `Retry-After` honoured.

use std::time::Duration;

use rand::Rng;

/// The longest `Retry-After` honoured: a receiver asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before the next attempt, after `attempts_done` attempts (1 after the first
/// failure), or `None` when the ladder is exhausted (the batch becomes a dead letter).
///
/// Full jitter: a uniform draw between 0 and the ladder's step, so that the retries of
/// many batches failing together spread out instead of hitting the receiver at once; a
/// `Retry-After` is a floor (never sooner than the receiver asked).
pub fn next_delay(
    schedule: &[Duration],
    attempts_done: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Option<Duration> {
    let step = *schedule.get(attempts_done as usize)?;
    let ms = u64::try_from(step.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(if ms == 0 { 0 } else { rng.gen_range(0..=ms) });
    Some(match retry_after {
        Some(r) => jittered.max(r.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// A `Retry-After` header: delay-seconds, or an HTTP date (a past date: now).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = chrono::Utc.with_ymd_and_hms(2025, 6, 2, 8, 49, 30).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 02 Jun 2025 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Mon, 02 Jun 2025 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_ladder_ends_in_a_dead_letter() {
        let s = [Duration::ZERO, Duration::from_secs(5)];
        let mut rng = rand::thread_rng();
        assert!(next_delay(&s, 1, None, &mut rng).unwrap() <= Duration::from_secs(5));
        assert_eq!(next_delay(&s, 2, None, &mut rng), None);
        assert_eq!(
            next_delay(&s, 1, Some(Duration::from_secs(60)), &mut rng),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            next_delay(&s, 1, Some(Duration::from_secs(1 << 40)), &mut rng),
            Some(MAX_RETRY_AFTER)
        );
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_step_and_above_retry_after(
            steps in proptest::collection::vec(0u64..100_000, 1..10),
            n in 0u32..12,
            ra in proptest::option::of(0u64..200_000),
        ) {
            let schedule: Vec<Duration> = steps.iter().map(|&m| Duration::from_millis(m)).collect();
            let mut rng = rand::thread_rng();
            let d = next_delay(&schedule, n, ra.map(Duration::from_millis), &mut rng);
            match schedule.get(n as usize) {
                None => prop_assert!(d.is_none()),
                Some(step) => {
                    let d = d.unwrap();
                    let floor = Duration::from_millis(ra.unwrap_or(0));
                    prop_assert!(d >= floor);
                    prop_assert!(d <= (*step).max(floor));
                }
            }
        }

        #[test]
        fn any_retry_after_text_parses_or_not_without_panic(s in "\\PC{0,40}") {
            let _ = parse_retry_after(&s, chrono::Utc::now());
        }
    }
}
