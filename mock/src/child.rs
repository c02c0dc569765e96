//! A child process driven by JSON lines: one command per line on its stdin, one JSON answer per line on its
//! stdout. The fleet demo (`cozefallback demo --processes N`) and the fleet tests both run their members this
//! way, so the plumbing lives here once.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a member may take to answer one command before [`JsonLinesChild::read`] gives up.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A running child process spoken to in JSON lines. Dropping it sends `{"op":"quit"}`, waits up to 3 s, then
/// kills it, so a failed test or demo never leaves members behind.
///
/// ```no_run
/// use std::process::Command;
/// let mut cmd = Command::new(std::env::current_exe().unwrap());
/// cmd.env("MY_WORKER", "1");
/// let mut member = coze_mock::child::JsonLinesChild::spawn(cmd).unwrap();
/// let answer = member.call(&serde_json::json!({"op": "ready"})).unwrap();
/// println!("{answer}");
/// ```
pub struct JsonLinesChild {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<io::Result<String>>,
    answer_timeout: Duration,
}

impl JsonLinesChild {
    /// Starts `cmd` with piped stdin and stdout (stderr is inherited, for the member's own diagnostics).
    pub fn spawn(mut cmd: Command) -> io::Result<JsonLinesChild> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(io::Error::other("the child process has no pipes"));
        };
        // A reader thread makes every read boundable: a member that hangs cannot hang its parent.
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(JsonLinesChild {
            child,
            stdin,
            lines,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
        })
    }

    /// Changes how long [`read`](Self::read) waits for one answer.
    pub fn set_answer_timeout(&mut self, timeout: Duration) {
        self.answer_timeout = timeout;
    }

    /// Sends one command line.
    pub fn send(&mut self, cmd: &Value) -> io::Result<()> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()
    }

    /// Reads one answer line as JSON, waiting at most the answer timeout.
    pub fn read(&mut self) -> io::Result<Value> {
        let line = match self.lines.recv_timeout(self.answer_timeout) {
            Ok(line) => line?,
            Err(RecvTimeoutError::Timeout) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {:?}", self.answer_timeout),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the child process closed its output",
                ));
            }
        };
        serde_json::from_str(&line).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the child process answered {line:?}"),
            )
        })
    }

    /// Sends one command and reads its answer.
    pub fn call(&mut self, cmd: &Value) -> io::Result<Value> {
        self.send(cmd)?;
        self.read()
    }
}

impl Drop for JsonLinesChild {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
