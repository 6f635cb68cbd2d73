//! Nodes, sessions and connections: the I/O half of RTT.
//!
//! A node owns a tokio runtime (two worker threads), its listeners, its
//! sessions and a queue of events for the application. Each live
//! connection is one task that owns the TLS stream and interleaves reading
//! and writing in a single poll loop, so a TLS 1.3 KeyUpdate can be issued on
//! the connection and neither direction can block the other.
#![deny(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::codec::{self, Accept, Frame, FrameType, Hello, Prng, MAX_FRAME_PAYLOAD};
use crate::config::{AllowPeers, Config, Policy};
use crate::engine::{Engine, EngineConfig, EngineEvent, OpenError, SendError, Signal, Stats};
use crate::tls::{self, AllowPolicy, Identity};

/// Status codes of the FFI (see docs/rtt.md).
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// Bad argument.
    pub const INVALID_ARGUMENT: i32 = -1;
    /// No such handle.
    pub const UNKNOWN_HANDLE: i32 = -2;
    /// Queue full (`error` policy).
    pub const QUEUE_FULL: i32 = -3;
    /// Queue full (`block` policy): call the blocking send.
    pub const WOULD_BLOCK: i32 = -4;
    /// Blocking send timed out.
    pub const BLOCK_TIMEOUT: i32 = -5;
    /// Message above the maximum.
    pub const MESSAGE_TOO_LARGE: i32 = -6;
    /// Channel limit reached.
    pub const TOO_MANY_CHANNELS: i32 = -7;
    /// Session closed.
    pub const SESSION_CLOSED: i32 = -8;
    /// Channel closed.
    pub const CHANNEL_CLOSED: i32 = -9;
    /// I/O failure.
    pub const IO: i32 = -10;
    /// Protocol violation.
    pub const PROTOCOL: i32 = -11;
    /// Internal error (a caught panic).
    pub const INTERNAL: i32 = -12;
    /// The node is shut down.
    pub const SHUT_DOWN: i32 = -13;
    /// Caller buffer too small.
    pub const BUFFER_TOO_SMALL: i32 = -14;
}

/// Event kinds (see docs/rtt.md).
pub mod ev {
    #![allow(missing_docs)]
    pub const ACCEPTED: u32 = 1;
    pub const CONNECTED: u32 = 2;
    pub const CONNECT_FAILED: u32 = 3;
    pub const SESSION_OPEN: u32 = 4;
    pub const CONNECTION_LOST: u32 = 5;
    pub const HEARTBEAT_TIMEOUT: u32 = 6;
    pub const SESSION_CLOSE: u32 = 7;
    pub const READABLE: u32 = 8;
    pub const WRITABLE: u32 = 9;
    pub const DROP: u32 = 10;
    pub const REPLAY: u32 = 11;
    pub const FLUSHED: u32 = 12;
    pub const FLUSH_FAILED: u32 = 13;
    pub const REKEY: u32 = 14;
    pub const VERIFICATION_FAILURE: u32 = 15;
}

/// An error with its FFI status.
#[derive(Debug, Clone)]
pub struct Error(pub i32, pub String);

fn err<T>(code: i32, msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(code, msg.into()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Refused-handshake events are not queued beyond this backlog (they are
/// still counted), so a flood of bad connections cannot grow memory.
const MAX_DIAGNOSTIC_BACKLOG: usize = 4096;

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn next_handle() -> u64 {
    NEXT_HANDLE.fetch_add(1, Ordering::Relaxed)
}

type Registry<T> = Mutex<HashMap<u64, Arc<T>>>;

fn nodes() -> &'static Registry<Node> {
    static R: OnceLock<Registry<Node>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn sessions() -> &'static Registry<Session> {
    static R: OnceLock<Registry<Session>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Looks up a node handle.
pub fn node(handle: u64) -> Result<Arc<Node>, Error> {
    lock(nodes()).get(&handle).cloned().ok_or_else(|| {
        Error(
            status::UNKNOWN_HANDLE,
            format!("Unknown node handle {handle}"),
        )
    })
}

/// Looks up a session handle.
pub fn session(handle: u64) -> Result<Arc<Session>, Error> {
    lock(sessions()).get(&handle).cloned().ok_or_else(|| {
        Error(
            status::UNKNOWN_HANDLE,
            format!("Unknown session handle {handle}"),
        )
    })
}

/// One queued event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Kind ([`ev`]).
    pub kind: u32,
    /// Session handle or 0.
    pub session: u64,
    /// Operation or channel id.
    pub op: u64,
    /// Kind-specific value.
    pub value: i64,
    /// JSON payload (may be empty).
    pub payload: Vec<u8>,
}

impl Event {
    fn record_len(&self) -> usize {
        (32 + self.payload.len()).div_ceil(8) * 8
    }
}

thread_local! {
    /// Events held back by [`Node::emit_together`] on this thread.
    static EMIT_BATCH: std::cell::RefCell<Option<Vec<Event>>> =
        const { std::cell::RefCell::new(None) };
}

/// The waker type registered from JavaScript.
pub type Waker = extern "C" fn();

#[derive(Default)]
struct WakerState {
    f: Option<Waker>,
    pending: bool,
    stop: bool,
    in_call: bool,
    /// The thread that registered the waker (the JavaScript thread).
    js_thread: Option<std::thread::ThreadId>,
}

/// The waker thread's shared state. The waker is only ever called from this
/// dedicated thread with no lock held: a Deno callback called from a foreign
/// thread blocks that thread until JavaScript has run it, so calling it from a
/// runtime thread (or under a session lock) could deadlock with a
/// synchronous FFI call on the JavaScript thread.
#[derive(Default)]
struct WakerShared {
    st: Mutex<WakerState>,
    cond: Condvar,
}

/// The node's event queue with its armed waker.
#[derive(Default)]
pub struct EventQueue {
    q: Mutex<VecDeque<Event>>,
    cond: Condvar,
    waker: Arc<WakerShared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    armed: AtomicBool,
    closed: AtomicBool,
}

impl EventQueue {
    /// Queues several events at once (a poll sees all or none of them).
    pub fn push_all(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let was_empty = {
            let mut q = lock(&self.q);
            let was = q.is_empty();
            q.extend(events);
            was
        };
        self.cond.notify_all();
        if was_empty {
            self.wake();
        }
    }

    /// Queues an event, waking the application if the queue was empty.
    pub fn push(&self, e: Event) {
        let was_empty = {
            let mut q = lock(&self.q);
            let was = q.is_empty();
            q.push_back(e);
            was
        };
        self.cond.notify_all();
        if was_empty {
            self.wake();
        }
    }

    /// Asks the waker thread to call the waker (if one is set and armed).
    fn wake(&self) {
        let mut st = lock(&self.waker.st);
        if st.f.is_some() && !st.stop && self.armed.swap(false, Ordering::SeqCst) {
            st.pending = true;
            self.waker.cond.notify_one();
        }
    }

    fn waker_thread(shared: Arc<WakerShared>) {
        loop {
            let f = {
                let mut st = lock(&shared.st);
                while !st.pending && !st.stop {
                    st = shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.stop {
                    return;
                }
                st.pending = false;
                st.in_call = st.f.is_some();
                st.f
            };
            if let Some(f) = f {
                f();
            }
            lock(&shared.st).in_call = false;
            shared.cond.notify_all();
        }
    }

    /// Sets (or removes) the waker; it starts armed. If events are already
    /// queued, a wake-up follows at once (from the waker thread).
    pub fn set_waker(&self, f: Option<Waker>) -> std::io::Result<()> {
        {
            let mut t = lock(&self.thread);
            if f.is_some() && t.is_none() {
                let shared = self.waker.clone();
                *t = Some(
                    std::thread::Builder::new()
                        .name("web4-rtt-waker".into())
                        .spawn(move || Self::waker_thread(shared))?,
                );
            }
            let mut st = lock(&self.waker.st);
            st.f = f;
            st.stop = false;
            if f.is_some() {
                st.js_thread = Some(std::thread::current().id());
            }
            self.armed.store(true, Ordering::SeqCst);
        }
        if f.is_some() && !lock(&self.q).is_empty() {
            self.wake();
        }
        Ok(())
    }

    /// Removes the waker and ends the waker thread; returns false if that
    /// cannot finish yet. A waker call already in flight waits for the
    /// JavaScript thread to run it: called from another thread this waits
    /// for it (bounded), but called on the JavaScript thread itself (which
    /// cannot run it while inside this call) it returns false at once and
    /// the caller must let the event loop turn and call again.
    fn stop_waker(&self) -> bool {
        let mut st = lock(&self.waker.st);
        st.f = None;
        st.stop = true;
        self.waker.cond.notify_all();
        if st.in_call {
            if st.js_thread == Some(std::thread::current().id()) {
                return false;
            }
            let (g, _) = self
                .waker
                .cond
                .wait_timeout_while(st, Duration::from_secs(10), |s| s.in_call)
                .unwrap_or_else(|p| p.into_inner());
            st = g;
            if st.in_call {
                return false;
            }
        }
        drop(st);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        true
    }

    /// Blocks until an event is queued or the timeout passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        let q = lock(&self.q);
        let (q, _) = self
            .cond
            .wait_timeout_while(q, timeout, |q| {
                q.is_empty() && !self.closed.load(Ordering::SeqCst)
            })
            .unwrap_or_else(|p| p.into_inner());
        !q.is_empty()
    }

    /// Copies out whole event records; re-arms the waker when the queue is
    /// left empty. `Err(needed)` if the first record does not fit.
    pub fn poll(&self, buf: &mut [u8]) -> Result<usize, usize> {
        let mut q = lock(&self.q);
        let mut pos = 0;
        while let Some(e) = q.front() {
            let n = e.record_len();
            if pos + n > buf.len() {
                if pos == 0 {
                    return Err(n);
                }
                break;
            }
            let r = &mut buf[pos..pos + n];
            r.fill(0);
            r[0..4].copy_from_slice(&e.kind.to_le_bytes());
            r[4..8].copy_from_slice(&(e.payload.len() as u32).to_le_bytes());
            r[8..16].copy_from_slice(&e.session.to_le_bytes());
            r[16..24].copy_from_slice(&e.op.to_le_bytes());
            r[24..32].copy_from_slice(&e.value.to_le_bytes());
            r[32..32 + e.payload.len()].copy_from_slice(&e.payload);
            pos += n;
            q.pop_front();
        }
        if q.is_empty() {
            self.armed.store(true, Ordering::SeqCst);
        }
        Ok(pos)
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        lock(&self.q).len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.q).is_empty()
    }

    /// Takes every queued event (tests).
    pub fn drain(&self) -> Vec<Event> {
        lock(&self.q).drain(..).collect()
    }
}

/// A bounded window of latency samples (microseconds).
#[derive(Debug, Default, Clone)]
pub struct Latency {
    samples: VecDeque<u64>,
}

impl Latency {
    const CAP: usize = 1024;

    /// Adds a sample.
    pub fn record(&mut self, d: Duration) {
        if self.samples.len() == Self::CAP {
            self.samples.pop_front();
        }
        self.samples.push_back(d.as_micros() as u64);
    }

    fn merge(&mut self, o: &Latency) {
        for &s in &o.samples {
            if self.samples.len() == Self::CAP {
                self.samples.pop_front();
            }
            self.samples.push_back(s);
        }
    }

    /// The `q` quantile (0..=1), 0 without samples.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.samples.is_empty() {
            return 0;
        }
        let mut v: Vec<u64> = self.samples.iter().copied().collect();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

/// Session state as seen by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A connection carries the session.
    Open,
    /// The connection was lost; resumption pending.
    Disconnected,
    /// Graceful close in progress.
    Closing {
        /// Flush deadline.
        deadline: Instant,
        /// Reason reported when done.
        reason: &'static str,
    },
    /// Final.
    Closed,
}

