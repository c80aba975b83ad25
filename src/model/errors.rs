//! Validation failures by field, as GitLab reports them (`{"message": {"url": ["is blocked: …"]}}`):
//! the one shape every use case collects its field errors in.

use std::collections::BTreeMap;

/// Messages by field name, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// One field's error.
    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each message with its field in front, as a sentence for a person (Rails'
    /// `full_messages`: `"Url is blocked: …"`, `"Password is too short …"`).
    pub fn full_messages(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(field, messages)| {
                let mut name = field.replace('_', " ");
                if let Some(first) = name.get(0..1) {
                    name = format!("{}{}", first.to_uppercase(), &name[1..]);
                }
                messages.iter().map(move |m| format!("{name} {m}"))
            })
            .collect()
    }
}
