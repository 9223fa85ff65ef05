//! Group commit for live callbacks.
//!
//! A provider's callbacks arrive one call at a time, many at once. Each
//! written on its own is one write transaction (and, on SQLite, one fsync)
//! per callback. Here they wait in a bounded queue; one writer task takes
//! everything waiting (up to [`MAX_BATCH`]) and stores it with one
//! [`Store::merge_calls`], while the next batch gathers behind it. Each
//! caller awaits the outcome of its own call, so a callback is answered only
//! once it is stored.
//!
//! Several callbacks for one call in one batch merge as they would one by
//! one (`merge_calls` folds repeats within a batch). When a batch fails, its
//! calls are written one by one, so each caller gets the error its own call
//! gets (unless the database is unavailable: then all of them get that).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::NewCall;
use crate::store::{Store, StoreError};

/// The most calls one transaction takes.
pub const MAX_BATCH: usize = 500;
/// Calls waiting beyond this make callers wait to enqueue.
const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    call: NewCall,
    /// When the callback was queued, for the batch's debug line.
    queued: Instant,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The queue and its writer. Owned by the app state; [`Batcher::close`]
/// stores what is queued and stops the writer.
pub struct Batcher {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn closed() -> StoreError {
    StoreError::Unavailable("the server is shutting down".into())
}

impl Batcher {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Batcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(run(store, rx));
        Batcher {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Stores `call` (merged into the stored call with its key) in the next
    /// batch; returns once that batch is committed.
    pub async fn merge(&self, call: NewCall) -> Result<(), StoreError> {
        let tx = self
            .tx
            .lock()
            .expect("batcher lock")
            .clone()
            .ok_or_else(closed)?;
        let (done, outcome) = oneshot::channel();
        tx.send(Job {
            call,
            queued: Instant::now(),
            done,
        })
        .await
        .map_err(|_| closed())?;
        drop(tx);
        outcome.await.map_err(|_| closed())?
    }

    /// Refuses new calls, stores the queued ones and waits for the writer.
    pub async fn close(&self) {
        drop(self.tx.lock().expect("batcher lock").take());
        let writer = self.writer.lock().expect("batcher lock").take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }
}

/// Runs until every sender is gone and the queue is empty.
async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let taken = Instant::now();
        let oldest = jobs.iter().map(|j| j.queued).min().unwrap_or(taken);
        let (calls, dones): (Vec<NewCall>, Vec<_>) =
            jobs.drain(..).map(|j| (j.call, j.done)).unzip();
        let n = calls.len();
        write(&store, calls, dones).await;
        // Where a callback's time goes: waiting for the batch before it,
        // then its own batch's write (LINEWISE_LOG=linewise::ingest::batcher=debug).
        tracing::debug!(
            calls = n,
            waited_ms = (taken - oldest).as_secs_f64() * 1e3,
            write_ms = taken.elapsed().as_secs_f64() * 1e3,
            "callback batch stored"
        );
    }
}

async fn write(
    store: &Arc<dyn Store>,
    calls: Vec<NewCall>,
    dones: Vec<oneshot::Sender<Result<(), StoreError>>>,
) {
    // On a task of its own, so that a panic in the store fails this batch,
    // not the writer.
    let s = store.clone();
    let batch = tokio::spawn(async move {
        let r = s.merge_calls(&calls).await;
        (calls, r)
    })
    .await;
    match batch {
        Ok((_, Ok(_))) => {
            for d in dones {
                let _ = d.send(Ok(()));
            }
        }
        Ok((_, Err(StoreError::Unavailable(m)))) => {
            for d in dones {
                let _ = d.send(Err(StoreError::Unavailable(m.clone())));
            }
        }
        Ok((calls, Err(e))) if calls.len() == 1 => {
            if let Some(d) = dones.into_iter().next() {
                let _ = d.send(Err(e));
            }
        }
        Ok((calls, Err(e))) => {
            tracing::warn!(error = %e, calls = calls.len(), "a callback batch failed; writing its calls one by one");
            for (call, d) in calls.into_iter().zip(dones) {
                let r = store.merge_calls(std::slice::from_ref(&call)).await;
                let _ = d.send(r.map(|_| ()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "a callback batch stopped");
            for d in dones {
                let _ = d.send(Err(StoreError::Unavailable(
                    "the write stopped unexpectedly".into(),
                )));
            }
        }
    }
}
