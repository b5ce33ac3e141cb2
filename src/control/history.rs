//! Per-bucket stats over time: a background sampler writes each bucket's usage (objects,
//! bytes) and the requests, errors and bytes in/out since the previous sample into redb, in one
//! short write transaction per sample for all buckets. Two tiers with bounded retention: every
//! sample for 7 days, and hourly points (usage at the hour's last sample, counters summed over
//! the hour) for 90 days; older points are pruned by the same transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::error::{Result, client_err};
use crate::gateway::Gateway;
use crate::meta::STATS_HISTORY;

const SAMPLES: u8 = 0;
const HOURLY: u8 = 1;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
/// How long every sample is kept.
const SAMPLE_RETENTION: u64 = 7 * DAY;
/// How long hourly points are kept.
const HOURLY_RETENTION: u64 = 90 * DAY;
/// Most points one answer holds (the newest are kept).
const MAX_POINTS: usize = 20_000;

/// One point: usage at the time, counters over the interval it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub objects: u64,
    pub bytes: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Point {
    /// Folds a newer sample into an hourly point.
    fn absorb(&mut self, newer: &Point) {
        self.objects = newer.objects;
        self.bytes = newer.bytes;
        self.requests += newer.requests;
        self.errors += newer.errors;
        self.bytes_in += newer.bytes_in;
        self.bytes_out += newer.bytes_out;
    }
}

/// The window a history request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
    Quarter,
}

impl Range {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "1h" => Self::Hour,
            "24h" => Self::Day,
            "7d" => Self::Week,
            "90d" => Self::Quarter,
            _ => {
                return Err(client_err!(
                    InvalidArgument,
                    "range: must be one of 1h, 24h, 7d, 90d"
                ));
            }
        })
    }

    /// (tier, seconds back): the last day from the samples, longer windows from hourly points.
    fn window(self) -> (u8, u64) {
        match self {
            Self::Hour => (SAMPLES, HOUR),
            Self::Day => (SAMPLES, DAY),
            Self::Week => (HOURLY, 7 * DAY),
            Self::Quarter => (HOURLY, 90 * DAY),
        }
    }
}

/// Counter values seen at the previous sample, per bucket (counters run since start-up).
type Seen = HashMap<String, [u64; 4]>;

/// Starts the sampler: one sample every `every`, the first one after `every`.
pub fn spawn_sampler(gateway: Arc<Gateway>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = Seen::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = sample(&gateway, &mut seen).await {
                tracing::warn!(error = %e, "stats sample failed");
            }
        }
    })
}

/// Takes one sample of every bucket and writes it.
async fn sample(gateway: &Gateway, seen: &mut Seen) -> Result<()> {
    let now = unix_now();
    let mut points = Vec::new();
    for rec in gateway.registry().all() {
        let usage = gateway.registry().usage(&rec.name)?;
        let c = gateway.counters.of(&rec.name);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let current = [
            load(&c.requests),
            load(&c.errors),
            load(&c.bytes_in),
            load(&c.bytes_out),
        ];
        let before = seen.insert(rec.name.clone(), current).unwrap_or_default();
        // A counter below its last value was reset (the bucket was deleted and created again).
        let delta = |i: usize| {
            if current[i] >= before[i] {
                current[i] - before[i]
            } else {
                current[i]
            }
        };
        points.push((
            rec.name.clone(),
            Point {
                objects: usage.objects,
                bytes: usage.bytes,
                requests: delta(0),
                errors: delta(1),
                bytes_in: delta(2),
                bytes_out: delta(3),
            },
        ));
    }
    seen.retain(|name, _| points.iter().any(|(n, _)| n == name));
    if points.is_empty() {
        return Ok(());
    }
    gateway
        .registry()
        .store()
        .write(move |txn| {
            let mut table = txn.open_table(STATS_HISTORY)?;
            for (bucket, point) in &points {
                record(&mut table, bucket, now, point)?;
            }
            Ok(())
        })
        .await
}

