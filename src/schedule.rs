//! When the nightly export runs: a cron expression read as **wall-clock time in a named
//! time zone** (`Europe/Paris` by default), with the daylight-saving semantics of
//! cronie / Vixie cron. `docs/scheduling.md` is the operator's side of this module.
//!
//! # Why a small evaluator of our own
//!
//! `tokio-cron-scheduler` computes the next fire time with the UTC offset of the moment it
//! was scheduled and keeps it (its issue #87): after the first DST change a 02:30 job runs
//! at 01:30 or 03:30 local time, and missed runs are never caught up. The `cron` crate
//! evaluates in a `TimeZone` but maps a wall time inside the spring-forward gap to nothing
//! (the 02:30 job silently skips that night) and, at fall-back, fires a fixed-time job in
//! both occurrences of the repeated hour. Neither is what an operator expects from a
//! nightly job, and both are hard to pin down by test from outside. The rules below are
//! few, explicit, and tested over two years of calendar (`tests` below).
//!
//! # DST semantics (those of cronie / Vixie cron)
//!
//! A job is **fixed-time** when its second, minute and hour fields are all explicit
//! values (`0 30 2 * * *`), and **wildcard** when one of them starts with `*`
//! (`0 */15 * * * *`, `0 0 * * * *`).
//!
//! - Spring forward (last Sunday of March, 02:00 → 03:00 in Paris): a fixed-time job
//!   whose time falls in the gap runs **once, at the end of the gap** (03:00 local); a
//!   wildcard job simply has no firings in the missing hour (it keeps its rhythm in real
//!   time).
//! - Fall back (last Sunday of October, 03:00 → 02:00): a fixed-time job in the repeated
//!   hour runs **once, at its first occurrence** (summer time); a wildcard job runs in
//!   both occurrences, so `0 */15 * * * *` fires every 15 real minutes all year.
//!
//! Several fixed times inside one gap collapse into one firing at the end of the gap.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The default schedule: every night at 02:30.
pub const DEFAULT_CRON: &str = "0 30 2 * * *";
/// The default time zone of the schedule.
pub const DEFAULT_TIMEZONE: &str = "Europe/Paris";

/// How far ahead [`Schedule::next_after`] looks before concluding that an expression
/// never fires again (a 29 February that is also a Monday comes back within 28 years).
const MAX_DAYS_AHEAD: i64 = 366 * 29;

/// A parsed cron expression: `SEC MIN HOUR DOM MON DOW`, or the classic five fields
/// without seconds (seconds are then 0). Fields take `*`, `?` (as `*`), numbers,
/// ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`; months and weekdays also take
/// English three-letter names; weekday 0 and 7 are Sunday. When both day-of-month and
/// day-of-week are restricted, a day matching either matches (the cron rule).
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// Bit d set: day of month d (1..=31) matches.
    dom: u64,
    /// Bit m set: month m (1..=12) matches.
    months: u32,
    /// Bit d set: weekday d (0 = Sunday .. 6) matches.
    dow: u32,
    dom_star: bool,
    dow_star: bool,
    /// A second, minute or hour field starts with `*`: see the module documentation.
    wildcard: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field: the sorted values it matches, and whether it starts with `*`.
fn parse_field(
    field: &str,
    name: &str,
    min: u32,
    max: u32,
    names: &[&str],
    names_from: u32,
) -> Result<(Vec<u32>, bool), String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(names_from + i as u32);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("{name}: {s:?} is not a number"))?;
        if v < min || v > max {
            return Err(format!("{name}: {v} is outside {min}-{max}"));
        }
        Ok(v)
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{name}: step {s:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{name}: a step of 0 never advances"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("{name}: range {a}-{b} runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `5/15` means from 5 to the end, every 15 (as in cronie).
            (a, if step > 1 { max } else { a })
        };
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok((out, field.starts_with('*') || field.starts_with('?')))
}

