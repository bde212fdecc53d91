//! Masks e-mail addresses before they reach a channel: `jane.doe@acme.com` becomes
//! `j***@acme.com`, wherever it appears in a text value.
//!
//! Parameters: `{"columns": ["email", "notes"]}` masks only those columns (all text
//! columns by default).

use datasync_transform::{Row, Transform, Value, export};

pub struct MaskEmail {
    /// The columns to mask, by position.
    masked: Vec<bool>,
}

impl Transform for MaskEmail {
    fn new(columns: &[String], params: &str) -> Result<(Self, Vec<String>), String> {
        let params: serde_json::Value =
            serde_json::from_str(params).map_err(|e| format!("parameters: {e}"))?;
        let masked = match params.get("columns") {
            None => vec![true; columns.len()],
            Some(list) => {
                let wanted: Vec<&str> = list
                    .as_array()
                    .ok_or("parameters: \"columns\" must be a list of column names")?
                    .iter()
                    .map(|v| v.as_str().ok_or("parameters: a column name is not text"))
                    .collect::<Result<_, _>>()?;
                if let Some(missing) = wanted.iter().find(|w| !columns.iter().any(|c| c == *w)) {
                    return Err(format!("parameters: there is no column {missing:?}"));
                }
                columns
                    .iter()
                    .map(|c| wanted.contains(&c.as_str()))
                    .collect()
            }
        };
        Ok((MaskEmail { masked }, columns.to_vec()))
    }

    fn row(&mut self, mut row: Row) -> Result<Option<Row>, String> {
        for (value, masked) in row.iter_mut().zip(&self.masked) {
            if let (Value::Text(text), true) = (value, *masked)
                && text.contains('@')
            {
                *text = mask(text);
            }
        }
        Ok(Some(row))
    }
}

/// `text` with every e-mail address in it masked.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || "<>,;:()\"'[]".contains(c) {
            out.push_str(&mask_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&mask_word(&word));
    out
}

fn mask_word(word: &str) -> String {
    match word.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@') =>
        {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => word.to_owned(),
    }
}

export!(MaskEmail);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_wherever_they_are() {
        assert_eq!(mask("jane.doe@acme.com"), "j***@acme.com");
        assert_eq!(
            mask("ask <bob@x.io>, or ann@y.org."),
            "ask <b***@x.io>, or a***@y.org."
        );
        assert_eq!(
            mask("not @ an address, nor a@b"),
            "not @ an address, nor a@b"
        );
    }
}
