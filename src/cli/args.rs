//! The command line surface of DESIGN §5, as clap derive types: parsing only, no work.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ckpt::snapshot::LayoutKind;

const AFTER_HELP: &str = "\
Examples:
  ckpt demo                                  simulated trainer + live monitor
  ckpt watch runs/                           monitor every run under runs/
  ckpt ls output/train/exp1                  history, ranking, disk headroom
  ckpt save run/ --epoch 3 --metric 71.2 -   save a checkpoint streamed on stdin
  ckpt promote run/ 5                        make epoch 5 the held best
  ckpt restore run/ 5                        make epoch 5 the resume point
  ckpt prune run/ --keep-top 3 --dry-run     show what a prune would delete
  ckpt verify run/                           re-hash every checkpoint

Exit codes: 0 ok, 1 failure, 2 usage error, 3 verify found damage.
Colour follows the terminal; NO_COLOR turns it off.";

/// Crash-safe ML training checkpoints, and a live terminal monitor over them.
#[derive(Debug, Parser)]
#[command(name = "ckpt", version, about, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Layout of the run(s): ckpt, timm, lightning or hf (detected by default).
    #[arg(long, global = true, value_name = "NAME", value_parser = parse_layout)]
    pub layout: Option<LayoutKind>,

    /// Seconds a mutation waits for the run lock held by another process.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60.0)]
    pub lock_timeout: f64,

    #[command(subcommand)]
    pub command: Command,
}

fn parse_layout(s: &str) -> Result<LayoutKind, String> {
    s.parse()
}

fn parse_poll(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.1 => Ok(v),
        _ => Err("--poll must be at least 0.1 seconds".into()),
    }
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ColorArg {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Live monitor of one run, or of every run under a directory.
    #[command(after_help = "\
Examples:
  ckpt watch                     the run in the current directory
  ckpt watch runs/               pick among every run under runs/
  ckpt watch run/ --poll 5       poll every 5 s (network filesystems)
  ckpt watch run/ --read-only    look, never act")]
    Watch(WatchArgs),

    /// List a run's checkpoints: epoch/step, metric, rank, size, age, roles, state.
    #[command(after_help = "\
Examples:
  ckpt ls output/train/exp1
  ckpt ls lightning_logs/version_0 --json | jq '.best'")]
    Ls(LsArgs),

    /// Save a checkpoint into a native run from a file or from stdin (`-`).
    #[command(after_help = "\
Examples:
  python -c '...torch.save(state, sys.stdout.buffer)' | ckpt save run/ --epoch 3 --metric 71.2 -
  ckpt save run/ --epoch 3 --metric 71.2 --move staged.pth.tar
  ckpt save run/ --epoch 3 --metric 0.41 --metric-name val_loss --mode min ckpt.pt")]
    #[command(override_usage = "ckpt save [RUN] --epoch N [OPTIONS] (FILE | -)")]
    Save(SaveArgs),

    /// Make a checkpoint the best (held until --release); it is also pinned.
    #[command(after_help = "\
Examples:
  ckpt promote run/ 5
  ckpt promote run/ checkpoint-5.pth.tar --yes
  ckpt promote run/ --release")]
    #[command(
        override_usage = "ckpt promote [RUN] CHECKPOINT [--yes] [--dry-run]\n       ckpt promote [RUN] --release"
    )]
    Promote(PromoteArgs),

    /// Make a checkpoint the resume point (`last`), or export a copy with --to.
    #[command(after_help = "\
Examples:
  ckpt restore run/ 5                         last := epoch 5
  ckpt restore run/ 5 --archive-newer --yes   also move epochs > 5 to .ckpt/trash/
  ckpt restore run/ 5 --to /tmp/epoch5.pth.tar")]
    #[command(
        override_usage = "ckpt restore [RUN] CHECKPOINT [--archive-newer] [--to PATH [--force]] [--dry-run] [--yes]"
    )]
    Restore(RestoreArgs),

    /// Delete checkpoints that the retention policy does not keep.
    #[command(after_help = "\
Examples:
  ckpt prune run/ --dry-run
  ckpt prune run/ --keep-top 3 --keep-last 1 --yes
  ckpt prune run/ --keep-every 10 --dry-run --json")]
    Prune(PruneArgs),

    /// Pin a checkpoint: pruning never removes it.
    #[command(after_help = "Example:\n  ckpt pin run/ 5")]
    #[command(override_usage = "ckpt pin [RUN] CHECKPOINT")]
    Pin(PinArgs),

    /// Unpin a checkpoint.
    #[command(after_help = "Example:\n  ckpt unpin run/ 5")]
    #[command(override_usage = "ckpt unpin [RUN] CHECKPOINT")]
    Unpin(PinArgs),

    /// Re-hash every checkpoint (and check zip CRCs); exit 3 when something is damaged.
    #[command(after_help = "\
Examples:
  ckpt verify run/
  ckpt verify run/ --json")]
    Verify(VerifyArgs),

    /// Preflight and health report: write access, space, links, filesystem, lock, drift.
    #[command(after_help = "\
Examples:
  ckpt doctor run/
  ckpt doctor run/ --json")]
    Doctor(DoctorArgs),

    /// What `.ckpt/trash/` holds (restore backups, archived checkpoints); bring one
    /// back, or empty it.
    #[command(after_help = "\
Examples:
  ckpt trash run/                          list by epoch/step, origin, age, bytes
  ckpt trash restore run/ 7 --yes          bring epoch 7 back as a regular checkpoint
  ckpt trash empty run/ --older-than 7     delete what was trashed a week ago or more")]
    Trash(TrashArgs),

    /// A simulated trainer saving into a fresh run while the monitor shows it.
    #[command(after_help = "\
