//! SVG charts of benchmark results (plotters, SVG backend only): throughput bars for
//! `bench io` and a per-step timeline for `bench loader`. People read a chart faster than a
//! table.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Drawing or writing the chart failed.
    #[error("cannot draw the chart `{}`: {message}", path.display())]
    Draw {
        /// The SVG file.
        path: PathBuf,
        /// What plotters reported (its error type is generic over the backend).
        message: String,
    },
    /// Writing the SVG file failed.
    #[error(transparent)]
    Write(#[from] crate::output_file::Error),
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn colour(index: usize) -> RGBColor {
    COLOURS.get(index % COLOURS.len()).copied().unwrap_or(BLACK)
}

/// Bars of MiB/s per round, one colour per target; `series` is `(label, MiB/s per round)`.
pub fn throughput_bars(
    path: &Path,
    title: &str,
    series: &[(String, Vec<f64>)],
) -> Result<(), Error> {
    draw(path, |root| {
        let rounds = series
            .iter()
            .map(|(_, v)| v.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let top = series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(1.0f64, f64::max)
            * 1.15;
        let groups = series.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..rounds as f64, 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("round")
            .y_desc("MiB/s")
            .x_label_formatter(&|x| format!("{}", x.floor() as usize + 1))
            .draw()?;
        let width = 0.8 / groups as f64;
        for (index, (label, values)) in series.iter().enumerate() {
            let fill = colour(index);
            chart
                .draw_series(values.iter().enumerate().map(|(round, value)| {
                    let left = round as f64 + 0.1 + width * index as f64;
                    Rectangle::new([(left, 0.0), (left + width, *value)], fill.filled())
                }))?
                .label(label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Lines of step time and of IO wait per step, one colour per target; `series` is
/// `(label, [(step time ms, wait ms)])` with steps of all epochs in order.
pub fn step_timeline(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Error> {
    draw(path, |root| {
        let steps = series
            .iter()
            .map(|(_, v)| v.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let top = series
            .iter()
            .flat_map(|(_, v)| v.iter().map(|(step, _)| *step))
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..steps as f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("milliseconds")
            .draw()?;
        for (index, (label, values)) in series.iter().enumerate() {
            let stroke = colour(index);
            chart
                .draw_series(LineSeries::new(
                    values
                        .iter()
                        .enumerate()
                        .map(|(i, (step, _))| (i as f64, *step)),
                    stroke.stroke_width(2),
                ))?
                .label(format!("{label}: step"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], stroke.stroke_width(2))
                });
            chart
                .draw_series(LineSeries::new(
                    values
                        .iter()
                        .enumerate()
                        .map(|(i, (_, wait))| (i as f64, *wait)),
                    stroke.mix(0.5).stroke_width(1),
                ))?
                .label(format!("{label}: waiting for data"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], stroke.mix(0.5)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw(path: &Path, body: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<(), Error> {
    let fail = |message: String| Error::Draw {
        path: path.to_owned(),
        message,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        body(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    crate::output_file::write(path, svg.as_bytes(), crate::output_file::Privacy::Shared)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let bars = dir.path().join("bars.svg");
        throughput_bars(
            &bars,
            "t",
            &[("a".into(), vec![1.0, 2.0]), ("b".into(), vec![3.0])],
        )
        .unwrap();
        let text = std::fs::read_to_string(&bars).unwrap();
        assert!(text.starts_with("<svg") && text.contains("<rect"));
        let line = dir.path().join("line.svg");
        step_timeline(&line, "t", &[("a".into(), vec![(10.0, 1.0), (12.0, 2.0)])]).unwrap();
        assert!(
            std::fs::read_to_string(&line)
                .unwrap()
                .contains("<polyline")
        );
    }
}
