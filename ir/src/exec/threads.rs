//! Spawned calls: each gets a thread id and a seeded delay, and runs to completion at an
//! instruction boundary of the main thread once that many main-thread steps have passed;
//! whatever is still pending when `main` returns runs then, in spawn order.
//!
//! Threads never interleave within a call: one runs at a time, from start to end. What
//! the delay changes is *when* a spawned call's effects (and its counter operations) happen
//! relative to main's, which is what makes a missing count or an early free show. Every
//! counter operation records the running thread, so a non-atomic count touched by two
//! threads is reported. A spawned call's result goes to no one, and a spawned closure is
//! held by the thread, not by a local: when the thread ends both are released (dropped if
//! counted, freed if unique), as a backend's thread entry would.

use super::heap::Body;
use super::machine::{Act, Action, Machine, RetTo, Stop, Task, Thread};
use super::value::Value;
use crate::FunctionId;

/// What a spawned call calls.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SpawnCallee {
    /// A function or method.
    Function(FunctionId),
    /// The closure this value refers to.
    Closure(Value),
}

/// A spawned call that has not started.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Spawn order.
    seq: u64,
    /// Its thread id.
    thread: u32,
    /// The main-thread step after which it may run.
    due: u64,
    callee: SpawnCallee,
    args: Vec<Value>,
}

/// The pending calls and the seeded generator of delays.
#[derive(Debug, Clone)]
pub(super) struct Spawns {
    pending: Vec<Pending>,
    rng: SplitMix64,
    next_thread: u32,
    next_seq: u64,
}

/// The most main-thread steps a spawned call waits.
const MAX_DELAY: u64 = 200;

impl Spawns {
    /// No pending calls; delays drawn from `seed`.
    pub(super) fn new(seed: u64) -> Spawns {
        Spawns {
            pending: Vec::new(),
            rng: SplitMix64(seed),
            next_thread: super::machine::MAIN_THREAD + 1,
            next_seq: 0,
        }
    }

    /// The pending call that is due at main step `now` and was due first.
    pub(super) fn take_due(&mut self, now: u64) -> Option<Pending> {
        let (i, _) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| (p.due, p.seq))?;
        Some(self.pending.remove(i))
    }

    /// The pending call spawned first.
    pub(super) fn take_first(&mut self) -> Option<Pending> {
        let (i, _) = self.pending.iter().enumerate().min_by_key(|(_, p)| p.seq)?;
        Some(self.pending.remove(i))
    }
}

/// Sebastiano Vigna's splitmix64: small, fast and the same everywhere.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Machine<'_> {
    /// `spawn`: the call is queued on a new thread (its arguments and closure are held by
    /// it until it starts).
    pub(super) fn spawn(&mut self, callee: SpawnCallee, args: Vec<Value>) {
        let spawns = &mut self.spawns;
        let thread = spawns.next_thread;
        spawns.next_thread = spawns.next_thread.saturating_add(1);
        let seq = spawns.next_seq;
        spawns.next_seq += 1;
        let due = self.main_steps + spawns.rng.next() % (MAX_DELAY + 1);
        for v in &args {
            self.heap.hold(v, true);
        }
        if let SpawnCallee::Closure(v) = &callee {
            self.heap.hold(v, true);
        }
        if self.options.trace {
            let what = match &callee {
                SpawnCallee::Function(f) => format!("fn {}", crate::print::function_name(self.program, *f)),
                SpawnCallee::Closure(Value::Ref(o)) => self.heap.name(*o),
                SpawnCallee::Closure(_) => "closure".into(),
            };
            self.trace(|| format!("spawn {what} thread {thread}"));
        }
        self.spawns.pending.push(Pending { seq, thread, due, callee, args });
    }

    /// Starts a pending call on its own thread (on top of the suspended main thread).
    pub(super) fn start_thread(&mut self, pending: Pending) -> Result<(), Stop> {
        let Pending { thread, callee, args, .. } = pending;
        for v in &args {
            self.heap.hold(v, false);
        }
        if let SpawnCallee::Closure(v) = &callee {
            self.heap.hold(v, false);
        }
        self.threads.push(Thread { id: thread, stack: Vec::new(), frames: 0 });
        self.trace(|| format!("thread {thread} runs"));
        match callee {
            SpawnCallee::Function(f) => self.push_frame(f, args, Vec::new(), RetTo::Release),
            SpawnCallee::Closure(Value::Ref(o)) => {
                self.access(o)?;
                match self.heap.get(o).map(|o| &o.body) {
                    Some(Body::Closure { function, captures }) => {
                        let (function, captures) = (*function, captures.clone());
                        // Under the body: the thread's reference to the closure, released
                        // once the body (which borrows the captures) has returned.
                        let cause = self.span;
                        let release = Task::Each {
                            refs: vec![o],
                            next: 0,
                            repeat: 1,
                            done: 0,
                            action: Action::Release,
                            cause,
                        };
                        if let Some(thread) = self.threads.last_mut() {
                            thread.stack.push(Act::Task(release));
                        }
                        self.push_frame(function, args, captures, RetTo::Release)
                    }
                    _ => Err(self.internal(format!("spawn of #{o}, which is not a closure"))),
                }
            }
            SpawnCallee::Closure(v) => Err(self.internal(format!("spawn of {v:?}"))),
        }
    }

    /// Runs every pending call, in spawn order (including those they spawn).
    pub(super) fn drain_spawns(&mut self) -> Result<(), Stop> {
        while let Some(pending) = self.spawns.take_first() {
            self.start_thread(pending)?;
            self.run_loop()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_spreads() {
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        assert_ne!(SplitMix64(8).next(), xs[0]);
        // The reference value of splitmix64 seeded with 0.
        assert_eq!(SplitMix64(0).next(), 0xE220_A839_7B1D_CDAF);
    }
}
