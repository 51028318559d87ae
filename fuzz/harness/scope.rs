//! `weftwork::scope` against a sequential model: children spawned, opened,
//! aborted, detached, joined and cancelled in any order, with a concurrency
//! limit or without.
//!
//! Shared by `tests/prop_scope.rs` (proptest) and
//! `fuzz/fuzz_targets/scope.rs` (cargo-fuzz). Everything runs on one thread:
//! the scope future is polled by hand with a counting waker, so the run is
//! deterministic.
//!
//! The harness keeps a clone of the scope's [`Scope`] (taken by the body
//! closure when the scope is built, or by the body on its first poll) and
//! spawns through it between polls. Children are hand-written futures that
//! finish when their gate is opened (or, for a cooperative child, when the
//! scope's token is cancelled); they record their polls and their drop.
//!
//! The model: children in spawn order, each waiting, admitted, finished,
//! aborted or dropped. Waiting children are admitted in spawn order while
//! fewer than `limit` are admitted; a waiting child whose `JoinHandle` is
//! polled (`Join`) is admitted at once, even over the limit. One poll of
//! the scope future drives everything to quiescence (fewer than
//! [`MAX_CHILDREN`] children never exhaust the scope's poll budget), so
//! after a poll: every admitted child has been polled, admitted children
//! whose gate is open finish (admitting more) until nothing changes, and
//! the scope is ready exactly when the body finished and no child is live.
//! After every step the harness compares what it can observe (children's
//! polls, finishes and drops, `live()`, `is_finished()`, the tokens, the
//! waker) with the model.

#[allow(dead_code)] // `Wakers`, `FifoSem`: used by the other harnesses.
#[path = "common.rs"]
pub mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::CountWaker;

use weftwork::CancelToken;
use weftwork::cancel::CancelledOwned;
use weftwork::scope::{Builder, JoinHandle, Scope};

/// At most this many children per run: with fewer than ~100, one poll of
/// the scope future stays inside its budget of 128 polls.
pub const MAX_CHILDREN: usize = 40;

/// What the body returns.
const BODY_VALUE: u64 = 0x5c09e;

/// One step of a run. Child indices are taken modulo the length of the list
/// they select from (every child for `Open`, the children whose
/// `JoinHandle` the harness still holds for `Abort`, `Detach` and `Join`);
/// an op on an empty list does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Spawns a child through the kept `Scope` (a no-op before the harness
    /// has one, or past `MAX_CHILDREN`). A `coop` child also finishes once
    /// the scope's token is cancelled. On a scope that already finished it
    /// must panic (checked only where panics unwind).
    Spawn { coop: bool },
    /// Opens a child's gate and wakes the waker it stored.
    Open(usize),
    /// `JoinHandle::abort`.
    Abort(usize),
    /// Drops a `JoinHandle` (the child runs on, detached).
    Detach(usize),
    /// Polls a `JoinHandle` once, outside the scope, with the no-op waker.
    Join(usize),
    /// Cancels the scope's token, or (`parent`) the token the scope is a
    /// `child_of`.
    Cancel { parent: bool },
    /// Polls the scope future (a no-op once it finished or was dropped).
    Poll,
    /// Opens the body's gate (the body then returns).
    FinishBody,
    /// Drops the scope future.
    DropScope,
}

/// How a run is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `Builder::limit`.
    pub limit: Option<usize>,
    /// The harness takes its `Scope` clone from the body closure, when the
    /// scope is built (so it can spawn before the first poll); otherwise
    /// from the body, on its first poll.
    pub early: bool,
}

/// Whether a panic can be caught here (not under `-C panic=abort`).
const CATCH_PANICS: bool = cfg!(panic = "unwind");

/// What the children and the body have in common, shared with the harness.
#[derive(Debug)]
struct Shared {
    /// How many children may have started and not ended: the limit, or
    /// more while children let in over it (`Join`) are admitted. Set by
    /// the harness before each poll of the scope.
    bound: AtomicUsize,
    /// Children polled at least once and neither finished nor dropped.
    started: AtomicUsize,
    /// Violations seen inside polls and drops (a panic there would be
    /// caught by the scope and resumed by the harness's poll, far from the
    /// cause; these are reported by the next check).
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, msg: String) {
        self.errors.lock().unwrap().push(msg);
    }
}

