//! The accept loop: HTTP/1.1 (keep-alive) and h2c on hyper, with every way a client can hold a
//! connection bounded.
//!
//! **Invariant:** only *reading the request* is timed. A connection with a request in flight
//! (from its head until the last byte of the answer) is never closed by a timer, so streamed
//! answers (SSE from `/chat/completions`) last as long as the model talks. What is bounded:
//!
//! - the request head: `header_read_timeout` from accept (first request) or from the first byte
//!   of a later request on a keep-alive connection;
//! - idleness between requests: `keep_alive_timeout`;
//! - the request body: `body_read_timeout` from the request head (then 408, connection closed);
//! - a declared body above `max_body_bytes`: 413 before any body byte is read;
//! - the number of open connections: `max_connections`. At the cap the oldest connection that
//!   has no request in flight (idle, or still sending its head) is closed to make room, so slow
//!   or idle clients cannot lock out new ones (the health probes among them). When every
//!   connection is busy, new ones wait in the kernel's backlog until one finishes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, Response, Version, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::error::ApiError;

/// The connection limits, from [`crate::Settings`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub max_body_bytes: usize,
    /// The limit of `POST /prompts/batch`.
    pub max_batch_body_bytes: usize,
}

impl Limits {
    pub fn from_settings(s: &crate::Settings) -> Limits {
        Limits {
            header_read_timeout: s.header_read_timeout,
            keep_alive_timeout: s.keep_alive_timeout,
            body_read_timeout: s.body_read_timeout,
            max_connections: s.max_connections.max(1),
            max_body_bytes: s.max_body_bytes,
            max_batch_body_bytes: s.max_batch_body_bytes,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, closes idle
/// connections and waits for in-flight requests to finish.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let registry = Arc::new(Registry::new());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true).header_read_timeout(None);
    let builder = Arc::new(builder);
    let full_log = RateLimited::new(Duration::from_secs(10));
    let accept_log = RateLimited::new(Duration::from_secs(10));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    if is_per_connection_error(&e) {
                        continue;
                    }
                    // Out of file descriptors (or similar): make room and back off briefly.
                    let evicted = registry.evict_oldest_idle();
                    accept_log.warn(|suppressed| {
                        tracing::error!(error = %e, open_connections = registry.len(), closed_an_idle_connection = evicted, suppressed, "accept error; raise the file-descriptor limit (ulimit -n) or lower max_connections");
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        // TCP_NODELAY: without it every SSE chunk after the first waits for the client's
        // delayed ACK (~40 ms per streamed answer on keep-alive connections).
        let _ = stream.set_nodelay(true);
        if registry.len() >= limits.max_connections
            && !make_room(&registry, &limits, &full_log, &mut shutdown).await
        {
            break;
        }
        spawn_connection(stream, &registry, &builder, &router, &limits);
    }
    drop(listener);
    registry.begin_shutdown();
    while registry.len() > 0 {
        registry.changed.notified().await;
    }
    Ok(())
}

/// Frees a connection slot by closing the oldest connection without a request in flight, or
/// waits for one to free. Returns `false` if `shutdown` completed meanwhile.
async fn make_room(
    registry: &Registry,
    limits: &Limits,
    log: &RateLimited,
    shutdown: &mut Pin<&mut (impl Future<Output = ()> + Send)>,
) -> bool {
    loop {
        let open = registry.len();
        if open < limits.max_connections {
            return true;
        }
        if registry.evict_oldest_idle() {
            log.warn(|suppressed| {
                tracing::warn!(open_connections = open, max_connections = limits.max_connections, suppressed,
                    "connection limit reached: closing the oldest idle connection to make room. If this is normal load, raise promptd_settings.max_connections (PROMPTD_MAX_CONNECTIONS)");
            });
            return true;
        }
        log.warn(|suppressed| {
            tracing::warn!(open_connections = open, max_connections = limits.max_connections, suppressed,
                "connection limit reached and every connection has a request in flight: new connections wait until one finishes. Raise promptd_settings.max_connections (PROMPTD_MAX_CONNECTIONS) if this is normal load");
        });
        registry.waiting.store(true, Ordering::SeqCst);
        tokio::select! {
            _ = shutdown.as_mut() => return false,
            _ = registry.changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        registry.waiting.store(false, Ordering::SeqCst);
    }
}

/// Errors of one connection attempt that say nothing about the listener (as in hyper/axum).
fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

fn spawn_connection(
    stream: TcpStream,
    registry: &Arc<Registry>,
    builder: &Arc<auto::Builder<TokioExecutor>>,
    router: &Router,
    limits: &Arc<Limits>,
) {
    let conn = registry.register();
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        conn: conn.clone(),
    });
    let service = ConnService {
        router: router.clone(),
        conn: conn.clone(),
        limits: limits.clone(),
    };
    let registry = registry.clone();
    let builder = builder.clone();
    let limits = limits.clone();
    tokio::spawn(async move {
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let notified = conn.wake.notified();
        tokio::pin!(notified);
        // One timer per connection, moved earlier only when needed: on a busy keep-alive
        // connection each request pushes the deadline later, and re-arming the timer for every
        // request would cost more than letting it fire once and re-checking.
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        let mut graceful = false;
        // The connection's state is checked right after each poll of the connection, in the
        // same pass, so requests starting and finishing never need to wake this task.
        std::future::poll_fn(|cx| {
            loop {
                conn.polling.store(true, Ordering::SeqCst);
                let done = connection.as_mut().poll(cx).is_ready();
                conn.polling.store(false, Ordering::SeqCst);
                if done {
                    return Poll::Ready(());
                }
                while notified.as_mut().poll(cx).is_ready() {
                    notified.set(conn.wake.notified());
                }
                let closing = registry.shutting_down.load(Ordering::SeqCst);
                if conn.is_idle() {
                    if closing || conn.evicted.load(Ordering::SeqCst) {
                        return Poll::Ready(());
                    }
                } else {
                    conn.evicted.store(false, Ordering::SeqCst);
                }
                if closing && !graceful {
                    // Finish what is in flight, then close.
                    graceful = true;
                    connection.as_mut().graceful_shutdown();
                    continue;
                }
                if let Some(d) = conn.deadline(&limits) {
                    // No request in flight at the deadline: the head (or the next request)
                    // did not come in time. Nothing is lost by dropping the connection.
                    if d <= Instant::now() {
                        return Poll::Ready(());
                    }
                    if armed.is_none_or(|a| d < a) {
                        sleep.as_mut().reset(d);
                        armed = Some(d);
                    }
                    if sleep.as_mut().poll(cx).is_ready() {
                        armed = None;
                        continue;
                    }
                }
                return Poll::Pending;
            }
        })
        .await;
        registry.remove(conn.id);
    });
}

/// The open connections, oldest first.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
    open: AtomicUsize,
    /// Signalled when a connection closes (or goes idle while the accept loop waits).
    changed: Notify,
    /// The accept loop waits for a slot.
    waiting: AtomicBool,
    shutting_down: AtomicBool,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(BTreeMap::new()),
            open: AtomicUsize::new(0),
            changed: Notify::new(),
            waiting: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    fn len(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn register(self: &Arc<Self>) -> Arc<Conn> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64;
        let conn = Arc::new(Conn {
            id,
            registry: Arc::downgrade(self),
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            started_any: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(now),
            first_byte_ms: AtomicU64::new(NONE),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
            polling: AtomicBool::new(false),
        });
        self.conns.lock().insert(id, conn.clone());
        self.open.fetch_add(1, Ordering::SeqCst);
        conn
    }

    fn remove(&self, id: u64) {
        if self.conns.lock().remove(&id).is_some() {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        self.changed.notify_one();
    }

    /// Asks the oldest connection without a request in flight to close. `false` if there is none.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.conns.lock();
        for conn in conns.values() {
            if conn.is_idle() && !conn.evicted.swap(true, Ordering::SeqCst) {
                conn.wake.notify_one();
                return true;
            }
        }
        false
    }

    fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for conn in self.conns.lock().values() {
            conn.wake.notify_one();
        }
    }
}

