//! `librevox` (no subcommand) and `librevox console`: an fs_cli-style
//! interactive console.
//!
//! The line editor (reedline) runs on the main thread; the connection, the
//! streams it prints and background jobs run on the tokio runtime. Standard
//! input that is not a terminal is read line by line with no editor, so
//! `librevox < commands.txt` runs a script.

mod complete;
mod line;
mod output;
mod session;

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use reedline::{
    default_emacs_keybindings, ColumnarMenu, Emacs, FileBackedHistory, KeyCode, KeyModifiers,
    MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline,
    ReedlineEvent, ReedlineMenu, Signal,
};

use crate::conn::Target;
use output::Output;
use session::{Outcome, Session, State};

/// Arguments of the console.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ConsoleArgs {
    /// Run this console line and exit, like fs_cli -x (repeatable; the
    /// exit status is 1 if any line failed). `/bgapi` lines wait for their
    /// job.
    #[arg(short = 'x', long = "execute", value_name = "LINE")]
    pub(crate) execute: Vec<String>,
    /// Keep no history file (by default the history is kept in
    /// $XDG_DATA_HOME/librevox/history).
    #[arg(long)]
    pub(crate) no_history: bool,
}

/// How many lines of history are kept.
const HISTORY_SIZE: usize = 10_000;

/// Runs the console (or its `-x` lines) against `target`.
pub(crate) fn run(rt: &tokio::runtime::Runtime, target: Target, args: ConsoleArgs) -> ExitCode {
    let interactive = args.execute.is_empty()
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let colors = crate::style::stdout_colors();
    let out = Output::new();
    // Without an editor (-x, a script) a /bgapi waits for its job.
    let session = Session::new(target, out.clone(), colors, !interactive);
    if let Err(msg) = rt.block_on(session.start()) {
        eprintln!("librevox: {msg}");
        return ExitCode::from(1);
    }
    let code = if !args.execute.is_empty() {
        let mut failed = false;
        for line in &args.execute {
            match rt.block_on(session.run_line(line)) {
                Outcome::Ok => {}
                Outcome::Exit => break,
                Outcome::Failed => failed = true,
                Outcome::Interrupted => {
                    failed = true;
                    break;
                }
            }
        }
        ExitCode::from(u8::from(failed))
    } else if interactive {
        eprintln!(
            "librevox: connected to {}. /help for help, Ctrl-D to leave.",
            session.target.label()
        );
        edit(rt, &session, &args)
    } else {
        script(rt, &session)
    };
    rt.block_on(session.shutdown());
    code
}

/// Lines from standard input, no editor; status 1 if any failed.
fn script(rt: &tokio::runtime::Runtime, session: &Arc<Session>) -> ExitCode {
    let mut failed = false;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match rt.block_on(session.run_line(&line)) {
            Outcome::Ok => {}
            Outcome::Failed => failed = true,
            Outcome::Exit => break,
            Outcome::Interrupted => return ExitCode::from(130),
        }
    }
    ExitCode::from(u8::from(failed))
}

/// The prompt: the switch, and whether the console is reconnecting to it.
struct ConsolePrompt {
    session: Arc<Session>,
}

impl Prompt for ConsolePrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        let who = self
            .session
            .target
            .profile
            .clone()
            .unwrap_or_else(|| self.session.target.addr());
        match self.session.state() {
            State::Connected => Cow::Owned(who),
            State::Reconnecting { attempt, .. } => {
                Cow::Owned(format!("{who} (reconnecting, attempt {})", attempt + 1))
            }
        }
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("> ")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("::: ")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({failing}reverse-search: {}) ", search.term))
    }

    fn get_prompt_color(&self) -> reedline::Color {
        match self.session.state() {
            State::Connected => reedline::Color::Green,
            State::Reconnecting { .. } => reedline::Color::Yellow,
        }
    }
}

fn editor(rt: &tokio::runtime::Runtime, session: &Arc<Session>, args: &ConsoleArgs) -> Reedline {
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".into()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let completer = complete::ConsoleCompleter {
        session: session.clone(),
        runtime: rt.handle().clone(),
    };
    let mut ed = Reedline::create()
        .with_edit_mode(Box::new(Emacs::new(keys)))
        .with_completer(Box::new(completer))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(
            ColumnarMenu::default().with_name("completion_menu"),
        )))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_ansi_colors(session.colors)
        .with_external_printer(session.out.printer())
        .with_break_signal(session.out.break_signal());
    if !args.no_history {
        match crate::config::history_path() {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match FileBackedHistory::with_file(HISTORY_SIZE, path.clone()) {
                    Ok(h) => ed = ed.with_history(Box::new(h)),
                    Err(e) => eprintln!(
                        "librevox: warning: history not kept: cannot use {}: {e}",
                        path.display()
                    ),
                }
            }
            None => eprintln!("librevox: warning: history not kept: no home directory"),
        }
    }
    ed
}

/// The interactive loop; Ctrl-D (or `/exit`) leaves with status 0.
fn edit(rt: &tokio::runtime::Runtime, session: &Arc<Session>, args: &ConsoleArgs) -> ExitCode {
    let mut ed = editor(rt, session, args);
    let prompt = ConsolePrompt {
        session: session.clone(),
    };
    loop {
        session.out.set_editing(true, false);
        let signal = ed.read_line(&prompt);
        let interrupted = matches!(signal, Ok(Signal::ExternalBreak(_)));
        session.out.set_editing(false, interrupted);
        match signal {
            Ok(Signal::Success(line)) => {
                if rt.block_on(session.run_line(&line)) == Outcome::Exit {
                    return ExitCode::SUCCESS;
                }
            }
            Ok(Signal::CtrlC) => continue,
            Ok(Signal::CtrlD) => return ExitCode::SUCCESS,
            // Lines were written above; the buffer is kept.
            Ok(_) => continue,
            Err(e) => {
                eprintln!("librevox: the line editor failed ({e}); reading plain lines");
                return script(rt, session);
            }
        }
    }
}
