//! Cells as Liquid values, and the lax row objects templates see.
//!
//! JSON cells (`jsonb`, arrays) become [`JsonNode`]s: indexable like any Liquid object or
//! array (`row.meta.tier`), but printed as compact JSON with keys in the source's order.
//! Liquid's own objects are hash maps (no order) and print as `key1value1key2…`.

use std::fmt;
use std::sync::LazyLock;

use liquid::model::{KStringCow, Object, Value};
use liquid_core::model::{ArrayView, DisplayCow, ObjectView, State, ValueView};

use crate::row::Cell;

static NIL: Value = Value::Nil;

/// Converts one cell to a Liquid value. Exact numerics stay text so they print exactly.
pub fn cell_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Nil,
        Cell::Bool(b) => Value::scalar(*b),
        Cell::Int(i) => Value::scalar(*i),
        Cell::Float(f) => Value::scalar(*f),
        Cell::Decimal(s) => match s.parse::<i64>() {
            Ok(i) => Value::scalar(i),
            Err(_) => Value::scalar(s.clone()),
        },
        Cell::Text(s) | Cell::Date(s) | Cell::Time(s) | Cell::Timestamp(s) => {
            Value::scalar(s.clone())
        }
        Cell::Bytes(b) => {
            use base64::Engine;
            Value::scalar(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Cell::Json(j) => json_value(j),
    }
}

fn json_number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        return Value::scalar(i);
    }
    // A number a float cannot hold (400 digits, or more precision than 17 digits) keeps its
    // exact text, as exact numerics do, instead of becoming `inf` or a rounded value.
    let text = n.to_string();
    match n.as_f64() {
        Some(f) if f.is_finite() && significant_digits(&text) <= 15 => Value::scalar(f),
        _ => Value::scalar(text),
    }
}

fn significant_digits(s: &str) -> usize {
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|b| *b == b'0')
        .count()
}

fn json_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::scalar(*b),
        serde_json::Value::Number(n) => json_number(n),
        serde_json::Value::String(s) => Value::scalar(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(json_value).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone().into(), json_value(v)))
                .collect(),
        ),
    }
}

/// A cell as plain text (tables, CSV, routing values). JSON is compact, keys in order.
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Json(j) => j.to_string(),
        other => cell_value(other).render().to_string(),
    }
}

/// A JSON value that keeps its source order and prints as compact JSON.
#[derive(Debug, Clone)]
pub enum JsonNode {
    Leaf(Value, serde_json::Value),
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
}

impl JsonNode {
    pub fn new(j: &serde_json::Value) -> JsonNode {
        match j {
            serde_json::Value::Array(a) => JsonNode::Array(a.iter().map(JsonNode::new).collect()),
            serde_json::Value::Object(o) => JsonNode::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), JsonNode::new(v)))
                    .collect(),
            ),
            leaf => JsonNode::Leaf(json_value(leaf), leaf.clone()),
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            JsonNode::Leaf(_, j) => out.push_str(&j.to_string()),
            JsonNode::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            JsonNode::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    fn json_text(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    fn len(&self) -> usize {
        match self {
            JsonNode::Leaf(..) => 0,
            JsonNode::Array(a) => a.len(),
            JsonNode::Object(o) => o.len(),
        }
    }
}

impl ValueView for JsonNode {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        match self {
            JsonNode::Leaf(v, _) => v.render(),
            _ => DisplayCow::Owned(Box::new(self.json_text())),
        }
    }
    fn source(&self) -> DisplayCow<'_> {
        match self {
            JsonNode::Leaf(v, _) => v.source(),
            _ => DisplayCow::Owned(Box::new(self.json_text())),
        }
    }
    fn type_name(&self) -> &'static str {
        match self {
            JsonNode::Leaf(v, _) => v.type_name(),
            JsonNode::Array(_) => "array",
            JsonNode::Object(_) => "object",
        }
    }
    fn query_state(&self, state: State) -> bool {
        match self {
            JsonNode::Leaf(v, _) => v.query_state(state),
            _ => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty | State::Blank => self.len() == 0,
            },
        }
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        match self {
            JsonNode::Leaf(v, _) => v.to_kstr(),
            _ => KStringCow::from_string(self.json_text()),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            JsonNode::Leaf(v, _) => v.clone(),
            JsonNode::Array(a) => Value::Array(a.iter().map(ValueView::to_value).collect()),
            JsonNode::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone().into(), v.to_value()))
                    .collect(),
            ),
        }
    }
    fn as_scalar(&self) -> Option<liquid_core::model::ScalarCow<'_>> {
        match self {
            JsonNode::Leaf(v, _) => v.as_scalar(),
            _ => None,
        }
    }
    fn as_array(&self) -> Option<&dyn ArrayView> {
        matches!(self, JsonNode::Array(_)).then_some(self as &dyn ArrayView)
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        matches!(self, JsonNode::Object(_)).then_some(self as &dyn ObjectView)
    }
    fn is_nil(&self) -> bool {
        matches!(self, JsonNode::Leaf(Value::Nil, _))
    }
}

impl ArrayView for JsonNode {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.len() as i64
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            JsonNode::Array(a) => Box::new(a.iter().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn contains_key(&self, index: i64) -> bool {
        ArrayView::get(self, index).is_some()
    }
    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        let JsonNode::Array(a) = self else {
            return None;
        };
        let i = if index < 0 {
            a.len() as i64 + index
        } else {
            index
        };
        usize::try_from(i)
            .ok()
            .and_then(|i| a.as_slice().get(i))
            .map(|v| v as &dyn ValueView)
    }
}

