//! When a sync runs: a fixed interval, a cron pattern in an IANA time zone, or only by hand.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `every 5m`, `every 1h30m`: the next run is this long after the previous one.
    Every(Duration),
    /// A 5-field (or 6-field, with seconds) cron pattern evaluated in `zone`.
    Cron {
        pattern: String,
        cron: Box<Cron>,
        zone: Tz,
    },
    /// Runs only through `/datasync run` (or the dry run).
    Manual,
}

impl Schedule {
    /// The first run time strictly after `after` (`None` for manual schedules or a cron
    /// pattern that never matches again).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(d) => chrono::Duration::from_std(*d).ok().map(|d| after + d),
            Schedule::Cron { cron, zone, .. } => cron
                .find_next_occurrence(&after.with_timezone(zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Schedule::Manual => None,
        }
    }

    /// Plain-language description for status output and the settings UI.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(d) => format!("every {}", format_interval(*d)),
            Schedule::Cron { cron, zone, .. } => format!("{} ({})", cron.describe(), zone.name()),
            Schedule::Manual => "manual only".to_string(),
        }
    }
}

/// Parses `every 5m`, `every 1h30m`, `every 90s`, `every 2d`. Returns what is wrong otherwise.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an interval like \"every 5m\" or \"every 1h30m\"");
    let rest = text.trim().strip_prefix("every").ok_or_else(bad)?;
    let total = parse_duration(rest).map_err(|_| bad())?;
    if total < MIN_INTERVAL {
        return Err(format!(
            "{text:?} is too short: the shortest interval is 10s"
        ));
    }
    Ok(total)
}

/// The shortest time between two runs of a sync, for intervals and cron patterns alike.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Parses `30s`, `5m`, `1h30m`, `2d` (no minimum).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like \"30s\" or \"1h30m\"");
    let rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in rest.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        if ch == ' ' {
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// An IANA zone name.
pub fn parse_zone(zone: &str) -> Result<Tz, String> {
    zone.parse()
        .map_err(|_| format!("{zone:?} is not an IANA time zone like \"Europe/Berlin\""))
}

/// Parses a cron pattern for `zone`. Refuses patterns that fire more often than every 10
/// seconds (a 6-field pattern can fire every second) and patterns that never fire
/// (`0 0 30 2 *`).
pub fn parse_cron(pattern: &str, zone: Tz) -> Result<Schedule, String> {
    let cron = Cron::from_str(pattern)
        .map_err(|e| format!("{pattern:?} is not a cron pattern like \"0 9 * * MON-FRI\": {e}"))?;
    check_cron_frequency(pattern, &cron, zone)?;
    Ok(Schedule::Cron {
        pattern: pattern.to_string(),
        cron: Box::new(cron),
        zone,
    })
}

/// Looks at the first firings after a fixed date (a leap year, so `29 2` counts as
/// possible) for one that never comes and for two closer than [`MIN_INTERVAL`].
fn check_cron_frequency(pattern: &str, cron: &Cron, zone: Tz) -> Result<(), String> {
    let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&zone))
        .map_err(|e| e.to_string())?;
    let mut previous = cron
        .find_next_occurrence(&start, false)
        .map_err(|_| format!("{pattern:?} never fires (no date matches it)"))?;
    // A pattern firing faster than the minimum shows it within a few firings of any time.
    for _ in 0..60 {
        let Ok(next) = cron.find_next_occurrence(&previous, false) else {
            break;
        };
        let gap = (next - previous).to_std().unwrap_or_default();
        if gap < MIN_INTERVAL {
            return Err(format!(
                "{pattern:?} fires every {}s; the shortest interval is 10s",
                gap.as_secs()
            ));
        }
        previous = next;
    }
    Ok(())
}

fn format_interval(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("every 5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("every 1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("every 2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_interval("every 5 parsecs").is_err());
        assert!(parse_interval("5m").is_err());
        assert!(parse_interval("every 5").is_err());
        assert!(parse_interval("every 1s").is_err());
        assert_eq!(
            Schedule::Every(Duration::from_secs(5400)).describe(),
            "every 1h30m"
        );
    }

    #[test]
    fn cron_in_zone_uses_local_time() {
        let s = parse_cron("0 9 * * MON-FRI", chrono_tz::Europe::Berlin).unwrap();
        // Saturday 2026-11-21 12:00 UTC → Monday 09:00 Berlin (CET, UTC+1) = 08:00 UTC.
        let after: DateTime<Utc> = "2026-11-21T12:00:00Z".parse().unwrap();
        let next = s.next_after(after).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-23T08:00:00+00:00");
        // Summer time: UTC+2.
        let after: DateTime<Utc> = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            s.next_after(after).unwrap().to_rfc3339(),
            "2026-07-02T07:00:00+00:00"
        );
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_cron("61 9 * * *", chrono_tz::UTC).is_err());
    }

    #[test]
    fn cron_that_fires_too_often_or_never_is_refused() {
        let utc = chrono_tz::UTC;
        for fast in ["* * * * * *", "*/5 * * * * *", "0-30 * * * * *"] {
            let e = parse_cron(fast, utc).err().unwrap_or_default();
            assert!(e.contains("the shortest interval is 10s"), "{fast}: {e}");
        }
        for never in ["0 0 30 2 *", "0 0 31 4 *"] {
            let e = parse_cron(never, utc).err().unwrap_or_default();
            assert!(e.contains("never fires"), "{never}: {e}");
        }
        for fine in ["*/10 * * * * *", "0 * * * * *", "* * * * *", "0 0 29 2 *"] {
            assert!(parse_cron(fine, utc).is_ok(), "{fine}");
        }
    }

    #[test]
    fn durations_have_no_interval_minimum() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3x").is_err());
    }
}
