//! Our filters, the per-rendering state they read, and the wrapper that bounds every filter.
//!
//! liquid's filters cannot receive per-render state, so what they need (the user cache or
//! the set being collected, the run's time for `"now"`, the mention nonce) is a
//! thread-local set around the render call ([`with_state`]).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use liquid::model::Value;
use liquid_core::model::{ScalarCow, ValueView};
use liquid_core::parser::FilterArguments;
use liquid_core::runtime::Runtime;
use liquid_core::{
    Display_filter, Error as LiquidError, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result as LiquidResult,
};

use super::UserCache;
use super::limits;
use super::mentions;
use super::numbers::{group, round_decimal, split_number};
use super::values;

/// How `mattermost_user_lookup` behaves during one render.
pub(crate) enum LookupMode {
    Off,
    Collect(BTreeSet<String>),
    Resolve(Arc<UserCache>),
}

/// What the filters of the rendering in progress on this thread read.
pub(crate) struct RenderState {
    pub lookup: LookupMode,
    /// The run's time (from the injected clock): what `"now"` means.
    pub now: DateTime<Utc>,
    /// Marks the mentions `mattermost_user_lookup` resolved in this rendering.
    pub nonce: u64,
    /// The JSON cells of `row` and `previous`, for printing them in source order
    /// ([`super::LaxObject::json_texts`]).
    pub json_texts: HashMap<String, String>,
}

impl Default for RenderState {
    fn default() -> Self {
        RenderState {
            lookup: LookupMode::Off,
            now: DateTime::<Utc>::UNIX_EPOCH,
            nonce: 0,
            json_texts: HashMap::new(),
        }
    }
}

thread_local! {
    static STATE: RefCell<RenderState> = RefCell::new(RenderState::default());
}

/// Sets the state for the duration of a closure, restoring the old one afterwards; returns
/// the closure's result and the state as the rendering left it.
pub(crate) fn with_state<T>(state: RenderState, f: impl FnOnce() -> T) -> (T, RenderState) {
    let old = STATE.with(|s| std::mem::replace(&mut *s.borrow_mut(), state));
    let out = f();
    let state = STATE.with(|s| std::mem::replace(&mut *s.borrow_mut(), old));
    (out, state)
}

fn now() -> DateTime<Utc> {
    STATE.with(|s| s.borrow().now)
}

// ---------------------------------------------------------------------------------------
// The bound on every filter.

/// Wraps a filter so its results are charged to the rendering's byte budget and the clock
/// is checked before it runs (`{% assign s = s | append: s %}` in a loop doubles a string).
/// The filters whose result can be many times their input (`replace` with a longer text,
/// `join` with a long separator, `split` into characters) are checked before they run.
#[derive(Clone)]
pub(crate) struct Bounded(pub Box<dyn ParseFilter>);

/// Filters whose output size is checked before they run, with their positional arguments.
#[derive(Debug)]
enum Growth {
    None,
    Replace(Vec<Expression>),
    Join(Vec<Expression>),
    Split(Vec<Expression>),
}

impl ParseFilter for Bounded {
    fn parse(&self, arguments: FilterArguments<'_>) -> LiquidResult<Box<dyn Filter>> {
        let name = self.0.reflection().name();
        if !matches!(name, "replace" | "join" | "split") {
            return Ok(Box::new(BoundedFilter(
                self.0.parse(arguments)?,
                Growth::None,
            )));
        }
        let positional: Vec<Expression> = arguments.positional.collect();
        let inner = self.0.parse(FilterArguments {
            positional: Box::new(positional.clone().into_iter()),
            keyword: arguments.keyword,
        })?;
        let growth = match name {
            "replace" => Growth::Replace(positional),
            "join" => Growth::Join(positional),
            _ => Growth::Split(positional),
        };
        Ok(Box::new(BoundedFilter(inner, growth)))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self.0.reflection()
    }
}

#[derive(Debug)]
struct BoundedFilter(Box<dyn Filter>, Growth);

impl fmt::Display for BoundedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Filter for BoundedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        limits::check_time()?;
        if let Some(bytes) = expected_size(&self.1, input, runtime) {
            limits::ensure_room(bytes)?;
        }
        let out = self.0.evaluate(input, runtime)?;
        limits::charge_bytes(value_size(&out))?;
        Ok(out)
    }
}

/// Text of the `i`th argument, if it evaluates.
fn arg_text(args: &[Expression], i: usize, runtime: &dyn Runtime) -> Option<String> {
    let v = args.get(i)?.evaluate(runtime).ok()?;
    Some(v.to_kstr().to_string())
}

/// How many times `pattern` splits `text` (an empty pattern splits between characters).
fn occurrences(text: &str, pattern: &str) -> u64 {
    if pattern.is_empty() {
        text.chars().count() as u64 + 1
    } else {
        text.matches(pattern).count() as u64
    }
}