const NONE: u64 = u64::MAX;

/// One connection's state, shared by its task, its IO and its requests.
struct Conn {
    id: u64,
    registry: std::sync::Weak<Registry>,
    epoch: Instant,
    /// Requests whose answer is not finished (HTTP/2 can have several).
    in_flight: AtomicUsize,
    /// A request has started on this connection (later ones use the keep-alive timeout).
    started_any: AtomicBool,
    /// When the last request finished (or the connection was accepted), ms since `epoch`.
    idle_since_ms: AtomicU64,
    /// When the first byte of the next request arrived while idle, ms since `epoch`.
    first_byte_ms: AtomicU64,
    /// Chosen to make room at the connection cap.
    evicted: AtomicBool,
    /// Wakes the connection's task to re-check its state.
    wake: Notify,
    /// The connection's task is polling it: state changes made meanwhile are seen right after
    /// the poll, without a wake-up.
    polling: AtomicBool,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// When this connection is closed unless a request starts first; `None` while busy.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if !self.is_idle() {
            return None;
        }
        let at = |ms: u64, d: Duration| Some(self.epoch + Duration::from_millis(ms) + d);
        let idle_since = self.idle_since_ms.load(Ordering::SeqCst);
        if !self.started_any.load(Ordering::SeqCst) {
            return at(idle_since, limits.header_read_timeout);
        }
        match self.first_byte_ms.load(Ordering::SeqCst) {
            NONE => at(idle_since, limits.keep_alive_timeout),
            first => at(first, limits.header_read_timeout),
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.started_any.store(true, Ordering::SeqCst);
        self.first_byte_ms.store(NONE, Ordering::SeqCst);
    }

    fn request_finished(&self) {
        self.idle_since_ms.store(self.now_ms(), Ordering::SeqCst);
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.wake_from_outside();
            if let Some(r) = self.registry.upgrade()
                && r.waiting.load(Ordering::SeqCst)
            {
                r.changed.notify_one();
            }
        }
    }

    /// Bytes arrived: if no request is in flight they start the next request's head.
    fn bytes_read(&self) {
        if self.is_idle()
            && self.started_any.load(Ordering::Relaxed)
            && self.first_byte_ms.load(Ordering::Relaxed) == NONE
        {
            self.first_byte_ms.store(self.now_ms(), Ordering::SeqCst);
            self.wake_from_outside();
        }
    }

    /// Wakes the connection's task unless it is the one running this (HTTP/2 answers are
    /// written by tasks of their own).
    fn wake_from_outside(&self) {
        if !self.polling.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }
}

