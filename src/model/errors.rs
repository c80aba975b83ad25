//! Validation failures by field, as GitLab reports them (`{"message": {"url": ["is blocked: …"]}}`):
//! the one shape every use case collects its field errors in.

use std::collections::BTreeMap;

/// Messages by field, in field order: by name (`String`, the default), or by a use case's
/// typed field (`MirrorField`), which each face spells as it names its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors<F = String>(pub BTreeMap<F, Vec<String>>);

impl<F> Default for FieldErrors<F> {
    fn default() -> Self {
        FieldErrors(BTreeMap::new())
    }
}

impl<F: Ord> FieldErrors<F> {
    /// Records `message` against `field`.
    pub fn push(&mut self, field: F, message: impl Into<String>) {
        self.0.entry(field).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same errors by field name, `name` spelling each field.
    pub fn named(self, name: impl Fn(&F) -> &'static str) -> FieldErrors {
        let mut named = FieldErrors::default();
        for (field, messages) in self.0 {
            named
                .0
                .entry(name(&field).to_owned())
                .or_default()
                .extend(messages);
        }
        named
    }
}

impl FieldErrors {
    /// One field's error.
    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.push(field.to_owned(), message);
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
