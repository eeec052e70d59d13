//! How the server's synchronous work (the store, the handlers) runs beside its async runtime.
//!
//! A request's work is synchronous: a cached read, or one commit, which may wait seconds on a
//! store that hangs. It steps off the runtime's worker with `block_in_place`, which hands the
//! worker's place (its queue and its turn at polling the sockets) to another thread for that
//! time, so however many requests wait on the store, the server goes on serving the others.
//!
//! Running the work right on the worker instead (one request at a time, the others stepping
//! out) saved a thread handover per request, but tokio polls the sockets only from a parked
//! worker, and the worker that found a request's data does not always wake another to take
//! that over: a request waiting on a hung store on the worker could leave every socket of the
//! server unserved until it ended (`etcd_faults::requests_waiting_on_a_hung_store_leave_the_server_answering`,
//! 2 failures in 8 runs with the CPU busy). The handover costs 0.01-0.04 ms of a 0.3 ms
//! locked create on SQLite.
//!
//! Libraries that bring their own runtime (reqwest's blocking client, for the IPAM and DNS
//! calls) also need it: inside a runtime's context they refuse to run, in a blocking region
//! they may.

/// Runs `work` stepped off the runtime's worker if this thread is one (see the module doc);
/// on any other thread (an agent's, a task's, a request already stepped out) it just runs.
pub fn off_worker<T>(work: impl FnOnce() -> T) -> T {
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

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_off_worker_on_a_worker_lets_reqwest_style_runtimes_start() {
        let runtime = runtime();
        let built = runtime.block_on(async {
            tokio::spawn(async {
                // What reqwest's blocking client does (in debug builds) on every call: build
                // and drop a runtime, which tokio refuses inside a runtime's context.
                off_worker(|| {
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