/// Counts a request as in flight until dropped (with its answer's body, or its future).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn start(conn: &Arc<Conn>) -> InFlight {
        conn.request_started();
        InFlight(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The socket, noting when bytes arrive.
struct WatchedIo {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.bytes_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The per-connection service: refuses oversized declared bodies at once, times the body,
/// and keeps the request counted until its answer is done.
#[derive(Clone)]
struct ConnService {
    router: Router,
    conn: Arc<Conn>,
    limits: Arc<Limits>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = InFlight::start(&self.conn);
        let http1 = req.version() < Version::HTTP_2;
        let max = if req.uri().path() == crate::routes::prompts::BATCH_PATH {
            self.limits.max_batch_body_bytes
        } else {
            self.limits.max_body_bytes
        };
        if let Some(declared) = declared_length(&req)
            && declared > max as u64
        {
            let resp = close_after(http1, too_large(declared, max));
            return Box::pin(async move { Ok(resp.map(|b| TrackedBody::new(b, guard))) });
        }
        let timed_out = Arc::new(AtomicBool::new(false));
        let limit = self.limits.body_read_timeout;
        let req = req.map(|body| TimedBody {
            inner: body,
            started: Instant::now(),
            limit,
            sleep: None,
            timed_out: timed_out.clone(),
        });
        let router = self.router.clone();
        Box::pin(async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let resp = if timed_out.load(Ordering::SeqCst) {
                close_after(http1, body_timed_out(limit))
            } else {
                resp
            };
            Ok(resp.map(|b| TrackedBody::new(b, guard)))
        })
    }
}

fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

// These answers are given before the request reaches the router, but in the same shapes and
// with the statuses `ApiError` decides, like every other error.
fn too_large(declared: u64, max: usize) -> Response<axum::body::Body> {
    ApiError::PayloadTooLarge(format!(
        "Request body of {declared} bytes (Content-Length) is larger than the limit of {max} bytes. \
         Send a smaller body, or raise promptd_settings.max_body_bytes (PROMPTD_MAX_BODY_BYTES, --max-body-bytes)."
    ))
    .into_response()
}

