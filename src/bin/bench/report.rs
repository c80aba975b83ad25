//! The result table: one row per figure, with the raw-git (or other named) baseline it is
//! compared against, the ratio, and the target when it has one.

/// One figure.
pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub value: String,
    /// The baseline's figure and what it is ("raw git push 12.3 ms").
    pub baseline: String,
    /// value / baseline (or its reciprocal where bigger is better), as printed.
    pub ratio: String,
    pub target: String,
    /// `Some(true)` met, `Some(false)` missed, `None` no target.
    pub met: Option<bool>,
}

impl Row {
    pub fn new(scenario: &'static str, metric: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            scenario,
            metric: metric.into(),
            value: value.into(),
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: None,
        }
    }

    pub fn note(scenario: &'static str, text: &str) -> Row {
        Row::new(scenario, text, "")
    }

    pub fn baseline(mut self, b: impl Into<String>, ratio: f64) -> Row {
        self.baseline = b.into();
        self.ratio = format!("{ratio:.2}×");
        self
    }

    pub fn target(mut self, t: impl Into<String>, met: bool) -> Row {
        self.target = t.into();
        self.met = Some(met);
        self
    }
}

/// Prints the table to stdout as Markdown, so it pastes into BENCHMARKS.md as is.
pub fn print(rows: &[Row], tiny: bool) {
    println!();
    println!(
        "pushmirror bench{} — ratios are against raw git (or the named baseline) in this run",
        if tiny { " (--tiny sizes)" } else { "" }
    );
    println!();
    println!("| scenario | metric | value | baseline | ratio | target | met |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.scenario, r.metric, r.value, r.baseline, r.ratio, r.target, met
        );
    }
}
