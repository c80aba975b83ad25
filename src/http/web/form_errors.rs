//! A form refused for what was typed, shown as GitLab shows it: the same form again with the
//! person's input, a box at its top ("The form contains the following errors:") with every
//! message in full (`Path has already been taken`), and each field at fault marked
//! (`aria-invalid`, its messages below it and named by `aria-describedby`). Refusals that are
//! not the person's to fix (a hidden parent, a fault) stay pages of their own ([`WebError`]).

use maud::{html, Markup};

use super::error::WebError;
use crate::model::errors::FieldErrors;
use crate::service::error::ServiceError;

/// What a refused form shows: messages by field, and those about the whole form.
#[derive(Debug, Default)]
pub(in crate::http) struct FormErrors {
    fields: FieldErrors,
    /// Messages no single field owns (a limit, a conflict the service words whole).
    whole: Vec<String>,
}

impl FormErrors {
    /// The errors of a refused change, or the page a refusal is when the person cannot fix it
    /// by changing the form.
    pub(in crate::http) fn of(e: ServiceError) -> Result<FormErrors, WebError> {
        match e {
            ServiceError::Invalid(fields) => Ok(FormErrors {
                fields,
                whole: Vec::new(),
            }),
            e => match WebError::from(e) {
                WebError::BadRequest(message) => Ok(FormErrors {
                    fields: FieldErrors::default(),
                    whole: vec![message],
                }),
                other => Err(other),
            },
        }
    }

    /// One field's error, found before the service was asked (a choice not in the list).
    pub(in crate::http) fn field(field: &str, message: &str) -> FormErrors {
        FormErrors {
            fields: FieldErrors::one(field, message),
            whole: Vec::new(),
        }
    }

    /// Every message in full, those about the whole form first.
    pub(in crate::http) fn messages(&self) -> Vec<String> {
        let mut all = self.whole.clone();
        all.extend(self.fields.full_messages());
        all
    }

    /// Whether `field` has an error (for `aria-invalid`).
    pub(in crate::http) fn invalid(&self, field: &str) -> Option<&'static str> {
        self.fields.0.contains_key(field).then_some("true")
    }

    /// The id of `field`'s messages under it, when it has any (for `aria-describedby`).
    pub(in crate::http) fn described_by(&self, field: &str) -> Option<String> {
        self.fields
            .0
            .contains_key(field)
            .then(|| format!("{field}_error"))
    }

    /// The box at the top of the form; nothing when there is no error.
    pub(in crate::http) fn summary(&self) -> Markup {
        let messages = self.messages();
        html! {
            @if !messages.is_empty() {
                div class="flash alert form-errors" role="alert" id="error_explanation" {
                    p { "The form contains the following "
                        (if messages.len() == 1 { "error" } else { "errors" }) ":" }
                    ul { @for m in &messages { li { (m) } } }
                }
            }
        }
    }

    /// `field`'s messages in full, under the field; nothing when it has none.
    pub(in crate::http) fn under(&self, field: &str) -> Markup {
        let one = FieldErrors(
            self.fields
                .0
                .get_key_value(field)
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect(),
        );
        html! {
            @if !one.is_empty() {
                span class="field-error" id={ (field) "_error" } {
                    (one.full_messages().join(", "))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_listed_in_full_and_marked_on_their_field() {
        let mut fields = FieldErrors::default();
        fields.add("path", "has already been taken");
        let e = FormErrors::of(ServiceError::Invalid(fields)).unwrap();
        assert_eq!(e.messages(), ["Path has already been taken"]);
        assert_eq!(e.invalid("path"), Some("true"));
        assert_eq!(e.invalid("name"), None);
        let box_ = e.summary().into_string();
        assert!(box_.contains("following error:"), "{box_}");
        assert!(e.under("path").into_string().contains("id=\"path_error\""));
        assert!(e.under("name").into_string().is_empty());
    }

    #[test]
    fn refusals_the_form_cannot_fix_stay_pages() {
        assert!(matches!(
            FormErrors::of(ServiceError::Forbidden),
            Err(WebError::Forbidden)
        ));
        assert!(FormErrors::default().summary().into_string().is_empty());
    }
}
