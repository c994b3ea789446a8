//! The commit of a local job: once every task has succeeded, the final outputs are
//! written as `part-NNNNN` (`part-NNNNN.gz` when compressed), each line as
//! `key\tvalue` (`TextOutputFormat`), then the empty `_SUCCESS` marker. An existing
//! output directory is refused before any task runs, as Hadoop does.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::Error;
use crate::hadoop_input::read_line;
use crate::plan::local::pool::TaskOutcome;

/// Refuses an existing output directory (Hadoop's `FileAlreadyExistsException`).
pub fn check_output(output: &Path) -> Result<(), Error> {
    if output.exists() {
        return Err(Error::OutputExists(output.display().to_string()));
    }
    Ok(())
}

/// Writes the job output: `part-NNNNN[.gz]` per task, every line as `key\tvalue`
/// (`TextOutputFormat`: a line without TAB gets one), then `_SUCCESS`.
pub(super) fn commit(outputs: &[TaskOutcome], output: &Path, compress: bool) -> Result<(), Error> {
    std::fs::create_dir_all(output)
        .map_err(|e| Error::io(format!("creating {}", output.display()), e))?;
    for (index, task) in outputs.iter().enumerate() {
        let name = if compress {
            format!("part-{index:05}.gz")
        } else {
            format!("part-{index:05}")
        };
        let path = output.join(name);
        let context = || format!("writing {}", path.display());
        let file = File::create(&path).map_err(|e| Error::io(context(), e))?;
        let input = File::open(&task.output)
            .map_err(|e| Error::io(format!("reading {}", task.output.display()), e))?;
        let mut reader = BufReader::new(input);
        if compress {
            let mut encoder =
                flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
            write_output_lines(&mut reader, &mut encoder).map_err(|e| Error::io(context(), e))?;
            encoder
                .finish()
                .and_then(|mut inner| inner.flush())
                .map_err(|e| Error::io(context(), e))?;
        } else {
            let mut out = BufWriter::new(file);
            write_output_lines(&mut reader, &mut out).map_err(|e| Error::io(context(), e))?;
            out.flush().map_err(|e| Error::io(context(), e))?;
        }
    }
    File::create(output.join("_SUCCESS"))
        .map_err(|e| Error::io(format!("writing {}/_SUCCESS", output.display()), e))?;
    Ok(())
}

fn write_output_lines<R: BufRead, W: Write>(reader: &mut R, out: &mut W) -> std::io::Result<()> {
    let mut line = Vec::new();
    while read_line(reader, &mut line)? > 0 {
        out.write_all(&line)?;
        if line.contains(&b'\t') {
            out.write_all(b"\n")?;
        } else {
            out.write_all(b"\t\n")?;
        }
    }
    Ok(())
}