fn days_in_month_max(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FromStr for Cron {
    type Err = String;

    fn from_str(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            6 => fields,
            5 => std::iter::once("0").chain(fields).collect(),
            n => {
                return Err(format!(
                    "{n} fields; expected 6 (SEC MIN HOUR DOM MON DOW, e.g. \"0 30 2 * * *\") \
                     or 5 (MIN HOUR DOM MON DOW)"
                ))
            }
        };
        let (seconds, s_star) = parse_field(fields[0], "seconds", 0, 59, &[], 0)?;
        let (minutes, m_star) = parse_field(fields[1], "minutes", 0, 59, &[], 0)?;
        let (hours, h_star) = parse_field(fields[2], "hours", 0, 23, &[], 0)?;
        let (doms, dom_star) = parse_field(fields[3], "day of month", 1, 31, &[], 0)?;
        let (months, _) = parse_field(fields[4], "month", 1, 12, &MONTH_NAMES, 1)?;
        let (dows, dow_star) = parse_field(fields[5], "day of week", 0, 7, &DAY_NAMES, 0)?;
        let months_bits = months.iter().fold(0u32, |b, m| b | 1 << m);
        let dom_bits = doms.iter().fold(0u64, |b, d| b | 1 << d);
        let dow_bits = dows.iter().fold(0u32, |b, d| b | 1 << (d % 7));
        // A day-of-month that no chosen month has (30 February) would never fire: say so
        // now rather than wait forever.
        if dow_star
            && !months
                .iter()
                .any(|m| doms.iter().any(|d| *d <= days_in_month_max(*m)))
        {
            return Err(format!(
                "day of month {:?} never occurs in month {:?}",
                fields[3], fields[4]
            ));
        }
        Ok(Cron {
            text: fields.join(" "),
            seconds,
            minutes,
            hours,
            dom: dom_bits,
            months: months_bits,
            dow: dow_bits,
            dom_star,
            dow_star,
            wildcard: s_star || m_star || h_star,
        })
    }
}

impl Cron {
    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.dom & (1 << d.day()) != 0;
        let dow = self.dow & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.dom_star, self.dow_star) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// Whether a wildcard field makes this a wildcard job (module documentation).
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

/// A cron expression in a time zone: the export's schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub cron: Cron,
    pub tz: Tz,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            cron: DEFAULT_CRON.parse().expect("the default cron parses"),
            tz: DEFAULT_TIMEZONE.parse().expect("the default zone exists"),
        }
    }
}

/// The instant a wall time that does not exist (a DST gap) is taken to mean: the first
/// existing wall time after it. Real gaps are whole minutes and at most a few hours.
fn end_of_gap(tz: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    let mut probe = wall.date().and_hms_opt(wall.hour_(), wall.minute_(), 0)?;
    for _ in 0..(4 * 60) {
        probe += Duration::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return Some(t);
        }
    }
    None
}

// Small helpers, to keep chrono's Timelike out of the way of Datelike above.
trait HourMinute {
    fn hour_(&self) -> u32;
    fn minute_(&self) -> u32;
}
impl HourMinute for NaiveDateTime {
    fn hour_(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
    fn minute_(&self) -> u32 {
        chrono::Timelike::minute(self)
    }
}

impl Schedule {
    pub fn new(cron: Cron, tz: Tz) -> Schedule {
        Schedule { cron, tz }
    }

    /// The first firing strictly after `after`, or `None` if the expression never fires
    /// again (within 29 years).
    ///
    /// Walks the local days from `after`'s; in each matching day, the wall times in
    /// order. A wall time's earliest instant grows with the wall time, and so does its
    /// latest, so the first wall time whose earliest instant is after `after` ends the
    /// search; before it, the second occurrence of a repeated wall time (wildcard jobs
    /// only) may still be the answer.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz).naive_local();
        // Wall times more than 3 hours before `after`'s own are instants before it
        // whatever the DST shift: skip them on the first day.
        let skip_before = local - Duration::hours(3);
        let first_day = skip_before.date();
        let mut best: Option<DateTime<Utc>> = None;
        for offset in 0..MAX_DAYS_AHEAD {
            let day = first_day + Duration::days(offset);
            if !self.cron.day_matches(day) {
                continue;
            }
            for &h in &self.cron.hours {
                for &m in &self.cron.minutes {
                    for &s in &self.cron.seconds {
                        let wall = day.and_hms_opt(h, m, s).expect("valid field values");
                        if wall < skip_before {
                            continue;
                        }
                        let (earliest, latest) = match self.tz.from_local_datetime(&wall) {
                            LocalResult::Single(t) => (t, None),
                            LocalResult::Ambiguous(a, b) => {
                                (a, if self.cron.wildcard { Some(b) } else { None })
                            }
                            LocalResult::None => {
                                if self.cron.wildcard {
                                    continue;
                                }
                                match end_of_gap(&self.tz, wall) {
                                    Some(t) => (t, None),
                                    None => continue,
                                }
                            }
                        };
                        let earliest = earliest.with_timezone(&Utc);
                        if earliest > after {
                            return Some(best.map_or(earliest, |b| b.min(earliest)));
                        }
                        if let Some(l) = latest.map(|l| l.with_timezone(&Utc)) {
                            if l > after {
                                best = Some(best.map_or(l, |b| b.min(l)));
                            }
                        }
                    }
                }
            }
            if best.is_some() {
                return best;
            }
        }
        best
    }