/// The state of one child (or of the body), shared by its future and the
/// harness.
#[derive(Debug)]
struct Gate {
    open: AtomicBool,
    /// The waker of the last pending poll; taken by `open`.
    waker: Mutex<Option<Waker>>,
    polls: AtomicUsize,
    finished: AtomicBool,
    dropped: AtomicBool,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Gate {
            open: AtomicBool::new(false),
            waker: Mutex::new(None),
            polls: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        })
    }

    fn open(&self) {
        self.open.store(true, SeqCst);
        let waker = self.waker.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn polled(&self) -> bool {
        self.polls.load(SeqCst) > 0
    }
}

/// A child: pending until its gate opens (or, if cooperative, until the
/// scope's token is cancelled); returns its id.
struct Child {
    id: usize,
    gate: Arc<Gate>,
    shared: Arc<Shared>,
    cancelled: Option<Pin<Box<CancelledOwned>>>,
}

impl Future for Child {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = &mut *self;
        let (id, gate, shared) = (this.id, &this.gate, &this.shared);
        if gate.finished.load(SeqCst) {
            shared.error(format!("child {id} polled after it finished"));
        }
        if gate.polls.fetch_add(1, SeqCst) == 0 {
            let running = shared.started.fetch_add(1, SeqCst) + 1;
            let bound = shared.bound.load(SeqCst);
            if running > bound {
                shared.error(format!(
                    "child {id} started with {running} children running, over the bound {bound}"
                ));
            }
        }
        let done = gate.open.load(SeqCst)
            || this
                .cancelled
                .as_mut()
                .is_some_and(|c| c.as_mut().poll(cx).is_ready());
        if done {
            gate.finished.store(true, SeqCst);
            shared.started.fetch_sub(1, SeqCst);
            *gate.waker.lock().unwrap() = None;
            Poll::Ready(id)
        } else {
            *gate.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let gate = &self.gate;
        if gate.dropped.swap(true, SeqCst) {
            self.shared
                .error(format!("child {} dropped twice", self.id));
        }
        if gate.polled() && !gate.finished.load(SeqCst) {
            self.shared.started.fetch_sub(1, SeqCst);
        }
    }
}

/// The body: pending until its gate opens. It owns its `Scope` and, unless
/// the harness took one when the scope was built, hands a clone to the
/// harness on its first poll.
struct Body {
    gate: Arc<Gate>,
    scope: Scope<'static>,
    kept: Arc<Mutex<Option<Scope<'static>>>>,
}

impl Future for Body {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let gate = &self.gate;
        if gate.finished.load(SeqCst) {
            panic!("the body was polled after it finished");
        }
        if gate.polls.fetch_add(1, SeqCst) == 0 {
            let mut kept = self.kept.lock().unwrap();
            if kept.is_none() {
                *kept = Some(self.scope.clone());
            }
        }
        if gate.open.load(SeqCst) {
            gate.finished.store(true, SeqCst);
            *gate.waker.lock().unwrap() = None;
            Poll::Ready(BODY_VALUE)
        } else {
            *gate.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        assert!(
            !self.gate.dropped.swap(true, SeqCst),
            "the body was dropped twice"
        );
    }
}

/// What the model says a child is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Over the limit: never polled until admitted.
    Waiting,
    /// Within the limit: polled by the next poll of the scope.
    Admitted,
    /// Returned its id (its future is dropped at once).
    Finished,
    /// Dropped by `JoinHandle::abort` before it finished.
    Aborted,
    /// Dropped by the scope's drop (or spawned into a dropped or finished
    /// scope, and dropped unpolled).
    Dropped,
}

impl Status {
    fn live(self) -> bool {
        matches!(self, Status::Waiting | Status::Admitted)
    }
}

/// The scope future, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeState {
    Open,
    /// Returned the body's value: spawning now panics.
    Finished,
    /// Dropped before it finished: spawning gives a handle to a child that
    /// was dropped at once.
    TornDown,
}

struct Kid {
    gate: Arc<Gate>,
    coop: bool,
    handle: Option<JoinHandle<'static, usize>>,
    status: Status,
    /// The model says it has been polled.
    polled: bool,
}

