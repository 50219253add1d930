//! The one async driver under every session core (the desk's
//! [`crate::desk::DeskCore`], the board's [`crate::board_client::BoardCore`]):
//! it owns the WebSocket, the timer, the clock and the tasks in flight, and
//! carries out what the core asks. It decides nothing.
//!
//! One loop: carry out every pending output, then wait for the first of a
//! socket report, a command from the handle, a finished task (a REST answer,
//! a token, an opened socket) or the core's next deadline, hand it to the core
//! with the time, and go round again. REST calls run as tasks beside the loop,
//! so frames and deadlines keep being handled while a request is in flight (a
//! link that goes silent mid-request is noticed by its missed pings).
//!
//! What is specific to one core lives in its [`Executor`] (which REST call an
//! output is, where an update goes) and its [`Credentials`] (where a token
//! comes from).

use crate::clock::{Clock, Now};
use crate::connection::{self, LinkHandle, LinkIo, Tls};
use crate::link::LinkLimits;
use crate::session::{Grant, GrantError, Session, SessionOutput, SocketReport};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The longest the driver sleeps without handing the core the time: wall-clock
/// deadlines (liveness after a laptop's sleep) are checked at least this often.
pub const WAKE_EVERY: Duration = Duration::from_secs(1);

/// A core over a [`Session`]: what the driver feeds and drains. A core says
/// where its session is and how it settles after the session moved; the
/// socket, token and timer plumbing is the same for every core.
pub trait Core: Send + 'static {
    /// The core's own outputs, carried out by its [`Executor`].
    type Out: Send + 'static;

    /// The session under this core.
    fn session(&self) -> &Session;
    fn session_mut(&mut self) -> &mut Session;
    /// Handles what the session reported and moves the core's own work on.
    fn settle(&mut self, now: Now);
    /// The next of the core's own outputs.
    fn poll_app(&mut self) -> Option<Self::Out>;
    /// The core's own next deadline, beside the session's.
    fn own_timeout(&self) -> Option<Instant> {
        None
    }
    /// Time passed: the core's own timers (the session's are handled).
    fn on_timeout(&mut self, _now: Now) {}

    /// What a socket did.
    fn handle_socket(&mut self, generation: u64, report: SocketReport, now: Now) {
        self.session_mut().handle_socket(generation, report, now);
        self.settle(now);
    }

    /// The answer to [`SessionOutput::Renew`].
    fn handle_grant(&mut self, grant: Result<Grant, GrantError>, now: Now) {
        self.session_mut().handle_grant(grant, now);
        self.settle(now);
    }

    /// Time passed.
    fn handle_timeout(&mut self, now: Now) {
        self.session_mut().handle_timeout(now);
        self.on_timeout(now);
        self.settle(now);
    }

    /// The next deadline, if any.
    fn poll_timeout(&self) -> Option<Instant> {
        [self.session().poll_timeout(), self.own_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next thing to do: the session's first (sockets, tokens), then the core's.
    fn poll_output(&mut self) -> Option<Output<Self::Out>> {
        if let Some(o) = self.session_mut().poll_output() {
            return Some(Output::Session(o));
        }
        self.poll_app().map(Output::App)
    }
}

/// One output of a core: the session's (sockets, tokens) or its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<A> {
    Session(SessionOutput),
    App(A),
}

/// Work to hand back to the core when a task finishes (the answer of a REST
/// call, fed to the core's matching `handle_*`).
pub type Feedback<C> = Box<dyn FnOnce(&mut C, Now) + Send>;

/// A task the executor started; what it returns is run on the core.
pub type Task<C> = Pin<Box<dyn Future<Output = Feedback<C>> + Send>>;

/// Carries out a core's own outputs.
pub trait Executor<C: Core>: Send + 'static {
    /// Does `out` now (publish, notify, save), or returns the task that does
    /// it (a REST call) and whose result goes back to the core.
    fn execute(&mut self, out: C::Out) -> Option<Task<C>>;
}

/// Where access tokens come from.
pub trait Credentials: Send + Sync + 'static {
    /// A fresh access token (`force`: even if the current one looks valid).
    fn renew(&self, force: bool)
    -> Pin<Box<dyn Future<Output = Result<Grant, GrantError>> + Send>>;
}

/// A display token: the same token every time, never expiring by time.
pub struct FixedToken(pub String);

impl Credentials for FixedToken {
    fn renew(&self, _: bool) -> Pin<Box<dyn Future<Output = Result<Grant, GrantError>> + Send>> {
        let grant = Grant {
            token: self.0.clone(),
            expires_in: None,
        };
        Box::pin(async move { Ok(grant) })
    }
}

/// What a handle sends to a running driver.
pub enum Control<C> {
    /// Run this on the core (a command, with its reply channel inside).
    Run(Feedback<C>),
    /// Carry out what is pending, then stop.
    Stop(oneshot::Sender<()>),
}

/// Where sockets go.
#[derive(Clone)]
pub struct Transport {
    /// `http(s)://host:port` of the server.
    pub server: String,
    pub tls: Tls,
    /// Largest frame accepted from the server.
    pub max_frame: usize,
}

