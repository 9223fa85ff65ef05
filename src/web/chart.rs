//! The calls-over-time chart: stacked bars (answered, missed, other) drawn
//! as plain SVG on the server, in a wide and a narrow variant (CSS shows
//! the one that fits), with the figures as a table for screen readers and
//! anyone who wants the numbers.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use maud::{Markup, html};

use super::format::count;
use crate::analytics::views::Timeseries;

struct Point {
    label: String,
    long_label: String,
    calls: i64,
    answered: i64,
    missed: i64,
    other: i64,
}

fn points(ts: &Timeseries, tz: &TimeZone, hourly: bool) -> Vec<Point> {
    ts.buckets
        .iter()
        .map(|b| {
            let local = b
                .start
                .parse::<Timestamp>()
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .to_zoned_datetime(tz.clone());
            let (label, long_label) = if hourly {
                (
                    local.strftime("%H:%M").to_string(),
                    local.strftime("%-d %b, %H:%M").to_string(),
                )
            } else {
                (
                    local.strftime("%-d %b").to_string(),
                    local.strftime("%a %-d %b %Y").to_string(),
                )
            };
            let f = b.figures;
            Point {
                label,
                long_label,
                calls: f.calls,
                answered: f.answered,
                missed: f.missed,
                other: (f.calls - f.answered - f.missed).max(0),
            }
        })
        .collect()
}

/// The smallest "nice" number (1, 2, 2.5, 5 × 10ⁿ) at or above `x`.
fn nice_ceiling(x: i64) -> i64 {
    if x <= 4 {
        return 4;
    }
    let mut base = 1i64;
    while base * 10 < x {
        base *= 10;
    }
    for m in [1, 2, 5, 10] {
        if base * m >= x {
            // Prefer a top that splits into four even ticks.
            let top = base * m;
            return if top % 4 == 0 { top } else { (top + 3) / 4 * 4 };
        }
    }
    base * 10
}

struct Size {
    width: f64,
    height: f64,
    font: f64,
    max_labels: usize,
}

fn svg(points: &[Point], size: &Size, summary: &str) -> Markup {
    let (left, right, top, bottom) = (44.0, 8.0, 10.0, 26.0);
    let plot_w = size.width - left - right;
    let plot_h = size.height - top - bottom;
    let max = points.iter().map(|p| p.calls).max().unwrap_or(0);
    let ymax = nice_ceiling(max) as f64;
    let n = points.len().max(1);
    let band = plot_w / n as f64;
    let bar = (band * 0.68).clamp(1.0, 44.0);
    let step = n.div_ceil(size.max_labels).max(1);
    let y = |v: f64| top + plot_h - v / ymax * plot_h;
    let h = |v: i64| v as f64 / ymax * plot_h;
    let ticks: Vec<f64> = (0..=4).map(|i| ymax * i as f64 / 4.0).collect();
    html! {
        svg.chart-svg viewBox={ "0 0 " (size.width) " " (size.height) }
            role="img" aria-label=(summary) preserveAspectRatio="xMidYMid meet"
            font-size=(size.font) {
            @for t in &ticks {
                line.grid x1=(left) x2=(size.width - right) y1=(y(*t)) y2=(y(*t)) {}
                text.axis x=(left - 8.0) y=(y(*t) + size.font * 0.35) text-anchor="end" { (count(*t as i64)) }
            }
            @for (i, p) in points.iter().enumerate() {
                @let x = left + band * i as f64 + (band - bar) / 2.0;
                @let base = top + plot_h;
                g.bar {
                    title {
                        (p.long_label) ": " (count(p.calls)) " calls — "
                        (count(p.answered)) " answered, " (count(p.missed)) " missed"
                        @if p.other > 0 { ", " (count(p.other)) " other" }
                    }
                    // A transparent column keeps the tooltip reachable on short bars.
                    rect.hit x=(left + band * i as f64) y=(top) width=(band) height=(plot_h) {}
                    @if p.answered > 0 {
                        rect.bar-answered x=(x) y=(base - h(p.answered)) width=(bar) height=(h(p.answered)) {}
                    }
                    @if p.missed > 0 {
                        rect.bar-missed x=(x) y=(base - h(p.answered + p.missed)) width=(bar) height=(h(p.missed)) {}
                    }
                    @if p.other > 0 {
                        rect.bar-other x=(x) y=(base - h(p.calls)) width=(bar) height=(h(p.other)) {}
                    }
                }
                @if i % step == 0 {
                    text.axis x=(left + band * (i as f64 + 0.5)) y=(size.height - 8.0) text-anchor="middle" { (p.label) }
                }
            }
            line.baseline x1=(left) x2=(size.width - right) y1=(top + plot_h) y2=(top + plot_h) {}
        }
    }
}

/// The chart for a timeseries whose buckets are hours (`hourly`) or days.
pub fn calls_over_time(ts: &Timeseries, tz: &TimeZone, hourly: bool) -> Markup {
    let points = points(ts, tz, hourly);
    let total: i64 = points.iter().map(|p| p.calls).sum();
    let answered: i64 = points.iter().map(|p| p.answered).sum();
    let missed: i64 = points.iter().map(|p| p.missed).sum();
    let any_other = points.iter().any(|p| p.other > 0);
    let summary = format!(
        "Calls per {}: {} calls, {} answered, {} missed",
        if hourly { "hour" } else { "day" },
        count(total),
        count(answered),
        count(missed)
    );
    html! {
        figure.chart {
            div.chart-legend aria-hidden="true" {
                span.key { i.swatch.swatch-answered {} "Answered" }
                span.key { i.swatch.swatch-missed {} "Missed" }
                @if any_other { span.key { i.swatch.swatch-other {} "Other" } }
            }
            div.chart-wide {
                (svg(&points, &Size { width: 960.0, height: 260.0, font: 12.0, max_labels: 14 }, &summary))
            }
            div.chart-narrow {
                (svg(&points, &Size { width: 360.0, height: 220.0, font: 11.0, max_labels: 5 }, &summary))
            }
            details.chart-table {
                summary { "Show as table" }
                div.table-wrap {
                    table.table {
                        thead { tr {
                            th scope="col" { @if hourly { "Hour" } @else { "Day" } }
                            th.num scope="col" { "Calls" }
                            th.num scope="col" { "Answered" }
                            th.num scope="col" { "Missed" }
                        } }
                        tbody {
                            @for p in &points {
                                tr {
                                    td { (p.long_label) }
                                    td.num { (count(p.calls)) }
                                    td.num { (count(p.answered)) }
                                    td.num { (count(p.missed)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_tops_split_in_four() {
        assert_eq!(nice_ceiling(0), 4);
        assert_eq!(nice_ceiling(7), 12);
        assert_eq!(nice_ceiling(17), 20);
        assert_eq!(nice_ceiling(130), 200);
        assert_eq!(nice_ceiling(480), 500);
        for x in [1, 9, 33, 99, 101, 999, 12345] {
            let t = nice_ceiling(x);
            assert!(t >= x && t % 4 == 0, "{x} → {t}");
        }
    }
}
