//! Flattens fields of a JSON column into columns of their own, so keys, watched columns
//! and templates can use them: `payload = {"customer": {"name": "Acme"}, "plan": "pro"}`
//! becomes the columns `customer.name` and `plan`.
//!
//! Parameters: `{"column": "payload", "fields": ["customer.name", "plan", "usage.seats"]}`.
//! The JSON column is replaced by one column per field, named by its path; a field that
//! is missing is null; a nested object or list stays JSON.

use datasync_transform::{Row, Transform, Value, export};
use serde_json::Value as Json;

pub struct Flatten {
    /// The JSON column's position.
    column: usize,
    /// Each field's path, split at the dots.
    fields: Vec<Vec<String>>,
}

impl Transform for Flatten {
    fn new(columns: &[String], params: &str) -> Result<(Self, Vec<String>), String> {
        let params: Json = serde_json::from_str(params).map_err(|e| format!("parameters: {e}"))?;
        let name = params
            .get("column")
            .and_then(Json::as_str)
            .ok_or("parameters: \"column\" names the JSON column")?;
        let column = columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("the source has no column {name:?}"))?;
        let fields: Vec<String> = params
            .get("fields")
            .and_then(Json::as_array)
            .filter(|f| !f.is_empty())
            .ok_or("parameters: \"fields\" lists the paths to flatten")?
            .iter()
            .map(|f| {
                f.as_str()
                    .map(str::to_owned)
                    .ok_or("parameters: a path is not text")
            })
            .collect::<Result<_, _>>()?;
        let mut out: Vec<String> = columns.to_vec();
        out.remove(column);
        out.extend(fields.iter().cloned());
        let fields = fields
            .iter()
            .map(|f| f.split('.').map(str::to_owned).collect())
            .collect();
        Ok((Flatten { column, fields }, out))
    }

    fn row(&mut self, mut row: Row) -> Result<Option<Row>, String> {
        let doc = match row.remove(self.column) {
            Value::Json(text) | Value::Text(text) => {
                serde_json::from_str(&text).map_err(|e| format!("the JSON column: {e}"))?
            }
            Value::Null => Json::Null,
            _ => return Err("the JSON column holds neither JSON nor text".into()),
        };
        for path in &self.fields {
            let found = path.iter().try_fold(&doc, |v, key| v.get(key));
            row.push(found.map_or(Value::Null, value));
        }
        Ok(Some(row))
    }
}

fn value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or(Value::Null, Value::Float),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Json(other.to_string()),
    }
}

export!(Flatten);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_columns() {
        let columns = ["id", "payload"].map(String::from);
        let params =
            r#"{"column": "payload", "fields": ["customer.name", "plan", "usage.seats", "tags"]}"#;
        let (mut f, out) = Flatten::new(&columns, params).unwrap();
        assert_eq!(out, ["id", "customer.name", "plan", "usage.seats", "tags"]);
        let doc = r#"{"customer": {"name": "Acme"}, "usage": {"seats": 12}, "tags": ["a"]}"#;
        let row = f
            .row(vec![Value::Int(1), Value::Json(doc.into())])
            .unwrap()
            .unwrap();
        assert_eq!(
            row,
            [
                Value::Int(1),
                Value::Text("Acme".into()),
                Value::Null,
                Value::Int(12),
                Value::Json("[\"a\"]".into())
            ]
        );
        assert!(f.row(vec![Value::Int(2), Value::Text("{".into())]).is_err());
        assert!(Flatten::new(&columns, r#"{"column": "nope", "fields": ["a"]}"#).is_err());
    }
}
