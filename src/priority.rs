//! The scheduling priority of tracewire's own threads (the export worker
//! and its doorbell), so that they yield the CPU to the application's.
//!
//! A proxy's request threads must never wait for the exporter: on Linux
//! the worker runs under `SCHED_IDLE` by default, a policy whose threads
//! run only when no normal thread of that CPU wants to, and which a
//! waking normal thread preempts at once. Measured through
//! `examples/proxy.rs` (BENCHMARKS.md, "Latency a proxy pays"), a worker
//! at normal priority that wakes beside the request thread on its CPU
//! delays that request by its whole batch's work.
//!
//! Owns: the [`WorkerPriority`] setting and applying it to the calling
//! thread. Must never be called on a recording thread (it is a syscall).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How tracewire's own threads (the export worker and its doorbell) are
/// scheduled against the application's (`tracing.batch.workerPriority`).
///
/// Applies where the worker runs on its own thread (the default); a worker
/// spawned on the caller's runtime ([`PipelineBuilder::runtime`]) runs at
/// that runtime's priority. On systems other than Linux every setting runs
/// the threads at normal priority.
///
/// The trade-off of [`Idle`](WorkerPriority::Idle): when the application
/// keeps every CPU busy, the worker gets almost no time, the queue fills,
/// and new traces are shed (or spans dropped, with shedding off) rather
/// than the application slowed. Choose [`Low`](WorkerPriority::Low) or
/// [`Normal`](WorkerPriority::Normal) to give the exporter a share.
///
/// [`PipelineBuilder::runtime`]: crate::PipelineBuilder::runtime
///
/// ```
/// use tracewire::WorkerPriority;
/// assert_eq!(WorkerPriority::default(), WorkerPriority::Idle);
/// assert_eq!("low".parse::<WorkerPriority>(), Ok(WorkerPriority::Low));
/// assert_eq!(WorkerPriority::Normal.to_string(), "normal");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerPriority {
    /// Linux `SCHED_IDLE`: runs only when the CPU has nothing else to run;
    /// any application thread that wakes preempts it at once (the default).
    #[default]
    Idle,
    /// Nice 19: the smallest share of the CPU a normal thread can have
    /// (about 1.5% against one busy nice-0 thread), but never none.
    Low,
    /// The application's own priority (as the OpenTelemetry SDKs run
    /// their batch processor).
    Normal,
}

impl WorkerPriority {
    /// The setting's name in configuration (`idle`, `low`, `normal`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerPriority::Idle => "idle",
            WorkerPriority::Low => "low",
            WorkerPriority::Normal => "normal",
        }
    }
}

impl fmt::Display for WorkerPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority name that is not one of `idle`, `low`, `normal`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown worker priority; use idle, low or normal")]
#[non_exhaustive]
pub struct UnknownPriority;

impl std::str::FromStr for WorkerPriority {
    type Err = UnknownPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "idle" => Ok(WorkerPriority::Idle),
            "low" => Ok(WorkerPriority::Low),
            "normal" => Ok(WorkerPriority::Normal),
            _ => Err(UnknownPriority),
        }
    }
}

/// The longest a poll of one of tracewire's own tasks may run before its
/// thread offers the CPU to the application (see [`Bounded`]).
const SLICE: Duration = Duration::from_micros(50);

pin_project_lite::pin_project! {
    /// A future whose polls are bounded slices of work: after a poll that
    /// ran longer than 50 us, the thread yields the CPU (`sched_yield`),
    /// so an application thread that is runnable on this CPU runs next
    /// instead of waiting for the rest of tracewire's work.
    ///
    /// Why: Linux (EEVDF) grants even a `SCHED_IDLE` thread a whole time
    /// slice, about a millisecond, when the application's thread on that
    /// CPU has run long enough to become ineligible; measured through
    /// `examples/proxy.rs` at saturation, the export worker then held the
    /// proxy's thread for 0.3-1.8 ms, 37 times in 3 s (BENCHMARKS.md).
    /// Yielding ends such a slice as soon as the current poll ends. With
    /// nothing else runnable, the yield returns at once.
    ///
    /// Runs per poll of the worker's tasks (never on a recording thread):
    /// two clock reads, and a syscall only after a long poll.
    pub(crate) struct Bounded<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Bounded<F> {
    /// `inner`, polled in bounded slices.
    pub(crate) fn new(inner: F) -> Self {
        Bounded { inner }
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let out = self.project().inner.poll(cx);
        if started.elapsed() > SLICE {
            std::thread::yield_now();
        }
        out
    }
}

/// Runs the calling thread at `priority`. A failure (a sandbox that
/// forbids it, another OS) leaves the thread as it was and is logged once
/// at debug level: the exporter works at any priority.
pub(crate) fn apply_to_current_thread(priority: WorkerPriority) {
    if let Err(e) = os::apply(priority) {
        log::debug!("tracewire: could not set the worker's priority to {priority}: {e}");
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod os {
    use super::WorkerPriority;

    pub(super) fn apply(priority: WorkerPriority) -> std::io::Result<()> {
        match priority {
            WorkerPriority::Normal => Ok(()),
            WorkerPriority::Idle => {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: `sched_setscheduler` reads `param` (a valid,
                // initialised struct on our stack) and changes only the
                // calling thread's policy (pid 0 is the calling thread on
                // Linux); it touches no memory of ours.
                let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
                check(rc)
            }
            WorkerPriority::Low => {
                // SAFETY: `gettid` takes no argument and cannot fail.
                let tid = unsafe { libc::gettid() };
                // SAFETY: `setpriority` takes plain integers and changes
                // the nice value of thread `tid` (the calling thread) only.
                let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) };
                check(rc)
            }
        }
    }

    fn check(rc: libc::c_int) -> std::io::Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use super::WorkerPriority;

    pub(super) fn apply(priority: WorkerPriority) -> std::io::Result<()> {
        match priority {
            WorkerPriority::Normal => Ok(()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "thread priorities are set on Linux only",
            )),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy and nice value, from
    /// `/proc/thread-self/stat` (fields 19 and 41).
    fn policy_and_nice() -> (u32, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name may hold spaces: the fields start after its ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        // `rest` starts at field 3 (state).
        (f[41 - 3].parse().unwrap(), f[19 - 3].parse().unwrap())
    }

    #[test]
    fn each_setting_reaches_the_thread() {
        let run = |p| {
            std::thread::spawn(move || {
                apply_to_current_thread(p);
                policy_and_nice()
            })
            .join()
            .unwrap()
        };
        // A new thread inherits this one's policy and nice value; Normal
        // leaves them as they are. SCHED_OTHER is 0, SCHED_IDLE 5.
        let (policy, nice) = policy_and_nice();
        assert_eq!(run(WorkerPriority::Normal), (policy, nice));
        assert_eq!(run(WorkerPriority::Idle).0, 5);
        if policy == 0 {
            assert_eq!(run(WorkerPriority::Low), (0, 19));
        }
    }

    #[test]
    fn names_round_trip() {
        for p in [
            WorkerPriority::Idle,
            WorkerPriority::Low,
            WorkerPriority::Normal,
        ] {
            assert_eq!(p.as_str().parse::<WorkerPriority>(), Ok(p));
            assert_eq!(p.as_str().to_uppercase().parse::<WorkerPriority>(), Ok(p));
        }
        assert_eq!("background".parse::<WorkerPriority>(), Err(UnknownPriority));
    }
}
