//! The built-in SSH server's admission limits, shared by every connection: how many connections
//! one address may have that have not authenticated yet, and how many commands one principal
//! may run at once. Each admission is a guard that gives its place back when dropped, so a
//! connection that ends in any way (refused, timed out, killed) frees what it held.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counters by key, each at most `limit`; keys at zero are forgotten, so the map holds only
/// addresses and principals with something in flight.
#[derive(Debug)]
pub struct Counter<K: Hash + Eq + Clone> {
    limit: usize,
    counts: Mutex<HashMap<K, usize>>,
}

/// A place taken in a [`Counter`], given back when dropped.
#[derive(Debug)]
pub struct Place<K: Hash + Eq + Clone> {
    counter: Arc<Counter<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    /// A counter allowing `limit` places per key (0 allows none).
    pub fn new(limit: usize) -> Arc<Counter<K>> {
        Arc::new(Counter {
            limit,
            counts: Mutex::default(),
        })
    }

    /// Takes a place for `key`, unless it holds `limit` already.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Place<K>> {
        let mut counts = self.counts.lock().expect("never poisoned");
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.limit {
            if *n == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Place {
            counter: self.clone(),
            key,
        })
    }

    /// How many places `key` holds.
    pub fn held(&self, key: &K) -> usize {
        let counts = self.counts.lock().expect("never poisoned");
        counts.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Clone> Drop for Place<K> {
    fn drop(&mut self) {
        let mut counts = self.counter.counts.lock().expect("never poisoned");
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Who a command runs for, for the per-principal limit: a user, or a deploy key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrincipalKey {
    User(i64),
    Key(i64),
}

/// The server's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections per address that have not authenticated yet.
    pub unauthenticated: Arc<Counter<IpAddr>>,
    /// Commands running per principal.
    pub sessions: Arc<Counter<PrincipalKey>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_key_and_given_back() {
        let c = Counter::new(2);
        let a = c.take("a").unwrap();
        let a2 = c.take("a").unwrap();
        assert!(c.take("a").is_none());
        let b = c.take("b").unwrap();
        assert_eq!((c.held(&"a"), c.held(&"b")), (2, 1));
        drop(a);
        let a3 = c.take("a").unwrap();
        drop((a2, a3, b));
        assert_eq!(c.held(&"a"), 0);
        assert!(c.counts.lock().unwrap().is_empty());
        let none = Counter::new(0);
        assert!(none.take("x").is_none());
        assert!(none.counts.lock().unwrap().is_empty());
    }
}
