//! Log records of the core (tracing) on stderr: `-v` info, `-vv` debug, `-vvv` trace, else `RUST_LOG`, else
//! warnings only. Every line passes through the core's redaction, so no token or key reaches the terminal.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the stderr subscriber. `verbose` counts `-v` flags; with none, `RUST_LOG` decides.
pub fn init(verbose: u8) {
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("warn,cozefallback=info"),
        2 => EnvFilter::new("warn,cozefallback=debug"),
        _ => EnvFilter::new("trace"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting)
        .try_init();
}

/// Makes one [`RedactingLine`] per record.
struct Redacting;

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingLine;
    fn make_writer(&'a self) -> RedactingLine {
        RedactingLine(Vec::with_capacity(256))
    }
}

/// Collects one formatted record and writes it redacted to stderr when dropped, in one write.
struct RedactingLine(Vec<u8>);

impl Write for RedactingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = cozefallback::redact(&String::from_utf8_lossy(&self.0));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_collected_whole() {
        let mut line = Redacting.make_writer();
        line.write_all(b"token pat_secret_value_1 ").unwrap();
        line.write_all(b"end\n").unwrap();
        assert_eq!(line.0, b"token pat_secret_value_1 end\n");
        assert_eq!(
            cozefallback::redact(&String::from_utf8_lossy(&line.0)),
            "token pat_*** end\n"
        );
    }
}
