//! Request counters exposed as Prometheus text on the admin listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated on every S3 request. Relaxed atomics: each value is independent.
#[derive(Default)]
pub struct Metrics {
    /// Requests by status class: 1xx..5xx (index 0..4).
    requests: [AtomicU64; 5],
    /// Sum of request durations in microseconds (to the response head).
    duration_micros: AtomicU64,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
}

impl Metrics {
    pub fn record(&self, status: u16, micros: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].fetch_add(1, Ordering::Relaxed);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self, buckets: usize) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP bucketgate_s3_requests_total S3 requests answered, by status class.\n",
        );
        out.push_str("# TYPE bucketgate_s3_requests_total counter\n");
        for (i, c) in self.requests.iter().enumerate() {
            let _ = writeln!(
                out,
                "bucketgate_s3_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        let secs = self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP bucketgate_s3_request_seconds_sum Time to response head, summed.\n# TYPE bucketgate_s3_request_seconds_sum counter\nbucketgate_s3_request_seconds_sum {secs}"
        );
        let _ = writeln!(
            out,
            "# HELP bucketgate_connections_open Open S3 client connections.\n# TYPE bucketgate_connections_open gauge\nbucketgate_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP bucketgate_connections_total S3 client connections accepted.\n# TYPE bucketgate_connections_total counter\nbucketgate_connections_total {}",
            self.connections_total.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP bucketgate_buckets Buckets known to the gateway.\n# TYPE bucketgate_buckets gauge\nbucketgate_buckets {buckets}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_class() {
        let m = Metrics::default();
        m.record(200, 10);
        m.record(404, 10);
        m.record(404, 10);
        let text = m.render(3);
        assert!(text.contains("bucketgate_s3_requests_total{class=\"2xx\"} 1"));
        assert!(text.contains("bucketgate_s3_requests_total{class=\"4xx\"} 2"));
        assert!(text.contains("bucketgate_buckets 3"));
    }
}
