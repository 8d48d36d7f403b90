//! A user's edit of books: the fields of a request checked and tidied,
//! then applied by the store in one transaction (every book or none),
//! each leaving a record of who changed what.

use serde_json::{Map, Value};

use crate::store::{BookField, FieldValue};

/// At most this many books in one bulk edit.
pub const MAX_BULK_BOOKS: usize = 1000;
const MAX_NAMES: usize = 50;
const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 500;
const MAX_DESCRIPTION: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("nothing to change: give one of {fields}, or \"unlock\"")]
    Empty { fields: String },
    #[error("{0}")]
    Ids(String),
}

fn bad(field: &str, reason: impl Into<String>) -> EditError {
    EditError::Field {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// What one edit sets (each field then locked) and unlocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditRequest {
    pub set: Vec<(BookField, FieldValue)>,
    pub unlock: Vec<BookField>,
}

impl EditRequest {
    /// Reads `{"title": "...", "authors": [...], "series": null, ...,
    /// "unlock": ["year"]}`: `null` (or an empty list) clears a field, an
    /// unknown key is refused.
    pub fn from_json(body: &Map<String, Value>) -> Result<Self, EditError> {
        let mut req = EditRequest::default();
        for (key, value) in body {
            if key == "unlock" {
                let names = value
                    .as_array()
                    .ok_or_else(|| bad("unlock", "must be a list of field names"))?;
                for n in names {
                    let field = n
                        .as_str()
                        .and_then(BookField::parse)
                        .ok_or_else(|| bad("unlock", format!("{n} is not a field")))?;
                    if !req.unlock.contains(&field) {
                        req.unlock.push(field);
                    }
                }
                continue;
            }
            let field = BookField::parse(key).ok_or_else(|| {
                bad(
                    key,
                    format!("not a field that can be edited ({})", field_names()),
                )
            })?;
            req.set.push((field, check(field, value)?));
        }
        if let Some((field, _)) = req.set.iter().find(|(f, _)| req.unlock.contains(f)) {
            return Err(bad(field.as_str(), "set and unlocked in one edit"));
        }
        if req.set.is_empty() && req.unlock.is_empty() {
            return Err(EditError::Empty {
                fields: field_names(),
            });
        }
        Ok(req)
    }
}

fn field_names() -> String {
    BookField::ALL.map(BookField::as_str).join(", ")
}

/// One field's value, checked and tidied.
fn check(field: BookField, value: &Value) -> Result<FieldValue, EditError> {
    let name = field.as_str();
    match field {
        BookField::Title => match text(name, value, MAX_TEXT)? {
            Some(t) => Ok(FieldValue::Text(Some(t))),
            None => Err(bad(name, "a book keeps a title")),
        },
        BookField::Authors | BookField::Narrators | BookField::Genres => {
            names(name, value).map(FieldValue::List)
        }
        BookField::Year => match value {
            Value::Null => Ok(FieldValue::Year(None)),
            Value::Number(n) => match n.as_i64() {
                Some(y @ 0..=9999) => Ok(FieldValue::Year(Some(y as i32))),
                _ => Err(bad(name, "a whole number from 0 to 9999")),
            },
            _ => Err(bad(name, "a whole number from 0 to 9999, or null")),
        },
        BookField::SeriesIndex => {
            let t = match value {
                Value::Number(n) => Some(n.to_string()),
                _ => text(name, value, 20)?,
            };
            Ok(FieldValue::Text(t))
        }
        BookField::Isbn => text(name, value, 20)?
            .map(|t| {
                isbn(&t)
                    .ok_or_else(|| bad(name, format!("{t:?} is not a valid ISBN-10 or ISBN-13")))
            })
            .transpose()
            .map(FieldValue::Text),
        BookField::Asin => text(name, value, 10)?
            .map(|t| {
                let t = t.to_ascii_uppercase();
                (t.len() == 10 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .then_some(t)
                    .ok_or_else(|| bad(name, "ten letters and digits (B0...)"))
            })
            .transpose()
            .map(FieldValue::Text),
        BookField::Language => text(name, value, 64)?
            .map(|t| {
                t.chars()
                    .all(|c| c.is_alphabetic() || c == '-' || c == ' ' || c == '_')
                    .then_some(t)
                    .ok_or_else(|| {
                        bad(
                            name,
                            "letters, spaces and hyphens (\"en\", \"en-GB\", \"English\")",
                        )
                    })
            })
            .transpose()
            .map(FieldValue::Text),
        BookField::Description => {
            // Line breaks are kept; other control characters are not text.
            let t = match value {
                Value::Null => None,
                Value::String(s) => {
                    if s.chars()
                        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                    {
                        return Err(bad(name, "holds control characters"));
                    }
                    if s.chars().count() > MAX_DESCRIPTION {
                        return Err(bad(name, format!("at most {MAX_DESCRIPTION} characters")));
                    }
                    Some(s.trim().to_string()).filter(|s| !s.is_empty())
                }
                _ => return Err(bad(name, "text, or null")),
            };
            Ok(FieldValue::Text(t))
        }
        BookField::Series | BookField::Publisher => {
            text(name, value, MAX_TEXT).map(FieldValue::Text)
        }
    }
}

/// One line of text: trimmed, empty as none, no control characters.
fn text(name: &str, value: &Value, max: usize) -> Result<Option<String>, EditError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            if s.chars().any(char::is_control) {
                return Err(bad(name, "holds control characters"));
            }
            let t = s.trim();
            if t.chars().count() > max {
                return Err(bad(name, format!("at most {max} characters")));
            }
            Ok(Some(t.to_string()).filter(|t| !t.is_empty()))
        }
        _ => Err(bad(name, "text, or null")),
    }
}

