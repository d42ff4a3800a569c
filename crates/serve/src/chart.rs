//! Bar charts as inline SVG, drawn on the server: one bar per period with its label under it and
//! its value above it, so the chart reads without colour (and without script).

use crate::pages::escape;

/// One bar: its label (a day) and its value.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// What the value says, written above the bar (`$1.20`, `1.2M`).
    pub shown: String,
}

const HEIGHT: f64 = 180.0;
const BAR_WIDTH: f64 = 28.0;
const GAP: f64 = 6.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 48.0;

/// An SVG bar chart titled `title`; an empty chart says there is nothing to show.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let title = escape(title);
    if bars.is_empty() {
        return format!("<p class=\"empty\">{title}: nothing in this period.</p>");
    }
    let max = bars.iter().map(|bar| bar.value).fold(0.0_f64, f64::max);
    let width = bars.len() as f64 * (BAR_WIDTH + GAP) + GAP;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{title}\" viewBox=\"0 0 {width} {}\" width=\"{width}\" height=\"{}\">\
         <title>{title}</title>",
        HEIGHT + TOP + BOTTOM,
        HEIGHT + TOP + BOTTOM
    );
    for (at, bar) in bars.iter().enumerate() {
        let x = GAP + at as f64 * (BAR_WIDTH + GAP);
        let height =
            if max > 0.0 { (bar.value / max * HEIGHT).max(if bar.value > 0.0 { 1.0 } else { 0.0 }) } else { 0.0 };
        let y = TOP + HEIGHT - height;
        let label = escape(&bar.label);
        let shown = escape(&bar.shown);
        svg.push_str(&format!(
            "<g class=\"bar\"><title>{label}: {shown}</title>\
             <rect x=\"{x}\" y=\"{y:.1}\" width=\"{BAR_WIDTH}\" height=\"{height:.1}\"></rect>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{shown}</text>\
             <text class=\"label\" transform=\"translate({:.1},{:.1}) rotate(-60)\">{label}</text></g>",
            x + BAR_WIDTH / 2.0,
            (y - 4.0).max(10.0),
            x + BAR_WIDTH / 2.0,
            TOP + HEIGHT + 12.0,
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_value_labelled_and_escaped() {
        let chart = bars(
            "cost <per> day",
            &[
                Bar { label: "2026-05-01".into(), value: 2.0, shown: "$2.00".into() },
                Bar { label: "2026-05-02".into(), value: 0.0, shown: "$0.00".into() },
                Bar { label: "<script>".into(), value: 1.0, shown: "$1.00".into() },
            ],
        );
        assert_eq!(chart.matches("<g class=\"bar\">").count(), 3);
        assert!(chart.contains("cost &lt;per&gt; day") && !chart.contains("<script>"));
        assert!(chart.contains("height=\"180.0\""), "the largest bar is full height: {chart}");
        assert!(bars("t", &[]).contains("nothing"));
    }
}
