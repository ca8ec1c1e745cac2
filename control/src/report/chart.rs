//! Inline SVG charts for the report: time series (one line per CDN, or per figure of a waiting
//! room) and state strips.
//!
//! Written by hand rather than with a charting library so the page stays one file with no
//! script: each chart is an `<svg>` with a legend, gridlines, a labelled value axis and UTC
//! time labels. Every series is one `<path class="series" data-cdn="…">` on the CDN charts
//! (the browser test counts them; a waiting room's charts name theirs `data-series`); a
//! missing figure breaks the line instead of being drawn as zero.
//!
//! More points than pixel columns are bucketed per column, keeping the worst value of the
//! bucket for figures where worse is higher (TTFB, errors) or lower (throughput, cache hits),
//! so a short spike survives the downsampling of a long event.

use std::fmt::Write as _;

use super::calendar;
use super::html::escape;

/// The chart's size in SVG units (the page scales it to its width).
/// About the width a chart gets on the page (two to a row), so its text is drawn near the size
/// it was set at.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 210.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 24.0;

/// CDN colours, by position in the configuration: the Okabe–Ito palette (distinguishable with
/// the common colour-vision deficiencies), without its yellow, which is unreadable on white.
/// The dashboard uses the same list, so a CDN has one colour everywhere.
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000",
];

/// The colour of the CDN at `index`.
pub fn colour(index: usize) -> &'static str {
    PALETTE
        .get(index % PALETTE.len())
        .copied()
        .unwrap_or("#000000")
}

/// How a pixel column's points become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// The highest (worse is higher).
    Max,
    /// The lowest (worse is lower).
    Min,
    /// The mean.
    Mean,
}

/// One line.
pub struct Series {
    /// What it stands for, a CDN id or a figure (legend and the path's data attribute).
    pub name: String,
    /// Its colour.
    pub colour: &'static str,
    /// `(at_ms, value)`, oldest first; `None` is a hole.
    pub points: Vec<(u64, Option<f64>)>,
}

/// A time-series chart.
pub struct Chart<'a> {
    /// Element id.
    pub id: &'a str,
    /// Title (also the SVG's accessible name).
    pub title: &'a str,
    /// Formats a value-axis label.
    pub label: fn(f64) -> String,
    /// The value axis's least top (so a flat zero line is drawn at the bottom, not the top).
    pub min_top: f64,
    /// A fixed top (ratios: 1.0), or `None` to fit the data.
    pub top: Option<f64>,
    /// How columns are bucketed.
    pub bucket: Bucket,
    /// A service level to draw as a dashed line, when it falls within the value axis.
    pub threshold: Option<f64>,
    /// The time axis, Unix ms.
    pub span: (u64, u64),
    /// The data attribute naming each path's series: `cdn` (`data-cdn`) on the CDN charts,
    /// where the browser test looks a CDN's line up by it; `series` for other figures.
    pub attribute: &'a str,
    /// The lines.
    pub series: Vec<Series>,
}

/// A "nice" step (1, 2, 2.5 or 5 × 10ⁿ) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// Time-axis steps, ms: the first giving at most eight labels is used.
const TIME_STEPS: [u64; 13] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 21_600_000,
];

fn time_step(span_ms: u64) -> u64 {
    TIME_STEPS
        .iter()
        .copied()
        .find(|s| span_ms / s <= 8)
        .unwrap_or(86_400_000)
}

/// Frame: the plot area's scales.
struct Frame {
    t0: u64,
    span_ms: f64,
    top: f64,
}

impl Frame {
    fn x(&self, at_ms: u64) -> f64 {
        LEFT + (at_ms.saturating_sub(self.t0) as f64 / self.span_ms) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let v = value.clamp(0.0, self.top);
        TOP + (1.0 - v / self.top) * (HEIGHT - TOP - BOTTOM)
    }
}

fn bucketed(points: &[(u64, Option<f64>)], frame: &Frame, how: Bucket) -> Vec<(f64, Option<f64>)> {
    let columns = (WIDTH - LEFT - RIGHT) as usize;
    if points.len() <= columns {
        return points.iter().map(|&(t, v)| (frame.x(t), v)).collect();
    }
    let mut out: Vec<(f64, Option<f64>)> = Vec::with_capacity(columns);
    let mut current: Option<(f64, Vec<f64>, bool)> = None;
    let flush = |out: &mut Vec<(f64, Option<f64>)>, (x, values, hole): (f64, Vec<f64>, bool)| {
        let v = match how {
            Bucket::Max => values.iter().copied().reduce(f64::max),
            Bucket::Min => values.iter().copied().reduce(f64::min),
            Bucket::Mean => {
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            }
        };
        out.push((x, v));
        if hole && v.is_some() {
            // A hole inside the column still breaks the line after it.
            out.push((x, None));
        }
    };
    for &(t, v) in points {
        let x = frame.x(t).floor();
        match &mut current {
            Some((cx, values, hole)) if (*cx - x).abs() < 0.5 => match v {
                Some(v) => values.push(v),
                None => *hole = true,
            },
            _ => {
                if let Some(done) = current.take() {
                    flush(&mut out, done);
                }
                current = Some((x, v.into_iter().collect(), v.is_none()));
            }
        }
    }
    if let Some(done) = current.take() {
        flush(&mut out, done);
    }
    out
}

