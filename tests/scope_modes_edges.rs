//! Edge cases of the scope policies (`scope`, `try_scope`, `supervise`,
//! `race`) and of how a scope starts. Futures are polled by hand, so
//! nothing depends on timing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use weftwork::CancelToken;
use weftwork::scope::Builder;

/// Sets its flag when dropped.
struct Flag<'a>(&'a AtomicBool);
impl Drop for Flag<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A child that holds `f` forever (until dropped).
async fn holds(f: Flag<'_>) {
    let _f = f;
    std::future::pending::<()>().await
}

/// The same, as a child of the fallible policies.
async fn holds_ok(f: Flag<'_>) -> Result<(), ()> {
    holds(f).await;
    Ok(())
}

/// Where a body closure leaves its scope's token.
type TokenSlot = StdMutex<Option<CancelToken>>;

/// Bug: a body closure that spawned a child and then panicked (before
/// returning its future) leaked that child: no driver owned it yet, and
/// the child's cell and the scope's shared part hold each other, so the
/// child's destructor never ran (a permit or guard it held was never given
/// back; Miri reports the leak). Now the children are dropped and the
/// scope's token cancelled before the panic leaves the call, for every
/// policy.
#[test]
fn a_body_closure_panicking_after_spawning_drops_its_children() {
    fn check(name: &str, start: impl FnOnce(&AtomicBool, &TokenSlot)) {
        let dropped = AtomicBool::new(false);
        let token = StdMutex::new(None);
        let r = catch_unwind(AssertUnwindSafe(|| start(&dropped, &token)));
        assert!(r.is_err(), "{name}: the closure's panic goes on");
        assert!(dropped.load(SeqCst), "{name}: the child was never dropped");
        let token = token.lock().unwrap().take().unwrap();
        assert!(token.is_cancelled(), "{name}: token not cancelled");
    }
    check("scope", |d, t| {
        drop(Builder::new().scope(|s| {
            *t.lock().unwrap() = Some(s.token().clone());
            s.spawn(holds(Flag(d)));
            panic!("closure panics");
            #[allow(unreachable_code)]
            async {}
        }));
    });
    check("try_scope", |d, t| {
        drop(Builder::new().try_scope(|s| {
            *t.lock().unwrap() = Some(s.token().clone());
            s.spawn(holds_ok(Flag(d)));
            panic!("closure panics");
            #[allow(unreachable_code)]
            async {
                Ok::<(), ()>(())
            }
        }));
    });
    check("supervise", |d, t| {
        drop(Builder::new().supervise(|s| {
            *t.lock().unwrap() = Some(s.token().clone());
            s.spawn(holds_ok(Flag(d)));
            panic!("closure panics");
            #[allow(unreachable_code)]
            async {}
        }));
    });
    check("race", |d, t| {
        drop(Builder::new().race(|s| {
            *t.lock().unwrap() = Some(s.token().clone());
            s.spawn(holds_ok(Flag(d)));
            panic!("closure panics");
            #[allow(unreachable_code)]
            async {}
        }));
    });
}
