//! The status page's trends, drawn by the server as inline SVG: no script and no external
//! resource, so the chart shows under the page's strict `Content-Security-Policy`, offline
//! and on paper. Colours are SVG presentation attributes (not `style` attributes, which
//! that policy would block), and each series also has its own dash pattern, for a
//! black-and-white printer.
//!
//! # Which generations are marked as unusual
//!
//! A generation is marked when its withdrawals, or its rejected sessions, are **more than
//! [`JUMP_FACTOR`] times the median of the [`BASELINE`] generations before it, and at least
//! [`JUMP_FLOOR`]** ([`unusual`]). The median, not the mean, so that one bad night does not
//! hide the next; the floor, so that 1 → 4 withdrawals on a quiet week is not an alarm.
//! `docs/feed.md` states the rule for the operators.

use std::fmt::Write as _;

use super::html::esc;
use super::words;

/// How many generations the chart shows.
pub const SHOWN: usize = 90;
/// How many earlier generations a generation is compared with.
pub const BASELINE: usize = 14;
/// How far above the baseline's median a count must be.
pub const JUMP_FACTOR: f64 = 3.0;
/// The least count that can be unusual.
pub const JUMP_FLOOR: i64 = 20;

/// One generation's numbers, oldest first in the lists below.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Point {
    pub generation: i64,
    pub published: i64,
    pub created: i64,
    pub updated: i64,
    pub withdrawn: i64,
    pub sessions_rejected: i64,
}

/// Why a generation is marked (empty: it is not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unusual {
    pub withdrawn: bool,
    pub sessions_rejected: bool,
}

impl Unusual {
    pub fn any(&self) -> bool {
        self.withdrawn || self.sessions_rejected
    }

    /// In French: what jumped.
    pub fn libelle(&self) -> String {
        let mut what = Vec::new();
        if self.withdrawn {
            what.push(words::RETIREES);
        }
        if self.sessions_rejected {
            what.push(words::SESSIONS_REJETEES);
        }
        format!("{} : {}", words::INHABITUEL, what.join(" et "))
    }
}

fn median(values: &[i64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    }
}

/// Whether `series[i]` jumps above the [`BASELINE`] values before it (module
/// documentation). The first value has no baseline and is never marked.
pub fn unusual(series: &[i64], i: usize) -> bool {
    let before = &series[i.saturating_sub(BASELINE)..i];
    if before.is_empty() {
        return false;
    }
    let v = series[i];
    v >= JUMP_FLOOR && v as f64 > JUMP_FACTOR * median(before)
}

/// The marks of every point (same order).
pub fn marks(points: &[Point]) -> Vec<Unusual> {
    let withdrawn: Vec<i64> = points.iter().map(|p| p.withdrawn).collect();
    let rejected: Vec<i64> = points.iter().map(|p| p.sessions_rejected).collect();
    (0..points.len())
        .map(|i| Unusual {
            withdrawn: unusual(&withdrawn, i),
            sessions_rejected: unusual(&rejected, i),
        })
        .collect()
}

// The drawing's frame, in SVG user units.
const WIDTH: f64 = 720.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 700.0;
/// Top and bottom of the published offers' panel, then of the changes' panel.
const TOP1: (f64, f64) = (24.0, 110.0);
const TOP2: (f64, f64) = (146.0, 272.0);
const HEIGHT: f64 = 370.0;

struct Series {
    label: &'static str,
    colour: &'static str,
    dash: &'static str,
    value: fn(&Point) -> i64,
}

const CHANGES: [Series; 4] = [
    Series {
        label: words::CREEES,
        colour: "#1a7f37",
        dash: "",
        value: |p| p.created,
    },
    Series {
        label: words::MISES_A_JOUR,
        colour: "#b36b00",
        dash: "6 3",
        value: |p| p.updated,
    },
    Series {
        label: words::RETIREES,
        colour: "#b00020",
        dash: "2 2",
        value: |p| p.withdrawn,
    },
    Series {
        label: words::SESSIONS_REJETEES,
        colour: "#6a1b9a",
        dash: "9 3 2 3",
        value: |p| p.sessions_rejected,
    },
];
const PUBLISHED: Series = Series {
    label: words::PUBLIEES,
    colour: "#1f4e79",
    dash: "",
    value: |p| p.published,
};

fn x_of(i: usize, n: usize) -> f64 {
    if n <= 1 {
        (LEFT + RIGHT) / 2.0
    } else {
        LEFT + (RIGHT - LEFT) * i as f64 / (n - 1) as f64
    }
}

fn y_of(v: i64, max: i64, (top, bottom): (f64, f64)) -> f64 {
    bottom - (bottom - top) * v.max(0) as f64 / max.max(1) as f64
}