/// Writes one sample, folds it into its hour and prunes what fell out of retention.
fn record(
    table: &mut redb::Table<'_, (&'static str, u8, u64), &'static [u8]>,
    bucket: &str,
    now: u64,
    point: &Point,
) -> Result<()> {
    table.insert(
        (bucket, SAMPLES, now),
        serde_json::to_vec(point)?.as_slice(),
    )?;
    let hour = now - now % HOUR;
    let mut hourly: Point = match table.get((bucket, HOURLY, hour))? {
        Some(v) => serde_json::from_slice(v.value())?,
        None => Point::default(),
    };
    hourly.absorb(point);
    table.insert(
        (bucket, HOURLY, hour),
        serde_json::to_vec(&hourly)?.as_slice(),
    )?;
    for (tier, keep) in [(SAMPLES, SAMPLE_RETENTION), (HOURLY, HOURLY_RETENTION)] {
        let cutoff = now.saturating_sub(keep);
        let old: Vec<u64> = table
            .range((bucket, tier, 0)..(bucket, tier, cutoff))?
            .map(|item| item.map(|(k, _)| k.value().2))
            .collect::<std::result::Result<_, _>>()?;
        for t in old {
            table.remove((bucket, tier, t))?;
        }
    }
    Ok(())
}

/// The points of `bucket` within `range`, oldest first, with their unix times.
pub fn history(gateway: &Gateway, bucket: &str, range: Range) -> Result<Vec<(u64, Point)>> {
    let (tier, back) = range.window();
    let from = unix_now().saturating_sub(back);
    gateway.registry().store().read(|txn| {
        let table = txn.open_table(STATS_HISTORY)?;
        let mut out = Vec::new();
        for item in table.range((bucket, tier, from)..=(bucket, tier, u64::MAX))? {
            let (k, v) = item?;
            out.push((k.value().2, serde_json::from_slice(v.value())?));
        }
        if out.len() > MAX_POINTS {
            out.drain(..out.len() - MAX_POINTS);
        }
        Ok(out)
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_points_keep_the_last_usage_and_sum_counters() {
        let mut h = Point::default();
        h.absorb(&Point {
            objects: 1,
            bytes: 10,
            requests: 2,
            errors: 1,
            bytes_in: 10,
            bytes_out: 0,
        });
        h.absorb(&Point {
            objects: 3,
            bytes: 30,
            requests: 5,
            errors: 0,
            bytes_in: 20,
            bytes_out: 7,
        });
        assert_eq!(
            h,
            Point {
                objects: 3,
                bytes: 30,
                requests: 7,
                errors: 1,
                bytes_in: 30,
                bytes_out: 7
            }
        );
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(Range::parse("1h").unwrap(), Range::Hour);
        assert_eq!(Range::parse("90d").unwrap(), Range::Quarter);
        assert!(Range::parse("bad").is_err());
        assert!(Range::parse("").is_err());
    }

    #[test]
    fn retention_prunes_old_points() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(STATS_HISTORY).unwrap();
            let p = Point::default();
            let start = 1_000 * DAY;
            record(&mut t, "b", start, &p).unwrap();
            record(&mut t, "other", start, &p).unwrap();
            record(&mut t, "b", start + SAMPLE_RETENTION + 1, &p).unwrap();
            let samples = t
                .range(("b", SAMPLES, 0)..=("b", SAMPLES, u64::MAX))
                .unwrap()
                .count();
            assert_eq!(samples, 1, "the 7-day-old sample is pruned");
            let hourly = t
                .range(("b", HOURLY, 0)..=("b", HOURLY, u64::MAX))
                .unwrap()
                .count();
            assert_eq!(hourly, 2, "hourly points stay 90 days");
            let other = t
                .range(("other", SAMPLES, 0)..=("other", SAMPLES, u64::MAX))
                .unwrap()
                .count();
            assert_eq!(other, 1, "another bucket's points are not touched");
        }
        txn.commit().unwrap();
    }
}
