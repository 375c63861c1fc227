//! `ckpt demo`: a simulated trainer saving through the engine.
//!
//! A thread writes a random payload every `interval` with a noisy, improving metric
//! (and an occasional NaN, as a diverging eval would give), into a fresh native run
//! under retention keep_top_k 3 / keep_last 2. The caller watches it (the monitor, or
//! the printed events) and stops it; a temp run is removed when the [`Trainer`] drops.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::{EngineOptions, Run, SaveReport, SaveRequest, SaveSource};
use crate::rank::{MetricSpec, Mode, RetentionPolicy};
use crate::{Error, Result};

/// Options of `ckpt demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep the run here; `None` = a fresh temp dir removed on exit.
    pub dir: Option<PathBuf>,
    /// Payload bytes per checkpoint.
    pub size: u64,
    /// Seconds between saves.
    pub interval: Duration,
    /// Stop after this many saves (`None` = until stopped).
    pub saves: Option<u64>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            dir: None,
            size: 4 << 20,
            interval: Duration::from_secs(2),
            saves: None,
        }
    }
}

/// The metric the demo ranks by.
pub const DEMO_METRIC: &str = "eval_top1";

/// The demo's retention: what a careful user of timm would pick.
pub(crate) const DEMO_POLICY: RetentionPolicy = RetentionPolicy {
    keep_top_k: Some(3),
    keep_last: Some(2),
    keep_every: None,
};

/// One save the trainer made (or failed to make).
#[derive(Debug)]
pub struct DemoEvent {
    pub epoch: u64,
    pub metric: f64,
    pub result: Result<SaveReport>,
}

/// A running simulated trainer; dropping it stops the thread and removes a temp run.
pub struct Trainer {
    run_dir: PathBuf,
    events: Receiver<DemoEvent>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Declared last: dropped after the thread is joined.
    _temp: Option<tempfile::TempDir>,
}

impl Trainer {
    /// Create the run (a temp dir unless `options.dir`) and start saving into it.
    pub fn start(options: &DemoOptions) -> Result<Trainer> {
        let (temp, run_dir) = match &options.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("ckpt-demo-")
                    .tempdir()
                    .map_err(|e| Error::io("create demo dir", std::env::temp_dir(), e))?;
                let dir = t.path().join("run");
                (Some(t), dir)
            }
        };
        let run = Run::open_or_create(&run_dir, EngineOptions::default())?;
        // Continue after any epochs a kept --dir already holds.
        let first_epoch = run
            .snapshot()
            .ok()
            .and_then(|s| s.checkpoints.iter().filter_map(|c| c.epoch).max())
            .map_or(0, |e| e + 1);
        let (event_tx, events) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel();
        let opts = options.clone();
        let thread = std::thread::Builder::new()
            .name("ckpt-demo-trainer".into())
            .spawn(move || train(run, opts, first_epoch, event_tx, stop_rx))
            .map_err(|e| Error::io("start demo trainer", &run_dir, e))?;
        Ok(Trainer {
            run_dir,
            events,
            stop: Some(stop),
            thread: Some(thread),
            _temp: temp,
        })
    }

    /// The run the trainer writes.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Saves as they happen; disconnected once the trainer has finished.
    pub fn events(&self) -> &Receiver<DemoEvent> {
        &self.events
    }

    /// True when the run is removed on drop (no `--dir`).
    pub fn is_temporary(&self) -> bool {
        self._temp.is_some()
    }

    /// Stop the trainer (between saves, or after the save in progress) and wait for it.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Trainer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The trainer loop: save, then wait `interval` or until told to stop.
fn train(
    run: Run,
    opts: DemoOptions,
    first_epoch: u64,
    events: Sender<DemoEvent>,
    stop: Receiver<()>,
) {
    let mut rng = XorShift::seeded();
    let mut payload = vec![0u8; opts.size.min(usize::MAX as u64) as usize];
    let mut done = 0u64;
    let mut epoch = first_epoch;
    loop {
        let metric = simulated_metric(epoch, &mut rng);
        rng.fill(&mut payload);
        let req = SaveRequest {
            epoch,
            metric: Some(metric),
            metric_spec: Some(MetricSpec {
                name: DEMO_METRIC.into(),
                mode: Mode::Max,
            }),
            policy: Some(DEMO_POLICY),
            ..SaveRequest::default()
        };
        let mut write = |w: &mut dyn std::io::Write| w.write_all(&payload);
        let result = run.save(&req, SaveSource::Writer(&mut write), None);
        let failed = result.is_err();
        if events
            .send(DemoEvent {
                epoch,
                metric,
                result,
            })
            .is_err()
        {
            return;
        }
        done += 1;
        epoch += 1;
        if failed || opts.saves.is_some_and(|n| done >= n) {
            return;
        }
        match stop.recv_timeout(opts.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Top-1 accuracy that rises towards ~90 with noise; about one eval in nine is NaN.
pub(crate) fn simulated_metric(epoch: u64, rng: &mut XorShift) -> f64 {
    if epoch > 0 && rng.next_f64() < 0.11 {
        return f64::NAN;
    }
    let trend = 90.0 * (1.0 - (-(epoch as f64 + 1.0) / 6.0).exp());
    let noise = (rng.next_f64() - 0.5) * 8.0;
    ((trend + noise).clamp(0.0, 100.0) * 100.0).round() / 100.0
}

/// A tiny PRNG: the demo needs varied bytes, not cryptography.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    fn seeded() -> XorShift {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        XorShift::new(nanos ^ ((std::process::id() as u64) << 32))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_improves_and_sometimes_is_nan() {
        let mut rng = XorShift::new(7);
        let vals: Vec<f64> = (0..200).map(|e| simulated_metric(e, &mut rng)).collect();
        let nans = vals.iter().filter(|v| v.is_nan()).count();
        assert!(nans > 5 && nans < 50, "{nans} NaNs");
        let early: f64 = vals[..10].iter().filter(|v| v.is_finite()).sum::<f64>() / 10.0;
        let late: Vec<f64> = vals[100..]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        assert!(late.iter().sum::<f64>() / late.len() as f64 > early);
        assert!(vals[0].is_finite());
    }

    #[test]
    fn payload_is_not_constant() {
        let mut rng = XorShift::new(1);
        let mut buf = vec![0u8; 61];
        rng.fill(&mut buf);
        assert!(buf.iter().any(|b| *b != buf[0]));
    }
}
