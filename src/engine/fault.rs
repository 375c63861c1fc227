//! The one narrow fault seam (a test hook): every filesystem step of every mutation
//! calls [`point`] first, so tests can fail (EIO, ENOSPC, EXDEV…) or "crash" (exit the
//! process without any cleanup) at exactly that step. Off by default; costs one
//! atomic load when unarmed.
//!
//! Two ways to arm it:
//! - in-process: [`arm`] a [`FaultPlan`] (scoped to the calling thread by default, so
//!   parallel tests do not disturb each other) and [`record`] the labels hit, so a test
//!   can first list the steps of an operation, then fail at step `i`;
//! - for child processes: the environment variable `CKPT_FAULT=fail:N[:errno]` returns
//!   that OS error (default EIO) at the N-th point (1-based), and `CKPT_FAULT=crash:N`
//!   calls `_exit(137)` at the N-th point, as if the machine died between two syscalls.
//!
//! Labels in use: `tmp.create` `tmp.write` `tmp.chmod` `tmp.fsync` `tmp.rename`
//! `dir.create` `dir.fsync` `move.link` `move.unlink_source` `alias.link` `alias.create`
//! `alias.reflink` `alias.copy` `alias.chmod` `alias.fsync` `alias.rename` `lock.open`
//! `manifest.store` `state.store` `sweep.unlink` `recover.unlink` `prune.unlink`
//! `prune.rename_dir` `prune.remove_dir`. New mutations add their own before each step.
//!
//! Cleanup after a failure (removing our own temp file, releasing the lock) is not a
//! step: it never passes through the seam, so an injected fault cannot leak a temp.
//!
//! The seam exists only in test builds: the library's own unit tests and the cargo
//! feature `fault-injection`, which the integration tests enable (the package is its
//! own dev-dependency with that feature). A release binary compiles [`point`] to
//! `Ok(())` and never reads `CKPT_FAULT`, so the variable cannot kill a user's save.

#[cfg(any(test, feature = "fault-injection"))]
pub use seam::*;

