//! State that only code holding the GIL touches. Every entry point of this module takes a
//! `Python` token (the GIL is held), and the GIL serialises them, so this state needs no lock and
//! no thread-local lookup on the hot path.

use std::cell::UnsafeCell;

pub struct Gil<T>(UnsafeCell<T>);

// SAFETY: the contents are only reached through `Gil::get`, whose callers hold the GIL.
unsafe impl<T> Sync for Gil<T> {}

impl<T> Gil<T> {
    pub const fn new(value: T) -> Self {
        Gil(UnsafeCell::new(value))
    }

    /// # Safety
    /// The GIL is held, and no other reference from `get` is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        &mut *self.0.get()
    }
}
