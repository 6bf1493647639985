//! Work too small for the rayon pool, split between the calling thread and one helper thread
//! that spins between jobs.
//!
//! Handing a task to a sleeping rayon worker and waiting for it costs tens of microseconds, as
//! long as a whole dense layer takes for one image, so batch-1 inference (`predict`, `serve`)
//! would otherwise run on one core. The helper waits for work by spinning for a short while
//! after each job (as ONNX Runtime's pool does), so a job reaches it in well under a
//! microsecond while jobs keep coming, and parks when they stop. A job it has not taken by the
//! time the caller finishes its own half, the caller runs itself: a parked or busy helper never
//! makes a caller wait.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long the helper spins for the next job before it parks.
const SPIN: Duration = Duration::from_micros(200);

/// Nothing posted.
const IDLE: u8 = 0;
/// A job waits for the helper (or the caller) to take it.
const POSTED: u8 = 1;
/// The helper runs the job.
const RUNNING: u8 = 2;
/// The helper has finished the job.
const DONE: u8 = 3;

/// The second half of a job, with its lifetime erased: valid while its caller waits in
/// [`in_two_halves`].
type Job = *const (dyn Fn() + Sync);

struct Helper {
    /// IDLE → POSTED (caller) → RUNNING (helper) → DONE (helper) → IDLE (caller), or
    /// POSTED → IDLE when the caller takes its job back.
    state: AtomicU8,
    /// The posted job; written (and cleared once the job is over) by the one caller holding
    /// `busy`, read by the helper only after it has moved the state from POSTED to RUNNING.
    job: UnsafeCell<Option<Job>>,
    /// The panic of the job the helper last ran, for its caller to resume.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// One caller at a time; others run both halves themselves.
    busy: AtomicBool,
    /// The helper is parked, or about to park.
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

// SAFETY: `job` is written only by the caller holding `busy` while the state is IDLE, and read
// only by the helper after it has won the POSTED → RUNNING exchange (acquire, pairing with the
// caller's release); the closure behind it is `Sync`.
unsafe impl Sync for Helper {}

fn helper() -> &'static Helper {
    static HELPER: OnceLock<&'static Helper> = OnceLock::new();
    HELPER.get_or_init(|| {
        let helper: &'static Helper = Box::leak(Box::new(Helper {
            state: AtomicU8::new(IDLE),
            job: UnsafeCell::new(None),
            panic: Mutex::new(None),
            busy: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            thread: OnceLock::new(),
        }));
        let handle = thread::Builder::new()
            .name("mnistlab-pair".into())
            .spawn(move || helper.serve())
            .ok();
        if let Some(handle) = handle {
            let _ = helper.thread.set(handle.thread().clone());
        }
        helper
    })
}

