//! Our `for` and `capture` blocks: liquid's, bounded.
//!
//! liquid-lib's `for` collects its whole range into a vector before the first iteration
//! (`(1..100000000)` is 5 GB) and its `capture` grows a buffer without limit; neither can
//! be wrapped, because a block's arguments can be read only once. These are written to
//! the same syntax (`limit:`, `offset:`, `reversed`, `else`, `break`, `continue`,
//! `forloop.*` with `parentloop`) but iterate lazily and charge the rendering's budget
//! ([`super::limits`]) before they run. A literal range above the per-message limit,
//! alone or through nesting, is refused when the template is compiled.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;

use liquid_core::model::{KString, KStringRef, Object, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::parser::{BlockElement, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, StackFrame};
use liquid_core::{
    BlockReflection, Error as LiquidError, Expression, Language, ParseBlock, Renderable,
    Result as LiquidResult, Runtime, TagBlock, TagTokenIter, Template,
};

use super::limits;

thread_local! {
    /// Product of the literal sizes of the loops enclosing the one being parsed.
    static NESTING: Cell<u64> = const { Cell::new(1) };
}

/// Starts a compilation with no enclosing loops (a parse that panicked, caught by
/// [`super::compile`], may have left a factor behind).
pub(crate) fn reset_nesting() {
    NESTING.with(|n| n.set(1));
}

#[derive(Clone, Copy, Debug, Default)]
pub struct BoundedFor;

impl BlockReflection for BoundedFor {
    fn start_tag(&self) -> &str {
        "for"
    }
    fn end_tag(&self) -> &str {
        "endfor"
    }
    fn description(&self) -> &str {
        "Loops over an array, an object or a range, within the rendering's iteration budget."
    }
}

/// What a loop iterates over.
#[derive(Debug)]
enum Source {
    Collection(Expression),
    Range(Expression, Expression),
}

#[derive(Debug)]
struct For {
    var: KString,
    source: Source,
    limit: Option<Expression>,
    offset: Option<Expression>,
    reversed: bool,
    body: Template,
    otherwise: Option<Template>,
}

impl ParseBlock for BoundedFor {
    fn parse(
        &self,
        mut args: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> LiquidResult<Box<dyn Renderable>> {
        let var = args
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?;
        args.expect_next("\"in\" expected.")?
            .expect_str("in")
            .into_result_custom_msg("\"in\" expected.")?;
        let source = match args.expect_next("Array or range expected.")?.expect_value() {
            TryMatchToken::Matches(e) => Source::Collection(e),
            TryMatchToken::Fails(t) => match t.expect_range() {
                TryMatchToken::Matches((a, b)) => Source::Range(a, b),
                TryMatchToken::Fails(t) => return Err(t.raise_error()),
            },
        };
        let (mut limit, mut offset, mut reversed) = (None, None, false);
        while let Some(token) = args.next() {
            match token.as_str() {
                "limit" => limit = Some(attribute(&mut args)?),
                "offset" => offset = Some(attribute(&mut args)?),
                "reversed" => reversed = true,
                _ => {
                    return Err(
                        token.raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                    );
                }
            }
        }
        args.expect_nothing()?;

        let size = literal_size(&source, limit.as_ref());
        let outer = NESTING.with(Cell::get);
        let nested = outer.saturating_mul(size);
        let max = limits::static_iteration_limit();
        if nested > max {
            return Err(LiquidError::with_msg(format!(
                "this loop runs {nested} iterations{}, more than the limit of {max} per message",
                if outer > 1 {
                    " with the loops around it"
                } else {
                    ""
                }
            )));
        }
        NESTING.with(|n| n.set(nested));
        let parsed = parse_body(&mut tokens, options);
        NESTING.with(|n| n.set(outer));
        let (body, otherwise) = parsed?;
        tokens.assert_empty();
        Ok(Box::new(For {
            var: KString::from_ref(var),
            source,
            limit,
            offset,
            reversed,
            body,
            otherwise,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

fn attribute(args: &mut TagTokenIter<'_>) -> LiquidResult<Expression> {
    args.expect_next("\":\" expected.")?
        .expect_str(":")
        .into_result_custom_msg("\":\" expected.")?;
    args.expect_next("Value expected.")?
        .expect_value()
        .into_result()
}

fn parse_body(
    tokens: &mut TagBlock<'_, '_>,
    options: &Language,
) -> LiquidResult<(Template, Option<Template>)> {
    let mut body = Vec::new();
    let mut otherwise = None;
    while let Some(element) = tokens.next()? {
        match element {
            BlockElement::Tag(mut tag) if tag.name() == "else" => {
                tag.tokens().expect_nothing()?;
                otherwise = Some(Template::new(tokens.parse_all(options)?));
                break;
            }
            BlockElement::Tag(tag) => body.push(tag.parse(tokens, options)?),
            element => body.push(element.parse(tokens, options)?),
        }
    }
    Ok((Template::new(body), otherwise))
}

fn literal_int(e: &Expression) -> Option<i64> {
    match e {
        Expression::Literal(v) => v.as_scalar().and_then(|s| s.to_integer()),
        Expression::Variable(_) => None,
    }
}

/// Iterations a loop is known to run at compile time (1 when it depends on data).
fn literal_size(source: &Source, limit: Option<&Expression>) -> u64 {
    let size = match source {
        Source::Range(a, b) => match (literal_int(a), literal_int(b)) {
            (Some(a), Some(b)) => range_len(a, b),
            _ => 1,
        },
        Source::Collection(_) => 1,
    };
    match limit.and_then(literal_int) {
        Some(l) => size.min(u64::try_from(l).unwrap_or(0)).max(1),
        None => size.max(1),
    }
}

fn range_len(start: i64, stop: i64) -> u64 {
    if stop < start {
        0
    } else {
        (i128::from(stop) - i128::from(start) + 1)
            .try_into()
            .unwrap_or(u64::MAX)
    }
}

fn int_of(e: &Expression, runtime: &dyn Runtime, what: &str) -> LiquidResult<i64> {
    let v = e.evaluate(runtime)?;
    v.as_scalar().and_then(|s| s.to_integer()).ok_or_else(|| {
        LiquidError::with_msg(format!(
            "for: the {what} must be a whole number, found {}",
            v.type_name()
        ))
    })
}

fn opt_count(
    e: &Option<Expression>,
    runtime: &dyn Runtime,
    what: &str,
) -> LiquidResult<Option<u64>> {
    e.as_ref()
        .map(|e| int_of(e, runtime, what).map(|n| u64::try_from(n).unwrap_or(0)))
        .transpose()
}

/// The items of a collection: an array's elements, an object's `[key, value]` pairs.
enum Items<'a> {
    Range(i64),
    Refs(Vec<&'a dyn ValueView>),
    Owned(Vec<Value>),
}

impl Items<'_> {
    fn get(&self, i: usize) -> ValueCow<'_> {
        match self {
            Items::Range(start) => ValueCow::Owned(Value::scalar(start.saturating_add(i as i64))),
            Items::Refs(v) => ValueCow::Borrowed(v[i]),
            Items::Owned(v) => ValueCow::Borrowed(&v[i]),
        }
    }
}

fn items(value: &dyn ValueView) -> LiquidResult<Items<'_>> {
    if let Some(a) = value.as_array() {
        return Ok(Items::Refs(a.values().collect()));
    }
    if let Some(o) = value.as_object() {
        return Ok(Items::Owned(
            o.iter()
                .map(|(k, v)| Value::Array(vec![Value::scalar(k.into_owned()), v.to_value()]))
                .collect(),
        ));
    }
    if value.is_nil() || value.is_state() {
        return Ok(Items::Owned(Vec::new()));
    }
    Err(LiquidError::with_msg(format!(
        "for: expected an array, an object or a range, found {}",
        value.type_name()
    )))
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> LiquidResult<()> {
        let collection;
        let (items, total) = match &self.source {
            Source::Range(a, b) => {
                let (a, b) = (int_of(a, runtime, "start")?, int_of(b, runtime, "end")?);
                (Items::Range(a), range_len(a, b))
            }
            Source::Collection(e) => {
                collection = e.evaluate(runtime)?;
                let items = items(collection.as_view())?;
                let n = match &items {
                    Items::Refs(v) => v.len(),
                    Items::Owned(v) => v.len(),
                    Items::Range(_) => 0,
                } as u64;
                (items, n)
            }
        };
        let offset = opt_count(&self.offset, runtime, "offset")?
            .unwrap_or(0)
            .min(total);
        let count = opt_count(&self.limit, runtime, "limit")?
            .unwrap_or(u64::MAX)
            .min(total - offset);
        limits::charge_iterations(count)?;
        if count == 0 {
            return match &self.otherwise {
                Some(t) => t.render_to(writer, runtime),
                None => Ok(()),
            };
        }
        let parent = runtime.try_get(&[ScalarCow::new("forloop")]);
        for n in 0..count {
            limits::check_time()?;
            let step = if self.reversed { count - 1 - n } else { n };
            // `count` fits the collection or the charged budget, so these are in range.
            let item = items.get(usize::try_from(offset + step).unwrap_or(usize::MAX));
            let forloop = forloop(n, count, parent.as_ref().map(|p| p.as_view()));
            let mut frame = HashMap::<KStringRef<'_>, &dyn ValueView>::new();
            frame.insert("forloop".into(), &forloop);
            frame.insert(self.var.as_ref(), item.as_view());
            let scope = StackFrame::new(runtime, &frame);
            self.body.render_to(writer, &scope)?;
            let interrupt = scope.registers().get_mut::<InterruptRegister>().reset();
            if interrupt == Some(Interrupt::Break) {
                break;
            }
        }
        Ok(())
    }
}

fn forloop(n: u64, len: u64, parent: Option<&dyn ValueView>) -> Value {
    let (i, len) = (n as i64, len as i64);
    let mut o = Object::new();
    for (k, v) in [
        ("length", len),
        ("index", i + 1),
        ("index0", i),
        ("rindex", len - i),
        ("rindex0", len - i - 1),
    ] {
        o.insert(k.into(), Value::scalar(v));
    }
    o.insert("first".into(), Value::scalar(i == 0));
    o.insert("last".into(), Value::scalar(i == len - 1));
    if let Some(p) = parent {
        o.insert("parentloop".into(), p.to_value());
    }
    Value::Object(o)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct BoundedCapture;

impl BlockReflection for BoundedCapture {
    fn start_tag(&self) -> &str {
        "capture"
    }
    fn end_tag(&self) -> &str {
        "endcapture"
    }
    fn description(&self) -> &str {
        "Renders its body into a variable, within the rendering's byte budget."
    }
}

#[derive(Debug)]
struct Capture {
    var: KString,
    body: Template,
}

impl ParseBlock for BoundedCapture {
    fn parse(
        &self,
        mut args: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> LiquidResult<Box<dyn Renderable>> {
        let var = args
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?;
        args.expect_nothing()?;
        let body = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture {
            var: KString::from_ref(var),
            body,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

/// A buffer that charges what is written to it.
struct Charged(Vec<u8>);

impl Write for Charged {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        limits::charge_bytes(data.len()).map_err(|e| std::io::Error::other(e.to_string()))?;
        self.0.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> LiquidResult<()> {
        let mut buf = Charged(Vec::new());
        self.body.render_to(&mut buf, runtime)?;
        let text = String::from_utf8_lossy(&buf.0).into_owned();
        runtime.set_global(self.var.clone(), Value::scalar(text));
        Ok(())
    }
}