/// Mutable session state.
pub struct SessInner {
    /// The session engine.
    pub engine: Engine,
    /// Lifecycle state.
    pub state: State,
    gen: u64,
    driver: Option<AbortHandle>,
    reconnects: u64,
    rekeys: u64,
    latency: Latency,
}

/// One RTT session.
pub struct Session {
    /// FFI handle.
    pub handle: u64,
    /// Session id.
    pub id: [u8; 16],
    /// Authenticated peer fingerprint.
    pub peer_fp: String,
    dial: Option<(String, u16)>,
    /// State under a lock.
    pub inner: Mutex<SessInner>,
    notify: Notify,
    /// The connection task has a deferral timer running (deferred ACKs or
    /// credit will be written without a wake-up). Written under `inner`.
    deferred_armed: AtomicBool,
    room: Condvar,
    node: Weak<Node>,
}

#[derive(Default)]
struct NodeState {
    sessions: HashMap<u64, Arc<Session>>,
    pending: VecDeque<(u64, AbortHandle)>,
    ops: HashMap<u64, AbortHandle>,
    tasks: Vec<AbortHandle>,
}

#[derive(Default)]
struct Totals {
    stats: Stats,
    reconnects: u64,
    rekeys: u64,
    latency: Latency,
}

/// An RTT node.
pub struct Node {
    /// FFI handle.
    pub handle: u64,
    /// Configuration.
    pub cfg: Config,
    ecfg: EngineConfig,
    identity: Arc<Identity>,
    server_cfg: Arc<rustls::ServerConfig>,
    /// Events for the application.
    pub events: EventQueue,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    rth: tokio::runtime::Handle,
    st: Mutex<NodeState>,
    by_id: Mutex<HashMap<[u8; 16], u64>>,
    live: AtomicUsize,
    totals: Mutex<Totals>,
    verification_failures: AtomicU64,
    shutting_down: AtomicBool,
}

#[derive(Debug)]
struct Fail {
    code: &'static str,
    message: String,
    counted: bool,
}

impl Fail {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Fail {
            code,
            message: message.into(),
            counted: false,
        }
    }
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

fn classify(e: &std::io::Error, client: bool, peer: &str) -> Fail {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    match rustls_error(e) {
        Some(R::InvalidCertificate(C::ApplicationVerificationFailure)) if client => Fail {
            code: "FINGERPRINT_MISMATCH",
            message: format!(
                "Peer {peer} presented a certificate whose fingerprint differs from the pinned one"
            ),
            counted: true,
        },
        Some(R::InvalidCertificate(C::ApplicationVerificationFailure)) => Fail {
            code: "PEER_NOT_ALLOWED",
            message: "Peer fingerprint is not in allow_peers".into(),
            counted: true,
        },
        Some(R::AlertReceived(A::AccessDenied)) if client => Fail {
            code: "PEER_NOT_ALLOWED",
            message: format!("Peer {peer} refused our fingerprint (not allowed)"),
            counted: true,
        },
        Some(R::AlertReceived(A::AccessDenied | A::BadCertificate | A::CertificateUnknown)) => {
            Fail {
                code: "FINGERPRINT_MISMATCH",
                message: "Peer refused our certificate: its pinned fingerprint differs from ours"
                    .into(),
                counted: true,
            }
        }
        Some(R::InvalidCertificate(c)) => Fail {
            code: "TLS_FAILED",
            message: format!("Peer {peer} certificate refused: {c:?}"),
            counted: true,
        },
        Some(r) => Fail::new(
            "TLS_FAILED",
            format!("TLS handshake with {peer} failed: {r}"),
        ),
        None => Fail::new("IO", format!("Connection to {peer} failed: {e}")),
    }
}

/// A TLS stream whose keys can be refreshed.
pub trait Rekey {
    /// Sends a TLS 1.3 KeyUpdate; false if refused.
    fn rekey(&mut self) -> bool;
}

impl Rekey for tokio_rustls::client::TlsStream<TcpStream> {
    fn rekey(&mut self) -> bool {
        self.get_mut().1.refresh_traffic_keys().is_ok()
    }
}

impl Rekey for tokio_rustls::server::TlsStream<TcpStream> {
    fn rekey(&mut self) -> bool {
        self.get_mut().1.refresh_traffic_keys().is_ok()
    }
}

enum End {
    Heartbeat,
    Io(String),
    Protocol(String),
    PeerClosed,
    Done,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

async fn read_frame<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Frame, std::io::Error> {
    let mut tmp = [0u8; 4096];
    loop {
        match codec::decode(buf, MAX_FRAME_PAYLOAD) {
            Ok(Some((f, used))) => {
                buf.drain(..used);
                return Ok(f);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e.to_string(),
                ))
            }
        }
        let n = io.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the handshake",
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

async fn write_frame<S: AsyncWrite + Unpin>(io: &mut S, f: &Frame) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(f.encoded_len());
    codec::encode(f, &mut out);
    io.write_all(&out).await?;
    io.flush().await
}

fn reject_frame(code: &str, message: &str) -> Frame {
    Frame {
        payload: format!("{code}\n{message}").into_bytes(),
        ..Frame::empty(FrameType::Reject, 0, 0)
    }
}

fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .expect("system randomness");
    id
}

