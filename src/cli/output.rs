//! Terminal output: summaries on stdout, progress bars on stderr (hidden with
//! `--quiet` or when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lastmile::progress::Progress;
use std::io::IsTerminal;

/// Where the CLI writes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    quiet: bool,
}

impl Output {
    /// Output that prints unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Output { quiet }
    }

    /// Prints a line of results to stdout, unless quiet.
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", text.as_ref());
        }
    }

    /// Prints a command's answer to stdout, also when quiet: `--quiet` silences
    /// summaries and progress, never what the command was asked for (the
    /// repairs `lastmile repair` prints without `--out`).
    pub fn answer(&self, text: impl AsRef<str>) {
        println!("{}", text.as_ref());
    }

    /// A byte-progress bar with a message, hidden when quiet or not on a terminal.
    pub fn bytes_bar(&self, total: u64, prefix: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::new(total);
        if self.quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {elapsed} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.into());
        bar
    }

    /// A step-progress bar with a live message, hidden when quiet or not on a terminal.
    pub fn steps_bar(&self) -> ProgressBar {
        let bar = ProgressBar::new(0);
        if self.quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {elapsed} {msg}").expect("valid template").progress_chars("=> "),
        );
        bar
    }

    /// The one adapter from a stage's [`Progress`] reports to a bar: the count
    /// moves the bar, a status replaces its message, a note is printed above it.
    pub fn follow(bar: &ProgressBar) -> impl FnMut(Progress) + '_ {
        move |p| {
            if let Some(total) = p.total {
                bar.set_length(total);
            }
            bar.set_position(p.done);
            if let Some(status) = p.status {
                bar.set_message(status);
            }
            if let Some(note) = p.note {
                bar.println(note);
            }
        }
    }
}
