//! How the server's synchronous work (the store, the handlers) runs beside its async runtime.
//!
//! A request's work is synchronous and usually short: a cached read, or one commit. Moving
//! it off the runtime's worker for every request (`block_in_place` hands the worker's place
//! to another thread, `spawn_blocking` sends the work to one) costs two thread wakes, which
//! on a small, busy machine was a third of a locked create on SQLite. So one request at a
//! time runs its work right on the worker ([`WorkerSlot`]), and every other request at that
//! moment steps out with `block_in_place`: however slow the store gets, at most one worker
//! is ever held by a request and the others keep serving.
//!
//! Work that may wait long by nature (a password hash, a call to an outside service, an
//! answer from a node) steps out by itself with [`long_wait`], so even the one request on
//! the worker frees it for that time.
//!
//! What runs on the worker this way must not wait for the server's own async tasks: one it
//! woke would sit in that worker's next-task slot, which no other worker takes. None does:
//! the server's runtime only serves connections, and the store's clients run on runtimes of
//! their own. Nor may code on the worker outside a slot (authentication on the cached access
//! records) wait for anything that holds a lock across a store call.

use std::sync::atomic::{AtomicBool, Ordering};

/// The one place on the runtime's workers where a request's work may run.
#[derive(Default)]
pub struct WorkerSlot {
    taken: AtomicBool,
}

impl WorkerSlot {
    /// Runs `work` on this thread if the slot is free, else with `block_in_place`. Must be
    /// called on a worker of a multi-threaded runtime (or outside any runtime).
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        if self
            .taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return tokio::task::block_in_place(work);
        }
        // Freed however `work` ends, a panic included.
        struct Free<'a>(&'a AtomicBool);
        impl Drop for Free<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _free = Free(&self.taken);
        work()
    }
}

/// Runs `work`, which may wait long, off the runtime's worker if this thread is one; on any
/// other thread (an agent's, a task's, a request already stepped out) it just runs.
/// Libraries that bring their own runtime (reqwest's blocking client) also need it: inside
/// a runtime's context they refuse to run.
pub fn long_wait<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_request_on_the_worker_leaves_the_others_serving() {
        let runtime = runtime();
        let slot = Arc::new(WorkerSlot::default());
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let slot = slot.clone();
            runtime.spawn(async move {
                slot.run(|| {
                    held_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
            })
        };
        held_rx.recv().unwrap();
        // While one request holds a worker, four more than the one worker left wait in
        // their work all at the same time (the barrier lets none through before all are
        // in), and plain async work is still served beside them.
        let together = Arc::new(std::sync::Barrier::new(5));
        let others: Vec<_> = (0..4)
            .map(|_| {
                let (slot, together) = (slot.clone(), together.clone());
                runtime.spawn(async move { slot.run(|| together.wait()) })
            })
            .collect();
        together.wait();
        runtime.block_on(async {
            assert_eq!(tokio::spawn(async { 7 }).await.unwrap(), 7);
            for other in others {
                other.await.unwrap();
            }
        });
        release_tx.send(()).unwrap();
        runtime.block_on(holder).unwrap();
        assert!(
            !slot.taken.load(Ordering::Acquire),
            "the slot is free once its request is done"
        );
    }

    #[test]
    fn the_slot_is_free_again_after_a_panic() {
        let slot = WorkerSlot::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.run(|| panic!("handler bug"))
        }));
        assert!(caught.is_err());
        assert!(!slot.taken.load(Ordering::Acquire));
        assert_eq!(slot.run(|| 7), 7);
    }

    #[test]
    fn a_long_wait_on_a_worker_lets_reqwest_style_runtimes_start() {
        let runtime = runtime();
        let built = runtime.block_on(async {
            tokio::spawn(async {
                // What reqwest's blocking client does (in debug builds) on every call: build
                // and drop a runtime, which tokio refuses inside a runtime's context.
                long_wait(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .map(drop)
                        .is_ok()
                })
            })
            .await
            .unwrap()
        });
        assert!(built);
    }
}