impl Node {
    /// Creates a node from its JSON configuration.
    pub fn create(json: &[u8]) -> Result<Arc<Node>, Error> {
        let cfg = Config::from_json(json).map_err(|m| Error(status::INVALID_ARGUMENT, m))?;
        let identity = Identity::from_pem(cfg.key_pem.as_bytes())
            .map_err(|e| Error(status::INVALID_ARGUMENT, e.0))?;
        let policy = match &cfg.allow_peers {
            AllowPeers::List(l) => AllowPolicy::List(l.clone()),
            AllowPeers::Word(_) => AllowPolicy::Any,
        };
        let server_cfg =
            tls::server_config(&identity, policy).map_err(|e| Error(status::INTERNAL, e.0))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_keep_alive(ms(500))
            .thread_name("web4-rtt")
            .enable_all()
            .build()
            .map_err(|e| Error(status::IO, format!("Runtime start failed: {e}")))?;
        let node = Arc::new(Node {
            handle: next_handle(),
            ecfg: EngineConfig::from_config(&cfg),
            cfg,
            identity: Arc::new(identity),
            server_cfg,
            events: EventQueue::default(),
            rth: rt.handle().clone(),
            rt: Mutex::new(Some(rt)),
            st: Mutex::default(),
            by_id: Mutex::default(),
            live: AtomicUsize::new(0),
            totals: Mutex::default(),
            verification_failures: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
        });
        lock(nodes()).insert(node.handle, node.clone());
        Ok(node)
    }

    /// Registers (or removes) the event waker. If events are already queued,
    /// the waker is called once from a runtime thread.
    pub fn set_waker(&self, f: Option<Waker>) -> Result<(), Error> {
        self.check_running()?;
        self.events
            .set_waker(f)
            .map_err(|e| Error(status::IO, format!("Cannot start the waker thread: {e}")))
    }

    /// Test helper: dials `port` asking to resume session `id`; returns the
    /// refusal code, or `None` if the server accepted.
    #[cfg(test)]
    pub(crate) fn try_resume(
        self: &Arc<Self>,
        port: u16,
        fp: &str,
        id: [u8; 16],
    ) -> Option<String> {
        let node = self.clone();
        let fp = fp.to_string();
        let hello = Hello {
            resume: Some(id),
            last_received: Vec::new(),
        };
        let r = self
            .rth
            .block_on(async move { dial(&node, "127.0.0.1", port, &fp, hello).await.map(|_| ()) });
        r.err().map(|f| f.code.to_string())
    }