/// An upper bound of the bytes a growing filter will build, before it runs.
fn expected_size(growth: &Growth, input: &dyn ValueView, runtime: &dyn Runtime) -> Option<u64> {
    match growth {
        Growth::None => None,
        Growth::Replace(args) => {
            let text = input.to_kstr();
            let pattern = arg_text(args, 0, runtime)?;
            let with = arg_text(args, 1, runtime).unwrap_or_default();
            Some(text.len() as u64 + occurrences(&text, &pattern) * with.len() as u64)
        }
        Growth::Join(args) => {
            let n = input.as_array()?.size().max(0) as u64;
            let sep = arg_text(args, 0, runtime).unwrap_or_else(|| " ".to_string());
            Some(n * sep.len() as u64)
        }
        Growth::Split(args) => {
            let text = input.to_kstr();
            let pattern = arg_text(args, 0, runtime)?;
            // Each piece is a Liquid value of a few dozen bytes besides its text.
            Some(text.len() as u64 + (occurrences(&text, &pattern) + 1) * 48)
        }
    }
}

/// Roughly the bytes a value holds (scalars by their text, containers by their items).
fn value_size(v: &Value) -> usize {
    match v {
        Value::Scalar(s) => s.to_kstr().len(),
        Value::Array(a) => a.iter().map(value_size).sum::<usize>() + a.len() * 8,
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| k.len() + value_size(v))
            .sum::<usize>(),
        _ => 8,
    }
}

// ---------------------------------------------------------------------------------------
// `__ds_out`: appended by the compiler to every output tag.

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "__ds_out",
    description = "Internal: marks printed values as data (see render::mentions).",
    parsed(OutFilter)
)]
pub struct Out;

#[derive(Debug, Default, Display_filter)]
#[name = "__ds_out"]
struct OutFilter;

impl Filter for OutFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let text = if input.as_array().is_some() || input.as_object().is_some() {
            // Objects and arrays print as compact JSON; JSON cells keep their key order.
            let canonical = values::canonical_json(input);
            STATE
                .with(|s| s.borrow().json_texts.get(&canonical).cloned())
                .unwrap_or(canonical)
        } else {
            input.render().to_string()
        };
        Ok(Value::scalar(mentions::wrap_data(&text)))
    }
}

// ---------------------------------------------------------------------------------------
// `date` reads the run's time for "now" and "today".

/// liquid's `date`, except that `"now"`/`"today"` mean the run's time (the injected
/// clock), not the wall clock.
#[derive(Clone)]
pub(crate) struct ClockDate(pub Box<dyn ParseFilter>);

impl ParseFilter for ClockDate {
    fn parse(&self, arguments: FilterArguments<'_>) -> LiquidResult<Box<dyn Filter>> {
        Ok(Box::new(ClockDateFilter(self.0.parse(arguments)?)))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self.0.reflection()
    }
}

#[derive(Debug)]
struct ClockDateFilter(Box<dyn Filter>);

impl fmt::Display for ClockDateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn is_now(input: &dyn ValueView) -> bool {
    input.as_scalar().is_some_and(|s| {
        is_text(&s) && matches!(s.to_kstr().trim().to_lowercase().as_str(), "now" | "today")
    })
}

impl Filter for ClockDateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        if is_now(input) {
            // liquid reads a string of digits as Unix seconds.
            let at = Value::scalar(now().timestamp().to_string());
            return self.0.evaluate(&at, runtime);
        }
        self.0.evaluate(input, runtime)
    }
}

// ---------------------------------------------------------------------------------------
// mattermost_user_lookup

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "mattermost_user_lookup",
    description = "E-mail address or username → @username (looked up before rendering).",
    parsed(UserLookupFilter)
)]
pub struct UserLookup;

#[derive(Debug, Default, Display_filter)]
#[name = "mattermost_user_lookup"]
struct UserLookupFilter;

impl Filter for UserLookupFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let key = input.to_kstr().trim().trim_start_matches('@').to_string();
        STATE.with(|s| {
            let state = &mut *s.borrow_mut();
            match &mut state.lookup {
                LookupMode::Collect(set) => {
                    if !key.is_empty() {
                        set.insert(key.clone());
                    }
                    Ok(Value::scalar(key))
                }
                // Only a user the look-up found becomes a mention; anything else stays
                // plain text (the README's promise).
                LookupMode::Resolve(users) => Ok(Value::scalar(match users.get(&key) {
                    Some(u) => mentions::mention_token(state.nonce, u),
                    None => key,
                })),
                LookupMode::Off => Ok(Value::scalar(key)),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// date_tz

#[derive(Debug, FilterParameters)]
struct DateTzArgs {
    #[parameter(description = "strftime format.", arg_type = "str")]
    format: Expression,
    #[parameter(
        description = "IANA time zone, e.g. Europe/Berlin (default UTC).",
        arg_type = "str"
    )]
    zone: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "date_tz",
    description = "Formats a timestamp in an IANA time zone.",
    parameters(DateTzArgs),
    parsed(DateTzFilter)
)]
pub struct DateTz;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "date_tz"]
struct DateTzFilter {
    #[parameters]
    args: DateTzArgs,
}