struct Harness {
    limit: usize,
    shared: Arc<Shared>,
    parent: CancelToken,
    kept: Arc<Mutex<Option<Scope<'static>>>>,
    fut: Option<Pin<Box<dyn Future<Output = u64>>>>,
    waker: Arc<CountWaker>,
    /// The waker's count when the last poll returned `Pending` (`None`
    /// before the first poll).
    wakes_seen: Option<usize>,
    body: Arc<Gate>,
    kids: Vec<Kid>,
    // The rest of the model.
    state: ScopeState,
    body_open: bool,
    body_polled: bool,
    body_finished: bool,
    cancelled: bool,
    parent_cancelled: bool,
}

/// Runs `f`, returning its panic message if it panicked (without printing
/// it).
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let res = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    res.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

impl Harness {
    fn new(config: Config) -> Self {
        let limit = config.limit.unwrap_or(usize::MAX);
        let parent = CancelToken::new();
        let kept = Arc::new(Mutex::new(None));
        let body = Gate::new();
        let mut builder = Builder::new().child_of(&parent);
        if let Some(n) = config.limit {
            builder = builder.limit(n);
        }
        let (gate, kept2, early) = (body.clone(), kept.clone(), config.early);
        let fut = builder.scope(move |s: Scope<'static>| {
            if early {
                *kept2.lock().unwrap() = Some(s.clone());
            }
            Body {
                gate,
                scope: s,
                kept: kept2,
            }
        });
        Harness {
            limit,
            shared: Arc::new(Shared {
                bound: AtomicUsize::new(limit),
                started: AtomicUsize::new(0),
                errors: Mutex::new(Vec::new()),
            }),
            parent,
            kept,
            fut: Some(Box::pin(fut)),
            waker: Arc::new(CountWaker::default()),
            wakes_seen: None,
            body,
            kids: Vec::new(),
            state: ScopeState::Open,
            body_open: false,
            body_polled: false,
            body_finished: false,
            cancelled: false,
            parent_cancelled: false,
        }
    }

    fn scope(&self) -> Option<Scope<'static>> {
        self.kept.lock().unwrap().clone()
    }

    /// Children the model says are admitted.
    fn admitted(&self) -> usize {
        self.kids
            .iter()
            .filter(|k| k.status == Status::Admitted)
            .count()
    }

    /// The model's admission: waiting children are admitted in spawn order
    /// while fewer than `limit` are (an admitted child stays admitted until
    /// it ends; one let in early by `Join` may put the count over `limit`).
    fn admit(&mut self) {
        let mut admitted = self.admitted();
        for k in &mut self.kids {
            if admitted >= self.limit {
                break;
            }
            if k.status == Status::Waiting {
                k.status = Status::Admitted;
                admitted += 1;
            }
        }
    }

    /// The indices of the children whose handle the harness holds.
    fn held(&self) -> Vec<usize> {
        (0..self.kids.len())
            .filter(|&i| self.kids[i].handle.is_some())
            .collect()
    }

    fn pick_held(&self, i: usize) -> Option<usize> {
        let held = self.held();
        (!held.is_empty()).then(|| held[i % held.len()])
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Spawn { coop } => self.spawn(coop),
            Op::Open(i) => {
                if self.kids.is_empty() {
                    return;
                }
                let i = i % self.kids.len();
                self.kids[i].gate.open();
            }
            Op::Abort(i) => {
                let Some(i) = self.pick_held(i) else { return };
                let k = &mut self.kids[i];
                k.handle.take().unwrap().abort();
                if k.status.live() {
                    k.status = Status::Aborted;
                    assert!(
                        k.gate.dropped.load(SeqCst),
                        "child {i}: not dropped by the time abort() returned"
                    );
                    self.admit();
                }
            }
            Op::Detach(i) => {
                let Some(i) = self.pick_held(i) else { return };
                drop(self.kids[i].handle.take());
            }
            Op::Join(i) => self.join(i),
            Op::Cancel { parent } => {
                if parent {
                    self.parent.cancel();
                    self.parent_cancelled = true;
                } else {
                    let Some(s) = self.scope() else { return };
                    s.token().cancel();
                }
                self.cancelled = true;
            }
            Op::Poll => self.poll(),
            Op::FinishBody => {
                self.body.open();
                self.body_open = true;
            }
            Op::DropScope => {
                let Some(fut) = self.fut.take() else { return };
                drop(fut);
                if self.state == ScopeState::Open {
                    self.state = ScopeState::TornDown;
                    self.cancelled = true;
                    for k in &mut self.kids {
                        if k.status.live() {
                            k.status = Status::Dropped;
                        }
                    }
                }
                // `check` verifies every child and the body were dropped.
            }
        }
    }

    fn spawn(&mut self, coop: bool) {
        if self.kids.len() >= MAX_CHILDREN {
            return;
        }
        let Some(s) = self.scope() else { return };
        if self.state == ScopeState::Finished && !CATCH_PANICS {
            return;
        }
        let id = self.kids.len();
        let gate = Gate::new();
        let child = Child {
            id,
            gate: gate.clone(),
            shared: self.shared.clone(),
            cancelled: coop.then(|| Box::pin(s.token().cancelled_owned())),
        };
        let mut kid = Kid {
            gate,
            coop,
            handle: None,
            status: Status::Waiting,
            polled: false,
        };
        match self.state {
            ScopeState::Open => {
                kid.handle = Some(s.spawn(child));
                self.kids.push(kid);
                self.admit();
            }
            ScopeState::TornDown => {
                // The child is dropped unpolled; the handle panics if polled.
                kid.handle = Some(s.spawn(child));
                kid.status = Status::Dropped;
                self.kids.push(kid);
            }
            ScopeState::Finished => {
                let msg = panic_message(|| drop(s.spawn(child)));
                let msg = msg.expect("spawn on a finished scope did not panic");
                assert!(
                    msg.contains("spawn on a scope that has already finished"),
                    "spawn on a finished scope: unexpected panic {msg:?}"
                );
                kid.status = Status::Dropped;
                self.kids.push(kid);
            }
        }
    }

    fn join(&mut self, i: usize) {
        let Some(i) = self.pick_held(i) else { return };
        let k = &mut self.kids[i];
        let mut cx = Context::from_waker(Waker::noop());
        match k.status {
            Status::Finished => {
                let res = Pin::new(k.handle.as_mut().unwrap()).poll(&mut cx);
                assert_eq!(res, Poll::Ready(i), "join of finished child {i}");
                k.handle = None;
            }
            Status::Waiting | Status::Admitted => {
                let res = Pin::new(k.handle.as_mut().unwrap()).poll(&mut cx);
                assert_eq!(res, Poll::Pending, "join of live child {i}");
                // Awaited: a waiting child is let in at once, over the limit.
                k.status = Status::Admitted;
            }
            Status::Dropped => {
                if !CATCH_PANICS {
                    return;
                }
                let mut h = k.handle.take().unwrap();
                let msg = panic_message(|| {
                    let _ = Pin::new(&mut h).poll(&mut cx);
                });
                assert!(
                    msg.is_some(),
                    "join of child {i}, dropped unfinished by its scope, did not panic"
                );
                drop(h);
            }
            Status::Aborted => unreachable!("an aborted child's handle is gone"),
        }
    }

    /// Polls the scope future, after predicting the outcome.
    fn poll(&mut self) {
        if self.fut.is_none() || self.state != ScopeState::Open {
            return;
        }
        // The model's fixpoint: admitted children get polled; those whose
        // gate is open (or cooperative ones once cancelled) finish and
        // admit the next ones.
        let before: Vec<(Status, bool)> = self.kids.iter().map(|k| (k.status, k.polled)).collect();
        let body_before = (self.body_polled, self.body_finished);
        // Admissions during the poll only refill up to `limit`, so the
        // children admitted now bound those running at once.
        self.admit();
        let bound = self.admitted().max(self.limit);
        self.shared.bound.store(bound, SeqCst);
        loop {
            self.admit();
            let mut changed = false;
            for k in &mut self.kids {
                if k.status == Status::Admitted {
                    k.polled = true;
                    if k.gate.open.load(SeqCst) || (k.coop && self.cancelled) {
                        k.status = Status::Finished;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        self.body_polled = true;
        self.body_finished |= self.body_open;
        let live = self.kids.iter().filter(|k| k.status.live()).count();
        let ready = self.body_finished && live == 0;
        let after: Vec<(Status, bool)> = self.kids.iter().map(|k| (k.status, k.polled)).collect();
        let progress =
            ready || before != after || body_before != (self.body_polled, self.body_finished);
        if let Some(seen) = self.wakes_seen {
            assert!(
                !progress || self.waker.count() > seen,
                "lost wake-up: the scope has work to do (children {before:?} -> {after:?}, \
                 body finished {} -> {}, ready {ready}) but its waker was not woken",
                body_before.1,
                self.body_finished,
            );
        }

        let waker = Waker::from(self.waker.clone());
        let res = self
            .fut
            .as_mut()
            .unwrap()
            .as_mut()
            .poll(&mut Context::from_waker(&waker));
        match (res, ready) {
            (Poll::Ready(v), true) => {
                assert_eq!(
                    v, BODY_VALUE,
                    "the scope returned something else than the body's value"
                );
                self.state = ScopeState::Finished;
                self.wakes_seen = None;
            }
            (Poll::Pending, false) => self.wakes_seen = Some(self.waker.count()),
            (res, _) => panic!(
                "scope poll gave {res:?}, model says {} (body finished: {}, live children: {live}; \
                 children: {after:?})",
                if ready { "ready" } else { "pending" },
                self.body_finished,
            ),
        }
    }

    fn check(&self) {
        let errors = self.shared.errors.lock().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        drop(errors);
        let mut started = 0;
        for (i, k) in self.kids.iter().enumerate() {
            let g = &k.gate;
            let what = format_args!("child {i} (model: {:?}, polled: {})", k.status, k.polled);
            assert_eq!(
                g.polled(),
                k.polled,
                "{what}: polled {} times",
                g.polls.load(SeqCst)
            );
            assert_eq!(
                g.finished.load(SeqCst),
                k.status == Status::Finished,
                "{what}: finished?"
            );
            let dropped = matches!(
                k.status,
                Status::Finished | Status::Aborted | Status::Dropped
            );
            assert_eq!(g.dropped.load(SeqCst), dropped, "{what}: dropped?");
            if let Some(h) = &k.handle {
                assert_eq!(
                    h.is_finished(),
                    k.status == Status::Finished,
                    "{what}: JoinHandle::is_finished"
                );
            }
            if k.polled && k.status == Status::Admitted {
                started += 1;
            }
        }
        assert_eq!(
            self.shared.started.load(SeqCst),
            started,
            "children started and not ended"
        );
        if let Some(s) = self.scope() {
            let live = self.kids.iter().filter(|k| k.status.live()).count();
            assert_eq!(s.live(), live, "Scope::live");
            assert_eq!(
                s.token().is_cancelled(),
                self.cancelled,
                "scope token cancelled?"
            );
        }
        assert_eq!(
            self.parent.is_cancelled(),
            self.parent_cancelled,
            "parent token cancelled?"
        );
        let b = &self.body;
        assert_eq!(b.polled(), self.body_polled, "body polled?");
        assert_eq!(
            b.finished.load(SeqCst),
            self.body_finished,
            "body finished?"
        );
        assert_eq!(
            b.dropped.load(SeqCst),
            self.body_finished || self.state == ScopeState::TornDown,
            "body dropped?"
        );
    }

    /// Ends the run: lets everything finish (the scope must then complete),
    /// drops the scope, joins every handle, and checks nothing is left.
    fn drain(&mut self) {
        if self.state == ScopeState::Open && self.fut.is_some() {
            self.step(Op::FinishBody);
            self.check();
            for i in 0..self.kids.len() {
                self.step(Op::Open(i));
                self.check();
            }
            self.step(Op::Poll);
            self.check();
            assert_eq!(
                self.state,
                ScopeState::Finished,
                "every gate is open, yet the scope did not finish"
            );
        }
        self.step(Op::DropScope);
        self.check();
        while !self.held().is_empty() {
            self.step(Op::Join(0));
            self.check();
        }
        // Tear down what is left; spawns after the end panic with their
        // handle dropped, spawns after a teardown leave a handle.
        for k in &mut self.kids {
            drop(k.handle.take());
        }
        *self.kept.lock().unwrap() = None;
        self.check();
        assert_eq!(self.shared.started.load(SeqCst), 0, "children left running");
        for (i, k) in self.kids.iter().enumerate() {
            assert_eq!(
                Arc::strong_count(&k.gate),
                1,
                "child {i}: its future was leaked"
            );
        }
        assert_eq!(Arc::strong_count(&self.body), 1, "the body was leaked");
    }
}

/// Runs `ops` on a scope set up by `config`, checking the model after every
/// step; then lets everything finish and checks that nothing is left.
pub fn run(config: Config, ops: &[Op]) {
    let mut h = Harness::new(config);
    h.check();
    for &op in ops {
        h.step(op);
        h.check();
    }
    h.drain();
}