/// A panel's frame: its axis line and its scale (0 and the top value).
fn frame(svg: &mut String, max: i64, (top, bottom): (f64, f64), title: &str) {
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{ty:.1}\" font-size=\"12\" fill=\"#222\">{title}</text>\
         <line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{RIGHT}\" y2=\"{bottom}\" stroke=\"#999\"/>\
         <line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{RIGHT}\" y2=\"{top}\" stroke=\"#ddd\"/>\
         <text x=\"{lx:.1}\" y=\"{top:.1}\" font-size=\"11\" text-anchor=\"end\" \
         dominant-baseline=\"middle\" fill=\"#444\">{max}</text>\
         <text x=\"{lx:.1}\" y=\"{bottom:.1}\" font-size=\"11\" text-anchor=\"end\" \
         dominant-baseline=\"middle\" fill=\"#444\">0</text>",
        ty = top - 8.0,
        lx = LEFT - 6.0,
        title = esc(title),
    );
}

fn polyline(svg: &mut String, points: &[Point], s: &Series, max: i64, panel: (f64, f64)) {
    let n = points.len();
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x_of(i, n), y_of((s.value)(p), max, panel)))
        .collect();
    let dash = if s.dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{}\"", s.dash)
    };
    let _ = write!(
        svg,
        "<polyline class=\"series\" data-series=\"{label}\" fill=\"none\" stroke=\"{c}\" \
         stroke-width=\"2\"{dash} points=\"{pts}\"><title>{label}</title></polyline>",
        label = esc(s.label),
        c = s.colour,
        pts = coords.join(" "),
    );
    // A lone point draws no line: show it as a dot.
    if n == 1 {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
            x_of(0, 1),
            y_of((s.value)(&points[0]), max, panel),
            s.colour
        );
    }
}

/// The trends chart of `points` (oldest first, at most [`SHOWN`]) with their `marks`: the
/// published offers above, the changes and rejected sessions below, unusual generations
/// marked, the last point's numbers written out (and kept in `data-` attributes of
/// `#chart-last`, which the tests compare with `generations --json`).
pub fn trends(points: &[Point], marks: &[Unusual]) -> String {
    let mut svg = String::new();
    let Some(last) = points.last() else {
        return svg;
    };
    let n = points.len();
    let first = &points[0];
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"trends\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"trends-title\">\
         <title id=\"trends-title\">{t} : {g} {a} à {b}</title>",
        t = esc(words::TENDANCES),
        g = words::GENERATION,
        a = first.generation,
        b = last.generation,
    );
    let max_published = points.iter().map(|p| p.published).max().unwrap_or(0);
    frame(&mut svg, max_published, TOP1, words::PUBLIEES);
    polyline(&mut svg, points, &PUBLISHED, max_published, TOP1);
    let max_changes = points
        .iter()
        .flat_map(|p| CHANGES.iter().map(move |s| (s.value)(p)))
        .max()
        .unwrap_or(0);
    let changes_title = format!(
        "{}, {}, {}, {}",
        words::CREEES,
        words::MISES_A_JOUR,
        words::RETIREES,
        words::SESSIONS_REJETEES
    );
    frame(&mut svg, max_changes, TOP2, &changes_title);
    for (i, (p, m)) in points.iter().zip(marks).enumerate() {
        if m.any() {
            let x = x_of(i, n);
            let _ = write!(
                svg,
                "<g class=\"unusual\" data-generation=\"{g}\"><title>{gen} {g} — {what}</title>\
                 <line x1=\"{x:.1}\" y1=\"{t:.1}\" x2=\"{x:.1}\" y2=\"{b:.1}\" stroke=\"#b00020\" \
                 stroke-width=\"1\" stroke-dasharray=\"3 2\"/>\
                 <path d=\"M{x0:.1},{t0:.1} L{x1:.1},{t0:.1} L{x:.1},{t:.1} Z\" fill=\"#b00020\"/></g>",
                g = p.generation,
                gen = words::GENERATION,
                what = esc(&m.libelle()),
                t = TOP2.0,
                b = TOP2.1,
                x0 = x - 5.0,
                x1 = x + 5.0,
                t0 = TOP2.0 - 8.0,
            );
        }
    }
    for s in &CHANGES {
        polyline(&mut svg, points, s, max_changes, TOP2);
    }
    // The x axis: first and last generation.
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{y:.1}\" font-size=\"11\" fill=\"#444\">{gen} {a}</text>\
         <text x=\"{RIGHT}\" y=\"{y:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">\
         {gen} {b}</text>",
        y = TOP2.1 + 14.0,
        gen = words::GENERATION,
        a = first.generation,
        b = last.generation,
    );
    last_point(&mut svg, last, n, max_published, max_changes);
    legend(&mut svg);
    svg.push_str("</svg>");
    svg
}

