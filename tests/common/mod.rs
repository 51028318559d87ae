//! Helpers shared by the integration tests: run one async body on every
//! executor, poll futures by hand, count wake-ups.
//!
//! Each test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread;
use std::time::Duration;

/// Iterations per task in the stress tests.
pub const ITERS: usize = if cfg!(miri) { 10 } else { 1000 };
/// Concurrent tasks in the stress tests.
pub const TASKS: usize = if cfg!(miri) { 3 } else { 8 };
/// How long one executor may take for one test body before we call it a
/// deadlock (generous: the machine may be busy compiling).
const TIMEOUT: Duration = Duration::from_secs(120);

/// A boxed, sendable unit future.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type SpawnFn = dyn Fn(BoxFuture) -> BoxFuture + Send + Sync;

/// The executor a test body runs on: lets the body spawn concurrent tasks
/// without knowing which runtime it is.
#[derive(Clone)]
pub struct Executor {
    name: &'static str,
    spawn: Arc<SpawnFn>,
}

impl Executor {
    /// The executor's name, for assertion messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Spawns `fut` as a separate task; the returned future completes when
    /// the task has, and re-raises its panic.
    pub fn spawn<F>(&self, fut: F) -> BoxFuture
    where
        F: Future<Output = ()> + Send + 'static,
    {
        (self.spawn)(Box::pin(fut))
    }
}

/// Awaits every join future in order.
pub async fn join_all(handles: Vec<BoxFuture>) {
    for h in handles {
        h.await;
    }
}

type Body = Arc<dyn Fn(Executor) -> BoxFuture + Send + Sync>;
type Runner = (&'static str, fn(Body));

/// Runs `f` on every executor, one after the other:
/// tokio multi-thread (2 workers), tokio current-thread, async-executor
/// (2 threads, via smol's `block_on`), `futures::executor::block_on` and
/// `pollster::block_on` (the last two spawn tasks on their own threads).
///
/// Under Miri only the last two run (tokio and async-executor are slow
/// there).
pub fn on_all_executors<F, Fut>(f: F)
where
    F: Fn(Executor) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let body: Body = Arc::new(move |ex| Box::pin(f(ex)));
    let runners: &[Runner] = if cfg!(miri) {
        &[
            ("futures::executor", run_futures),
            ("pollster", run_pollster),
        ]
    } else {
        &[
            ("tokio multi-thread", run_tokio_mt),
            ("tokio current-thread", run_tokio_ct),
            ("async-executor", run_async_executor),
            ("futures::executor", run_futures),
            ("pollster", run_pollster),
        ]
    };
    for &(name, run) in runners {
        with_timeout(name, body.clone(), run);
    }
}

/// Runs one executor on its own thread so that a deadlock fails the test
/// (after [`TIMEOUT`]) instead of hanging the suite; re-raises panics.
fn with_timeout(name: &str, body: Body, run: fn(Body)) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("executor: {name}"))
        .spawn(move || {
            run(body);
            let _ = tx.send(());
        })
        .expect("spawn executor thread");
    let res = if cfg!(miri) {
        rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
    } else {
        rx.recv_timeout(TIMEOUT)
    };
    match res {
        Ok(()) => handle.join().expect("executor thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => {
                eprintln!("test body panicked on executor `{name}`");
                std::panic::resume_unwind(payload)
            }
            Ok(()) => unreachable!("sender dropped without panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test body timed out on executor `{name}` (deadlock or lost wake-up?)")
        }
    }
}

fn tokio_spawner(name: &'static str, handle: tokio::runtime::Handle) -> Executor {
    Executor {
        name,
        spawn: Arc::new(move |fut| {
            let task = handle.spawn(fut);
            Box::pin(async move {
                if let Err(e) = task.await {
                    std::panic::resume_unwind(e.into_panic());
                }
            })
        }),
    }
}

fn run_tokio_mt(body: Body) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ex = tokio_spawner("tokio multi-thread", rt.handle().clone());
    // The body itself runs as a task on the workers.
    let main = ex.spawn(body(ex.clone()));
    rt.block_on(main);
}

fn run_tokio_ct(body: Body) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ex = tokio_spawner("tokio current-thread", rt.handle().clone());
    rt.block_on(body(ex));
}

fn run_async_executor(body: Body) {
    let exec = Arc::new(async_executor::Executor::<'static>::new());
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let helper = {
        let exec = exec.clone();
        thread::spawn(move || {
            smol::block_on(exec.run(async move {
                let _ = stop_rx.await;
            }))
        })
    };
    let ex = {
        let exec = exec.clone();
        Executor {
            name: "async-executor",
            spawn: Arc::new(move |fut| Box::pin(exec.spawn(fut))),
        }
    };
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        smol::block_on(exec.run(body(ex)));
    }));
    let _ = stop_tx.send(());
    helper.join().expect("async-executor helper thread");
    if let Err(p) = res {
        std::panic::resume_unwind(p);
    }
}