/// A list of names: each one line, repeated names once.
fn names(name: &str, value: &Value) -> Result<Vec<String>, EditError> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(bad(name, "a list of names")),
    };
    if list.len() > MAX_NAMES {
        return Err(bad(name, format!("at most {MAX_NAMES} names")));
    }
    let mut out: Vec<String> = Vec::new();
    for v in list {
        match text(name, v, MAX_NAME)? {
            Some(n) if !out.contains(&n) => out.push(n),
            Some(_) => {}
            None => return Err(bad(name, "a name is never empty")),
        }
    }
    Ok(out)
}

/// An ISBN with its check digit right, as digits (and a final `X`).
fn isbn(s: &str) -> Option<String> {
    let t: String = s.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    let t = t.to_ascii_uppercase();
    let d: Vec<u32> = t.chars().filter_map(|c| c.to_digit(10)).collect();
    let ok = match t.len() {
        10 => {
            let x = t.ends_with('X');
            (d.len() == 10 || (x && d.len() == 9)) && {
                let sum: u32 = d
                    .iter()
                    .take(9)
                    .enumerate()
                    .map(|(i, v)| (10 - i as u32) * v)
                    .sum();
                let last = if x { 10 } else { d[9] };
                (sum + last).is_multiple_of(11)
            }
        }
        13 => {
            d.len() == 13
                && d.iter()
                    .enumerate()
                    .map(|(i, v)| if i % 2 == 0 { *v } else { 3 * v })
                    .sum::<u32>()
                    .is_multiple_of(10)
        }
        _ => false,
    };
    ok.then_some(t)
}

/// The ids of a bulk edit: 1 to [`MAX_BULK_BOOKS`], each once.
pub fn bulk_ids(value: Option<&Value>) -> Result<Vec<String>, EditError> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| EditError::Ids("\"ids\": a list of book ids is needed".into()))?;
    if list.is_empty() || list.len() > MAX_BULK_BOOKS {
        return Err(EditError::Ids(format!(
            "\"ids\": 1 to {MAX_BULK_BOOKS} book ids"
        )));
    }
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for v in list {
        let id = v
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| EditError::Ids(format!("\"ids\": {v} is not a book id")))?;
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> Result<EditRequest, EditError> {
        EditRequest::from_json(v.as_object().unwrap())
    }

    #[test]
    fn values_are_tidied_and_bad_ones_refused() {
        let r = req(
            json!({"title": "  Dune ", "authors": ["Frank Herbert", "Frank Herbert"],
            "isbn": "978-0-441-17271-9", "asin": "b0015t963c", "series_index": 2.5, "year": null}),
        )
        .unwrap();
        assert_eq!(
            r.set,
            vec![
                (BookField::Asin, FieldValue::Text(Some("B0015T963C".into()))),
                (
                    BookField::Authors,
                    FieldValue::List(vec!["Frank Herbert".into()])
                ),
                (
                    BookField::Isbn,
                    FieldValue::Text(Some("9780441172719".into()))
                ),
                (BookField::SeriesIndex, FieldValue::Text(Some("2.5".into()))),
                (BookField::Title, FieldValue::Text(Some("Dune".into()))),
                (BookField::Year, FieldValue::Year(None)),
            ]
        );
        assert_eq!(isbn("0-8044-2957-X").as_deref(), Some("080442957X"));
        for bad in [
            json!({}),
            json!({"title": ""}),
            json!({"title": null}),
            json!({"title": "a\u{0}b"}),
            json!({"year": 10000}),
            json!({"year": "1999"}),
            json!({"isbn": "9780441172718"}),
            json!({"asin": "B00"}),
            json!({"authors": "Frank Herbert"}),
            json!({"authors": [""]}),
            json!({"owner": "x"}),
            json!({"unlock": ["owner"]}),
            json!({"title": "x", "unlock": ["title"]}),
            json!({"language": "<script>"}),
        ] {
            assert!(req(bad.clone()).is_err(), "{bad}");
        }
    }
}
