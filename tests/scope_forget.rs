//! A leaked (`mem::forget`) scope future is harmless: its children are
//! never polled again, so nothing reads the data they borrowed.
//!
//! Apart from `tests/scope.rs` because it leaks on purpose: Miri runs it
//! with `-Zmiri-ignore-leaks` (see `.ci/run`).

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

#[test]
fn a_forgotten_scope_future_never_touches_borrowed_data_again() {
    let polls = AtomicUsize::new(0);
    let waker_slot: StdMutex<Option<std::task::Waker>> = StdMutex::new(None);
    {
        let data = vec![1u8; 16];
        let fut = Box::pin(weftwork::scope(async |s| {
            let (data, polls, slot) = (&data, &polls, &waker_slot);
            s.spawn(std::future::poll_fn(move |cx| {
                polls.fetch_add(1, SeqCst);
                assert_eq!(data.len(), 16);
                *slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
            std::future::pending::<()>().await;
        }));
        let mut fut = fut;
        let waker = Waker::noop().clone();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        std::mem::forget(fut);
        // `data` is freed here while the child still "borrows" it.
    }
    // Waking the leaked child must not poll it (that would read freed data).
    waker_slot.lock().unwrap().take().unwrap().wake();
    assert_eq!(polls.load(SeqCst), 1);
}
