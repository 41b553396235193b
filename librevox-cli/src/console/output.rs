//! Where the console's asynchronous lines (log lines, events, job results,
//! connection news) go: above the line being edited while the editor is
//! active, straight to standard output otherwise.
//!
//! Lines are queued without blocking the runtime and written in order by
//! one thread. While the editor is active, a single line goes through the
//! editor's printer, which shows it above the prompt at its next poll
//! (every 100 ms) and leaves a Ctrl-R search or a menu alone. reedline
//! 0.49 measures the cursor before it flushes such lines, so two or more
//! lines shown in one poll make it believe the screen scrolled and redraw
//! the prompt at the top of an emptied screen, and it counts every line as
//! one row, so the prompt it redraws overwrites the rest of a line wider
//! than the terminal. Anything more than one row at a time therefore takes
//! the other way: the editor is interrupted
//! (its break signal), the lines are written directly, and editing resumes
//! on the same buffer below them. No line is lost or reordered between the
//! two ways: the interrupted editor writes what its printer still holds
//! before what waits for the break.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use reedline::ExternalPrinter;
use unicode_width::UnicodeWidthStr;

/// How many lines the editor's printer may hold.
const PRINTER_CAPACITY: usize = 64;

/// The asynchronous output of one console.
#[derive(Clone)]
pub(crate) struct Output {
    queue: mpsc::Sender<String>,
    shared: Arc<Mutex<Shared>>,
    brk: Arc<AtomicBool>,
}

struct Shared {
    editing: bool,
    printer: ExternalPrinter<String>,
    /// Lines waiting for the editor to stop.
    pending: Vec<String>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_direct(text: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Whether `text` takes one row of the terminal: no newline, and fewer
/// columns than the terminal has (colour sequences take none; a line of
/// exactly the width leaves the cursor waiting to wrap). An unknown width
/// counts as too narrow.
fn one_row(text: &str) -> bool {
    if text.contains('\n') {
        return false;
    }
    let Ok((cols, _)) = crossterm::terminal::size() else {
        return false;
    };
    fits(text, cols)
}

fn fits(text: &str, cols: u16) -> bool {
    let width = anstream::adapter::strip_str(text).to_string().width();
    width < usize::from(cols)
}

impl Output {
    /// Starts the writer thread.
    pub(crate) fn new() -> Output {
        let (queue, lines) = mpsc::channel::<String>();
        let shared = Arc::new(Mutex::new(Shared {
            editing: false,
            printer: ExternalPrinter::new(PRINTER_CAPACITY),
            pending: Vec::new(),
        }));
        let brk = Arc::new(AtomicBool::new(false));
        let (writer, signal) = (shared.clone(), brk.clone());
        std::thread::Builder::new()
            .name("librevox-console-output".into())
            .spawn(move || {
                for text in lines {
                    let mut st = lock(&writer);
                    if !st.editing {
                        write_direct(&text);
                        continue;
                    }
                    let alone =
                        st.pending.is_empty() && one_row(&text) && st.printer.receiver().is_empty();
                    if alone {
                        if let Err(e) = st.printer.sender().try_send(text) {
                            st.pending.push(e.into_inner());
                            signal.store(true, Ordering::SeqCst);
                        }
                    } else {
                        st.pending.push(text);
                        signal.store(true, Ordering::SeqCst);
                    }
                }
            })
            .expect("spawning the console's output thread");
        Output { queue, shared, brk }
    }

    /// The printer to give the editor.
    pub(crate) fn printer(&self) -> ExternalPrinter<String> {
        lock(&self.shared).printer.clone()
    }

    /// The signal to give the editor (`with_break_signal`).
    pub(crate) fn break_signal(&self) -> Arc<AtomicBool> {
        self.brk.clone()
    }

    /// Queues a line (without its newline; several lines are fine).
    pub(crate) fn line(&self, text: impl Into<String>) {
        // The writer lives as long as the process.
        let _ = self.queue.send(text.into());
    }

    /// Called by the editor thread around each `read_line`. Stopping writes
    /// whatever the editor has not shown yet, in order; `erase` first
    /// clears the prompt line the editor left on the screen (after a
    /// break, when editing resumes below the lines).
    pub(crate) fn set_editing(&self, on: bool, erase: bool) {
        let mut st = lock(&self.shared);
        st.editing = on;
        if on {
            return;
        }
        let held: Vec<String> = st.printer.receiver().try_iter().collect();
        let pending = std::mem::take(&mut st.pending);
        self.brk.store(false, Ordering::SeqCst);
        if erase && (!held.is_empty() || !pending.is_empty()) {
            // The editor draws on standard error.
            let _ = write!(std::io::stderr(), "\r\x1b[J");
            let _ = std::io::stderr().flush();
        }
        for text in held.iter().chain(&pending) {
            write_direct(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fits;

    #[test]
    fn a_row_is_narrower_than_the_terminal_not_counting_colours() {
        assert!(fits("abc", 4));
        assert!(
            !fits("abcd", 4),
            "a full row leaves the cursor waiting to wrap"
        );
        assert!(
            fits("\x1b[31mabc\x1b[0m", 4),
            "colour sequences take no columns"
        );
        assert!(
            !fits("\u{4e2d}\u{6587}", 4),
            "wide characters take two columns"
        );
        assert!(fits("\u{4e2d}", 4));
    }
}
