//! Line charts as PNG (plotters, bitmap backend), with an embedded DejaVu Sans
//! so that plots render the same on any machine, with or without system fonts.
//!
//! Imports nothing of ours.

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// One named series of `(x, y)` points.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
pub struct LineChart<'a> {
    /// Title at the top.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// The series.
    pub series: Vec<Series>,
    /// Fixed y range (else fitted to the data).
    pub y_range: Option<(f64, f64)>,
    /// Series drawn as unconnected points (scatter plots, marked values).
    pub markers: Vec<Series>,
}

/// Errors drawing a chart.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PlotError {
    /// The PNG being written.
    pub path: String,
    /// What failed.
    pub reason: String,
}

/// Draws `chart` to a PNG at `path` (800x500).
pub fn line_chart(chart: &LineChart<'_>, path: &Path) -> Result<(), PlotError> {
    REGISTER.call_once(|| {
        // the font is valid TrueType, so registering cannot fail
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let fail = |reason: String| PlotError { path: path.display().to_string(), reason };
    let points = chart.series.iter().chain(&chart.markers).flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Err(fail("no points to plot".into()));
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    let (y0, y1) = chart.y_range.unwrap_or(if y1 > y0 { (y0, y1 + 0.05 * (y1 - y0)) } else { (y0 - 1.0, y1 + 1.0) });
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut ctx = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| fail(e.to_string()))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    for (i, series) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).mix(0.9);
        ctx.draw_series(LineSeries::new(series.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| fail(e.to_string()))?
            .label(series.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (i, series) in chart.markers.iter().enumerate() {
        let color = Palette99::pick(chart.series.len() + i).mix(0.8);
        ctx.draw_series(series.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| fail(e.to_string()))?
            .label(series.label.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let chart = LineChart {
            title: "loss",
            x_label: "step",
            y_label: "loss",
            series: vec![Series { label: "train".into(), points: (0..50).map(|i| (i as f64, 1.0 / (1.0 + i as f64))).collect() }],
            y_range: None,
            markers: Vec::new(),
        };
        line_chart(&chart, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 5_000, "a real picture, not an empty canvas");
    }
}