/// Link limits for a core this driver runs: it answers Engine.IO pings in
/// the socket's reader task (see `connection`), not the core.
pub fn driven_limits() -> LinkLimits {
    LinkLimits {
        answer_pings: false,
        ..LinkLimits::default()
    }
}

/// Spawns [`drive`] for `core` on the server at `server`, and returns the
/// channel its handle sends commands on.
pub fn spawn<C: Core, E: Executor<C>>(
    core: C,
    executor: E,
    server: &str,
    tls: Tls,
    credentials: Arc<dyn Credentials>,
    clock: Arc<dyn Clock>,
) -> mpsc::UnboundedSender<Control<C>> {
    let (control, control_rx) = mpsc::unbounded_channel();
    let transport = Transport {
        server: server.to_owned(),
        tls,
        max_frame: driven_limits().max_frame,
    };
    tokio::spawn(drive(
        core,
        executor,
        transport,
        credentials,
        clock,
        control_rx,
    ));
    control
}

enum Done<C> {
    Opened(u64, crate::Result<LinkHandle>),
    Grant(Result<Grant, GrantError>),
    Feedback(Feedback<C>),
}

/// Runs `core` until a [`Control::Stop`] arrives or every handle is gone.
pub async fn drive<C: Core, E: Executor<C>>(
    mut core: C,
    mut executor: E,
    transport: Transport,
    credentials: Arc<dyn Credentials>,
    clock: Arc<dyn Clock>,
    mut control: mpsc::UnboundedReceiver<Control<C>>,
) {
    let (reports_tx, mut reports) = mpsc::unbounded_channel::<(u64, LinkIo)>();
    let mut tasks: FuturesUnordered<Pin<Box<dyn Future<Output = Done<C>> + Send>>> =
        FuturesUnordered::new();
    // The link the core wants (its generation) and its socket once open.
    let mut wanted: Option<u64> = None;
    let mut socket: Option<(u64, LinkHandle)> = None;
    let mut stopping: Option<oneshot::Sender<()>> = None;
    loop {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Session(SessionOutput::Open { generation }) => {
                    if let Some((_, old)) = socket.take() {
                        old.close_and_drop();
                    }
                    wanted = Some(generation);
                    let (t, reports) = (transport.clone(), reports_tx.clone());
                    tasks.push(Box::pin(async move {
                        let opened =
                            connection::open(&t.server, &t.tls, t.max_frame, generation, reports)
                                .await;
                        Done::Opened(generation, opened)
                    }));
                }
                Output::Session(SessionOutput::Send { generation, frame }) => {
                    if let Some((g, s)) = &socket
                        && *g == generation
                    {
                        s.send(frame);
                    }
                }
                Output::Session(SessionOutput::Close { generation }) => {
                    if wanted == Some(generation) {
                        wanted = None;
                    }
                    if socket.as_ref().is_some_and(|(g, _)| *g == generation)
                        && let Some((_, s)) = socket.take()
                    {
                        s.close_and_drop();
                    }
                }
                Output::Session(SessionOutput::Renew { force }) => {
                    let renew = credentials.renew(force);
                    tasks.push(Box::pin(async move { Done::Grant(renew.await) }));
                }
                Output::App(a) => {
                    if let Some(task) = executor.execute(a) {
                        tasks.push(Box::pin(async move { Done::Feedback(task.await) }));
                    }
                }
            }
        }
        if let Some(done) = stopping.take() {
            if let Some((_, s)) = socket.take() {
                s.close_and_drop();
            }
            // The handle may be gone already; nobody to tell then.
            done.send(()).ok();
            return;
        }
        let now = clock.now();
        let wake = core
            .poll_timeout()
            .map_or(now.mono + WAKE_EVERY, |t| t.min(now.mono + WAKE_EVERY));
        tokio::select! {
            // Frames first: pings and events already waiting must count
            // before a liveness deadline looks at the clock.
            biased;
            Some((generation, io)) = reports.recv() => {
                let report = match io {
                    LinkIo::Text(t) => SocketReport::Text(t),
                    LinkIo::Binary(b) => SocketReport::Binary(b),
                    LinkIo::Closed(reason) => SocketReport::Closed(reason),
                };
                core.handle_socket(generation, report, clock.now());
            }
            c = control.recv() => match c {
                Some(Control::Run(f)) => f(&mut core, clock.now()),
                Some(Control::Stop(done)) => stopping = Some(done),
                None => {
                    let (done, _) = oneshot::channel();
                    stopping = Some(done);
                }
            },
            Some(done) = tasks.next() => match done {
                Done::Opened(generation, Ok(handle)) => {
                    if wanted == Some(generation) {
                        socket = Some((generation, handle));
                        core.handle_socket(generation, SocketReport::Opened, clock.now());
                    } else {
                        handle.close_and_drop(); // given up on while it opened
                    }
                }
                Done::Opened(generation, Err(e)) => {
                    core.handle_socket(generation, SocketReport::Closed(e.to_string()), clock.now());
                }
                Done::Grant(grant) => core.handle_grant(grant, clock.now()),
                Done::Feedback(f) => f(&mut core, clock.now()),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                core.handle_timeout(clock.now());
            }
        }
    }
}
