//! A secret in memory that is locked against swapping (`mlock`) and wiped on drop.
//!
//! The buffer is over-allocated by one page and the secret placed at the first page boundary
//! inside it, so the locked pages hold nothing but this secret: unlocking them when the secret
//! is dropped cannot unlock another secret that shared a page. All of it through safe APIs
//! (`region::lock` takes the address; the crate does the system call).

use zeroize::Zeroize;

/// A secret kept in locked, zeroized memory.
pub(crate) struct LockedSecret {
    // Declared before `buf`: dropped (munlock) after `Drop::drop` wiped the buffer and before
    // the buffer is freed.
    guard: Option<region::LockGuard>,
    buf: Box<[u8]>,
    start: usize,
    len: usize,
}

impl LockedSecret {
    /// Copy `secret` into fresh locked memory. If the system refuses the lock (e.g. a low
    /// `RLIMIT_MEMLOCK`), the secret is still kept (and still wiped on drop); a warning says
    /// so, without any secret in it.
    pub(crate) fn new(secret: &[u8]) -> LockedSecret {
        let page = region::page::size().max(1);
        let span = secret.len().div_ceil(page).max(1) * page;
        let mut buf = vec![0u8; span + page].into_boxed_slice();
        let addr = buf.as_ptr() as usize;
        let start = (page - addr % page) % page;
        buf[start..start + secret.len()].copy_from_slice(secret);
        let guard = match region::lock(buf[start..].as_ptr(), span) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot lock the PKCS#12 key's memory (mlock); it may be swapped out"
                );
                None
            }
        };
        LockedSecret {
            guard,
            buf,
            start,
            len: secret.len(),
        }
    }

    /// The secret.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// Whether the pages are locked.
    pub(crate) fn is_locked(&self) -> bool {
        self.guard.is_some()
    }
}

impl Drop for LockedSecret {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_secret_on_its_own_pages() {
        let s = LockedSecret::new(b"secret bytes");
        assert_eq!(s.bytes(), b"secret bytes");
        let page = region::page::size();
        assert_eq!(s.bytes().as_ptr() as usize % page, 0);
        // A one-page lock fits every default RLIMIT_MEMLOCK (64 KiB and up).
        assert!(s.is_locked());
    }
}
