//! This node's failed web sign-ins by login name and by client address, which
//! `service::sessions` consults to slow repeated failures down (the rule itself is
//! `model::sign_in`). In memory and per node, as GitLab's rack-attack is; a leaf the
//! composition root holds one of.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::entities::Millis;
use crate::model::sign_in::Failures;

/// This node's failed sign-ins by login name and by client address.
#[derive(Default)]
pub struct SignInThrottle(Mutex<HashMap<String, Failures>>);

impl SignInThrottle {
    pub(crate) fn get(&self, key: &str) -> Failures {
        self.0
            .lock()
            .map(|m| m.get(key).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    pub(crate) fn failed(&self, keys: &[String], now: Millis) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 100_000 {
                m.retain(|_, f| f.wait_ms(now, 0) > 0);
            }
            for k in keys {
                let f = m.get(k).copied().unwrap_or_default().failed(now);
                m.insert(k.clone(), f);
            }
        }
    }

    pub(crate) fn succeeded(&self, login_key: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(login_key);
        }
    }
}