/// Tasks spawned as threads, each driven by `block_on`.
fn thread_spawner(name: &'static str, block_on: fn(BoxFuture)) -> Executor {
    Executor {
        name,
        spawn: Arc::new(move |fut| {
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            thread::spawn(move || {
                block_on(fut);
                let _ = tx.send(());
            });
            Box::pin(async move {
                rx.await
                    .expect("a spawned task panicked (see its message above)");
            })
        }),
    }
}

fn run_futures(body: Body) {
    let ex = thread_spawner("futures::executor", futures::executor::block_on);
    futures::executor::block_on(body(ex));
}

fn run_pollster(body: Body) {
    let ex = thread_spawner("pollster", pollster::block_on);
    pollster::block_on(body(ex));
}

/// Yields once to the executor (wakes itself, returns `Pending` once).
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
    YieldNow(false).await
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls a boxed future once with a no-op waker.
pub fn poll_box<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    poll_once(fut.as_mut())
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts how often it was woken.
#[derive(Clone)]
pub struct CountingWaker {
    count: Arc<Count>,
    waker: Waker,
}

impl Default for CountingWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingWaker {
    pub fn new() -> Self {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        Self { count, waker }
    }

    /// How many times it was woken so far.
    pub fn count(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Polls `fut` once with this waker.
    pub fn poll<F: Future + ?Sized>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(&self.waker))
    }

    /// Polls a boxed future once with this waker.
    pub fn poll_box<F: Future + ?Sized>(&self, fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
        self.poll(fut.as_mut())
    }
}

/// `Ready(v)` → `v`; panics with `what` on `Pending`.
#[track_caller]
pub fn ready<T>(p: Poll<T>, what: &str) -> T {
    match p {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected {what} to be ready, it is pending"),
    }
}

/// Compile-time checks.
pub fn assert_send<T: Send>() {}
pub fn assert_sync<T: Sync>() {}
pub fn assert_send_sync<T: Send + Sync>() {}

/// Counts drops of the values made by [`Drops::token`].
#[derive(Clone, Default)]
pub struct Drops(Arc<AtomicUsize>);

/// Adds one to its [`Drops`] when dropped.
pub struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drops {
    pub fn token(&self) -> OnDrop {
        OnDrop(self.0.clone())
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Yields to the executor `n` times (through the scope's `yield_now`).
pub async fn yields(n: usize) {
    for _ in 0..n {
        weftwork::scope::yield_now().await;
    }
}

/// A multi-thread tokio runtime with two workers (timers and I/O on).
pub fn tokio_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A waker whose `wake` panics (`Wake` is a safe trait: user code may hand
/// the primitives one).
pub fn panicking_waker() -> Waker {
    struct PanicWake;
    impl Wake for PanicWake {
        fn wake(self: Arc<Self>) {
            panic!("waker wake panics");
        }
    }
    Waker::from(Arc::new(PanicWake))
}

/// A waker whose `clone` panics (`RawWakerVTable` functions are user code
/// the primitives may run).
pub fn clone_panicking_waker() -> Waker {
    static VTABLE: RawWakerVTable =
        RawWakerVTable::new(|_| panic!("waker clone panics"), |_| {}, |_| {}, |_| {});
    // SAFETY: every vtable function ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// A `TaskGroup` spawner driven by hand: tasks are stored, and
/// [`run_once`](Self::run_once) polls each once (single-threaded,
/// deterministic; runs under Miri).
#[derive(Clone, Default)]
pub struct Manual(pub Arc<std::sync::Mutex<Vec<weftwork::task_group::BoxTask>>>);

impl weftwork::task_group::Spawn for Manual {
    fn spawn_boxed(&self, task: weftwork::task_group::BoxTask) {
        self.0.lock().unwrap().push(task);
    }
}

impl Manual {
    /// Polls every stored task once; drops the finished ones. Should a
    /// poll panic, every task taken for this round is dropped (as an
    /// executor that drops a task whose poll panicked).
    pub fn run_once(&self) {
        let mut tasks = std::mem::take(&mut *self.0.lock().unwrap());
        let mut cx = Context::from_waker(Waker::noop());
        tasks.retain_mut(|t| t.as_mut().poll(&mut cx).is_pending());
        self.0.lock().unwrap().extend(tasks);
    }

    /// Tasks stored (not finished).
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
