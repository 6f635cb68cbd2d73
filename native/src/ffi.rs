//! The `extern "C"` surface of the library: thin wrappers over the safe core.
//!
//! Buffer ownership is stated at each symbol. Status codes and error text are
//! described in `docs/rtt.md`.

/// Copies `src` into the caller's buffer `buf` of `cap` bytes (as much as
/// fits) and returns the full length of `src`, so a caller whose buffer was too
/// small can retry with a larger one.
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
unsafe fn copy_out(src: &[u8], buf: *mut u8, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = src.len().min(cap);
        // SAFETY: the caller guarantees `buf` is valid for `cap` bytes, and n <= cap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf, n) };
    }
    src.len()
}

/// Returns [`crate::ABI_VERSION`].
#[no_mangle]
pub extern "C" fn web4_rtt_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// Copies the library version (UTF-8, no NUL) into `buf` and returns its full
/// length in bytes.
///
/// Ownership: `buf` is owned by the caller, who passes its capacity `cap`;
/// the library writes at most `cap` bytes and keeps no reference to it.
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_version(buf: *mut u8, cap: usize) -> usize {
    // SAFETY: forwarded caller guarantee.
    unsafe { copy_out(crate::VERSION.as_bytes(), buf, cap) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_symbol_matches_crate_version() {
        let mut buf = [0u8; 64];
        // SAFETY: buf is valid for 64 bytes.
        let n = unsafe { web4_rtt_version(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), crate::VERSION);
    }

    #[test]
    fn version_symbol_reports_full_length_when_buffer_is_short() {
        let mut buf = [0u8; 2];
        // SAFETY: buf is valid for 2 bytes.
        let n = unsafe { web4_rtt_version(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(n, crate::VERSION.len());
        assert_eq!(&buf[..], &crate::VERSION.as_bytes()[..2]);
        // SAFETY: a null buffer is allowed and only measures.
        assert_eq!(unsafe { web4_rtt_version(std::ptr::null_mut(), 0) }, n);
    }

    #[test]
    fn abi_version_symbol_matches_constant() {
        assert_eq!(web4_rtt_abi_version(), crate::ABI_VERSION);
    }
}
