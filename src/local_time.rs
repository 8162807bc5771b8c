//! Times as people read them: in the configured zone (`[schedule] timezone`,
//! `Europe/Paris` by default) with the offset written beside them, so that a time read on
//! a DST night is never ambiguous: `2025-06-02 03:00 (+02:00)`.
//!
//! Only what a person reads goes through here (the status page, the text output of `runs`,
//! `generations`, `deliveries` and `schedule next`, human log lines). JSON output,
//! `/metrics` and the database keep UTC: machines compare instants, people read clocks.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// `2025-06-02 03:00 (+02:00)`: to the minute, for tables and pages.
pub fn minutes(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M (%:z)")
        .to_string()
}

/// `2025-06-02 03:00:07 (+02:00)`: to the second, where two events of one minute must be
/// told apart (runs).
pub fn seconds(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S (%:z)")
        .to_string()
}

/// `2025-06-02 03:00:07.123 (+02:00)`: log lines.
pub fn millis(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.3f (%:z)")
        .to_string()
}

/// `2025-06-02 01:00 UTC`: the same instant in UTC, beside a local time where the
/// reader compares with UTC sources (`schedule next`, as `systemd-analyze calendar`).
pub fn utc_minutes(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn paris_time_with_its_offset_either_side_of_dst() {
        let paris = chrono_tz::Europe::Paris;
        assert_eq!(
            minutes(utc("2025-06-02T01:00:00Z"), paris),
            "2025-06-02 03:00 (+02:00)"
        );
        assert_eq!(
            minutes(utc("2025-12-02T01:00:00Z"), paris),
            "2025-12-02 02:00 (+01:00)"
        );
        assert_eq!(
            seconds(utc("2025-06-02T01:00:07Z"), paris),
            "2025-06-02 03:00:07 (+02:00)"
        );
        assert_eq!(
            millis(utc("2025-06-02T01:00:07.5Z"), paris),
            "2025-06-02 03:00:07.500 (+02:00)"
        );
        // The repeated hour of the fall-back night: the offset tells the two apart.
        assert_eq!(
            minutes(utc("2027-10-31T00:30:00Z"), paris),
            "2027-10-31 02:30 (+02:00)"
        );
        assert_eq!(
            minutes(utc("2027-10-31T01:30:00Z"), paris),
            "2027-10-31 02:30 (+01:00)"
        );
        assert_eq!(
            utc_minutes(utc("2027-10-31T01:30:00Z")),
            "2027-10-31 01:30 UTC"
        );
    }
}
