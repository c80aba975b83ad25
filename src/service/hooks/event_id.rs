//! The ids of webhook events: each event and each delivery attempt gets a random UUID, as
//! GitLab's `X-Gitlab-Event-UUID`, `X-Gitlab-Webhook-UUID` and `Idempotency-Key` carry.

/// A random (version 4) UUID, as GitLab's `SecureRandom.uuid`.
pub(super) fn uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4() {
        let u = super::uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, super::uuid());
    }
}