    /// The node's own fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.identity.fingerprint
    }

    fn check_running(&self) -> Result<(), Error> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return err(status::SHUT_DOWN, "The node is shut down");
        }
        Ok(())
    }

    fn emit(&self, kind: u32, session: u64, op: u64, value: i64, payload: serde_json::Value) {
        let payload = if payload.is_null() {
            Vec::new()
        } else {
            payload.to_string().into_bytes()
        };
        let e = Event {
            kind,
            session,
            op,
            value,
            payload,
        };
        let e = EMIT_BATCH.with(|b| match b.borrow_mut().as_mut() {
            Some(batch) => {
                batch.push(e);
                None
            }
            None => Some(e),
        });
        if let Some(e) = e {
            self.events.push(e);
        }
    }

    /// Runs `f`, queueing the events it emits on this thread together (one
    /// poll sees all of them: a session's failed flushes and its close).
    fn emit_together<R>(&self, f: impl FnOnce() -> R) -> R {
        /// Queues the held events even if `f` panics.
        struct Flush<'a>(&'a EventQueue, Option<Vec<Event>>);
        impl Drop for Flush<'_> {
            fn drop(&mut self) {
                let outer = self.1.take();
                let batch = EMIT_BATCH.with(|b| std::mem::replace(&mut *b.borrow_mut(), outer));
                self.0.push_all(batch.unwrap_or_default());
            }
        }
        let outer = EMIT_BATCH.with(|b| b.borrow_mut().replace(Vec::new()));
        let _flush = Flush(&self.events, outer);
        f()
    }

    /// Binds a listener and starts accepting; returns the bound port.
    pub fn listen(self: &Arc<Self>, host: &str, port: u16) -> Result<u16, Error> {
        self.check_running()?;
        let std_l = std::net::TcpListener::bind((host, port))
            .map_err(|e| Error(status::IO, format!("Cannot listen on {host}:{port}: {e}")))?;
        std_l
            .set_nonblocking(true)
            .map_err(|e| Error(status::IO, e.to_string()))?;
        let bound = std_l
            .local_addr()
            .map_err(|e| Error(status::IO, e.to_string()))?
            .port();
        let listener = {
            let _g = self.rth.enter();
            TcpListener::from_std(std_l).map_err(|e| Error(status::IO, e.to_string()))?
        };
        let weak = Arc::downgrade(self);
        let task = self.rth.spawn(async move {
            loop {
                let accepted = listener.accept().await;
                let Some(node) = weak.upgrade() else { return };
                match accepted {
                    Ok((tcp, _)) => node.start_inbound(tcp),
                    Err(_) => tokio::time::sleep(ms(20)).await,
                }
            }
        });
        lock(&self.st).tasks.push(task.abort_handle());
        Ok(bound)
    }

    fn start_inbound(self: &Arc<Self>, tcp: TcpStream) {
        let id = next_handle();
        let node = self.clone();
        let mut st = lock(&self.st);
        let task = self.rth.spawn(async move {
            let r =
                tokio::time::timeout(ms(node.cfg.handshake_timeout_ms), node.clone().serve(tcp))
                    .await;
            lock(&node.st).pending.retain(|(i, _)| *i != id);
            let fail = match r {
                Ok(Ok(())) => return,
                Ok(Err(f)) => f,
                Err(_) => Fail::new("HANDSHAKE_TIMEOUT", "Inbound handshake timed out"),
            };
            node.inbound_failed(fail, "");
        });
        st.pending.push_back((id, task.abort_handle()));
        while st.pending.len() > self.cfg.max_pending_handshakes {
            let (_, h) = st.pending.pop_front().expect("non-empty");
            h.abort();
            if self.events.len() >= MAX_DIAGNOSTIC_BACKLOG {
                continue;
            }
            self.emit(
                ev::VERIFICATION_FAILURE,
                0,
                0,
                0,
                json!({"code": "TOO_MANY_HANDSHAKES", "peer_fingerprint": "", "message": "Oldest pending handshake shed: too many handshakes in flight"}),
            );
        }
    }

    fn inbound_failed(&self, f: Fail, peer: &str) {
        if f.counted {
            self.verification_failures.fetch_add(1, Ordering::Relaxed);
        }
        if self.events.len() >= MAX_DIAGNOSTIC_BACKLOG {
            return;
        }
        self.emit(
            ev::VERIFICATION_FAILURE,
            0,
            0,
            0,
            json!({"code": f.code, "peer_fingerprint": peer, "message": f.message}),
        );
    }

    async fn serve(self: Arc<Self>, tcp: TcpStream) -> Result<(), Fail> {
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server_cfg.clone());
        let mut tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| classify(&e, false, "inbound peer"))?;
        let (_, conn) = tls.get_ref();
        if conn.alpn_protocol() != Some(tls::ALPN) {
            return Err(Fail::new(
                "TLS_FAILED",
                "Peer did not negotiate ALPN web4-rtt/1",
            ));
        }
        let peer_fp = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| tls::cert_ed25519_key(c.as_ref()))
            .map(|k| tls::fingerprint_of(&k))
            .ok_or_else(|| Fail::new("TLS_FAILED", "Peer presented no Ed25519 certificate"))?;
        let mut buf = Vec::new();
        let f = read_frame(&mut tls, &mut buf)
            .await
            .map_err(|e| classify(&e, false, &peer_fp))?;
        let hello = if f.kind == FrameType::Hello {
            Hello::decode(&f.payload)
                .map_err(|e| Fail::new("TLS_FAILED", format!("Peer {peer_fp}: {e}")))?
        } else {
            return Err(Fail::new(
                "TLS_FAILED",
                format!("Peer {peer_fp} sent {:?} instead of HELLO", f.kind),
            ));
        };
        if let Some(id) = hello.resume {
            return self
                .serve_resume(tls, buf, peer_fp, id, hello.last_received)
                .await;
        }
        if self.shutting_down.load(Ordering::SeqCst)
            || self.live.load(Ordering::SeqCst) >= self.cfg.max_sessions
        {
            let _ = write_frame(
                &mut tls,
                &reject_frame("TOO_MANY_HANDSHAKES", "session limit reached"),
            )
            .await;
            return Err(Fail::new(
                "TOO_MANY_HANDSHAKES",
                format!("Session limit reached; peer {peer_fp} refused"),
            ));
        }
        let id = random_id();
        let accept = Accept {
            session_id: id,
            resumed: false,
            last_received: Vec::new(),
        };
        write_frame(
            &mut tls,
            &Frame {
                payload: accept.encode(),
                ..Frame::empty(FrameType::Accept, 0, 0)
            },
        )
        .await
        .map_err(|e| classify(&e, false, &peer_fp))?;
        let sess = self.register(id, peer_fp.clone(), None);
        let mut g = lock(&sess.inner);
        self.emit(
            ev::ACCEPTED,
            sess.handle,
            0,
            0,
            json!({"id": tls::hex(&id), "peer_fingerprint": peer_fp}),
        );
        self.emit(
            ev::SESSION_OPEN,
            sess.handle,
            0,
            0,
            json!({"resumed": false, "reconnects": 0}),
        );
        g.gen = 1;
        g.driver = Some(spawn_driver(&self, &sess, tls, buf, 1));
        Ok(())
    }

    async fn serve_resume(
        self: Arc<Self>,
        mut tls: tokio_rustls::server::TlsStream<TcpStream>,
        buf: Vec<u8>,
        peer_fp: String,
        id: [u8; 16],
        peer_last: Vec<(u32, u64)>,
    ) -> Result<(), Fail> {
        let handle = lock(&self.by_id).get(&id).copied();
        let sess = handle.and_then(|h| session(h).ok());
        let Some(sess) = sess else {
            let _ = write_frame(
                &mut tls,
                &reject_frame("RESUME_REJECTED", "unknown session"),
            )
            .await;
            return Err(Fail::new(
                "RESUME_REJECTED",
                format!("Peer {peer_fp} asked to resume an unknown session"),
            ));
        };
        if sess.peer_fp != peer_fp {
            let _ = write_frame(
                &mut tls,
                &reject_frame("RESUME_REJECTED", "session belongs to another peer"),
            )
            .await;
            return Err(Fail {
                code: "FINGERPRINT_MISMATCH",
                message: format!(
                    "Peer {peer_fp} tried to resume session of peer {}",
                    sess.peer_fp
                ),
                counted: true,
            });
        }
        let resumable = !matches!(
            lock(&sess.inner).state,
            State::Closed | State::Closing { .. }
        );
        if !resumable {
            let _ = write_frame(&mut tls, &reject_frame("RESUME_REJECTED", "session closed")).await;
            return Err(Fail::new(
                "RESUME_REJECTED",
                format!("Peer {peer_fp} asked to resume a closed session"),
            ));
        }
        let (accept, gen) = {
            let mut g = lock(&sess.inner);
            if matches!(g.state, State::Closed | State::Closing { .. }) {
                return Err(Fail::new(
                    "RESUME_REJECTED",
                    format!("Peer {peer_fp} asked to resume a closing session"),
                ));
            }
            g.gen += 1;
            if let Some(d) = g.driver.take() {
                d.abort();
            }
            if g.state == State::Open {
                self.emit(
                    ev::CONNECTION_LOST,
                    sess.handle,
                    0,
                    0,
                    json!({"reason": "superseded"}),
                );
            }
            g.engine.on_new_connection(&peer_last);
            g.state = State::Open;
            g.reconnects += 1;
            let n = g.reconnects;
            self.emit(
                ev::SESSION_OPEN,
                sess.handle,
                0,
                n as i64,
                json!({"resumed": true, "reconnects": n}),
            );
            let accept = Accept {
                session_id: id,
                resumed: true,
                last_received: g.engine.resume_state(),
            };
            (accept, g.gen)
        };
        let wrote = write_frame(
            &mut tls,
            &Frame {
                payload: accept.encode(),
                ..Frame::empty(FrameType::Accept, 0, 0)
            },
        )
        .await;
        if let Err(e) = wrote {
            sess.connection_ended(&self, gen, End::Io(e.to_string()));
            return Ok(());
        }
        let mut g = lock(&sess.inner);
        if g.gen == gen {
            g.driver = Some(spawn_driver(&self, &sess, tls, buf, gen));
        }
        Ok(())
    }

    fn register(
        self: &Arc<Self>,
        id: [u8; 16],
        peer_fp: String,
        dial: Option<(String, u16)>,
    ) -> Arc<Session> {
        let sess = Arc::new(Session {
            handle: next_handle(),
            id,
            peer_fp,
            dial,
            inner: Mutex::new(SessInner {
                engine: Engine::new(self.ecfg.clone()),
                state: State::Open,
                gen: 0,
                driver: None,
                reconnects: 0,
                rekeys: 0,
                latency: Latency::default(),
            }),
            notify: Notify::new(),
            deferred_armed: AtomicBool::new(false),
            room: Condvar::new(),
            node: Arc::downgrade(self),
        });
        self.live.fetch_add(1, Ordering::SeqCst);
        lock(sessions()).insert(sess.handle, sess.clone());
        lock(&self.st).sessions.insert(sess.handle, sess.clone());
        lock(&self.by_id).insert(id, sess.handle);
        sess
    }

    /// Starts an outbound connection; completion arrives as an event.
    pub fn connect(
        self: &Arc<Self>,
        host: String,
        port: u16,
        fingerprint: String,
        timeout_ms: u64,
    ) -> Result<u64, Error> {
        self.check_running()?;
        if !tls::valid_fingerprint(&fingerprint) {
            return err(
                status::INVALID_ARGUMENT,
                format!("Fingerprint {fingerprint:?} is not 64 lowercase hex digits"),
            );
        }
        let op = next_handle();
        let node = self.clone();
        let t = if timeout_ms == 0 {
            self.cfg.handshake_timeout_ms
        } else {
            timeout_ms
        };
        let mut st = lock(&self.st);
        let task = self.rth.spawn(async move {
            let hello = Hello { resume: None, last_received: Vec::new() };
            let r = tokio::time::timeout(ms(t), dial(&node, &host, port, &fingerprint, hello)).await;
            if lock(&node.st).ops.remove(&op).is_none() {
                return;
            }
            match r {
                Ok(Ok((tls, accept, buf))) => {
                    let sess = node.register(accept.session_id, fingerprint.clone(), Some((host, port)));
                    let mut g = lock(&sess.inner);
                    node.emit(
                        ev::CONNECTED,
                        sess.handle,
                        op,
                        0,
                        json!({"id": tls::hex(&accept.session_id), "peer_fingerprint": fingerprint}),
                    );
                    node.emit(ev::SESSION_OPEN, sess.handle, 0, 0, json!({"resumed": false, "reconnects": 0}));
                    g.gen = 1;
                    g.driver = Some(spawn_driver(&node, &sess, tls, buf, 1));
                }
                Ok(Err(f)) => {
                    if f.counted {
                        node.verification_failures.fetch_add(1, Ordering::Relaxed);
                    }
                    node.emit(ev::CONNECT_FAILED, 0, op, 0, json!({"code": f.code, "message": f.message}));
                }
                Err(_) => node.emit(
                    ev::CONNECT_FAILED,
                    0,
                    op,
                    0,
                    json!({"code": "HANDSHAKE_TIMEOUT", "message": format!("Connecting to {host}:{port} timed out after {t} ms")}),
                ),
            }
        });
        st.ops.insert(op, task.abort_handle());
        Ok(op)
    }

    /// Cancels a pending connect.
    pub fn cancel(&self, op: u64) -> Result<(), Error> {
        let h = lock(&self.st).ops.remove(&op);
        match h {
            Some(h) => {
                h.abort();
                self.emit(
                    ev::CONNECT_FAILED,
                    0,
                    op,
                    0,
                    json!({"code": "CANCELLED", "message": "Connect cancelled"}),
                );
                Ok(())
            }
            None => err(
                status::UNKNOWN_HANDLE,
                format!("No pending connect operation {op}"),
            ),
        }
    }

    /// Node-wide metrics as JSON.
    pub fn metrics_json(&self) -> String {
        let list: Vec<Arc<Session>> = lock(&self.st).sessions.values().cloned().collect();
        let mut stats = Stats::default();
        let (mut reconnects, mut rekeys) = (0, 0);
        let mut lat = Latency::default();
        for s in &list {
            let g = lock(&s.inner);
            if g.state == State::Closed {
                continue;
            }
            stats.add(&g.engine.total_stats());
            reconnects += g.reconnects;
            rekeys += g.rekeys;
            lat.merge(&g.latency);
        }
        {
            let t = lock(&self.totals);
            stats.add(&t.stats);
            reconnects += t.reconnects;
            rekeys += t.rekeys;
            lat.merge(&t.latency);
        }
        let mut v = stats_json(
            &stats,
            &lat,
            reconnects,
            rekeys,
            self.verification_failures.load(Ordering::Relaxed),
        );
        v["sessions"] = json!(self.live.load(Ordering::SeqCst));
        v["pending_handshakes"] = json!(lock(&self.st).pending.len());
        v.to_string()
    }

    /// Closes every session (flushing until the deadline), stops every task
    /// and thread, and closes every socket.
    ///
    /// Returns false when a wake-up is still being delivered to the calling
    /// (JavaScript) thread: everything else is shut down, and the caller must
    /// let its event loop run, then call again (the handle stays valid until
    /// a call returns true).
    pub fn shutdown(self: &Arc<Self>, deadline_ms: u32) -> bool {
        if !self.shutting_down.swap(true, Ordering::SeqCst) {
            // First, so the JavaScript thread (blocked in this call) is not
            // asked to run the waker while it waits here.
            let stopped = self.events.stop_waker();
            self.shutdown_inner(deadline_ms);
            if !stopped {
                return false;
            }
        } else if !self.events.stop_waker() {
            return false;
        }
        lock(nodes()).remove(&self.handle);
        true
    }

    fn shutdown_inner(self: &Arc<Self>, deadline_ms: u32) {
        let (list, handles) = {
            let mut st = lock(&self.st);
            let mut handles: Vec<AbortHandle> = st.tasks.drain(..).collect();
            handles.extend(st.pending.drain(..).map(|p| p.1));
            handles.extend(st.ops.drain().map(|p| p.1));
            (st.sessions.values().cloned().collect::<Vec<_>>(), handles)
        };
        for h in handles {
            h.abort();
        }
        for s in &list {
            s.close(self, deadline_ms, "shutdown");
        }
        let end = Instant::now() + ms(u64::from(deadline_ms));
        while Instant::now() < end && list.iter().any(|s| lock(&s.inner).state != State::Closed) {
            std::thread::sleep(ms(2));
        }
        for s in &list {
            let mut g = lock(&s.inner);
            s.finish_close(self, &mut g, "shutdown");
        }
        if let Some(rt) = lock(&self.rt).take() {
            rt.shutdown_timeout(ms(1000));
        }
        // Release any thread blocked in `web4_rtt_node_wait`.
        self.events.closed.store(true, Ordering::SeqCst);
        {
            let _q = lock(&self.events.q);
            self.events.cond.notify_all();
        }
        let mut reg = lock(sessions());
        for s in &list {
            reg.remove(&s.handle);
        }
        lock(&self.st).sessions.clear();
    }
}