impl Filter for DateTzFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let zone: Tz = match &args.zone {
            Some(z) => z
                .parse()
                .map_err(|_| LiquidError::with_msg(format!("date_tz: unknown time zone {z:?}")))?,
            None => Tz::UTC,
        };
        let Some(t) = parse_time(input) else {
            return Ok(input.to_value());
        };
        let mut s = String::new();
        use std::fmt::Write as _;
        write!(s, "{}", t.with_timezone(&zone).format(&args.format))
            .map_err(|_| LiquidError::with_msg(format!("date_tz: bad format {:?}", args.format)))?;
        Ok(Value::scalar(s))
    }
}

/// Reads ISO-8601 timestamps (zoned or naive = UTC), dates, Unix seconds, and `now` (the
/// run's time).
fn parse_time(input: &dyn ValueView) -> Option<DateTime<Utc>> {
    let scalar = input.as_scalar()?;
    if let Some(i) = scalar.to_integer().filter(|_| !is_text(&scalar)) {
        return Utc.timestamp_opt(i, 0).single();
    }
    let s = scalar.to_kstr();
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Some(now());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn is_text(s: &ScalarCow<'_>) -> bool {
    s.type_name() == "string"
}

// ---------------------------------------------------------------------------------------
// Numbers.

#[derive(Debug, FilterParameters)]
struct DelimiterArgs {
    #[parameter(description = "Thousands separator (default \",\").", arg_type = "str")]
    delimiter: Option<Expression>,
    #[parameter(description = "Decimal separator (default \".\").", arg_type = "str")]
    separator: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "number_with_delimiter",
    description = "1234567.5 → 1,234,567.5",
    parameters(DelimiterArgs),
    parsed(DelimiterFilter)
)]
pub struct NumberWithDelimiter;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "number_with_delimiter"]
struct DelimiterFilter {
    #[parameters]
    args: DelimiterArgs,
}

impl Filter for DelimiterFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let text = input.to_kstr().to_string();
        let delim = args.delimiter.as_deref().unwrap_or(",");
        let sep = args.separator.as_deref().unwrap_or(".");
        Ok(match split_number(&text) {
            Some((sign, int, frac)) => {
                let mut out = String::from(sign);
                out.push_str(&group(int, delim));
                if let Some(f) = frac {
                    out.push_str(sep);
                    out.push_str(f);
                }
                Value::scalar(out)
            }
            None => input.to_value(),
        })
    }
}

#[derive(Debug, FilterParameters)]
struct DecimalsArgs {
    #[parameter(description = "Digits after the decimal point.", arg_type = "integer")]
    places: Expression,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "decimals",
    description = "Fixed number of decimals, rounded half away from zero on the decimal digits: 2.675 | decimals: 2 → 2.68",
    parameters(DecimalsArgs),
    parsed(DecimalsFilter)
)]
pub struct Decimals;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "decimals"]
struct DecimalsFilter {
    #[parameters]
    args: DecimalsArgs,
}

/// Most fraction digits `decimals` gives.
const MAX_PLACES: i64 = 20;

impl Filter for DecimalsFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let places = usize::try_from(args.places.clamp(0, MAX_PLACES)).unwrap_or(0);
        let text = input.to_kstr().to_string();
        Ok(match round_decimal(&text, places) {
            Some(s) => Value::scalar(s),
            None => input.to_value(),
        })
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "sum",
    description = "Sum of an array of numbers (Shopify's `sum`, missing from liquid-rust).",
    parsed(SumFilter)
)]
pub struct Sum;

#[derive(Debug, Default, Display_filter)]
#[name = "sum"]
struct SumFilter;

impl Filter for SumFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<Value> {
        let Some(arr) = input.as_array() else {
            return Err(LiquidError::with_msg("sum: input is not an array"));
        };
        let (mut int, mut float, mut is_float) = (0i64, 0f64, false);
        for v in arr.values() {
            let Some(s) = v.as_scalar() else { continue };
            match (s.to_integer(), s.to_float()) {
                (Some(i), _) if !is_float => match int.checked_add(i) {
                    Some(n) => int = n,
                    None => {
                        is_float = true;
                        float = int as f64 + i as f64;
                    }
                },
                (_, Some(f)) => {
                    if !is_float {
                        is_float = true;
                        float = int as f64;
                    }
                    float += f;
                }
                _ => {}
            }
        }
        Ok(if is_float {
            Value::scalar(float)
        } else {
            Value::scalar(int)
        })
    }
}
