//! Accepting connections so that no client can starve the others.
//!
//! - A request's head must arrive within `header_timeout`. The same timer
//!   closes a kept-alive connection that sends no next request: hyper
//!   starts it whenever it waits for a request head.
//! - A request body that sends nothing for `io_timeout`, and a response
//!   the client stops reading for `io_timeout` (the socket accepts no byte
//!   in that time), end the connection.
//! - At most `max_connections` are open, and at most
//!   `max_connections_per_address` from one address. When the server is
//!   full, a newcomer takes the place of the oldest connection with no
//!   request in flight (an unfinished request head or an idle keep-alive),
//!   so the server keeps answering; only when every connection is busy is
//!   the newcomer answered 503 and closed.
//!
//! HTTP/1.1 only: what providers, browsers and TLS proxies speak.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// How long and how many: every limit the server puts on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub io_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(20),
            io_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_address: 256,
        }
    }
}

/// File descriptors kept free of connections: the database, the SQLite
/// files, logs.
const RESERVED_FDS: u64 = 256;

impl ConnectionLimits {
    /// Raises the soft open-files limit to the hard one and lowers
    /// `max_connections` to what it leaves room for.
    pub fn fit_to_open_files(mut self) -> Self {
        let allowed = rlimit::increase_nofile_limit(u64::MAX).ok().or_else(|| {
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|l| l.0)
        });
        if let Some(fds) = allowed {
            let room = fds.saturating_sub(RESERVED_FDS).max(16) as usize;
            if room < self.max_connections {
                tracing::warn!(
                    open_files = fds,
                    max_connections = room,
                    "the open-files limit leaves room for fewer connections than asked"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Table::new(limits));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors or memory: wait a little
                        // rather than spin.
                        tracing::warn!(cause = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(ticket) = table.admit(peer.ip()) else {
            refuse(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            tcp,
            peer,
            app.clone(),
            limits,
            ticket,
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    ticket: Ticket,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) {
    let mut io = tokio_io_timeout::TimeoutStream::new(tcp);
    io.set_write_timeout(Some(limits.io_timeout));
    let io = TokioIo::new(Box::pin(io));
    let in_flight = ticket.in_flight.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::start(&in_flight);
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let res = app
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|e| match e {});
            Ok::<_, Infallible>(res.map(|inner| Body::new(Tracked { inner, _busy: busy })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            // Dropping the connection closes its socket.
            _ = ticket.evicted.notified() => break,
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The answer to a connection the server has no room for.
fn refuse(tcp: tokio::net::TcpStream) {
    const BODY: &str = r#"{"error":{"code":"busy","message":"the server has too many connections open; try again shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tcp.try_write(answer.as_bytes());
}

/// Errors that concern one connection only (it was reset before it was
/// accepted), not the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Every open connection, oldest first, and how many come from each address.
struct Table {
    limits: ConnectionLimits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    by_id: BTreeMap<u64, Slot>,
    per_address: HashMap<IpAddr, usize>,
}

struct Slot {
    address: IpAddr,
    in_flight: Arc<AtomicUsize>,
    evicted: Arc<Notify>,
}

/// A connection's place in the table, given back when it closes.
struct Ticket {
    table: Arc<Table>,
    id: u64,
    in_flight: Arc<AtomicUsize>,
    evicted: Arc<Notify>,
}

impl Table {
    fn new(limits: ConnectionLimits) -> Self {
        Table {
            limits,
            open: Mutex::new(Open::default()),
        }
    }

    /// A place for a connection from `address`, making room by closing the
    /// oldest idle connection when full; `None` when there is none to close
    /// or the address has its share.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Ticket> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_address = open.per_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.limits.max_connections_per_address {
            return None;
        }
        if open.by_id.len() >= self.limits.max_connections {
            let idle = open
                .by_id
                .iter()
                .find(|(_, s)| s.in_flight.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(slot) = open.remove(idle) {
                slot.evicted.notify_one();
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        let slot = Slot {
            address,
            in_flight: Arc::default(),
            evicted: Arc::default(),
        };
        let ticket = Ticket {
            table: self.clone(),
            id,
            in_flight: slot.in_flight.clone(),
            evicted: slot.evicted.clone(),
        };
        *open.per_address.entry(address).or_default() += 1;
        open.by_id.insert(id, slot);
        Some(ticket)
    }
}

impl Open {
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.by_id.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&slot.address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&slot.address);
            }
        }
        Some(slot)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(self.id);
    }
}

/// Marks a connection busy from a request's head until its response's last
/// byte is handed to the socket (or the response is dropped).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn start(in_flight: &Arc<AtomicUsize>) -> Busy {
        in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(in_flight.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its connection marked busy while it lives.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_connections_per_address: per_address,
            ..Default::default()
        }
    }

    #[test]
    fn a_full_table_makes_room_by_closing_the_oldest_idle_connection() {
        let table = Arc::new(Table::new(limits(3, 10)));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let first = table.admit(a).unwrap();
        let second = table.admit(a).unwrap();
        let third = table.admit(a).unwrap();
        let _busy = Busy::start(&first.in_flight);
        // The oldest is busy, so the second (oldest idle) makes room.
        let fourth = table.admit(a).unwrap();
        assert_eq!(table.open.lock().unwrap().by_id.len(), 3);
        assert!(!table.open.lock().unwrap().by_id.contains_key(&second.id));
        // Its task is told; a permit waits for it.
        assert!(
            futures_util::FutureExt::now_or_never(second.evicted.notified()).is_some(),
            "the evicted connection is told to close"
        );
        drop(second);
        assert_eq!(table.open.lock().unwrap().by_id.len(), 3);
        let _b2 = Busy::start(&third.in_flight);
        let _b3 = Busy::start(&fourth.in_flight);
        assert!(table.admit(a).is_none(), "every connection busy: refused");
        drop(third);
        assert!(table.admit(a).is_some());
    }

    #[test]
    fn one_address_gets_its_share_only() {
        let table = Arc::new(Table::new(limits(100, 2)));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let t1 = table.admit(a).unwrap();
        let _t2 = table.admit(a).unwrap();
        assert!(table.admit(a).is_none());
        assert!(table.admit(b).is_some());
        drop(t1);
        let t3 = table.admit(a);
        assert!(t3.is_some());
        assert_eq!(table.open.lock().unwrap().per_address.get(&a), Some(&2));
        drop(t3);
        assert_eq!(table.open.lock().unwrap().per_address.get(&a), Some(&1));
    }
}