    /// The next `count` firings strictly after `after`, in order (fewer if the expression
    /// stops firing): what `schedule next` and `config check` show, computed by the same
    /// [`Schedule::next_after`] the daemon waits on, so they show what it will do.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count.min(1000));
        let mut t = after;
        while out.len() < count {
            match self.next_after(t) {
                Some(n) => {
                    out.push(n);
                    t = n;
                }
                None => break,
            }
        }
        out
    }

    /// The instant just before local midnight starting `day` in the schedule's zone (or
    /// the first existing wall time that day), so that [`Schedule::upcoming`] from it
    /// includes a firing at 00:00 that day: `schedule next --from DAY`.
    pub fn start_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        let local = match self.tz.from_local_datetime(&midnight) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
            LocalResult::None => end_of_gap(&self.tz, midnight),
        };
        let at = local.map_or_else(
            || Utc.from_utc_datetime(&midnight),
            |t| t.with_timezone(&Utc),
        );
        at - Duration::seconds(1)
    }

    /// The last firing at or before `at`, looking back at most `window`: the slot a
    /// daemon that was down should catch up. `None` when none falls in the window.
    pub fn last_at_or_before(&self, at: DateTime<Utc>, window: Duration) -> Option<DateTime<Utc>> {
        let mut t = self.next_after(at - window - Duration::seconds(1))?;
        if t > at {
            return None;
        }
        while let Some(n) = self.next_after(t) {
            if n > at {
                break;
            }
            t = n;
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn paris(cron: &str) -> Schedule {
        Schedule::new(cron.parse().unwrap(), chrono_tz::Europe::Paris)
    }

    /// Every firing in [from, to), by repeated `next_after`.
    fn firings(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from - Duration::seconds(1);
        while let Some(n) = s.next_after(t) {
            if n >= to {
                break;
            }
            out.push(n);
            t = n;
        }
        out
    }

    /// The last Sunday of a month, computed by hand (not through chrono-tz).
    fn last_sunday(year: i32, month: u32) -> NaiveDate {
        let mut d = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap() - Duration::days(1);
        while d.weekday() != Weekday::Sun {
            d -= Duration::days(1);
        }
        d
    }

    /// Paris's UTC offset in hours on a wall date-time, by the EU rule (summer time from
    /// the last Sunday of March, 01:00 UTC, to the last Sunday of October, 01:00 UTC),
    /// for wall times that are not in a gap or repeated hour.
    fn paris_offset(wall: NaiveDateTime) -> i64 {
        let y = wall.year();
        let start = last_sunday(y, 3).and_hms_opt(2, 0, 0).unwrap(); // 01:00 UTC, CET wall
        let end = last_sunday(y, 10).and_hms_opt(3, 0, 0).unwrap(); // 01:00 UTC, CEST wall
        if wall >= start && wall < end {
            2
        } else {
            1
        }
    }

    /// The independent expectation for a fixed daily job at wall time `hms` on `day`.
    fn expected_daily(day: NaiveDate, hms: NaiveTime) -> DateTime<Utc> {
        let wall = day.and_time(hms);
        let spring = last_sunday(day.year(), 3);
        if day == spring
            && hms >= NaiveTime::from_hms_opt(2, 0, 0).unwrap()
            && hms < NaiveTime::from_hms_opt(3, 0, 0).unwrap()
        {
            // The gap: the end of it, 03:00 CEST = 01:00 UTC.
            return Utc.from_utc_datetime(&spring.and_hms_opt(1, 0, 0).unwrap());
        }
        let autumn = last_sunday(day.year(), 10);
        if day == autumn
            && hms >= NaiveTime::from_hms_opt(2, 0, 0).unwrap()
            && hms < NaiveTime::from_hms_opt(3, 0, 0).unwrap()
        {
            // The repeated hour: its first occurrence, in summer time.
            return Utc.from_utc_datetime(&(wall - Duration::hours(2)));
        }
        Utc.from_utc_datetime(&(wall - Duration::hours(paris_offset(wall))))
    }

    /// Walks 2026 and 2027 day by day through both transitions of each year: a fixed
    /// daily job fires exactly once per local day, at the instant the EU rule gives.
    #[test]
    fn daily_jobs_fire_once_a_day_at_the_right_instant_across_dst() {
        for (cron, hms) in [
            ("0 30 2 * * *", (2, 30, 0)),
            ("30 2 * * *", (2, 30, 0)),
            ("0 0 2 * * *", (2, 0, 0)),
            ("0 59 2 * * *", (2, 59, 0)),
            ("15 0 3 * * *", (3, 0, 15)),
            ("0 30 1 * * *", (1, 30, 0)),
        ] {
            let s = paris(cron);
            let hms = NaiveTime::from_hms_opt(hms.0, hms.1, hms.2).unwrap();
            let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let mut all = Vec::new();
            while day.year() < 2028 {
                // From local midnight (always CET/CEST, never in a gap) of each day.
                let midnight =
                    s.tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
                        .single()
                        .unwrap()
                        .with_timezone(&Utc);
                let got = s.next_after(midnight - Duration::seconds(1)).unwrap();
                assert_eq!(got, expected_daily(day, hms), "{cron} on {day}");
                all.push(got);
                day += Duration::days(1);
            }
            let from = utc("2026-01-01T00:00:00+01:00");
            let to = utc("2028-01-01T00:00:00+01:00");
            assert_eq!(firings(&s, from, to), all, "{cron}: nothing else fires");
            assert_eq!(all.len(), 365 * 2);
        }
        // The four transition nights, spelled out.
        let s = Schedule::default();
        for (before, expected) in [
            ("2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"), // 03:00 CEST, after the gap
            ("2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"), // 02:30 CEST, first one only
            ("2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"), // not again at 02:30 CET
            ("2027-03-27T12:00:00Z", "2027-03-28T01:00:00Z"),
            ("2027-10-30T12:00:00Z", "2027-10-31T00:30:00Z"),
            ("2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"),
            ("2026-07-01T00:30:00Z", "2026-07-02T00:30:00Z"),
            ("2026-12-31T23:59:59Z", "2027-01-01T01:30:00Z"),
        ] {
            assert_eq!(
                s.next_after(utc(before)),
                Some(utc(expected)),
                "after {before}"
            );
        }
    }

    /// Wildcard jobs keep their rhythm in real time: hourly fires every 3600 s and every
    /// quarter-hour job every 900 s, through both transitions of both years.
    #[test]
    fn wildcard_jobs_keep_real_time_rhythm_across_dst() {
        let from = utc("2026-01-01T00:00:00Z");
        let to = utc("2028-01-01T00:00:00Z");
        let hours_in_two_years = (to - from).num_hours();
        for (cron, step, count) in [
            ("0 0 * * * *", 3600, hours_in_two_years),
            ("0 */15 * * * *", 900, hours_in_two_years * 4),
            ("0 * * * *", 3600, hours_in_two_years),
        ] {
            let s = paris(cron);
            let all = firings(&s, from, to);
            assert_eq!(all.len() as i64, count, "{cron}");
            assert_eq!(all[0], from);
            for w in all.windows(2) {
                assert_eq!((w[1] - w[0]).num_seconds(), step, "{cron} at {}", w[0]);
            }
        }
        // The gap: 01:00 CET, then 03:00 CEST; the repeated hour: 02:00 twice.
        let s = paris("0 0 * * * *");
        let night = firings(&s, utc("2026-03-29T00:00:00Z"), utc("2026-03-29T02:00:00Z"));
        let walls: Vec<String> = night
            .iter()
            .map(|t| t.with_timezone(&s.tz).format("%H:%M %Z").to_string())
            .collect();
        assert_eq!(walls, ["01:00 CET", "03:00 CEST"]);
        let night = firings(&s, utc("2026-10-25T00:00:00Z"), utc("2026-10-25T02:00:00Z"));
        let walls: Vec<String> = night
            .iter()
            .map(|t| t.with_timezone(&s.tz).format("%H:%M %Z").to_string())
            .collect();
        assert_eq!(walls, ["02:00 CEST", "02:00 CET"]);
    }

    #[test]
    fn every_minute_of_the_repeated_hour_fires_twice_for_a_wildcard_minute() {
        // `* 2 * * *`: a wildcard minute in a fixed hour is a wildcard job (cronie).
        let s = paris("* 2 * * *");
        let autumn = firings(&s, utc("2026-10-24T22:00:00Z"), utc("2026-10-25T03:00:00Z"));
        assert_eq!(autumn.len(), 120);
        let spring = firings(&s, utc("2026-03-28T22:00:00Z"), utc("2026-03-29T03:00:00Z"));
        assert!(spring.is_empty(), "{spring:?}");
    }

    #[test]
    fn several_fixed_times_in_the_gap_fire_once_at_its_end() {
        let s = paris("0 0,20,40 2 * * *");
        let spring = firings(&s, utc("2026-03-28T22:00:00Z"), utc("2026-03-29T22:00:00Z"));
        assert_eq!(spring, [utc("2026-03-29T01:00:00Z")]);
        let autumn = firings(&s, utc("2026-10-24T22:00:00Z"), utc("2026-10-25T22:00:00Z"));
        assert_eq!(
            autumn,
            [
                utc("2026-10-25T00:00:00Z"),
                utc("2026-10-25T00:20:00Z"),
                utc("2026-10-25T00:40:00Z")
            ]
        );
    }

    #[test]
    fn day_fields_follow_the_cron_rules() {
        // Weekdays by name, Sunday as 7, and the either-or rule of dom + dow.
        let s = paris("0 0 12 * * MON-FRI");
        let t = s.next_after(utc("2026-05-01T12:00:00Z")).unwrap(); // a Friday
        assert_eq!(t, utc("2026-05-04T10:00:00Z"));
        let s = paris("0 0 12 13 * 7");
        let t = s.next_after(utc("2026-03-01T00:00:00Z")).unwrap(); // a Sunday
        assert_eq!(t, utc("2026-03-01T11:00:00Z"));
        let t = s.next_after(t).unwrap();
        assert_eq!(t, utc("2026-03-08T11:00:00Z"));
        let s = paris("0 0 0 29 FEB *");
        assert_eq!(
            s.next_after(utc("2026-01-01T00:00:00Z")),
            Some(utc("2028-02-28T23:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for (text, why) in [
            ("0 30 2 * *  * *", "7 fields"),
            ("0 61 2 * * *", "minutes: 61 is outside 0-59"),
            ("0 30 25 * * *", "hours: 25"),
            ("0 */0 * * * *", "step of 0"),
            ("0 30 2 30 2 *", "never occurs"),
            ("0 30 2 * XYZ *", "month: \"XYZ\""),
            ("0 5-1 * * * *", "backwards"),
        ] {
            let e = text.parse::<Cron>().unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_last_slot_is_found_for_catch_up() {
        let s = Schedule::default();
        let at = utc("2026-06-10T09:00:00Z");
        assert_eq!(
            s.last_at_or_before(at, Duration::days(2)),
            Some(utc("2026-06-10T00:30:00Z"))
        );
        assert_eq!(
            s.last_at_or_before(utc("2026-06-10T00:30:00Z"), Duration::days(2)),
            Some(utc("2026-06-10T00:30:00Z"))
        );
        assert_eq!(s.last_at_or_before(at, Duration::hours(1)), None);
    }

    proptest::proptest! {
        /// Whatever the text, parsing never panics, and what parses fires after any
        /// instant in order.
        #[test]
        fn parsing_never_panics(text in "[0-9*/,?A-Za-z -]{0,40}") {
            if let Ok(c) = text.parse::<Cron>() {
                let s = Schedule::new(c, chrono_tz::Europe::Paris);
                let t = utc("2026-03-29T00:00:00Z");
                if let Some(n) = s.next_after(t) {
                    proptest::prop_assert!(n > t);
                }
            }
        }
    }
}
