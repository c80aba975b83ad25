//! A hook's write-only values and their sealed form: the token, the URL's userinfo, the
//! url_variables' values and the custom headers' values. Plain text exists only inside
//! [`secrecy`] types, between [`HookSecrets::open`] and the end of one delivery or edit; the
//! store only ever sees [`HookSecrets::seal`]'s bytes.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::secret::{Cipher, SecretError};

/// Associated data binding sealed blobs to this purpose.
const PURPOSE: &str = "pushmirror/project-hook-secrets/v1";

/// The secrets of one hook.
#[derive(Default)]
pub(super) struct HookSecrets {
    /// Sent as `X-Gitlab-Token`.
    pub token: Option<SecretString>,
    /// The URL's raw (percent-encoded) userinfo, `{placeholders}` kept: sent as Basic auth.
    pub userinfo: Option<SecretString>,
    /// url_variables by key.
    pub url_variables: BTreeMap<String, SecretString>,
    /// Custom headers by name.
    pub custom_headers: BTreeMap<String, SecretString>,
}

#[derive(Serialize, Deserialize, Default)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userinfo: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    url_variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    custom_headers: BTreeMap<String, String>,
}

fn exposed(map: &BTreeMap<String, SecretString>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect()
}

impl HookSecrets {
    fn is_empty(&self) -> bool {
        self.token.is_none()
            && self.userinfo.is_none()
            && self.url_variables.is_empty()
            && self.custom_headers.is_empty()
    }

    /// Seals the secrets, or `None` when there are none.
    pub(super) fn seal(&self, cipher: &Cipher) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let wire = Wire {
            token: self.token.as_ref().map(|s| s.expose_secret().to_owned()),
            userinfo: self.userinfo.as_ref().map(|s| s.expose_secret().to_owned()),
            url_variables: exposed(&self.url_variables),
            custom_headers: exposed(&self.custom_headers),
        };
        let plain = secrecy::SecretBox::new(Box::new(
            serde_json::to_vec(&wire).expect("serialising strings cannot fail"),
        ));
        Some(cipher.seal(PURPOSE, plain.expose_secret()))
    }

    /// Opens sealed secrets (`None` opens to none).
    pub(super) fn open(cipher: &Cipher, sealed: Option<&[u8]>) -> Result<HookSecrets, SecretError> {
        let Some(sealed) = sealed else {
            return Ok(HookSecrets::default());
        };
        let plain = cipher.unseal(PURPOSE, sealed)?;
        let wire: Wire =
            serde_json::from_slice(plain.expose_secret()).map_err(|_| SecretError::Unseal)?;
        let secret_map = |m: BTreeMap<String, String>| {
            m.into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect()
        };
        Ok(HookSecrets {
            token: wire.token.map(SecretString::from),
            userinfo: wire.userinfo.map(SecretString::from),
            url_variables: secret_map(wire.url_variables),
            custom_headers: secret_map(wire.custom_headers),
        })
    }

    /// The url_variables' values, exposed for one interpolation.
    pub(super) fn variables(&self) -> BTreeMap<String, String> {
        exposed(&self.url_variables)
    }

    /// Every secret value, exposed, for scrubbing error text.
    pub(super) fn values(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .token
            .iter()
            .chain(self.userinfo.iter())
            .chain(self.url_variables.values())
            .chain(self.custom_headers.values())
            .map(|s| s.expose_secret().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_every_value_and_nothing_in_the_clear() {
        let key = secrecy::SecretBox::new(Box::new([7u8; 32]));
        let cipher = Cipher::from_key(&key);
        assert!(HookSecrets::default().seal(&cipher).is_none());
        let mut s = HookSecrets {
            token: Some("tok-3x4mple".to_owned().into()),
            ..Default::default()
        };
        s.custom_headers
            .insert("X-Key".into(), "hdr-v4lue".to_owned().into());
        s.url_variables
            .insert("token".into(), "var-v4lue".to_owned().into());
        let sealed = s.seal(&cipher).unwrap();
        for needle in ["tok-3x4mple", "hdr-v4lue", "var-v4lue"] {
            assert!(!sealed.windows(needle.len()).any(|w| w == needle.as_bytes()));
        }
        let opened = HookSecrets::open(&cipher, Some(&sealed)).unwrap();
        assert_eq!(
            opened.token.as_ref().unwrap().expose_secret(),
            "tok-3x4mple"
        );
        assert_eq!(opened.variables()["token"], "var-v4lue");
        assert_eq!(opened.custom_headers["X-Key"].expose_secret(), "hdr-v4lue");
    }
}
