//! Passes every row through unchanged: the floor of what a transform costs (the benchmark
//! measures it), and the smallest example of the SDK.

use datasync_transform::{Row, Transform, export};

pub struct Identity;

impl Transform for Identity {
    fn new(columns: &[String], _params: &str) -> Result<(Self, Vec<String>), String> {
        Ok((Identity, columns.to_vec()))
    }

    fn row(&mut self, row: Row) -> Result<Option<Row>, String> {
        Ok(Some(row))
    }
}

export!(Identity);
