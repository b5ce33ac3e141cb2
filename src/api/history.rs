//! `GET /api/buckets/{name}/stats/history?range=1h|24h|7d|90d`: the bucket's stats over time.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, PathArgs, QueryArgs};
use crate::control::history::{Range, history};

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    pub range: Option<String>,
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathArgs(name): PathArgs<String>,
    QueryArgs(q): QueryArgs<HistoryQuery>,
) -> ApiResult<axum::Json<Value>> {
    state.control.bucket(&caller.actor, &name)?;
    let range = Range::parse(q.range.as_deref().unwrap_or("24h"))
        .map_err(|e| ApiError::from(e).on_field("range"))?;
    let gateway = state.control.gateway().clone();
    // The 24-hour window at one-second sampling is a long scan: off the async threads.
    let points = tokio::task::spawn_blocking(move || history(&gateway, &name, range))
        .await
        .map_err(|_| ApiError::internal())??;
    let points: Vec<Value> = points
        .into_iter()
        .map(|(t, p)| {
            let t = time::OffsetDateTime::from_unix_timestamp(t as i64)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            json!({
                "t": t, "objects": p.objects, "bytes": p.bytes, "requests": p.requests,
                "errors": p.errors, "bytesIn": p.bytes_in, "bytesOut": p.bytes_out,
            })
        })
        .collect();
    Ok(axum::Json(
        json!({ "range": q.range.unwrap_or_else(|| "24h".into()), "points": points }),
    ))
}