/// The last point: a dot per series and its numbers in words.
fn last_point(svg: &mut String, last: &Point, n: usize, max_published: i64, max_changes: i64) {
    let x = x_of(n - 1, n);
    let _ = write!(
        svg,
        "<g id=\"chart-last\" data-generation=\"{g}\" data-published=\"{p}\" \
         data-created=\"{c}\" data-updated=\"{u}\" data-withdrawn=\"{w}\" \
         data-sessions-rejected=\"{r}\">\
         <circle cx=\"{x:.1}\" cy=\"{yp:.1}\" r=\"3.5\" fill=\"{pc}\"/>",
        g = last.generation,
        p = last.published,
        c = last.created,
        u = last.updated,
        w = last.withdrawn,
        r = last.sessions_rejected,
        yp = y_of(last.published, max_published, TOP1),
        pc = PUBLISHED.colour,
    );
    for s in &CHANGES {
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
            y_of((s.value)(last), max_changes, TOP2),
            s.colour
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{y:.1}\" font-size=\"13\" font-weight=\"600\" fill=\"#222\">\
         {gen} {g} : {p} {lp}</text><text x=\"{LEFT}\" y=\"{y2:.1}\" font-size=\"13\" \
         fill=\"#222\">{c} {lc}, {u} {lu}, {w} {lw}, {r} {lr}</text></g>",
        y = TOP2.1 + 36.0,
        y2 = TOP2.1 + 54.0,
        gen = words::GENERATION,
        g = last.generation,
        p = last.published,
        lp = words::PUBLIEES,
        c = last.created,
        lc = words::CREEES,
        u = last.updated,
        lu = words::MISES_A_JOUR,
        w = last.withdrawn,
        lw = words::RETIREES,
        r = last.sessions_rejected,
        lr = words::SESSIONS_REJETEES,
    );
}

fn legend(svg: &mut String) {
    let mut x = LEFT;
    let y = HEIGHT - 16.0;
    for s in std::iter::once(&PUBLISHED).chain(CHANGES.iter()) {
        let dash = if s.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", s.dash)
        };
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x2:.1}\" y2=\"{y:.1}\" stroke=\"{c}\" \
             stroke-width=\"2\"{dash}/><text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"11\" \
             fill=\"#222\">{label}</text>",
            x2 = x + 22.0,
            c = s.colour,
            tx = x + 26.0,
            ty = y + 4.0,
            label = esc(s.label),
        );
        x += 30.0 + 6.2 * s.label.chars().count() as f64 + 14.0;
    }
    let _ = write!(
        svg,
        "<path d=\"M{a:.1},{t:.1} L{b:.1},{t:.1} L{m:.1},{y2:.1} Z\" fill=\"#b00020\"/>\
         <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"11\" fill=\"#222\">{label}</text>",
        a = x,
        b = x + 10.0,
        m = x + 5.0,
        t = y - 5.0,
        y2 = y + 3.0,
        tx = x + 14.0,
        ty = y + 4.0,
        label = words::INHABITUEL,
    );
}

/// One consumer on the lag chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lag {
    pub name: String,
    pub delivered: Option<i64>,
    pub lag: i64,
}

