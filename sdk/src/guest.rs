//! Guest glue of plugin ABI v1 (`sdk/ABI.md`, "Exports", "Imports",
//! "Memory"): the exported allocator and ABI-version function, the host
//! imports of module `headend`, and reading / answering hook calls in
//! linear memory.
//!
//! This is the only module of the SDK with `unsafe`: raw pointers into
//! linear memory and calls of imported functions cannot be expressed
//! otherwise. On targets other than wasm32 the same functions are backed by
//! the thread-local fake of [`crate::testing`].
#![allow(unsafe_code)]
// Keeps each unsafe operation in its own commented block, also in unsafe fns.
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_arch = "wasm32")]
pub use wasm::BumpAlloc;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{on_call, respond, sys, with_request};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{on_call, respond, sys, with_request};

/// Converts a slice length to the ABI's `i32`; `None` when it does not fit.
fn len_i32(len: usize) -> Option<i32> {
    i32::try_from(len).ok()
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use headend_abi::{pack, LogLevel, ABI_VERSION};

    /// Bytes per wasm page.
    const PAGE: u64 = 65_536;

    /// Export: the ABI version the host checks at load.
    #[no_mangle]
    pub extern "C" fn headend_abi_version() -> i32 {
        ABI_VERSION
    }

    /// Export: allocates `len` zeroed bytes for the host to write a request
    /// into; 0 when `len` is negative or memory is exhausted.
    #[no_mangle]
    pub extern "C" fn headend_alloc(len: i32) -> i32 {
        let n = match usize::try_from(len) {
            Ok(n) => n,
            Err(_) => return 0,
        };
        let mut buf: Vec<u8> = Vec::new();
        if buf.try_reserve_exact(n).is_err() {
            return 0;
        }
        buf.resize(n, 0);
        // A boxed slice has exactly the layout `headend_free(ptr, len)`
        // rebuilds; leaking it hands ownership to the host.
        Box::leak(buf.into_boxed_slice()).as_mut_ptr() as usize as i32
    }

    /// Export: frees a buffer from `headend_alloc(len)` or a hook result of
    /// length `len`. Optional for the host: instances are short-lived.
    ///
    /// # Safety
    /// `(ptr, len)` must come from `headend_alloc(len)` or a hook result and
    /// must not have been freed before (ABI.md, "Memory").
    #[no_mangle]
    pub unsafe extern "C" fn headend_free(ptr: i32, len: i32) {
        let n = match usize::try_from(len) {
            Ok(n) if n > 0 && ptr != 0 => n,
            // Zero-length buffers own no allocation.
            _ => return,
        };
        let slice = core::ptr::slice_from_raw_parts_mut(ptr as u32 as usize as *mut u8, n);
        // SAFETY: the caller guarantees (ptr, len) is a leaked Box<[u8]> of
        // exactly `len` bytes (alloc and respond both leak boxed slices).
        drop(unsafe { Box::from_raw(slice) });
    }

    /// A bump allocator for hook calls (see [`crate::bump_allocator!`]):
    /// every call runs in a fresh instance whose memory is discarded
    /// afterwards, so nothing needs to be reused; allocation is a pointer
    /// bump from `__heap_base`, freeing gives back only the latest block,
    /// and the latest block grows and shrinks in place. Memory grows through
    /// `memory.grow`, so the host's per-plugin memory cap still applies (a
    /// refused growth is a null pointer, i.e. Rust's allocation failure).
    pub struct BumpAlloc {
        /// The next free address; 0 until the first allocation.
        next: AtomicUsize,
    }

    extern "C" {
        /// End of the static data, defined by wasm-ld: the heap starts here.
        static __heap_base: u8;
    }

    impl BumpAlloc {
        /// A fresh allocator.
        pub const fn new() -> BumpAlloc {
            BumpAlloc {
                next: AtomicUsize::new(0),
            }
        }

        /// The next free address, starting at `__heap_base`.
        fn next(&self) -> usize {
            match self.next.load(Ordering::Relaxed) {
                // SAFETY: only the address of the linker symbol is taken.
                0 => unsafe { core::ptr::addr_of!(__heap_base) as usize },
                n => n,
            }
        }

        /// Makes `[.., end)` addressable (growing memory if needed) and
        /// moves the bump pointer there; false when memory cannot grow.
        fn claim(&self, end: usize) -> bool {
            let memory_end = core::arch::wasm32::memory_size(0).saturating_mul(PAGE as usize);
            if end > memory_end {
                let pages = (end - memory_end + PAGE as usize - 1) / PAGE as usize;
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return false;
                }
            }
            self.next.store(end, Ordering::Relaxed);
            true
        }
    }

    impl Default for BumpAlloc {
        fn default() -> BumpAlloc {
            BumpAlloc::new()
        }
    }

    // SAFETY: blocks never overlap (the bump pointer only moves back over the
    // latest block when it is freed or shrunk), are aligned as asked, and lie
    // in linear memory below the bump pointer; the wasm32 guest is
    // single-threaded.
    unsafe impl core::alloc::GlobalAlloc for BumpAlloc {
        unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
            let align_mask = layout.align() - 1;
            let start = match self.next().checked_add(align_mask) {
                Some(v) => v & !align_mask,
                None => return core::ptr::null_mut(),
            };
            match start.checked_add(layout.size()) {
                Some(end) if self.claim(end) => start as *mut u8,
                _ => core::ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
            if ptr as usize + layout.size() == self.next() {
                self.next.store(ptr as usize, Ordering::Relaxed);
            }
        }

        unsafe fn realloc(
            &self,
            ptr: *mut u8,
            layout: core::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            let old_end = ptr as usize + layout.size();
            if old_end == self.next() {
                // The latest block: resize in place.
                return match (ptr as usize).checked_add(new_size) {
                    Some(end) if self.claim(end) => ptr,
                    _ => core::ptr::null_mut(),
                };
            }
            if new_size <= layout.size() {
                return ptr;
            }
            // SAFETY: `layout.align()` is a valid alignment and the caller
            // guarantees `new_size`, rounded up to it, does not overflow.
            let new_layout =
                unsafe { core::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: a non-zero size (new_size > layout.size() >= 0).
            let new = unsafe { self.alloc(new_layout) };
            if !new.is_null() {
                // SAFETY: both blocks are live, distinct, and at least
                // `layout.size()` bytes long.
                unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
            }
            new
        }
    }

    /// Routes panic messages to the host log before the abort traps, so the
    /// host's failure report carries the reason.
    pub(crate) fn on_call() {
        static INSTALLED: AtomicBool = AtomicBool::new(false);
        if !INSTALLED.swap(true, Ordering::Relaxed) {
            std::panic::set_hook(Box::new(|info| {
                crate::host::log(LogLevel::Error, &format!("plugin panicked: {info}"));
            }));
        }
    }

    /// Calls `f` with the request bytes at (ptr, len), or `None` when that
    /// range is negative, null or beyond the end of linear memory.
    pub(crate) fn with_request<R>(ptr: i32, len: i32, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let n = match usize::try_from(len) {
            Ok(n) => n,
            Err(_) => return f(None),
        };
        if n == 0 {
            return f(Some(&[]));
        }
        let start = u64::from(ptr as u32);
        let end = start + n as u64;
        let memory_end = core::arch::wasm32::memory_size(0) as u64 * PAGE;
        if start == 0 || end > memory_end {
            return f(None);
        }
        // SAFETY: [start, end) lies inside linear memory (checked above) and
        // is non-null; by the ABI contract it is the buffer the host got from
        // `headend_alloc` and filled, which no Rust reference aliases while
        // this call runs.
        let bytes = unsafe { core::slice::from_raw_parts(start as usize as *const u8, n) };
        f(Some(bytes))
    }

    /// Leaks the response bytes (the instance is discarded after the call)
    /// and returns their packed (pointer, length).
    pub(crate) fn respond(bytes: Vec<u8>) -> i64 {
        let leaked: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        pack(leaked.as_ptr() as usize as u32, leaked.len() as u32)
    }

    /// Raw host imports with their exact wasm signatures (ABI.md, "Imports").
    mod imports {
        #[link(wasm_import_module = "headend")]
        extern "C" {
            #[link_name = "log"]
            pub fn host_log(level: i32, ptr: i32, len: i32);
            #[link_name = "now_unix_ms"]
            pub fn host_now_unix_ms() -> i64;
            #[link_name = "kv_get"]
            pub fn host_kv_get(kptr: i32, klen: i32, vptr: i32, vcap: i32) -> i32;
            #[link_name = "kv_put"]
            pub fn host_kv_put(kptr: i32, klen: i32, vptr: i32, vlen: i32) -> i32;
            #[link_name = "kv_delete"]
            pub fn host_kv_delete(kptr: i32, klen: i32) -> i32;
        }
    }

    /// Host calls over slices; the same signatures as the native fake.
    pub(crate) mod sys {
        use super::super::len_i32;
        use super::imports;

        /// Error code for a slice too long for the ABI's `i32` lengths.
        const TOO_LONG: i32 = -1000;

        /// `log(level, ptr, len)`; messages beyond `i32::MAX` bytes are cut.
        pub(crate) fn log(level: i32, message: &[u8]) {
            let n = len_i32(message.len()).unwrap_or(i32::MAX);
            // SAFETY: the host only reads `n` bytes from a live slice.
            unsafe { imports::host_log(level, message.as_ptr() as i32, n) }
        }

        /// `now_unix_ms()`.
        pub(crate) fn now_unix_ms() -> i64 {
            // SAFETY: no arguments, no memory access.
            unsafe { imports::host_now_unix_ms() }
        }

        /// `kv_get(key, buf)`: the value's length, -1 when absent, < -1 error.
        pub(crate) fn kv_get(key: &[u8], buf: &mut [u8]) -> i32 {
            let (kl, cap) = match (len_i32(key.len()), len_i32(buf.len())) {
                (Some(kl), Some(cap)) => (kl, cap),
                _ => return TOO_LONG,
            };
            // SAFETY: the host reads `kl` bytes of a live slice and writes at
            // most `cap` bytes into a live, exclusively borrowed buffer.
            unsafe { imports::host_kv_get(key.as_ptr() as i32, kl, buf.as_mut_ptr() as i32, cap) }
        }

        /// `kv_put(key, value)`: 0 ok, < 0 error.
        pub(crate) fn kv_put(key: &[u8], value: &[u8]) -> i32 {
            let (kl, vl) = match (len_i32(key.len()), len_i32(value.len())) {
                (Some(kl), Some(vl)) => (kl, vl),
                _ => return TOO_LONG,
            };
            // SAFETY: the host only reads from two live slices.
            unsafe { imports::host_kv_put(key.as_ptr() as i32, kl, value.as_ptr() as i32, vl) }
        }

        /// `kv_delete(key)`: >= 0 ok, < 0 error.
        pub(crate) fn kv_delete(key: &[u8]) -> i32 {
            let kl = match len_i32(key.len()) {
                Some(kl) => kl,
                None => return TOO_LONG,
            };
            // SAFETY: the host only reads from a live slice.
            unsafe { imports::host_kv_delete(key.as_ptr() as i32, kl) }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use headend_abi::pack;

    use crate::testing::fake;

    /// Native builds have no panic-to-log routing: the harness catches panics.
    pub(crate) fn on_call() {}

    /// Reads the request from the harness's fake linear memory.
    pub(crate) fn with_request<R>(ptr: i32, len: i32, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        match fake::read_memory(ptr, len) {
            Some(bytes) => f(Some(&bytes)),
            None => f(None),
        }
    }

    /// Appends the response to the fake linear memory.
    pub(crate) fn respond(bytes: Vec<u8>) -> i64 {
        let (ptr, len) = fake::append_memory(&bytes);
        pack(ptr, len)
    }

    /// Host calls served by the thread-local fake host.
    pub(crate) mod sys {
        use super::super::len_i32;
        use crate::testing::fake;

        /// `log(level, ptr, len)`.
        pub(crate) fn log(level: i32, message: &[u8]) {
            fake::log(level, message);
        }

        /// `now_unix_ms()`.
        pub(crate) fn now_unix_ms() -> i64 {
            fake::now_unix_ms()
        }

        /// `kv_get(key, buf)`: the value's length, -1 when absent, < -1 error.
        pub(crate) fn kv_get(key: &[u8], buf: &mut [u8]) -> i32 {
            fake::kv_get(key, buf, len_i32)
        }

        /// `kv_put(key, value)`: 0 ok, < 0 error.
        pub(crate) fn kv_put(key: &[u8], value: &[u8]) -> i32 {
            fake::kv_put(key, value)
        }

        /// `kv_delete(key)`: >= 0 ok, < 0 error.
        pub(crate) fn kv_delete(key: &[u8]) -> i32 {
            fake::kv_delete(key)
        }
    }
}