impl ObjectView for JsonNode {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.len() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self {
            JsonNode::Object(o) => Box::new(o.iter().map(|(k, _)| KStringCow::from_ref(k))),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            JsonNode::Object(o) => Box::new(o.iter().map(|(_, v)| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self {
            JsonNode::Object(o) => Box::new(
                o.iter()
                    .map(|(k, v)| (KStringCow::from_ref(k), v as &dyn ValueView)),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn contains_key(&self, index: &str) -> bool {
        ObjectView::get(self, index).is_some()
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        match self {
            JsonNode::Object(o) => o
                .iter()
                .find(|(k, _)| k == index)
                .map(|(_, v)| v as &dyn ValueView),
            _ => None,
        }
    }
}

/// An object that answers `nil` for keys it does not have (lax row access).
///
/// `.0` holds every column as a plain Liquid value (what `rows` is built from); JSON
/// columns are also kept as [`JsonNode`]s, which `row.x.y` walks and whose exact text
/// printing uses ([`LaxObject::json_texts`]).
#[derive(Debug, Clone, Default)]
pub struct LaxObject(pub Object, RowExtra);

#[derive(Debug, Clone, Default)]
struct RowExtra {
    json: Vec<(String, JsonNode)>,
}

impl LaxObject {
    /// Builds a row object from column names and cells.
    pub fn from_row(columns: &[String], row: &[Cell]) -> Self {
        let mut o = Object::new();
        let mut extra = RowExtra::default();
        for (name, cell) in columns.iter().zip(row) {
            o.insert(name.clone().into(), cell_value(cell));
            if let Cell::Json(j) = cell
                && (j.is_object() || j.is_array())
            {
                extra.json.push((name.clone(), JsonNode::new(j)));
            }
        }
        LaxObject(o, extra)
    }

    /// An object of plain values (no column order, no JSON views).
    pub(crate) fn from_object(o: Object) -> Self {
        LaxObject(o, RowExtra::default())
    }
}

/// Compact JSON of any Liquid value (objects in their iteration order).
fn write_value_json(v: &dyn ValueView, out: &mut String) {
    if let Some(a) = v.as_array() {
        out.push('[');
        for (i, item) in a.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_value_json(item, out);
        }
        out.push(']');
    } else if let Some(o) = v.as_object() {
        out.push('{');
        for (i, (k, item)) in o.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::String(k.to_string()).to_string());
            out.push(':');
            write_value_json(item, out);
        }
        out.push('}');
    } else if v.is_nil() {
        out.push_str("null");
    } else if let Some(s) = v.as_scalar() {
        let json = match (s.type_name(), s.to_integer(), s.to_float(), s.to_bool()) {
            ("whole number", Some(i), _, _) => serde_json::Value::from(i),
            ("fractional number", _, Some(f), _) => serde_json::Value::from(f),
            ("boolean", _, _, Some(b)) => serde_json::Value::Bool(b),
            _ => serde_json::Value::String(s.to_kstr().to_string()),
        };
        out.push_str(&json.to_string());
    } else {
        out.push_str(&serde_json::Value::String(v.render().to_string()).to_string());
    }
}

impl ValueView for LaxObject {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(canonical_json(&self.0)))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(canonical_json(&self.0)))
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        self.0.query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(canonical_json(&self.0))
    }
    fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for LaxObject {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.0.len() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        ObjectView::keys(&self.0)
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        ObjectView::values(&self.0)
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        ObjectView::iter(&self.0)
    }
    fn contains_key(&self, index: &str) -> bool {
        index != "size" || self.0.contains_key(index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        if let Some((_, j)) = self.1.json.iter().find(|(k, _)| k == index) {
            return Some(j);
        }
        match self.0.get(index) {
            Some(v) => Some(v),
            None if index == "size" => None,
            None => Some(&NIL),
        }
    }
}

/// JSON with object keys sorted: the same text for equal values, whatever the order of
/// Liquid's hash maps.
pub(crate) fn canonical_json(v: &dyn ValueView) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &dyn ValueView, out: &mut String) {
    if let Some(o) = v.as_object() {
        let mut fields: Vec<(String, &dyn ValueView)> =
            o.iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        out.push('{');
        for (i, (k, item)) in fields.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::String(k).to_string());
            out.push(':');
            write_canonical(item, out);
        }
        out.push('}');
    } else if let Some(a) = v.as_array() {
        out.push('[');
        for (i, item) in a.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_canonical(item, out);
        }
        out.push(']');
    } else {
        write_value_json(v, out);
    }
}

impl LaxObject {
    /// For each JSON object or array in this row (nested ones too): its canonical form
    /// (see [`canonical_json`]) → its exact text in source order. Liquid turns every value
    /// it reads into a hash-map copy; printing looks the copy up here.
    pub(crate) fn json_texts(&self, into: &mut std::collections::HashMap<String, String>) {
        for (_, node) in &self.1.json {
            node.register(into);
        }
    }
}

impl JsonNode {
    fn register(&self, into: &mut std::collections::HashMap<String, String>) {
        let children: Box<dyn Iterator<Item = &JsonNode>> = match self {
            JsonNode::Leaf(..) => return,
            JsonNode::Array(a) => Box::new(a.iter()),
            JsonNode::Object(o) => Box::new(o.iter().map(|(_, v)| v)),
        };
        for child in children {
            child.register(into);
        }
        into.insert(canonical_json(&self.to_value()), self.json_text());
    }
}

pub(crate) static EMPTY: LazyLock<LaxObject> = LazyLock::new(LaxObject::default);
pub(crate) fn nil() -> &'static Value {
    &NIL
}