Examples:
  ckpt demo
  ckpt demo --dir /tmp/demo-run --size 50000000 --interval 1
  ckpt demo --saves 5            print 5 saves and stop (no monitor needed)")]
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Runs, or directories holding runs [default: .]
    #[arg(value_name = "RUN|DIR")]
    pub paths: Vec<PathBuf>,
    /// Poll every SECS instead of using native file events.
    #[arg(long, value_name = "SECS", value_parser = parse_poll)]
    pub poll: Option<f64>,
    /// Disable every action (promote, restore, pin, prune).
    #[arg(long)]
    pub read_only: bool,
    /// When to use colour.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The run directory.
    #[arg(default_value = ".")]
    pub run: PathBuf,
    /// Print JSON (format documented in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// Keep the K best checkpoints by metric.
    #[arg(long, value_name = "K")]
    pub keep_top: Option<usize>,
    /// Keep the N newest checkpoints.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep every N-th epoch.
    #[arg(long, value_name = "N")]
    pub keep_every: Option<u64>,
}

impl PolicyArgs {
    /// True when any retention flag was given.
    pub(crate) fn any(&self) -> bool {
        self.keep_top.is_some() || self.keep_last.is_some() || self.keep_every.is_some()
    }
}

#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// The run directory (default `.`, created when missing), then the checkpoint file,
    /// or `-` to read it from stdin.
    #[arg(value_names = ["RUN", "FILE|-"], num_args = 1..=2, required = true)]
    pub targets: Vec<OsString>,
    /// Epoch number of this checkpoint.
    #[arg(long)]
    pub epoch: u64,
    /// Global step.
    #[arg(long)]
    pub step: Option<u64>,
    /// Value of the ranking metric (nan and inf are accepted but never rank as best).
    #[arg(long, value_name = "V", allow_hyphen_values = true)]
    pub metric: Option<String>,
    /// Name of the ranking metric (fixed by the first save that gives one).
    #[arg(long, value_name = "NAME")]
    pub metric_name: Option<String>,
    /// Whether larger (max) or smaller (min) is better [default: min if NAME has "loss", else max]
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Rename FILE into the run (zero-copy) when on the same filesystem.
    #[arg(long)]
    pub r#move: bool,
    /// Extension of the checkpoint files of a new run (e.g. .pt) [default: .pth.tar];
    /// an existing run keeps its own.
    #[arg(long, value_name = "EXT")]
    pub ext: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    Max,
    Min,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The run directory (default `.`), then the checkpoint: an epoch number or a file
    /// name. With --release only the run.
    #[arg(value_names = ["RUN", "CHECKPOINT"], num_args = 0..=2)]
    pub targets: Vec<OsString>,
    /// Release a held best: later saves may move it again.
    #[arg(long)]
    pub release: bool,
    /// Show what would change and change nothing.
    #[arg(long, conflicts_with = "release")]
    pub dry_run: bool,
    /// Do not ask before replacing the existing best.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The run directory (default `.`), then the checkpoint: an epoch number or a file name.
    #[arg(value_names = ["RUN", "CHECKPOINT"], num_args = 1..=2, required = true)]
    pub targets: Vec<OsString>,
    /// Move checkpoints newer than this one to .ckpt/trash/<time>/.
    #[arg(long)]
    pub archive_newer: bool,
    /// Export an independent copy to PATH instead of moving `last`.
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
    /// With --to: overwrite PATH if it exists.
    #[arg(long, requires = "to")]
    pub force: bool,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// The run directory.
    #[arg(default_value = ".")]
    pub run: PathBuf,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print the plan (files and bytes) and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan and the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The run directory (default `.`), then the checkpoint: an epoch number or a file name.
    #[arg(value_names = ["RUN", "CHECKPOINT"], num_args = 1..=2, required = true)]
    pub targets: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The run directory.
    #[arg(default_value = ".")]
    pub run: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The run directory.
    #[arg(default_value = ".")]
    pub run: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct TrashArgs {
    #[command(subcommand)]
    pub action: Option<TrashAction>,
    /// The run directory (listing).
    #[arg(default_value = ".")]
    pub run: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrashAction {
    /// Bring a trashed checkpoint back into the run (never over an existing one).
    #[command(override_usage = "ckpt trash restore [RUN] EPOCH [--yes]")]
    Restore(TrashRestoreArgs),
    /// Delete what is in the trash (all, or what is older than DAYS).
    Empty(TrashEmptyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TrashRestoreArgs {
    /// The run directory (default `.`), then the epoch (step on hf) or the entry name
    /// as `ckpt trash` lists it.
    #[arg(value_names = ["RUN", "EPOCH"], num_args = 1..=2, required = true)]
    pub targets: Vec<OsString>,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrashEmptyArgs {
    /// The run directory.
    #[arg(default_value = ".")]
    pub run: PathBuf,
    /// Only what was trashed at least DAYS days ago (fractions allowed).
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<f64>,
    /// Show the plan and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the run in DIR (default: a temp dir removed on exit).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Payload bytes per checkpoint.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub size: u64,
    /// Seconds between saves.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub interval: f64,
    /// Stop after N saves (prints each save instead of opening the monitor).
    #[arg(long, value_name = "N")]
    pub saves: Option<u64>,
}

/// Split `[RUN] ITEM` positionals: one value is the item in the run `.`.
pub(crate) fn run_and_item(targets: &[OsString]) -> (PathBuf, Option<OsString>) {
    match targets {
        [] => (PathBuf::from("."), None),
        [item] => (PathBuf::from("."), Some(item.clone())),
        [run, item, ..] => (PathBuf::from(run), Some(item.clone())),
    }
}
