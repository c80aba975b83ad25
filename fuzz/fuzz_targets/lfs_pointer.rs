//! Git LFS pointer files and object ids, as a push's blobs (untrusted) bring them.
//!
//! Input: any bytes, read as a blob. Properties: a blob that parses as a pointer is below the
//! pointer size limit, ends in a newline and starts with a `version` line; its oid parses back
//! as an oid; and a pointer's own encoding reads back to the same pointer. Any UTF-8 input read
//! as an oid is accepted only when it is 64 lowercase hex characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::lfs::{Oid, Pointer, MAX_POINTER_SIZE};

fuzz_target!(|data: &[u8]| {
    if let Some(pointer) = Pointer::parse(data) {
        assert!((data.len() as u64) < MAX_POINTER_SIZE);
        assert!(data.starts_with(b"version ") && data.ends_with(b"\n"));
        assert_eq!(Oid::parse(pointer.oid.as_str()).as_ref(), Some(&pointer.oid));
        let encoded = pointer.encode();
        assert_eq!(Pointer::parse(encoded.as_bytes()).as_ref(), Some(&pointer));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let valid = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        assert_eq!(Oid::parse(text).is_some(), valid, "{text:?}");
    }
});
