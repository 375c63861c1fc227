//! The `ckpt` binary: clap parsing -> library calls; anyhow only here at the edge.
//!
//! `main` prints one `ckpt: error: …` line and maps failures to exit codes:
//! 0 ok, 1 failure, 2 usage error, 3 `verify` found damage. A closed stdout pipe
//! (`ckpt ls | head`) ends quietly with 0.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Print the error once and choose the exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    if let Some(d) = err.downcast_ref::<cli::DamageFound>() {
        eprintln!("ckpt: {d}");
        return ExitCode::from(3);
    }
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    if let Some(hint) = err.downcast_ref::<ckpt::Error>().and_then(ckpt::hint::hint) {
        msg.push_str("; ");
        msg.push_str(&hint);
    }
    eprintln!("ckpt: error: {msg}");
    if err.downcast_ref::<cli::UsageError>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
