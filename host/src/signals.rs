//! The interrupt: Ctrl-C or SIGTERM. The handler is registered once per
//! process, and the one flag it sets is handed to whoever must stop for it
//! (the engine and its pool, watch mode, `clx worker serve`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Set when Ctrl-C or SIGTERM arrived; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// The process's interrupt, its handler registered on the first call;
    /// later calls hand out the same flag.
    pub fn install() -> Result<Interrupt, std::io::Error> {
        static INSTALLED: Mutex<Option<Interrupt>> = Mutex::new(None);
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(interrupt) = installed.as_ref() {
            return Ok(interrupt.clone());
        }
        let interrupt = Interrupt::default();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&interrupt.0))?;
        }
        Ok(installed.insert(interrupt).clone())
    }

    /// A flag no signal sets: for a library caller that handles signals
    /// itself (it calls [`Interrupt::raise`]) and for tests.
    pub fn unregistered() -> Interrupt {
        Interrupt::default()
    }

    /// Whether the interrupt arrived (it stays set).
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether the interrupt arrived since the last `take`, clearing it: a
    /// watch session that stopped one rebuild goes on to the next.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }

    /// Set the flag as a signal would.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The flag itself, for code that polls an `AtomicBool`.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// The flag, shared, for code that outlives this borrow (a database
    /// connection that stops waiting for its server when it is set).
    pub fn shared_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_clears_what_is_set_keeps() {
        let interrupt = Interrupt::unregistered();
        interrupt.raise();
        assert!(interrupt.is_set() && interrupt.is_set());
        assert!(interrupt.take());
        assert!(!interrupt.is_set() && !interrupt.take());
    }
}
