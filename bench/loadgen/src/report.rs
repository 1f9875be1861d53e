//! Final output: one JSON line on stdout, a human-readable summary on stderr.

use serde_json::Value;

/// The complete result of a run.
pub struct Report {
    pub json: Value,
}

impl Report {
    /// Wraps the report object.
    pub fn new(json: Value) -> Self {
        Self { json }
    }

    /// Number of errors observed.
    pub fn errors_total(&self) -> u64 {
        self.json["errors_total"].as_u64().unwrap_or(0)
    }
}

fn num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

/// Prints the summary (stderr) and the JSON line (stdout).
pub fn print(r: &Report) {
    let j = &r.json;
    eprintln!("---- switchboard-loadgen: {} ----", j["mode"].as_str().unwrap_or("?"));
    eprintln!(
        "joins: {} ok in {} s = {} joins/s (join latency p50 {} ms, p99 {} ms)",
        j["joins_ok"],
        num(&j["join_stage_secs"], 2),
        num(&j["joins_per_sec"], 0),
        num(&j["join_latency_ms"]["p50"], 2),
        num(&j["join_latency_ms"]["p99"], 2)
    );
    eprintln!(
        "registered: {} clients in {} s = {} registrations/s",
        j["clients_registered"],
        num(&j["connect_stage_secs"], 2),
        num(&j["registrations_per_sec"], 0)
    );
    if j["mode"] == "throughput" {
        eprintln!(
            "messages: {} received / {} sent (ws {}, /message {}, /ws POST {}) in {} s = {} msgs/s",
            j["messages_received"],
            j["messages_sent"],
            j["messages_sent_ws"],
            j["messages_sent_http_message"],
            j["messages_sent_http_collider"],
            num(&j["exchange_secs"], 2),
            num(&j["msgs_per_sec"], 0)
        );
        let l = &j["latency_ms"];
        eprintln!(
            "relay latency ms: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            num(&l["p50"], 3),
            num(&l["p90"], 3),
            num(&l["p99"], 3),
            num(&l["p999"], 3),
            num(&l["max"], 3)
        );
        let s = &j["server_exchange"];
        if !s.is_null() {
            eprintln!(
                "server during exchange: {} CPU-s = {} CPU-s per 100k msgs",
                num(&s["exchange_cpu_secs"], 2),
                num(&s["cpu_secs_per_100k_msgs"], 3)
            );
        }
    } else {
        eprintln!(
            "hold: {} clients held {} s (ended by {}), {} sockets dropped during hold",
            j["clients_connected"],
            num(&j["held_secs"], 1),
            j["hold_ended_by"],
            j["sockets_dropped_during_hold"]
        );
    }
    eprintln!("leave stage: {} s; total {} s; loadgen CPU {} s", num(&j["leave_stage_secs"], 2), num(&j["total_secs"], 1), num(&j["loadgen_cpu_secs"], 2));
    eprintln!("errors: {} {}", j["errors_total"], j["errors"]);
    if r.errors_total() > 0 {
        eprintln!("error samples: {}", j["error_samples"]);
    }
    println!("{}", serde_json::to_string(j).expect("json"));
}