/// The path of one series: a run of points per stretch without holes.
fn path(points: &[(f64, Option<f64>)], frame: &Frame) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for &(x, v) in points {
        match v {
            Some(v) if v.is_finite() => {
                let _ = write!(
                    d,
                    "{}{x:.1} {:.1}",
                    if pen_down { "L" } else { "M" },
                    frame.y(v)
                );
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    d
}

/// The legend along the top: a line sample per series, or a filled square per state.
fn legend(out: &mut String, entries: &[(&str, &str)], squares: bool) {
    let mut x = LEFT;
    for (name, colour) in entries {
        let sample = if squares {
            format!(r#"<rect x="{x:.0}" y="6" width="12" height="12" fill="{colour}"/>"#)
        } else {
            format!(
                r#"<line x1="{x:.0}" y1="12" x2="{:.0}" y2="12" stroke="{colour}" stroke-width="3"/>"#,
                x + 18.0
            )
        };
        let _ = write!(
            out,
            r#"<g class="legend">{sample}<text x="{:.0}" y="16">{}</text></g>"#,
            x + 23.0,
            escape(name)
        );
        x += 36.0 + 7.0 * name.chars().count() as f64;
    }
}

/// A time label's anchor: centred on its time (at the left end it runs into the value axis's
/// margin, which is free at that height), but kept inside the chart at the right end.
fn anchor(x: f64) -> &'static str {
    if x > WIDTH - RIGHT - 30.0 {
        "end"
    } else {
        "middle"
    }
}

fn time_axis(out: &mut String, frame: &Frame, t1: u64) {
    let step = time_step(t1.saturating_sub(frame.t0));
    let mut t = frame.t0.div_ceil(step) * step;
    while t <= t1 {
        let x = frame.x(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="{}">{}</text>"#,
            HEIGHT - BOTTOM,
            HEIGHT - 8.0,
            anchor(x),
            calendar::clock(t, step < 60_000)
        );
        t += step;
    }
}

fn open_svg(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg id="{}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(id),
        escape(title),
        escape(title)
    );
}

impl Chart<'_> {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let (t0, t1) = self.span;
        let data_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let (top, step) = match self.top {
            Some(top) => (top, top / 4.0),
            None => {
                let step = nice_step(data_max.max(self.min_top) / 4.0);
                (
                    step * (data_max.max(self.min_top) / step).ceil().max(1.0),
                    step,
                )
            }
        };
        let frame = Frame {
            t0,
            span_ms: t1.saturating_sub(t0).max(1) as f64,
            top,
        };
        let mut out = String::new();
        open_svg(&mut out, self.id, self.title);
        let mut v = 0.0;
        while v <= top * 1.000_001 {
            let y = frame.y(v);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(&(self.label)(v))
            );
            v += step;
        }
        time_axis(&mut out, &frame, t1);
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT,
            HEIGHT - BOTTOM
        );
        if let Some(level) = self.threshold.filter(|l| (0.0..=top).contains(l)) {
            let y = frame.y(level);
            let _ = write!(
                out,
                r#"<line class="threshold" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                WIDTH - RIGHT
            );
        }
        for s in &self.series {
            let d = path(&bucketed(&s.points, &frame, self.bucket), &frame);
            let _ = write!(
                out,
                r#"<path class="series" data-{}="{}" d="{d}" stroke="{}"/>"#,
                self.attribute,
                escape(&s.name),
                s.colour
            );
        }
        let entries: Vec<(&str, &str)> = self
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.colour))
            .collect();
        legend(&mut out, &entries, false);
        out.push_str("</svg>");
        out
    }
}

/// A CDN's (or a waiting room's) state over time: `(from_ms, to_ms, state code)` stretches.
pub struct StateRow {
    /// The CDN id, or the waiting room's event.
    pub name: String,
    /// Its colour (the row label).
    pub colour: &'static str,
    /// Stretches, oldest first.
    pub stretches: Vec<(u64, u64, &'static str)>,
}

/// A CDN's states and their colours, in legend order.
pub const STATE_COLOURS: [(&str, &str); 5] = [
    ("healthy", "#8fd19e"),
    ("recovering", "#ffd166"),
    ("gated", "#e4572e"),
    ("stale", "#a0a0a0"),
    ("no_data", "#dddddd"),
];

/// A waiting room's states and their colours, in legend order: the same greens, yellows and
/// reds as a CDN's, so "admitting", "held by an operator" and "held by capacity" read alike.
pub const ADMISSION_STATE_COLOURS: [(&str, &str); 4] = [
    ("before_doors", "#dddddd"),
    ("open", "#8fd19e"),
    ("paused", "#ffd166"),
    ("full", "#e4572e"),
];

/// What a state strip shows: its element id and title, its states with their colours
/// ([`STATE_COLOURS`], [`ADMISSION_STATE_COLOURS`]), and the data attribute naming each
/// path's row (`cdn` for the CDNs' strip).
pub struct Strip<'a> {
    /// Element id.
    pub id: &'a str,
    /// Title (also the SVG's accessible name).
    pub title: &'a str,
    /// `(state code, colour)`, in legend order.
    pub states: &'a [(&'a str, &'a str)],
    /// The data attribute naming each path's row.
    pub attribute: &'a str,
}

