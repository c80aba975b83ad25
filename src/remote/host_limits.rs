//! The per-remote-host concurrency limit: one semaphore per host, created on first use and
//! forgotten once nothing holds or waits on it, so a server that has mirrored to many hosts over
//! its life keeps only the semaphores of hosts it is talking to now. One instance per process,
//! owned by `App`, so every kind of work that runs git against a remote host (push mirror
//! updates; pull mirrors next) counts against the same limit. Webhook deliveries do not take a
//! slot: a 10 s POST must not wait behind a long push to the same host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

/// How many hosts' semaphores are kept before idle ones are swept (a sweep walks the map).
const SWEEP_ABOVE: usize = 256;

/// One semaphore per host, `per_host` permits each.
pub struct HostLimits {
    /// Permits per host (`max_updates_per_host`).
    per_host: usize,
    /// The semaphores of hosts in use, and of idle ones until the next sweep.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    /// Limits of `per_host` permits each.
    pub fn new(per_host: usize) -> HostLimits {
        HostLimits {
            per_host,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The semaphore of the host of `url` (see [`host_of`]).
    pub fn for_url(&self, url: &str) -> Arc<Semaphore> {
        let host = host_of(url);
        let mut hosts = self.hosts.lock().expect("host map is never poisoned");
        if hosts.len() >= SWEEP_ABOVE && !hosts.contains_key(&host) {
            // Only the map holds an idle host's semaphore: nobody can be waiting on it, and a
            // later update to that host simply gets a fresh one.
            hosts.retain(|_, s| Arc::strong_count(s) > 1);
        }
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.hosts.lock().unwrap().len()
    }
}

/// The host of `url`, lower-cased; an unparsable URL has the empty host.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_semaphore_per_host_case_insensitively() {
        let limits = HostLimits::new(2);
        let a = limits.for_url("https://Git.Example.com/a.git");
        let b = limits.for_url("https://git.example.com/b.git");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &limits.for_url("ssh://other.example/x")));
        assert_eq!(a.available_permits(), 2);
    }

    #[test]
    fn idle_hosts_are_forgotten_and_busy_ones_kept() {
        let limits = HostLimits::new(1);
        let busy = limits.for_url("https://busy.example/x.git");
        let permit = busy.clone().try_acquire_owned().unwrap();
        for i in 0..SWEEP_ABOVE * 3 {
            let _ = limits.for_url(&format!("https://h{i}.example/x.git"));
        }
        assert!(limits.len() <= SWEEP_ABOVE + 1, "{}", limits.len());
        // The busy host kept its semaphore: its permit still counts.
        let again = limits.for_url("https://busy.example/x.git");
        assert!(Arc::ptr_eq(&busy, &again));
        assert!(again.clone().try_acquire_owned().is_err());
        drop(permit);
        assert!(again.try_acquire_owned().is_ok());
    }
}
