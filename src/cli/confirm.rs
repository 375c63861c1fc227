//! The one place a destructive command gets permission: `--yes`, or a terminal answer
//! (default No). Off a terminal without `--yes` it is a usage error (exit 2).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use super::UsageError;

/// What the user decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Yes,
    No,
}

/// Ask `question` unless `yes`; `action` names the command for the "pass --yes" message.
pub(crate) fn confirm(question: &str, yes: bool, action: &str) -> Result<Answer> {
    if yes {
        return Ok(Answer::Yes);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "{action} changes the run and stdin is not a terminal to confirm it; \
             pass --yes to {action} without asking (or --dry-run to only see the plan)"
        ))
        .into());
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(parse_answer(&line))
}

/// Only an explicit yes counts; empty input, EOF and anything else is No.
pub(crate) fn parse_answer(line: &str) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        _ => Answer::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_no() {
        assert_eq!(parse_answer("\n"), Answer::No);
        assert_eq!(parse_answer(""), Answer::No);
        assert_eq!(parse_answer("nope"), Answer::No);
        assert_eq!(parse_answer("Y\n"), Answer::Yes);
        assert_eq!(parse_answer(" yes "), Answer::Yes);
    }
}
