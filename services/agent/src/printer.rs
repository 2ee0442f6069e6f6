//! The booth's printer as its spooler sees it: the Windows print spooler on the booth PCs, CUPS
//! (`lpstat`) elsewhere. Reported with every batch, and on its own when it changes, so that a
//! printer out of paper or in error shows on the dashboard like a critical paper level.

use boom_contracts::agent::{PrinterReport, PrinterState};
use chrono::Utc;

/// The printer `name` (the system's default one when `None`), or `None` when there is no
/// printer to ask about.
pub fn observe(name: Option<&str>) -> Option<PrinterReport> {
    let (name, state, detail) = spooler::observe(name)?;
    Some(PrinterReport {
        name,
        state,
        detail,
        observed_at: Utc::now(),
    })
}

#[cfg(not(windows))]
mod spooler {
    use super::PrinterState;

    /// Asks CUPS: `lpstat -d` for the default printer, `lpstat -p NAME` for its state.
    pub fn observe(name: Option<&str>) -> Option<(String, PrinterState, Option<String>)> {
        let name = match name {
            Some(name) => name.to_owned(),
            None => {
                let out = lpstat(&["-d"])?;
                out.split(':').nth(1)?.trim().to_owned()
            }
        };
        let out = lpstat(&["-p", &name])?;
        let (state, detail) = parse(&out);
        Some((name, state, detail))
    }

    fn lpstat(args: &[&str]) -> Option<String> {
        let output = std::process::Command::new("lpstat")
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `printer NAME is idle.` / `… now printing JOB.` / `… disabled since …` followed by
    /// indented reasons (`media-empty-error`, `Paper out`, …).
    pub fn parse(out: &str) -> (PrinterState, Option<String>) {
        let mut lines = out.lines();
        let first = lines.next().unwrap_or_default().to_ascii_lowercase();
        let reasons: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
        let detail = (!reasons.is_empty()).then(|| reasons.join("; "));
        let said =
            format!("{first} {}", detail.as_deref().unwrap_or_default()).to_ascii_lowercase();
        let state = if said.contains("media-empty")
            || said.contains("paper out")
            || said.contains("out of paper")
        {
            PrinterState::PaperOut
        } else if first.contains("disabled") {
            PrinterState::Offline
        } else if said.contains("error") || said.contains("jam") {
            PrinterState::Error
        } else if first.contains("now printing") {
            PrinterState::Printing
        } else if first.contains("is idle") {
            PrinterState::Ready
        } else {
            PrinterState::Error
        };
        (state, detail)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cups_says_what_the_printer_does() {
            assert_eq!(
                parse("printer DS620 is idle.  enabled since Sat 01 Jun 2026\n").0,
                PrinterState::Ready
            );
            assert_eq!(
                parse("printer DS620 now printing DS620-12.  enabled since …\n").0,
                PrinterState::Printing
            );
            assert_eq!(
                parse("printer DS620 disabled since Sat 01 Jun 2026 -\n\treason unknown\n").0,
                PrinterState::Offline
            );
            let (state, detail) = parse("printer DS620 disabled since … -\n\tmedia-empty-error\n");
            assert_eq!(
                (state, detail.as_deref()),
                (PrinterState::PaperOut, Some("media-empty-error"))
            );
            assert_eq!(
                parse("printer DS620 is idle.  enabled since …\n\tPaper jam\n").0,
                PrinterState::Error
            );
        }
    }
}

#[cfg(windows)]
mod spooler {
    // The spooler is only reachable through its C API; each call is checked and the buffer
    // sized from what the spooler says it needs.
    #![allow(unsafe_code)]

    use super::PrinterState;
    use windows_sys::Win32::Graphics::Printing::{
        ClosePrinter, GetDefaultPrinterW, GetPrinterW, OpenPrinterW, PRINTER_HANDLE,
        PRINTER_INFO_2W,
    };

    const PAUSED: u32 = 0x1;
    const ERROR: u32 = 0x2;
    const PAPER_JAM: u32 = 0x8;
    const PAPER_OUT: u32 = 0x10;
    const PAPER_PROBLEM: u32 = 0x40;
    const OFFLINE: u32 = 0x80;
    const PRINTING: u32 = 0x400;
    const NOT_AVAILABLE: u32 = 0x1000;
    const NO_TONER: u32 = 0x40000;
    const USER_INTERVENTION: u32 = 0x100000;
    const DOOR_OPEN: u32 = 0x400000;
    const WORK_OFFLINE: u32 = 0x400; // an attribute, not a status

    fn wide(text: &str) -> Vec<u16> {
        text.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn default_printer() -> Option<String> {
        let mut size = 0u32;
        // SAFETY: asking for the size with a null buffer is the documented first call.
        unsafe { GetDefaultPrinterW(std::ptr::null_mut(), &mut size) };
        if size == 0 {
            return None;
        }
        let mut buffer = vec![0u16; size as usize];
        // SAFETY: the buffer holds `size` UTF-16 units, as the spooler asked.
        if unsafe { GetDefaultPrinterW(buffer.as_mut_ptr(), &mut size) } == 0 {
            return None;
        }
        let len = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
        Some(String::from_utf16_lossy(&buffer[..len]))
    }

    pub fn observe(name: Option<&str>) -> Option<(String, PrinterState, Option<String>)> {
        let name = match name {
            Some(name) => name.to_owned(),
            None => default_printer()?,
        };
        let wide_name = wide(&name);
        let mut handle = PRINTER_HANDLE::default();
        // SAFETY: a NUL-terminated name and a place for the handle; closed below.
        if unsafe { OpenPrinterW(wide_name.as_ptr(), &mut handle, std::ptr::null()) } == 0 {
            return Some((
                name,
                PrinterState::Offline,
                Some("the spooler does not know this printer".into()),
            ));
        }
        let mut needed = 0u32;
        // SAFETY: sizing call with no buffer.
        unsafe { GetPrinterW(handle, 2, std::ptr::null_mut(), 0, &mut needed) };
        let mut buffer = vec![0u8; needed as usize];
        // SAFETY: a buffer of the size the spooler asked for.
        let ok = needed > 0
            && unsafe { GetPrinterW(handle, 2, buffer.as_mut_ptr(), needed, &mut needed) } != 0;
        let (status, attributes) = if ok && buffer.len() >= std::mem::size_of::<PRINTER_INFO_2W>() {
            // SAFETY: the spooler filled a PRINTER_INFO_2W at the start of the buffer; read
            // unaligned, since a Vec<u8> promises no alignment.
            let info =
                unsafe { std::ptr::read_unaligned(buffer.as_ptr().cast::<PRINTER_INFO_2W>()) };
            (info.Status, info.Attributes)
        } else {
            (ERROR, 0)
        };
        // SAFETY: the handle OpenPrinterW gave.
        unsafe { ClosePrinter(handle) };
        let state = if status & PAPER_OUT != 0 {
            PrinterState::PaperOut
        } else if status & (OFFLINE | NOT_AVAILABLE | PAUSED) != 0 || attributes & WORK_OFFLINE != 0
        {
            PrinterState::Offline
        } else if status
            & (ERROR | PAPER_JAM | PAPER_PROBLEM | NO_TONER | USER_INTERVENTION | DOOR_OPEN)
            != 0
        {
            PrinterState::Error
        } else if status & PRINTING != 0 {
            PrinterState::Printing
        } else {
            PrinterState::Ready
        };
        let detail = (status != 0).then(|| format!("spooler status 0x{status:x}"));
        Some((name, state, detail))
    }
}