/// Per consumer, its delivered generation against the current one: a bar filled up to
/// what it holds, and the numbers in words.
pub fn lag(consumers: &[Lag], current: i64) -> String {
    let mut svg = String::new();
    if consumers.is_empty() {
        return svg;
    }
    let row = 30.0;
    let height = row * consumers.len() as f64 + 8.0;
    let (bar_left, bar_right) = (170.0, 430.0);
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"lag\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height:.1}\" role=\"img\" aria-labelledby=\"lag-title\">\
         <title id=\"lag-title\">{}</title>",
        esc(&format!(
            "{} : {} / {}",
            words::CONSOMMATEURS,
            words::LIVREE,
            words::COURANTE
        ))
    );
    for (i, c) in consumers.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let held = c.delivered.unwrap_or(0).clamp(0, current.max(0));
        let fill = bar_left + (bar_right - bar_left) * held as f64 / current.max(1) as f64;
        let colour = match (c.delivered, c.lag) {
            (None, _) => "#b00020",
            (Some(_), 0) => "#1a7f37",
            _ => "#b36b00",
        };
        let text = match c.delivered {
            None => format!("{} ; {} {current}", words::RIEN_LIVRE, words::COURANTE),
            Some(d) => format!(
                "{} {d} / {} {current} — {} {}",
                words::LIVREE,
                words::COURANTE,
                words::RETARD,
                c.lag
            ),
        };
        let _ = write!(
            svg,
            "<g class=\"consumer\" data-consumer=\"{name}\" data-delivered=\"{d}\" data-lag=\"{lag}\">\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#222\">{name}</text>\
             <rect x=\"{bar_left}\" y=\"{ry:.1}\" width=\"{bw:.1}\" height=\"16\" fill=\"#eee\" stroke=\"#999\"/>\
             <rect x=\"{bar_left}\" y=\"{ry:.1}\" width=\"{fw:.1}\" height=\"16\" fill=\"{colour}\"/>\
             <text x=\"{lx:.1}\" y=\"{ty:.1}\" font-size=\"12\" fill=\"#222\">{text}</text></g>",
            name = esc(&c.name),
            d = c.delivered.map_or_else(String::new, |d| d.to_string()),
            lag = c.lag,
            tx = bar_left - 8.0,
            ty = y + 13.0,
            ry = y + 1.0,
            bw = bar_right - bar_left,
            fw = fill - bar_left,
            lx = bar_right + 8.0,
            text = esc(&text),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_is_marked_against_the_median_of_the_14_before() {
        let mut series = vec![5; 20];
        series[15] = 16; // over 3 × 5 but under the floor
        series[16] = 20; // over 3 × 5 and at the floor
        series[17] = 15; // exactly 3 × 5: not over
        let marked: Vec<usize> = (0..series.len()).filter(|i| unusual(&series, *i)).collect();
        assert_eq!(marked, vec![16]);
        // The first value has no baseline; a jump right after it is judged on one value.
        assert!(!unusual(&[1000], 0));
        assert!(unusual(&[0, 1000], 1));
        // Only the 14 before count: 30 after fourteen 10s (median 10) is not a jump,
        // however low the values further back.
        let mut s = vec![0; 10];
        s.extend([10; 14]);
        s.push(30);
        assert!(!unusual(&s, s.len() - 1));
    }

    #[test]
    fn the_chart_marks_the_jump_and_writes_the_last_point() {
        let points: Vec<Point> = (1..=30)
            .map(|g| Point {
                generation: g,
                published: 1000 + g,
                created: 3,
                updated: 10,
                withdrawn: if g == 25 { 400 } else { 2 },
                sessions_rejected: 7,
            })
            .collect();
        let m = marks(&points);
        assert_eq!(
            m.iter()
                .enumerate()
                .filter(|(_, u)| u.any())
                .map(|(i, _)| i)
                .collect::<Vec<_>>(),
            vec![24]
        );
        let svg = trends(&points, &m);
        assert!(svg.contains("<g class=\"unusual\" data-generation=\"25\">"));
        assert_eq!(svg.matches("class=\"unusual\"").count(), 1);
        assert!(svg.contains(
            "id=\"chart-last\" data-generation=\"30\" data-published=\"1030\" \
             data-created=\"3\" data-updated=\"10\" data-withdrawn=\"2\" \
             data-sessions-rejected=\"7\""
        ));
        assert!(!svg.contains("<script") && !svg.contains("style=") && !svg.contains("href"));
        assert!(trends(&[], &[]).is_empty());
    }

    proptest::proptest! {
        /// Whatever the numbers (negative ones included), drawing never panics, writes no
        /// NaN or infinity, and marks only values at or above the floor.
        #[test]
        fn any_series_draws(values in proptest::collection::vec((0i64..1_000_000, -5i64..100_000), 0..120)) {
            let points: Vec<Point> = values.iter().enumerate().map(|(i, (p, w))| Point {
                generation: i as i64 + 1,
                published: *p,
                created: *w / 2,
                updated: *w / 3,
                withdrawn: *w,
                sessions_rejected: *p % 97,
            }).collect();
            let m = marks(&points);
            for (p, u) in points.iter().zip(&m) {
                proptest::prop_assert!(!u.withdrawn || p.withdrawn >= JUMP_FLOOR);
            }
            let svg = trends(&points, &m);
            proptest::prop_assert!(!svg.contains("NaN") && !svg.contains("inf,") && !svg.contains("inf\""));
            let lags: Vec<Lag> = values.iter().take(5).map(|(p, w)| Lag {
                name: format!("<c{p}>"),
                delivered: if *w < 0 { None } else { Some(*w) },
                lag: *p,
            }).collect();
            let l = lag(&lags, values.len() as i64);
            proptest::prop_assert!(!l.contains("NaN") && !l.contains("<c"));
        }
    }
}
