//! Profiling aid: the stages of the EVE fast path, timed apart from Python.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::value;
use crate::{arena, eve, finalize, py};

/// Time the stages of the EVE fast path apart (built only with `--features phases`, for
/// profiling): 0 parse, 1 parse+map, 2 +finalize, 3 +Python objects, 5 the event id's hash
/// alone, 4 nothing (the call itself).
#[pyfunction]
pub fn _phases(py: Python<'_>, lines: Vec<String>, phase: u8, reps: usize) -> PyResult<usize> {
    let mut n = 0usize;
    let line0 = PyString::new(py, "x");
    for _ in 0..reps {
        for text in &lines {
            unsafe { arena::scope(|| -> PyResult<()> {
            match phase {
                0 => { n += value::parse(text).is_some() as usize; }
                4 => {}
                5 => {
                    let mut hasher = blake2b_simd::Params::new().hash_length(16).to_state();
                    hasher.update(b"suricata.eve");
                    hasher.update(b"\x00");
                    hasher.update(b"/var/log/x");
                    hasher.update(b"\x00");
                    hasher.update(text.as_bytes());
                    n += hasher.finalize().to_hex().len();
                }
                1 => { n += eve::parse(text).is_ok() as usize; }
                2 => {
                    if let Ok(mut ev) = eve::parse(text) {
                        finalize(&mut ev, "suricata.eve", "/var/log/x", text, true);
                        n += ev.0.len();
                    }
                }
                _ => {
                    if let Ok(mut ev) = eve::parse(text) {
                        finalize(&mut ev, "suricata.eve", "/var/log/x", text, true);
                        let p = line0.as_ptr();
                        let given = py::Given { line: p, ingested: p, source: p, dataset: p, module: p, ecs_version: p };
                        let d = Bound::from_owned_ptr_or_err(py, py::dict(&ev, &given))?;
                        std::mem::forget(ev);
                        n += d.len()?;
                    }
                }
            }
            Ok(())
            })?; }
        }
    }
    Ok(n)
}
