//! Request counters exposed as Prometheus text on the admin listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests and bytes of one bucket since the process started.
#[derive(Default, Debug)]
pub struct BucketCounters {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Per-bucket counters, created on a bucket's first request.
#[derive(Default)]
pub struct PerBucket {
    by_bucket: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<BucketCounters>>>,
}

impl PerBucket {
    /// The counters of `bucket` (created when missing).
    pub fn of(&self, bucket: &str) -> std::sync::Arc<BucketCounters> {
        if let Some(c) = self
            .by_bucket
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(bucket)
        {
            return c.clone();
        }
        self.by_bucket
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(bucket.to_owned())
            .or_default()
            .clone()
    }

    /// Counts one request: `bytes_in` declared by the request, `bytes_out` by the response.
    pub fn record(&self, bucket: &str, status: u16, bytes_in: u64, bytes_out: u64) {
        let c = self.of(bucket);
        c.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 400 {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        c.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        c.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Forgets a deleted bucket.
    pub fn remove(&self, bucket: &str) {
        self.by_bucket
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(bucket);
    }
}

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
    pub fn render(&self, buckets: usize, per_bucket: &PerBucket) -> String {
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
        let map = per_bucket
            .by_bucket
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        for (metric, help, pick) in [
            (
                "bucketgate_bucket_requests_total",
                "S3 requests per bucket.",
                0,
            ),
            (
                "bucketgate_bucket_errors_total",
                "S3 requests per bucket answered 4xx/5xx.",
                1,
            ),
            (
                "bucketgate_bucket_received_bytes_total",
                "Request body bytes per bucket.",
                2,
            ),
            (
                "bucketgate_bucket_sent_bytes_total",
                "Response body bytes per bucket.",
                3,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for name in &names {
                let c = &map[*name];
                let v = [&c.requests, &c.errors, &c.bytes_in, &c.bytes_out][pick]
                    .load(Ordering::Relaxed);
                let _ = writeln!(out, "{metric}{{bucket=\"{name}\"}} {v}");
            }
        }
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
        let per = PerBucket::default();
        per.record("photos", 200, 10, 20);
        per.record("photos", 404, 0, 5);
        let text = m.render(3, &per);
        assert!(text.contains("bucketgate_bucket_requests_total{bucket=\"photos\"} 2"));
        assert!(text.contains("bucketgate_bucket_errors_total{bucket=\"photos\"} 1"));
        assert!(text.contains("bucketgate_bucket_sent_bytes_total{bucket=\"photos\"} 25"));
        assert!(text.contains("bucketgate_s3_requests_total{class=\"2xx\"} 1"));
        assert!(text.contains("bucketgate_s3_requests_total{class=\"4xx\"} 2"));
        assert!(text.contains("bucketgate_buckets 3"));
    }
}