fn stats_json(
    s: &Stats,
    lat: &Latency,
    reconnects: u64,
    rekeys: u64,
    vf: u64,
) -> serde_json::Value {
    json!({
        "attempted": s.attempted,
        "enqueued": s.enqueued,
        "dropped_oldest": s.dropped_oldest,
        "dropped_newest": s.dropped_newest,
        "dropped": s.dropped_oldest + s.dropped_newest,
        "blocked": s.blocked,
        "errors": s.errors,
        "overflow_events": s.overflow_events,
        "max_queue_len": s.max_queue_len,
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "messages_in": s.messages_in,
        "messages_out": s.messages_out,
        "latency_p50_us": lat.quantile(0.5),
        "latency_p95_us": lat.quantile(0.95),
        "reconnects": reconnects,
        "replays": s.replays,
        "rekeys": rekeys,
        "verification_failures": vf,
    })
}

async fn dial(
    node: &Arc<Node>,
    host: &str,
    port: u16,
    fingerprint: &str,
    hello: Hello,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Accept, Vec<u8>), Fail> {
    let peer = format!("{host}:{port} ({fingerprint})");
    // IP literals skip the resolver (which runs on a blocking thread).
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Fail::new("IO", format!("Cannot resolve {host}: {e}")))?
            .collect(),
    };
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        Fail::new(
            "IO",
            format!(
                "Cannot connect to {peer}: {}",
                last.map_or("no address".into(), |e| e.to_string())
            ),
        )
    })?;
    let _ = tcp.set_nodelay(true);
    let cfg = tls::client_config(&node.identity, fingerprint)
        .map_err(|e| Fail::new("TLS_FAILED", e.0))?;
    let name = rustls::pki_types::ServerName::try_from("web4-rtt").expect("valid name");
    let mut tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| classify(&e, true, &peer))?;
    if tls.get_ref().1.alpn_protocol() != Some(tls::ALPN) {
        return Err(Fail::new(
            "TLS_FAILED",
            format!("Peer {peer} did not negotiate ALPN web4-rtt/1"),
        ));
    }
    write_frame(
        &mut tls,
        &Frame {
            payload: hello.encode(),
            ..Frame::empty(FrameType::Hello, 0, 0)
        },
    )
    .await
    .map_err(|e| classify(&e, true, &peer))?;
    let mut buf = Vec::new();
    let f = read_frame(&mut tls, &mut buf)
        .await
        .map_err(|e| classify(&e, true, &peer))?;
    match f.kind {
        FrameType::Accept => {
            let a = Accept::decode(&f.payload)
                .map_err(|e| Fail::new("TLS_FAILED", format!("Peer {peer}: {e}")))?;
            Ok((tls, a, buf))
        }
        FrameType::Reject => {
            let text = String::from_utf8_lossy(&f.payload).to_string();
            let (code, msg) = text
                .split_once('\n')
                .unwrap_or(("TLS_FAILED", text.as_str()));
            let code = match code {
                "RESUME_REJECTED" => "RESUME_REJECTED",
                "TOO_MANY_HANDSHAKES" => "TOO_MANY_HANDSHAKES",
                "PEER_NOT_ALLOWED" => "PEER_NOT_ALLOWED",
                _ => "TLS_FAILED",
            };
            Err(Fail::new(
                code,
                format!("Peer {peer} refused the session: {msg}"),
            ))
        }
        k => Err(Fail::new(
            "TLS_FAILED",
            format!("Peer {peer} sent {k:?} instead of ACCEPT"),
        )),
    }
}

async fn reconnect(node: Arc<Node>, sess: Arc<Session>, gen: u64) {
    let Some((host, port)) = sess.dial.clone() else {
        return;
    };
    let mut delay = ms(node.cfg.reconnect_initial_delay_ms);
    let max = ms(node.cfg.reconnect_max_delay_ms);
    let seed = Instant::now().elapsed().as_nanos() as u64
        ^ sess.handle.rotate_left(32)
        ^ u64::from_le_bytes(random_id()[..8].try_into().expect("8"));
    let mut rng = Prng::new(seed);
    for _ in 0..node.cfg.reconnect_max_attempts {
        let jittered = delay.mul_f64(0.5 + rng.below(1000) as f64 / 2000.0);
        tokio::time::sleep(jittered).await;
        delay = (delay * 2).min(max).max(ms(1));
        let hello = {
            let g = lock(&sess.inner);
            if g.gen != gen || g.state != State::Disconnected {
                return;
            }
            Hello {
                resume: Some(sess.id),
                last_received: g.engine.resume_state(),
            }
        };
        let r = tokio::time::timeout(
            ms(node.cfg.handshake_timeout_ms),
            dial(&node, &host, port, &sess.peer_fp, hello),
        )
        .await;
        match r {
            Ok(Ok((tls, accept, buf))) => {
                if !accept.resumed || accept.session_id != sess.id {
                    let mut g = lock(&sess.inner);
                    if g.gen == gen {
                        sess.finish_close(&node, &mut g, "resume_rejected");
                    }
                    return;
                }
                let mut g = lock(&sess.inner);
                if g.gen != gen || g.state != State::Disconnected {
                    return;
                }
                g.gen += 1;
                g.engine.on_new_connection(&accept.last_received);
                g.state = State::Open;
                g.reconnects += 1;
                let n = g.reconnects;
                node.emit(
                    ev::SESSION_OPEN,
                    sess.handle,
                    0,
                    n as i64,
                    json!({"resumed": true, "reconnects": n}),
                );
                g.driver = Some(spawn_driver(&node, &sess, tls, buf, g.gen));
                return;
            }
            Ok(Err(f)) if f.code == "RESUME_REJECTED" || f.counted => {
                let mut g = lock(&sess.inner);
                if g.gen == gen {
                    sess.finish_close(&node, &mut g, "resume_rejected");
                }
                return;
            }
            _ => {}
        }
    }
    let mut g = lock(&sess.inner);
    if g.gen == gen && g.state == State::Disconnected {
        sess.finish_close(&node, &mut g, "reconnect_failed");
    }
}

