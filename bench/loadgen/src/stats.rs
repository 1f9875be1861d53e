//! Error counters and latency histograms.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Maximum number of example messages kept per error kind.
const SAMPLES_PER_KIND: usize = 5;

/// Thread-safe error tally: count per kind plus the first few detail strings.
#[derive(Default)]
pub struct Errors {
    inner: Mutex<BTreeMap<&'static str, (u64, Vec<String>)>>,
}

impl Errors {
    /// Records one error of `kind` with a human-readable detail.
    pub fn add(&self, kind: &'static str, detail: impl Into<String>) {
        let mut m = self.inner.lock().unwrap();
        let e = m.entry(kind).or_default();
        e.0 += 1;
        if e.1.len() < SAMPLES_PER_KIND {
            let mut d: String = detail.into();
            d.truncate(300);
            e.1.push(d);
        }
    }

    /// Total number of errors.
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap().values().map(|v| v.0).sum()
    }

    /// `{kind: count}` and `{kind: [samples]}` as JSON.
    pub fn to_json(&self) -> (Value, Value) {
        let m = self.inner.lock().unwrap();
        let counts: serde_json::Map<String, Value> =
            m.iter().map(|(k, v)| (k.to_string(), json!(v.0))).collect();
        let samples: serde_json::Map<String, Value> =
            m.iter().map(|(k, v)| (k.to_string(), json!(v.1))).collect();
        (Value::Object(counts), Value::Object(samples))
    }
}

/// Largest recordable latency (µs): 2 minutes.
const MAX_US: u64 = 120_000_000;

/// New latency histogram in microseconds (1 µs .. 2 min, 2 significant digits, i.e. ≤ 1 %
/// value error). Kept small (~20 KB) because every receiving client owns one.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 2).expect("histogram bounds")
}

/// Records a latency in microseconds, clamping to the histogram's range.
pub fn record(h: &mut Histogram<u64>, micros: u64) {
    let _ = h.record(micros.clamp(1, MAX_US));
}

/// Latency summary in milliseconds.
pub fn summary_ms(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let ms = |us: u64| (us as f64) / 1000.0;
    json!({
        "count": h.len(),
        "mean": h.mean() / 1000.0,
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}
