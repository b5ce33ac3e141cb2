//! The single metadata writer: group commit.
//!
//! redb allows one write transaction at a time and `begin_write` blocks the thread until the
//! previous one commits, so writers are funnelled into one thread. It takes every job waiting
//! in its queue, runs them in one transaction, commits once (one fsync), then answers each job.
//! Under load the batch grows by itself; a lone write is committed at once.

use std::sync::Arc;
use std::sync::mpsc;

use redb::{Database, WriteTransaction};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Most jobs in one transaction; bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 256;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (bool, Completion) + Send>;

#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn start(db: Arc<Database>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("meta-writer".into())
            .spawn(move || run(&db, &rx))
            .expect("spawning the metadata writer thread");
        Self { tx }
    }

    pub(super) async fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done_tx, done_rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |txn| {
            let result = f(txn);
            // An S3 error (the caller's, or a refusal such as no free port) is raised before
            // any mutation (the contract of `Store::write`); anything else may have left the
            // transaction half-changed, so the batch aborts.
            let fatal =
                matches!(&result, Err(e) if !matches!(e, Error::Client(_) | Error::Upstream(_)));
            let completion: Completion = Box::new(move |commit: Result<()>| {
                let _ = done_tx.send(result.and_then(|v| commit.map(|()| v)));
            });
            (fatal, completion)
        });
        self.tx
            .send(job)
            .map_err(|_| Error::Bug("metadata writer thread is gone"))?;
        done_rx
            .await
            .map_err(|_| Error::Bug("metadata writer dropped a job"))?
    }
}

fn run(db: &Database, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a metadata write transaction");
                for job in batch {
                    // Run nothing; answer every job with the failure.
                    drop(job);
                }
                continue;
            }
        };
        let mut completions = Vec::with_capacity(batch.len());
        let mut abort = false;
        for job in batch {
            let (fatal, completion) = job(&txn);
            abort |= fatal;
            completions.push(completion);
        }
        let outcome = if abort {
            drop(txn);
            Err(())
        } else {
            txn.commit().map_err(|e| {
                tracing::error!(error = %e, "metadata commit failed");
            })
        };
        for completion in completions {
            completion(outcome.map_err(|()| Error::Bug("metadata batch was not committed")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_commit_and_a_client_error_spares_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("db")).unwrap());
        let writer = Writer::start(db.clone());
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.submit(move |txn| {
                    if i == 13 {
                        return Err(Error::Client(s3s::S3Error::new(
                            s3s::S3ErrorCode::NoSuchKey,
                        )));
                    }
                    let mut t = txn.open_table(T)?;
                    t.insert(format!("k{i}").as_str(), i)?;
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 63);
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        assert_eq!(t.len().unwrap(), 63);
        assert!(t.get("k13").unwrap().is_none());
    }
}