/// Without the `fault-injection` feature every step simply proceeds.
#[cfg(not(any(test, feature = "fault-injection")))]
#[inline(always)]
pub(crate) fn point(_label: &'static str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(any(test, feature = "fault-injection"))]
mod seam {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Mutex;
    use std::thread::ThreadId;

    /// What to do when the armed point is reached.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FaultAction {
        /// Return this OS error (errno) from the point, as the real syscall would.
        Fail(i32),
        /// Exit the process at once with status 137, without unwinding or cleanup.
        Crash,
    }

    /// Which threads a plan counts and hits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum FaultScope {
        /// Only the thread that armed the plan (default: parallel tests stay independent).
        #[default]
        ArmingThread,
        /// Every thread of the process.
        Process,
    }

    /// A fault to inject: at the `at`-th point (1-based) counted since arming, optionally
    /// counting only points whose label starts with `label_prefix`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FaultPlan {
        pub at: usize,
        pub action: FaultAction,
        pub label_prefix: Option<String>,
        pub scope: FaultScope,
        /// Fail every matching point from the `at`-th on (a filesystem that cannot do
        /// something, e.g. `fs.link` on vfat), not just once.
        pub every_time: bool,
    }

    impl FaultPlan {
        /// Fail the `at`-th step with `errno`.
        pub fn fail(at: usize, errno: i32) -> FaultPlan {
            FaultPlan {
                at,
                action: FaultAction::Fail(errno),
                label_prefix: None,
                scope: FaultScope::ArmingThread,
                every_time: false,
            }
        }

        /// Fail every point whose label starts with `prefix` with `errno`: the
        /// filesystem's own answer (`fs.link`: no hardlinks here).
        pub fn always(prefix: &str, errno: i32) -> FaultPlan {
            FaultPlan {
                at: 1,
                action: FaultAction::Fail(errno),
                label_prefix: Some(prefix.to_string()),
                scope: FaultScope::ArmingThread,
                every_time: true,
            }
        }

        /// Crash (exit 137) at the `at`-th step.
        pub(crate) fn crash(at: usize) -> FaultPlan {
            FaultPlan {
                at,
                action: FaultAction::Crash,
                label_prefix: None,
                scope: FaultScope::ArmingThread,
                every_time: false,
            }
        }

        /// Only count points whose label starts with `prefix` (e.g. "alias.link"; several
        /// alternatives joined by `|`, e.g. "fs.link|alias.chmod").
        pub fn on_label(mut self, prefix: &str) -> FaultPlan {
            self.label_prefix = Some(prefix.to_string());
            self
        }

        /// Parse `fail:N[:errno]` or `crash:N` (the `CKPT_FAULT` syntax).
        /// Also `always:LABEL[:errno]`: every point whose label starts with LABEL fails
        /// (default EPERM), e.g. `always:fs.link:1` for a filesystem without hardlinks.
        pub fn parse(spec: &str) -> Option<FaultPlan> {
            let mut parts = spec.trim().split(':');
            let kind = parts.next()?;
            if kind == "always" {
                let label = parts.next().filter(|l| !l.is_empty())?;
                let errno = match parts.next() {
                    Some(e) => e.parse().ok()?,
                    None => libc::EPERM,
                };
                let mut plan = FaultPlan::always(label, errno);
                plan.scope = FaultScope::Process;
                return Some(plan);
            }
            let at: usize = parts.next()?.parse().ok()?;
            let mut plan = match kind {
                "fail" => {
                    let errno = match parts.next() {
                        Some(e) => e.parse().ok()?,
                        None => libc::EIO,
                    };
                    FaultPlan::fail(at, errno)
                }
                "crash" => FaultPlan::crash(at),
                _ => return None,
            };
            plan.scope = FaultScope::Process;
            Some(plan)
        }
    }

    const UNINIT: u8 = 0;
    const OFF: u8 = 1;
    const ON: u8 = 2;

    /// Fast-path switch: one relaxed load decides whether anything else happens.
    static STATE: AtomicU8 = AtomicU8::new(UNINIT);

    /// One armed plan: the thread it is scoped to (None = every thread) and its count.
    struct Slot {
        thread: Option<ThreadId>,
        plan: FaultPlan,
        seen: usize,
    }

    struct Armed {
        plans: Vec<Slot>,
        recordings: Vec<(ThreadId, Vec<&'static str>)>,
    }

    static ARMED: Mutex<Armed> = Mutex::new(Armed {
        plans: Vec::new(),
        recordings: Vec::new(),
    });

    fn lock() -> std::sync::MutexGuard<'static, Armed> {
        // A panicking test thread must not disable the seam for the others.
        ARMED.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refresh_switch(a: &Armed) {
        let on = !a.plans.is_empty() || !a.recordings.is_empty();
        STATE.store(if on { ON } else { OFF }, Ordering::SeqCst);
    }

    fn ensure_init() {
        if STATE.load(Ordering::SeqCst) != UNINIT {
            return;
        }
        let mut a = lock();
        if STATE.load(Ordering::SeqCst) != UNINIT {
            return;
        }
        if let Ok(spec) = std::env::var("CKPT_FAULT") {
            if let Some(plan) = FaultPlan::parse(&spec) {
                a.plans.push(Slot {
                    thread: None,
                    plan,
                    seen: 0,
                });
            }
        }
        refresh_switch(&a);
    }

    /// Called before each filesystem step, labelled like "tmp.fsync" or "alias.rename".
    /// Returns the injected error when a fault is armed for this step.
    #[inline]
    pub(crate) fn point(label: &'static str) -> std::io::Result<()> {
        match STATE.load(Ordering::Relaxed) {
            OFF => Ok(()),
            _ => slow_point(label),
        }
    }

    #[cold]
    fn slow_point(label: &'static str) -> std::io::Result<()> {
        ensure_init();
        if STATE.load(Ordering::SeqCst) == OFF {
            return Ok(());
        }
        let me = std::thread::current().id();
        let mut a = lock();
        // `fs.*` points model what the filesystem itself answers (no hardlinks…): only
        // a plan naming them counts them, so step walks and recordings do not see them.
        let fs_point = label.starts_with("fs.");
        for (thread, log) in a.recordings.iter_mut() {
            if *thread == me && !fs_point {
                log.push(label);
            }
        }
        let mut hit = None;
        for (i, slot) in a.plans.iter_mut().enumerate() {
            if slot.thread.is_some_and(|t| t != me) {
                continue;
            }
            match &slot.plan.label_prefix {
                Some(prefix) if !prefix.split('|').any(|p| label.starts_with(p)) => continue,
                None if fs_point => continue,
                _ => {}
            }
            slot.seen += 1;
            if slot.seen >= slot.plan.at && slot.plan.every_time {
                hit = Some((usize::MAX, slot.plan.action));
                break;
            }
            if slot.seen == slot.plan.at {
                hit = Some((i, slot.plan.action));
                break;
            }
        }
        match hit {
            None => Ok(()),
            Some((_, FaultAction::Crash)) => {
                // Simulate power loss between two syscalls: no destructors, no flush.
                unsafe { libc::_exit(137) }
            }
            Some((i, FaultAction::Fail(errno))) => {
                // One-shot: the retry or cleanup after the failure runs unharmed
                // (an `every_time` plan stays).
                if i != usize::MAX {
                    a.plans.remove(i);
                    refresh_switch(&a);
                }
                Err(std::io::Error::from_raw_os_error(errno))
            }
        }
    }

    /// Arm a fault plan (test hook). Replaces the plan of the same scope (this thread, or
    /// the process-wide one) and starts counting steps from zero.
    pub fn arm(plan: FaultPlan) {
        ensure_init();
        let thread = match plan.scope {
            FaultScope::ArmingThread => Some(std::thread::current().id()),
            FaultScope::Process => None,
        };
        let mut a = lock();
        a.plans.retain(|s| s.thread != thread);
        a.plans.push(Slot {
            thread,
            plan,
            seen: 0,
        });
        refresh_switch(&a);
    }

    /// Remove the calling thread's plan and the process-wide one (test hook).
    pub fn disarm() {
        let me = std::thread::current().id();
        let mut a = lock();
        a.plans.retain(|s| s.thread.is_some_and(|t| t != me));
        refresh_switch(&a);
    }

    /// Start recording the labels of the points hit by the calling thread (test hook).
    pub fn start_recording() {
        ensure_init();
        let me = std::thread::current().id();
        let mut a = lock();
        a.recordings.retain(|(t, _)| *t != me);
        a.recordings.push((me, Vec::new()));
        refresh_switch(&a);
    }

    /// Stop recording and return the labels the calling thread hit since
    /// [`start_recording`], in order.
    pub fn record() -> Vec<&'static str> {
        let me = std::thread::current().id();
        let mut a = lock();
        let mut out = Vec::new();
        a.recordings.retain_mut(|(t, log)| {
            if *t == me {
                out = std::mem::take(log);
                false
            } else {
                true
            }
        });
        refresh_switch(&a);
        out
    }

    /// True when no plan is armed for the calling thread any more (a `Fail` plan
    /// disarms itself when it fires).
    pub fn fired() -> bool {
        let me = std::thread::current().id();
        !lock().plans.iter().any(|s| s.thread == Some(me))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        let p = FaultPlan::parse("fail:3:28").unwrap();
        assert_eq!(p.at, 3);
        assert_eq!(p.action, FaultAction::Fail(28));
        assert_eq!(p.scope, FaultScope::Process);
        assert_eq!(
            FaultPlan::parse("fail:2").unwrap().action,
            FaultAction::Fail(libc::EIO)
        );
        assert_eq!(
            FaultPlan::parse("crash:7").unwrap().action,
            FaultAction::Crash
        );
        assert!(FaultPlan::parse("boom:1").is_none());
        assert!(FaultPlan::parse("fail:x").is_none());
    }

    #[test]
    fn record_then_fail_at_step() {
        start_recording();
        point("a").unwrap();
        point("b").unwrap();
        point("c").unwrap();
        assert_eq!(record(), vec!["a", "b", "c"]);

        arm(FaultPlan::fail(2, libc::ENOSPC));
        point("a").unwrap();
        let e = point("b").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        point("c").unwrap();
        assert!(fired());
    }

    #[test]
    fn label_filter_and_other_threads_unaffected() {
        arm(FaultPlan::fail(1, libc::EPERM).on_label("alias.link"));
        std::thread::spawn(|| point("alias.link").unwrap())
            .join()
            .unwrap();
        point("tmp.write").unwrap();
        assert!(point("alias.link").is_err());
        disarm();
    }
}