impl Session {
    fn node(&self) -> Result<Arc<Node>, Error> {
        self.node
            .upgrade()
            .ok_or_else(|| Error(status::SHUT_DOWN, "The node is shut down".into()))
    }

    fn pump(&self, node: &Node, g: &mut SessInner) {
        for e in g.engine.take_events() {
            let kind_of = |c: u32| g.engine.kind(c).unwrap_or("").to_string();
            match e {
                EngineEvent::Readable(c) => {
                    node.emit(ev::READABLE, self.handle, u64::from(c), 0, json!(null))
                }
                EngineEvent::Writable(c) => {
                    node.emit(ev::WRITABLE, self.handle, u64::from(c), 0, json!(null))
                }
                EngineEvent::Drop {
                    channel,
                    cause,
                    count,
                } => node.emit(
                    ev::DROP,
                    self.handle,
                    u64::from(channel),
                    count as i64,
                    json!({"cause": cause, "channel": kind_of(channel)}),
                ),
                EngineEvent::Replay { channel, seq } => node.emit(
                    ev::REPLAY,
                    self.handle,
                    u64::from(channel),
                    seq as i64,
                    json!({"channel": kind_of(channel)}),
                ),
                EngineEvent::Flushed { op, .. } => {
                    node.emit(ev::FLUSHED, self.handle, op, 0, json!(null))
                }
                EngineEvent::FlushFailed {
                    op, undelivered, ..
                } => node.emit(
                    ev::FLUSH_FAILED,
                    self.handle,
                    op,
                    undelivered as i64,
                    json!({"reason": "session closed before every message was acknowledged"}),
                ),
            }
        }
        if g.engine.take_room_freed() {
            self.room.notify_all();
        }
    }

    fn finish_close(&self, node: &Node, g: &mut SessInner, reason: &str) {
        self.finish_close_detail(node, g, reason, None);
    }

    fn finish_close_detail(
        &self,
        node: &Node,
        g: &mut SessInner,
        reason: &str,
        detail: Option<&str>,
    ) {
        if g.state == State::Closed {
            return;
        }
        node.emit_together(|| self.finish_close_events(node, g, reason, detail));
    }

    fn finish_close_events(
        &self,
        node: &Node,
        g: &mut SessInner,
        reason: &str,
        detail: Option<&str>,
    ) {
        g.state = State::Closed;
        g.gen += 1;
        let undelivered = g.engine.fail_all();
        self.pump(node, g);
        if let Some(d) = g.driver.take() {
            d.abort();
        }
        let payload = match detail {
            Some(d) => json!({"reason": reason, "message": d}),
            None => json!({"reason": reason}),
        };
        node.emit(
            ev::SESSION_CLOSE,
            self.handle,
            0,
            undelivered as i64,
            payload,
        );
        self.room.notify_all();
        lock(&node.by_id).remove(&self.id);
        node.live.fetch_sub(1, Ordering::SeqCst);
        let mut t = lock(&node.totals);
        t.stats.add(&g.engine.total_stats());
        t.reconnects += g.reconnects;
        t.rekeys += g.rekeys;
        t.latency.merge(&g.latency);
    }

    fn connection_ended(self: &Arc<Self>, node: &Arc<Node>, gen: u64, end: End) {
        let mut g = lock(&self.inner);
        if g.gen != gen || g.state == State::Closed {
            return;
        }
        g.driver = None;
        if let State::Closing { reason, .. } = g.state {
            self.finish_close(node, &mut g, reason);
            return;
        }
        let reason = match end {
            End::Done => return,
            End::PeerClosed => {
                self.finish_close(node, &mut g, "peer_closed");
                return;
            }
            End::Heartbeat => {
                node.emit(ev::HEARTBEAT_TIMEOUT, self.handle, 0, 0, json!({}));
                "heartbeat_timeout".to_string()
            }
            End::Io(e) => format!("io: {e}"),
            End::Protocol(e) => {
                // Resuming would meet the same violation again.
                self.finish_close_detail(node, &mut g, "protocol_error", Some(&e));
                return;
            }
        };
        if node.cfg.resume_window_ms == 0 || node.shutting_down.load(Ordering::SeqCst) {
            let r = if reason == "heartbeat_timeout" {
                "heartbeat_timeout"
            } else {
                "connection_lost"
            };
            self.finish_close(node, &mut g, r);
            return;
        }
        node.emit(
            ev::CONNECTION_LOST,
            self.handle,
            0,
            0,
            json!({"reason": reason}),
        );
        g.state = State::Disconnected;
        let (n2, s2) = (node.clone(), self.clone());
        let window = ms(node.cfg.resume_window_ms);
        node.rth.spawn(async move {
            tokio::time::sleep(window).await;
            let mut g = lock(&s2.inner);
            if g.gen == gen && g.state == State::Disconnected {
                s2.finish_close(&n2, &mut g, "resume_timeout");
            }
        });
        if self.dial.is_some() {
            node.rth.spawn(reconnect(node.clone(), self.clone(), gen));
        }
    }

    /// Starts a graceful close: queued data is flushed until the deadline.
    pub fn close(self: &Arc<Self>, node: &Node, deadline_ms: u32, reason: &'static str) {
        let mut g = lock(&self.inner);
        match g.state {
            State::Closed | State::Closing { .. } => {}
            State::Disconnected => self.finish_close(node, &mut g, reason),
            State::Open => {
                g.state = State::Closing {
                    deadline: Instant::now() + ms(u64::from(deadline_ms)),
                    reason,
                };
                g.engine.close();
                self.room.notify_all();
                self.notify.notify_one();
            }
        }
    }

    /// `close` through the handle.
    pub fn close_api(self: &Arc<Self>, deadline_ms: u32) -> Result<(), Error> {
        let node = self.node()?;
        self.close(&node, deadline_ms, "manual");
        Ok(())
    }

    /// Frees a closed session's handle.
    pub fn release(&self) -> Result<(), Error> {
        if lock(&self.inner).state != State::Closed {
            return err(
                status::INVALID_ARGUMENT,
                format!("Session {} is not closed yet", tls::hex(&self.id)),
            );
        }
        lock(sessions()).remove(&self.handle);
        if let Ok(n) = self.node() {
            lock(&n.st).sessions.remove(&self.handle);
        }
        Ok(())
    }

    /// Session info JSON.
    pub fn info_json(&self) -> String {
        let g = lock(&self.inner);
        let state = match g.state {
            State::Open => "open",
            State::Disconnected => "disconnected",
            State::Closing { .. } => "closing",
            State::Closed => "closed",
        };
        let local = self
            .node
            .upgrade()
            .map(|n| n.fingerprint().to_string())
            .unwrap_or_default();
        json!({"id": tls::hex(&self.id), "peer_fingerprint": self.peer_fp, "local_fingerprint": local, "state": state})
            .to_string()
    }

    /// Session stats JSON.
    pub fn stats_json(&self) -> String {
        let g = lock(&self.inner);
        stats_json(
            &g.engine.total_stats(),
            &g.latency,
            g.reconnects,
            g.rekeys,
            0,
        )
        .to_string()
    }

    /// Channel stats JSON.
    pub fn channel_stats_json(&self, ch: u32) -> Result<String, Error> {
        let g = lock(&self.inner);
        let (s, qlen, qbytes) = g
            .engine
            .channel_stats(ch)
            .ok_or_else(|| Error(status::UNKNOWN_HANDLE, format!("Unknown channel {ch}")))?;
        let mut v = stats_json(&s, &Latency::default(), 0, 0, 0);
        v["kind"] = json!(g.engine.kind(ch));
        v["queue_len"] = json!(qlen);
        v["queue_bytes"] = json!(qbytes);
        Ok(v.to_string())
    }

    fn chan_err(&self, g: &SessInner, ch: u32, e: SendError) -> Error {
        let kind = g.engine.kind(ch).unwrap_or("?");
        let sid = tls::hex(&self.id);
        match e {
            SendError::UnknownChannel => Error(
                status::UNKNOWN_HANDLE,
                format!("Unknown channel {ch} in session {sid}"),
            ),
            SendError::ChannelClosed => Error(
                status::CHANNEL_CLOSED,
                format!("Channel {kind:?} of session {sid} is closed"),
            ),
            SendError::SessionClosed => Error(
                status::SESSION_CLOSED,
                format!("Session {sid} with peer {} is closed", self.peer_fp),
            ),
            SendError::TooLarge => Error(
                status::MESSAGE_TOO_LARGE,
                format!("Message on channel {kind:?} exceeds max_message_bytes"),
            ),
            SendError::QueueFull => Error(
                status::QUEUE_FULL,
                format!("Send queue of channel {kind:?} is full"),
            ),
            SendError::WouldBlock => Error(
                status::WOULD_BLOCK,
                format!("Send queue of channel {kind:?} is full; wait for room"),
            ),
        }
    }