/// One row per CDN (or waiting room), coloured by state; one path per row and state.
pub fn state_strip(strip: &Strip<'_>, span: (u64, u64), rows: &[StateRow]) -> String {
    let Strip {
        id,
        title,
        states,
        attribute,
    } = *strip;
    let (t0, t1) = span;
    let row_h = 22.0;
    let height = TOP + rows.len() as f64 * (row_h + 6.0) + BOTTOM;
    let frame = Frame {
        t0,
        span_ms: t1.saturating_sub(t0).max(1) as f64,
        top: 1.0,
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="{}" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(id),
        escape(title),
        escape(title)
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + i as f64 * (row_h + 6.0);
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" fill="{}">{}</text>"#,
            LEFT - 6.0,
            y + 15.0,
            row.colour,
            escape(&row.name)
        );
        for &(state, fill) in states {
            let mut d = String::new();
            for &(from, to, s) in &row.stretches {
                if s == state {
                    let (x0, x1) = (frame.x(from), frame.x(to));
                    let _ = write!(
                        d,
                        "M{x0:.1} {y:.1}H{:.1}V{:.1}H{x0:.1}Z",
                        x1.max(x0 + 0.5),
                        y + row_h
                    );
                }
            }
            if !d.is_empty() {
                let _ = write!(
                    out,
                    r#"<path class="series state" data-{attribute}="{}" data-state="{state}" d="{d}" fill="{fill}"/>"#,
                    escape(&row.name)
                );
            }
        }
    }
    // The time axis sits under the last row.
    let axis_frame_height = height;
    let step = time_step(t1.saturating_sub(t0));
    let mut t = t0.div_ceil(step) * step;
    while t <= t1 {
        let x = frame.x(t);
        let _ = write!(
            out,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="{}">{}</text>"#,
            axis_frame_height - 8.0,
            anchor(x),
            calendar::clock(t, step < 60_000)
        );
        t += step;
    }
    legend(&mut out, states, true);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn nice_steps_round_up_to_one_two_two_and_a_half_or_five() {
        assert_eq!(nice_step(0.9), 1.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_step(180.0), 200.0);
        assert_eq!(nice_step(0.003), 0.005);
        assert_eq!(nice_step(0.0), 1.0);
    }

    fn chart(points: Vec<(u64, Option<f64>)>) -> Chart<'static> {
        Chart {
            id: "c",
            title: "T",
            label: |v| format!("{v}"),
            min_top: 1.0,
            top: None,
            bucket: Bucket::Max,
            threshold: None,
            span: (0, 100_000),
            attribute: "cdn",
            series: vec![Series {
                name: "a<b".into(),
                colour: colour(0),
                points,
            }],
        }
    }

    #[test]
    fn a_hole_in_the_data_breaks_the_line() {
        let svg = chart(vec![
            (0, Some(1.0)),
            (10_000, Some(2.0)),
            (20_000, None),
            (30_000, Some(2.0)),
        ])
        .svg();
        let d = svg
            .split(r#" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert!(svg.contains(r#"data-cdn="a&lt;b""#), "{svg}");
    }

    #[test]
    fn downsampling_keeps_a_one_tick_spike() {
        let mut points: Vec<(u64, Option<f64>)> =
            (0..10_000).map(|i| (i * 10, Some(1.0))).collect();
        points[5_000].1 = Some(50.0);
        let svg = chart(points).svg();
        let d = svg
            .split(r#" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let steps = d.matches(['M', 'L']).count();
        let columns = (WIDTH - LEFT - RIGHT) as usize;
        assert!(steps <= columns, "{steps} points for {columns} columns");
        // The axis fits the spike (top 60 with a step of 20: labels 0..=60).
        assert!(svg.contains(">60</text>"), "{svg}");
        let min_y = d
            .split(['M', 'L'])
            .filter_map(|p| p.split(' ').nth(1)?.parse::<f64>().ok())
            .fold(f64::MAX, f64::min);
        let spike_y = TOP + (1.0 - 50.0 / 60.0) * (HEIGHT - TOP - BOTTOM);
        assert!((min_y - spike_y).abs() < 0.1, "{min_y} vs {spike_y}");
    }

    #[test]
    fn the_time_axis_labels_at_most_eight_round_times() {
        assert_eq!(time_step(60_000), 10_000);
        assert_eq!(time_step(3 * 3_600_000), 1_800_000);
        let svg = chart(vec![(0, Some(1.0))]).svg();
        assert!(svg.contains(">00:00:30</text>"), "{svg}");
    }
}
