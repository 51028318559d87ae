use std::sync::Arc;
use weftwork::{Mutex, RwLock, Semaphore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let m = Arc::new(Mutex::new(0u64));
    let s = Arc::new(Semaphore::new(3));
    let l = Arc::new(RwLock::new(0u64));
    let mut hs = vec![];
    for _ in 0..8 {
        let (m, s, l) = (m.clone(), s.clone(), l.clone());
        hs.push(tokio::spawn(async move {
            for i in 0..2000 {
                *m.lock().await += 1;
                let p = s.acquire_many(1 + i % 3).await.unwrap();
                drop(p);
                if i % 10 == 0 {
                    *l.write().await += 1
                } else {
                    let _r = l.read().await;
                }
                if i % 50 == 0 {
                    let up = l.upgradable_read().await;
                    let mut w = weftwork::sync::RwLockUpgradableReadGuard::upgrade(up).await;
                    *w += 1;
                }
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*m.lock().await, 16000);
    assert_eq!(s.available_permits(), 3);
    assert_eq!(*l.read().await, 8 * (200 + 40));
}