    /// Opens (or joins) a channel.
    pub fn open_channel(
        &self,
        kind: &str,
        policy: Option<Policy>,
        max_queue: Option<usize>,
        max_queue_bytes: Option<usize>,
    ) -> Result<u32, Error> {
        let node = self.node()?;
        let mut g = lock(&self.inner);
        if g.state == State::Closed {
            return err(
                status::SESSION_CLOSED,
                format!("Session {} is closed", tls::hex(&self.id)),
            );
        }
        let r = g
            .engine
            .open_channel(kind, policy, max_queue, max_queue_bytes);
        self.pump(&node, &mut g);
        drop(g);
        self.notify.notify_one();
        r.map_err(|e| match e {
            OpenError::InvalidKind => Error(
                status::INVALID_ARGUMENT,
                format!("Channel kind {kind:?} is not valid"),
            ),
            OpenError::TooManyChannels => Error(
                status::TOO_MANY_CHANNELS,
                format!("Cannot open channel {kind:?}: max_channels reached"),
            ),
            OpenError::SessionClosed => Error(
                status::SESSION_CLOSED,
                format!("Session {} is closed", tls::hex(&self.id)),
            ),
        })
    }

    /// Queues a message (policy applied).
    pub fn send(&self, ch: u32, data: &[u8]) -> Result<(), Error> {
        let node = self.node()?;
        // The copy is made before taking the lock the connection task needs.
        let owned = if data.len() <= node.ecfg.max_message {
            data.to_vec()
        } else {
            Vec::new()
        };
        let mut g = lock(&self.inner);
        let r = g.engine.send_owned(ch, owned, data.len());
        self.pump(&node, &mut g);
        let r = r.map_err(|e| self.chan_err(&g, ch, e));
        drop(g);
        if r.is_ok() {
            self.notify.notify_one();
        }
        r
    }