fn body_timed_out(limit: Duration) -> Response<axum::body::Body> {
    ApiError::RequestTimeout(format!(
        "The request body did not arrive within {} ms, so the request was not processed and the connection is closed. \
         Send the body without pauses, or raise promptd_settings.body_read_timeout_ms (PROMPTD_BODY_READ_TIMEOUT_MS).",
        limit.as_millis()
    ))
    .into_response()
}

/// On HTTP/1 the connection is closed after this answer (the rest of the body is not read).
fn close_after(http1: bool, mut resp: Response<axum::body::Body>) -> Response<axum::body::Body> {
    if http1 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The request body, failing once `limit` has passed since the request head arrived.
struct TimedBody {
    inner: Incoming,
    started: Instant,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimeout(Duration);

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.started + self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::SeqCst);
            let limit = self.limit;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer's body; the request stays in flight until it is finished or dropped.
pub struct TrackedBody {
    inner: axum::body::Body,
    _guard: InFlight,
}

impl TrackedBody {
    fn new(inner: axum::body::Body, guard: InFlight) -> TrackedBody {
        TrackedBody {
            inner,
            _guard: guard,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A log line at most once per period, counting what it held back.
struct RateLimited {
    period: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimited {
    fn new(period: Duration) -> RateLimited {
        RateLimited {
            period,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    fn warn(&self, emit: impl FnOnce(u64)) {
        let mut last = self.last.lock();
        if last.is_some_and(|t| t.elapsed() < self.period) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        emit(self.suppressed.swap(0, Ordering::Relaxed));
    }
}

/// What [`raise_fd_limit`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit before, and now (after raising it to the hard limit where allowed).
    pub before: u64,
    pub now: u64,
    pub hard: Option<u64>,
}

impl FdLimit {
    /// The connection cap this limit affords: about half the descriptors (a proxied model call
    /// holds a second socket), keeping 64 for the database, files and the listener; at most
    /// 10,000.
    pub fn connection_budget(&self) -> usize {
        let budget = self.now.saturating_sub(64) / 2;
        usize::try_from(budget)
            .unwrap_or(usize::MAX)
            .clamp(1, 10_000)
    }
}

/// Raises the soft file-descriptor limit to the hard limit (each connection is a descriptor).
/// `None` where the OS has no such limit or it cannot be read.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<FdLimit> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let before = lim.current?;
    let mut now = before;
    if lim.maximum != Some(before) {
        // Unlimited hard limits are refused by Linux for NOFILE; cap at nr_open's usual value.
        let target = lim.maximum.unwrap_or(1 << 20);
        if target > before
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: lim.maximum,
                },
            )
            .is_ok()
        {
            now = target;
        }
    }
    Some(FdLimit {
        before,
        now,
        hard: lim.maximum,
    })
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<FdLimit> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_log_line_is_written_once_per_period_and_counts_what_it_held_back() {
        let log = RateLimited::new(Duration::from_millis(100));
        let mut emitted = Vec::new();
        for _ in 0..50 {
            log.warn(|suppressed| emitted.push(suppressed));
        }
        assert_eq!(emitted, vec![0]);
        std::thread::sleep(Duration::from_millis(120));
        log.warn(|suppressed| emitted.push(suppressed));
        assert_eq!(emitted, vec![0, 49]);
    }

    #[test]
    fn the_connection_budget_leaves_room_for_upstream_sockets_and_files() {
        let fd = |now| FdLimit {
            before: 1024,
            now,
            hard: Some(now),
        };
        assert_eq!(fd(1024).connection_budget(), 480);
        assert_eq!(fd(1 << 20).connection_budget(), 10_000);
        assert_eq!(fd(10).connection_budget(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_limit() {
        let fd = raise_fd_limit().expect("Unix has RLIMIT_NOFILE");
        assert!(fd.now >= fd.before);
        if let Some(hard) = fd.hard {
            assert_eq!(fd.now, hard, "{fd:?}");
        }
    }
}