impl Helper {
    /// The helper thread's loop: take posted jobs, spinning for the next one a while.
    fn serve(&self) {
        loop {
            let mut idle_since = Instant::now();
            let mut spins = 0u32;
            loop {
                if self.state.load(Ordering::Relaxed) == POSTED
                    && self
                        .state
                        .compare_exchange(POSTED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    let run = catch_unwind(AssertUnwindSafe(|| {
                        // SAFETY: the exchange above made this thread the job's only runner; its
                        // caller waits for DONE before the closure goes out of scope.
                        let job = unsafe { (*self.job.get()).expect("a posted job") };
                        unsafe { (*job)() }
                    }));
                    if let Err(panic) = run {
                        *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(panic);
                    }
                    self.state.store(DONE, Ordering::Release);
                    idle_since = Instant::now();
                    continue;
                }
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    if idle_since.elapsed() > SPIN {
                        break;
                    }
                    // A thread with real work (another request, another process) goes first.
                    thread::yield_now();
                }
            }
            self.sleeping.store(true, Ordering::SeqCst);
            if self.state.load(Ordering::SeqCst) != POSTED {
                thread::park();
            }
            self.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

/// A pointer into a buffer whose two halves of a job write disjoint parts.
#[derive(Clone, Copy)]
pub(crate) struct Disjoint(pub(crate) *mut f32);

// SAFETY: the halves sharing it write disjoint elements, and the buffer's unique borrow outlives
// the job ([`in_two_halves`] returns only when both halves have).
unsafe impl Send for Disjoint {}
unsafe impl Sync for Disjoint {}

impl Disjoint {
    /// The pointer. Closures call this rather than naming `.0`, which would capture the bare
    /// pointer (not `Sync`) instead of the `Disjoint`.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `half(0)` and `half(1)`, on the calling thread and the helper at once where the helper
/// is free, else one after the other on the calling thread. Returns when both have run.
///
/// The helper is used only when the rayon pool has two threads or more (a user who asked for
/// one thread gets one), and callers use this only outside parallel loops, where every core
/// already has work.
///
/// # Panics
/// If either half panics (after both have finished, so nothing they borrow is freed while the
/// other runs).
pub(crate) fn in_two_halves(half: &(dyn Fn(usize) + Sync)) {
    let helper = helper();
    if rayon::current_num_threads() < 2
        || helper.thread.get().is_none()
        || helper
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        half(0);
        half(1);
        return;
    }
    let second = || half(1);
    let second: &(dyn Fn() + Sync) = &second;
    let job: *const (dyn Fn() + Sync + '_) = second;
    // SAFETY: only the lifetime is erased; `collect` below does not return while the helper may
    // still call it, and nothing between here and there can unwind past it (the first half runs
    // under `catch_unwind`).
    let job: Job = unsafe { std::mem::transmute::<*const (dyn Fn() + Sync + '_), Job>(job) };
    // SAFETY: this thread holds `busy` and the state is IDLE, so the helper does not read `job`.
    unsafe { *helper.job.get() = Some(job) };
    helper.state.store(POSTED, Ordering::SeqCst);
    if helper.sleeping.load(Ordering::SeqCst) {
        if let Some(thread) = helper.thread.get() {
            thread.unpark();
        }
    }
    let first = catch_unwind(AssertUnwindSafe(|| half(0)));
    let second = helper.collect(second, first.is_ok());
    if let Err(payload) = first.and(second) {
        resume_unwind(payload);
    }
}

impl Helper {
    /// Ends a posted job: runs its half on this thread if the helper has not taken it (and
    /// `run_if_taken_back`), else waits for the helper to finish it; then frees the helper for
    /// the next caller. The half's panic, if it had one, is returned.
    fn collect(
        &self,
        second: &(dyn Fn() + Sync),
        run_if_taken_back: bool,
    ) -> std::thread::Result<()> {
        let taken_back = self
            .state
            .compare_exchange(POSTED, IDLE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        let outcome = if taken_back {
            match run_if_taken_back {
                true => catch_unwind(AssertUnwindSafe(second)),
                false => Ok(()),
            }
        } else {
            let mut spins = 0u32;
            while self.state.load(Ordering::Acquire) != DONE {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    // The helper may share this core (the scheduler decides): let it finish.
                    thread::yield_now();
                }
            }
            let panic = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
            self.state.store(IDLE, Ordering::Relaxed);
            panic.map_or(Ok(()), Err)
        };
        // SAFETY: the helper is done with the job (taken back, or DONE seen).
        unsafe { *self.job.get() = None };
        self.busy.store(false, Ordering::Release);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_each_half_once() {
        for _ in 0..2000 {
            let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
            in_two_halves(&|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(counts.map(|c| c.into_inner()), [1, 1]);
        }
    }

    #[test]
    fn runs_both_halves_after_the_helper_parked() {
        let sum = AtomicUsize::new(0);
        in_two_halves(&|i| {
            sum.fetch_add(i + 1, Ordering::Relaxed);
        });
        thread::sleep(SPIN * 5);
        in_two_halves(&|i| {
            sum.fetch_add(10 * (i + 1), Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), 33);
    }

    #[test]
    fn callers_on_many_threads_each_get_both_halves() {
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        let seen = [AtomicUsize::new(0), AtomicUsize::new(0)];
                        in_two_halves(&|i| {
                            seen[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert_eq!(seen.map(|c| c.into_inner()), [1, 1]);
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(total.into_inner(), 2000);
    }

    #[test]
    fn a_panicking_half_panics_the_caller_and_frees_the_helper() {
        for panicking in [0, 1] {
            let run = catch_unwind(|| {
                in_two_halves(&|i| {
                    if i == panicking {
                        panic!("half {i}");
                    }
                })
            });
            assert!(run.is_err(), "half {panicking} panicked");
        }
        let both = AtomicUsize::new(0);
        in_two_halves(&|_| {
            both.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(both.into_inner(), 2);
    }
}