    /// Waits for room after WOULD_BLOCK, then queues.
    pub fn send_blocking(&self, ch: u32, data: &[u8], timeout_ms: u32) -> Result<(), Error> {
        let node = self.node()?;
        let deadline = Instant::now() + ms(u64::from(timeout_ms));
        let mut g = lock(&self.inner);
        loop {
            match g.engine.try_enqueue(ch, data) {
                Ok(true) => {
                    drop(g);
                    self.notify.notify_one();
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => return Err(self.chan_err(&g, ch, e)),
            }
            let now = Instant::now();
            if now >= deadline || node.shutting_down.load(Ordering::SeqCst) {
                g.engine.count_block_timeout(ch);
                let kind = g.engine.kind(ch).unwrap_or("?").to_string();
                return err(
                    status::BLOCK_TIMEOUT,
                    format!("Send on channel {kind:?} found no room within {timeout_ms} ms"),
                );
            }
            g = self
                .room
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Copies out received messages.
    pub fn recv(&self, ch: u32, out: &mut [u8]) -> Result<(usize, u64), Error> {
        let mut g = lock(&self.inner);
        let r = g
            .engine
            .recv_into(ch, out)
            .map_err(|e| self.chan_err(&g, ch, e));
        // Reading frees credit. A grant due at once wakes the connection
        // task; a deferred one only when the task has no deferral timer
        // running (which would write it anyway).
        let wake = matches!(r, Ok((n, _)) if n > 0)
            && (g.engine.credit_due_now(ch)
                || (!self.deferred_armed.load(Ordering::SeqCst) && g.engine.has_deferred()));
        drop(g);
        if wake {
            self.notify.notify_one();
        }
        r
    }

    /// Registers a flush.
    pub fn flush(&self, ch: u32) -> Result<u64, Error> {
        let node = self.node()?;
        let op = next_handle();
        let mut g = lock(&self.inner);
        let r = g.engine.flush(ch, op).map_err(|e| self.chan_err(&g, ch, e));
        self.pump(&node, &mut g);
        r.map(|_| op)
    }

    /// Half-closes a channel.
    pub fn close_channel(&self, ch: u32) -> Result<(), Error> {
        let mut g = lock(&self.inner);
        let r = g
            .engine
            .close_channel(ch)
            .map_err(|e| self.chan_err(&g, ch, e));
        drop(g);
        self.notify.notify_one();
        r
    }

    /// Test hook.
    pub fn inject(&self, json: &[u8]) -> Result<(), Error> {
        let node = self.node()?;
        if !node.cfg.test_hooks {
            return err(
                status::INVALID_ARGUMENT,
                "Test hooks are disabled (node config test_hooks is false)",
            );
        }
        let v: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Error(status::INVALID_ARGUMENT, format!("Invalid JSON: {e}")))?;
        if let Some(kind) = v.get("replay_last").and_then(|k| k.as_str()) {
            let mut g = lock(&self.inner);
            if !g.engine.inject_replay(kind) {
                return err(
                    status::INVALID_ARGUMENT,
                    format!("Channel {kind:?} has no acknowledged frame to replay"),
                );
            }
            drop(g);
            self.notify.notify_one();
            return Ok(());
        }
        err(
            status::INVALID_ARGUMENT,
            format!("Unknown test injection {v}"),
        )
    }
}

enum Prepared {
    /// Frames written; `true` when deferred ACKs or credit remain.
    Data(bool),
    Close(&'static str),
    Done,
}

/// Bytes of frames prepared per output batch.
const OUT_BATCH: usize = 256 * 1024;
/// Size of a connection's receive buffer.
const READ_BUFFER: usize = 256 * 1024;
/// Free space kept after the undecoded bytes: at least one whole frame.
const MIN_READ: usize = codec::HEADER_LEN + MAX_FRAME_PAYLOAD;

/// How long a deferred ACK or credit grant may wait for a frame to ride
/// along with before it is written on its own.
const DEFER_ACK: Duration = Duration::from_millis(2);

fn prepare_output(
    node: &Node,
    sess: &Session,
    gen: u64,
    now: Instant,
    out: &mut Vec<u8>,
    flush_deferred: bool,
) -> Prepared {
    let mut g = lock(&sess.inner);
    if g.gen != gen {
        return Prepared::Done;
    }
    match g.state {
        State::Closing { deadline, reason } if g.engine.all_acked() || now >= deadline => {
            g.engine.queue_close();
            g.engine.fill(out, usize::MAX);
            return Prepared::Close(reason);
        }
        State::Closed => return Prepared::Done,
        _ => {}
    }
    g.engine.fill_lazy(out, OUT_BATCH, flush_deferred);
    sess.pump(node, &mut g);
    let deferred = g.engine.has_deferred();
    sess.deferred_armed.store(deferred, Ordering::SeqCst);
    Prepared::Data(deferred)
}

/// Spawns the connection task of a session, plus a watcher that turns a
/// panic inside it into a closed session instead of a silent hang.
fn spawn_driver<S>(
    node: &Arc<Node>,
    sess: &Arc<Session>,
    io: S,
    buf: Vec<u8>,
    gen: u64,
) -> AbortHandle
where
    S: AsyncRead + AsyncWrite + Unpin + Rekey + Send + 'static,
{
    let task = node
        .rth
        .spawn(drive(node.clone(), sess.clone(), io, buf, gen));
    let abort = task.abort_handle();
    let (node, sess) = (node.clone(), sess.clone());
    node.rth.clone().spawn(async move {
        if let Err(e) = task.await {
            if e.is_panic() {
                sess.connection_ended(
                    &node,
                    gen,
                    End::Protocol("internal error in the connection task".into()),
                );
            }
        }
    });
    abort
}

async fn drive<S>(node: Arc<Node>, sess: Arc<Session>, mut io: S, mut inbuf: Vec<u8>, gen: u64)
where
    S: AsyncRead + AsyncWrite + Unpin + Rekey,
{
    let end = drive_loop(&node, &sess, &mut io, &mut inbuf, gen).await;
    drop(io);
    sess.connection_ended(&node, gen, end);
}

async fn drive_loop<S>(
    node: &Arc<Node>,
    sess: &Arc<Session>,
    io: &mut S,
    inbuf: &mut Vec<u8>,
    gen: u64,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin + Rekey,
{
    let cfg = &node.cfg;
    let hb_int = ms(cfg.heartbeat_interval_ms);
    let hb_to = ms(cfg.heartbeat_timeout_ms);
    let tick_d = (hb_int.min(hb_to) / 4).clamp(ms(2), ms(100));
    let mut tick = tokio::time::interval(tick_d);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_rx = Instant::now();
    let mut next_ping = Instant::now() + hb_int;
    let mut pings: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut rekey_at = Instant::now() + ms(cfg.rekey_after_ms);
    let mut rekey_bytes = 0u64;
    let mut out: Vec<u8> = Vec::with_capacity(OUT_BATCH);
    let mut opos = 0usize;
    let mut need_flush = false;
    // Received bytes not decoded yet are `rbuf[rs..re]`; reads go straight
    // into the free space after them (no intermediate copy), and the partial
    // frame left at the end is moved to the front when that space runs low.
    let mut rbuf = vec![0u8; READ_BUFFER.max(inbuf.len() + MIN_READ)];
    let (mut rs, mut re) = (0usize, inbuf.len());
    rbuf[..re].copy_from_slice(inbuf);
    inbuf.clear();
    inbuf.shrink_to_fit();
    let mut deferred_at: Option<Instant> = None;
    let defer_timer = tokio::time::sleep(DEFER_ACK);
    tokio::pin!(defer_timer);
    loop {
        // Inbound frames.
        if rs < re {
            let mut g = lock(&sess.inner);
            if g.gen != gen {
                return End::Done;
            }
            let mut pos = 0;
            let mut result = None;
            loop {
                match codec::decode_ref(&rbuf[rs + pos..re], MAX_FRAME_PAYLOAD) {
                    Ok(Some((f, used))) => {
                        pos += used;
                        match g.engine.handle_frame_ref(&f) {
                            Ok(None) => {}
                            Ok(Some(Signal::Pong(n))) => {
                                if let Some(i) = pings.iter().position(|p| p.0 == n) {
                                    let rtt = pings[i].1.elapsed();
                                    g.latency.record(rtt);
                                    pings.drain(..=i);
                                }
                            }
                            Ok(Some(Signal::Close)) => {
                                result = Some(End::PeerClosed);
                                break;
                            }
                            Err(e) => {
                                result = Some(End::Protocol(e));
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        result = Some(End::Protocol(e.to_string()));
                        break;
                    }
                }
            }
            rs += pos;
            if rs == re {
                (rs, re) = (0, 0);
            } else if rbuf.len() - re < MIN_READ {
                rbuf.copy_within(rs..re, 0);
                (rs, re) = (0, re - rs);
            }
            sess.pump(node, &mut g);
            if let Some(r) = result {
                return r;
            }
        }
        // Timers.
        let now = Instant::now();
        if now.duration_since(last_rx) > hb_to {
            return End::Heartbeat;
        }
        if now >= next_ping {
            let nonce = lock(&sess.inner).engine.queue_ping();
            pings.push_back((nonce, now));
            if pings.len() > 64 {
                pings.pop_front();
            }
            next_ping = now + hb_int;
        }
        if rekey_bytes >= cfg.rekey_after_bytes || now >= rekey_at {
            if io.rekey() {
                need_flush = true;
                let mut g = lock(&sess.inner);
                g.rekeys += 1;
                node.emit(ev::REKEY, sess.handle, 0, g.rekeys as i64, json!(null));
            }
            rekey_bytes = 0;
            rekey_at = now + ms(cfg.rekey_after_ms);
        }
        // Outbound frames.
        if opos == out.len() {
            out.clear();
            opos = 0;
            let flush_deferred = deferred_at.is_some_and(|t| now >= t);
            match prepare_output(node, sess, gen, now, &mut out, flush_deferred) {
                Prepared::Done => return End::Done,
                Prepared::Close(reason) => {
                    let _ = tokio::time::timeout(ms(500), async {
                        io.write_all(&out).await?;
                        io.flush().await?;
                        io.shutdown().await
                    })
                    .await;
                    let mut g = lock(&sess.inner);
                    if g.gen == gen {
                        sess.finish_close(node, &mut g, reason);
                    }
                    return End::Done;
                }
                Prepared::Data(deferred) => {
                    if !deferred {
                        deferred_at = None;
                    } else if deferred_at.is_none() || flush_deferred {
                        let at = now + DEFER_ACK;
                        deferred_at = Some(at);
                        defer_timer.as_mut().reset(at.into());
                    }
                }
            }
        }
        // Wait for progress in either direction, a wake-up or a tick.
        let notified = sess.notify.notified();
        tokio::pin!(notified);
        let mut notified_done = false;
        let r: Result<bool, String> = std::future::poll_fn(|cx| {
            let mut progress = false;
            while opos < out.len() {
                match Pin::new(&mut *io).poll_write(cx, &out[opos..]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err("connection closed while writing".into()))
                    }
                    Poll::Ready(Ok(n)) => {
                        opos += n;
                        rekey_bytes += n as u64;
                        need_flush = true;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                    Poll::Pending => break,
                }
            }
            if need_flush && opos == out.len() {
                match Pin::new(&mut *io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => need_flush = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                    Poll::Pending => {}
                }
            }
            let mut rb = ReadBuf::new(&mut rbuf[re..]);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        return Poll::Ready(Ok(true));
                    }
                    re += n;
                    rekey_bytes += n as u64;
                    last_rx = Instant::now();
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                Poll::Pending => {}
            }
            if !notified_done && notified.as_mut().poll(cx).is_ready() {
                notified_done = true;
                progress = true;
            }
            if tick.poll_tick(cx).is_ready() {
                progress = true;
            }
            // Only while nothing else waits to be written: pending output
            // takes the deferred frames along once it is out, and an expired
            // timer polled meanwhile would spin this loop.
            if deferred_at.is_some()
                && opos == out.len()
                && defer_timer.as_mut().poll(cx).is_ready()
            {
                progress = true;
            }
            if progress {
                Poll::Ready(Ok(false))
            } else {
                Poll::Pending
            }
        })
        .await;
        match r {
            Ok(false) => {}
            Ok(true) => return End::Io("connection closed by peer".into()),
            Err(e) => return End::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    static CALLS: AtomicU32 = AtomicU32::new(0);
    static BLOCK: AtomicBool = AtomicBool::new(false);

    extern "C" fn counting_waker() {
        CALLS.fetch_add(1, Ordering::SeqCst);
        while BLOCK.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn ev(kind: u32) -> Event {
        Event {
            kind,
            session: 1,
            op: 2,
            value: -3,
            payload: b"{}".to_vec(),
        }
    }

    fn wait_calls(n: u32) {
        let end = Instant::now() + Duration::from_secs(5);
        while CALLS.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < end, "waker not called");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn waker_fires_once_per_batch_from_its_own_thread_and_stops_cleanly() {
        let q = EventQueue::default();
        q.set_waker(Some(counting_waker)).unwrap();
        q.push(ev(1));
        q.push(ev(2));
        wait_calls(1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            1,
            "disarmed until polled empty"
        );
        let mut buf = [0u8; 40];
        assert_eq!(q.poll(&mut buf), Ok(40), "one 40-byte record fits");
        assert_eq!(u32::from_le_bytes(buf[0..4].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(buf[4..8].try_into().unwrap()), 2);
        assert_eq!(i64::from_le_bytes(buf[24..32].try_into().unwrap()), -3);
        assert_eq!(&buf[32..34], b"{}");
        assert_eq!(q.poll(&mut [0u8; 8]), Err(40), "a record that does not fit");
        assert_eq!(q.poll(&mut buf), Ok(40));
        q.push(ev(3));
        wait_calls(2);

        // A call in flight to the registering thread: stopping cannot wait for it.
        BLOCK.store(true, Ordering::SeqCst);
        let mut buf = [0u8; 64];
        assert_eq!(q.poll(&mut buf), Ok(40));
        q.push(ev(4));
        wait_calls(3);
        assert!(!q.stop_waker(), "in flight to this thread");
        BLOCK.store(false, Ordering::SeqCst);
        let end = Instant::now() + Duration::from_secs(5);
        while !q.stop_waker() {
            assert!(Instant::now() < end);
            std::thread::sleep(Duration::from_millis(1));
        }
        q.push(ev(5));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            3,
            "never called after stopping"
        );
    }

    #[test]
    fn latency_quantiles() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), 0);
        for us in 1..=100 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.quantile(0.5), 51);
        assert_eq!(l.quantile(0.95), 95);
    }
}
