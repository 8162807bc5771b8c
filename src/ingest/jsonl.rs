//! FASD JSON Lines: one [`Record`] per line, decoded with the path of the field that
//! failed (`offre.sessions[2].date_debut`), so an error points at what to fix.

use std::fmt;

use crate::model::Record;

/// A bad input line: `FILE:LINE: field: reason`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InputError {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.reason
        )
    }
}

/// Decodes one line. `field` in the error is the JSON path of the offending value, or
/// `—` when the line itself is not JSON.
pub fn parse_record(file: &str, line: u64, text: &str) -> Result<Record, InputError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result: Result<Record, _> = serde_path_to_error::deserialize(&mut de);
    let err = |field: String, reason: String| InputError {
        file: file.to_owned(),
        line,
        field,
        reason,
    };
    match result {
        Ok(r) => {
            de.end()
                .map_err(|e| err(super::WHOLE_LINE.into(), tidy(&e)))?;
            Ok(r)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // A syntax error has no meaningful field path (serde_path_to_error says `?`).
            let field = if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty() {
                super::WHOLE_LINE.to_owned()
            } else {
                path
            };
            let reason = if inner.is_eof() && text.trim().is_empty() {
                "empty line: expected one JSON object ({\"organisme\": …}, {\"offre\": …} or {\"session\": …})".to_owned()
            } else {
                tidy(&inner)
            };
            Err(err(field, reason))
        }
    }
}

/// serde_json says "… at line 1 column 17"; inside a JSON Lines file the line is ours,
/// so keep only the column.
fn tidy(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    };
    if msg.starts_with("unknown variant") && msg.contains("expected one of `organisme`") {
        format!(
            "{msg}: each line is one of {{\"organisme\": …}}, {{\"offre\": …}}, {{\"session\": …}}"
        )
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_path_of_the_bad_field() {
        let e = parse_record(
            "f.jsonl",
            3,
            r#"{"organisme": {"siret": "13000511900033", "raison_sociale": "X"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "organisme.siret");
        assert!(e.reason.contains("Luhn"), "{}", e.reason);
        assert_eq!(
            e.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["f.jsonl", "3"]
        );
    }

    #[test]
    fn malformed_json_keeps_the_column() {
        let e = parse_record("f.jsonl", 1, r#"{"organisme": "#).unwrap_err();
        assert!(e.reason.contains("column"), "{}", e.reason);
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let e = parse_record(
            "f",
            1,
            r#"{"organisme": {"siret": "13000511900032", "raison_sociale": "X"}} x"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "—");
    }
}
