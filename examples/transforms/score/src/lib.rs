//! A churn-risk score from several columns, and a filter on it: rows scoring below the
//! threshold are dropped, so only accounts worth a look reach the channel.
//!
//! Needs the columns `arr` (annual revenue), `health` (0–100) and `seats`; adds `score`
//! (0–100): `0.6 × (100 − health) + 0.4 × min(100, arr / 1000)`, halved for accounts with
//! fewer than 5 seats. Parameters: `{"threshold": 50}` (default 0: keep every row).

use datasync_transform::{Row, Transform, Value, export};

pub struct Score {
    arr: usize,
    health: usize,
    seats: usize,
    /// The source's own `score` column, which the score replaces.
    replaces: Option<usize>,
    threshold: f64,
}

impl Transform for Score {
    fn new(columns: &[String], params: &str) -> Result<(Self, Vec<String>), String> {
        let params: serde_json::Value =
            serde_json::from_str(params).map_err(|e| format!("parameters: {e}"))?;
        let threshold = match params.get("threshold") {
            None => 0.0,
            Some(t) => t
                .as_f64()
                .ok_or("parameters: \"threshold\" must be a number")?,
        };
        let at = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| format!("the source has no column {name:?}"))
        };
        let score = Score {
            arr: at("arr")?,
            health: at("health")?,
            seats: at("seats")?,
            replaces: at("score").ok(),
            threshold,
        };
        let mut out = columns.to_vec();
        if score.replaces.is_none() {
            out.push("score".into());
        }
        Ok((score, out))
    }

    fn row(&mut self, mut row: Row) -> Result<Option<Row>, String> {
        let arr = number(&row[self.arr]).ok_or("arr is not a number")?;
        let health = number(&row[self.health]).ok_or("health is not a number")?;
        let seats = number(&row[self.seats]).ok_or("seats is not a number")?;
        let mut score =
            0.6 * (100.0 - health.clamp(0.0, 100.0)) + 0.4 * (arr / 1000.0).clamp(0.0, 100.0);
        if seats < 5.0 {
            score /= 2.0;
        }
        if score < self.threshold {
            return Ok(None);
        }
        let value = Value::Int(score.round() as i64);
        match self.replaces {
            Some(i) => row[i] = value,
            None => row.push(value),
        }
        Ok(Some(row))
    }
}

/// A numeric value (exact decimals are text).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Decimal(d) | Value::Text(d) => d.trim().parse().ok(),
        _ => None,
    }
}

export!(Score);

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<String> {
        ["account", "arr", "health", "seats"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn scores_and_drops_below_the_threshold() {
        let (mut s, out) = Score::new(&columns(), r#"{"threshold": 50}"#).unwrap();
        assert_eq!(out.last().map(String::as_str), Some("score"));
        let row = |arr: i64, health: i64, seats: i64| {
            vec![
                Value::Text("acme".into()),
                Value::Int(arr),
                Value::Int(health),
                Value::Int(seats),
            ]
        };
        // 0.6 × 80 + 0.4 × 50 = 68
        assert_eq!(
            s.row(row(50_000, 20, 10)).unwrap().unwrap()[4],
            Value::Int(68)
        );
        // halved for 2 seats: 34 < 50
        assert_eq!(s.row(row(50_000, 20, 2)).unwrap(), None);
        assert!(
            s.row(vec![Value::Null, Value::Null, Value::Int(1), Value::Int(1)])
                .is_err()
        );
        assert!(Score::new(&columns()[..2], "{}").is_err());
    }
}
