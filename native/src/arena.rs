//! The arena of the parse trees: a line's objects and lists (dozens of small vectors) are bumped
//! out of one reused block instead of being allocated and freed one by one. Memory is taken back
//! all at once when the next line starts (`scope`), so nothing built here may outlive the call
//! that built it; `eve_finalized` builds its tree and lets go of it inside one `scope` (it is
//! forgotten, not dropped: strings and vectors alike live in the arena). Each thread has its own
//! arena (a thread-local), so nothing here depends on the GIL.

use std::alloc::Layout;
use std::ptr::NonNull;

use std::cell::RefCell;

use allocator_api2::alloc::{AllocError, Allocator};
use bumpalo::Bump;

/// A vector in the arena.
pub type AVec<T> = allocator_api2::vec::Vec<T, Arena>;

/// An empty vector in the arena.
pub fn avec<T>() -> AVec<T> {
    AVec::new_in(Arena)
}

/// A vector in the arena of what `items` yields.
pub fn collect<T>(items: impl IntoIterator<Item = T>) -> AVec<T> {
    let mut out = avec();
    out.extend(items);
    out
}

/// A copy of `text` in the arena.
///
/// # Safety
/// Called inside `scope`, and the copy is not used after the outermost `scope` running now has
/// ended (the lifetime is the caller's to choose: that of the tree the text goes into).
pub unsafe fn alloc_str<'a>(text: &str) -> &'a str {
    let copy: *const str = STATE.with_borrow_mut(|state| {
        let copy: &str = state.bump.get_or_insert_with(Bump::new).alloc_str(text);
        copy as *const str
    });
    // SAFETY: the bytes stay where they are until the arena is reset, which only the next
    // outermost `scope` does; the caller does not use them past the current one.
    unsafe { &*copy }
}

/// Blocks bigger than this (a huge line) are given back after the call instead of being kept.
const KEEP_MAX: usize = 16 << 20;

struct State {
    bump: Option<Bump>,
    depth: usize,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State { bump: None, depth: 0 }) };
}

/// The allocator handle of the vectors of a parse tree (zero-sized: the arena is the one of the
/// current `scope`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Arena;

// SAFETY: the memory handed out stays valid until the outermost `scope` that was running when it
// was handed out has ended; trees are built and dropped inside one call, within its scope.
unsafe impl Allocator for Arena {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        STATE.with_borrow_mut(|state| {
            let bump = state.bump.get_or_insert_with(Bump::new);
            let ptr = bump.try_alloc_layout(layout).map_err(|_| AllocError)?;
            Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
        })
    }

    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {
        // taken back with the whole arena when the next outermost scope starts
    }
}

/// Run `f` with the arena: the outermost scope first takes back the memory of the previous one
/// (a nested scope, should Python code run inside the call re-enter it, shares the arena).
///
/// # Safety
/// Nothing allocated in an earlier outermost scope of this thread is still alive.
pub unsafe fn scope<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            // runs on return and on unwinding
            STATE.with_borrow_mut(|state| {
                state.depth -= 1;
                if state.depth == 0 && state.bump.as_ref().is_some_and(|b| b.allocated_bytes() > KEEP_MAX) {
                    state.bump = None;
                }
            });
        }
    }
    STATE.with_borrow_mut(|state| {
        if state.depth == 0 {
            if let Some(bump) = state.bump.as_mut() {
                bump.reset();
            }
        }
        state.depth += 1;
    });
    let _exit = Exit;
    f()
}
