//! The words after `/datasync` (or said to the bot) → a subcommand.

/// A subcommand with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sub {
    Help,
    List,
    Status(Option<String>),
    History(String, usize),
    Validate,
    Run(String),
    Preview(String),
    Pause(String),
    Resume(String),
    /// `true`: confirmed (`reset <sync> confirm`).
    Reset(String, bool),
    /// A connection's name.
    Test(String),
    /// The uploaded transform modules.
    Transforms,
    /// `transform add <name>` (`false`) or `transform replace <name>` (`true`), with a
    /// `.wasm` file attached (a direct message to the bot).
    TransformAdd(String, bool),
}

/// Runs shown by `history` unless a count is given, and the most it shows.
pub const HISTORY_DEFAULT: usize = 10;
pub const HISTORY_MAX: usize = 50;

impl Sub {
    /// Whether operators (and admins) only may use it: it changes something, or reaches a
    /// source (preview, test).
    pub fn needs_operator(&self) -> bool {
        self.needs_admin()
            || matches!(
                self,
                Sub::Run(_)
                    | Sub::Preview(_)
                    | Sub::Pause(_)
                    | Sub::Resume(_)
                    | Sub::Reset(..)
                    | Sub::Test(_)
            )
    }

    /// Whether system admins only may use it: it installs code the plugin will run.
    pub fn needs_admin(&self) -> bool {
        matches!(self, Sub::TransformAdd(..))
    }
}

/// Parses `text`, the words after the trigger (a leading `/datasync` is skipped). The
/// error says what is wrong and how the command is written.
pub fn parse(text: &str) -> Result<Sub, String> {
    let mut words = text.split_whitespace().peekable();
    if words
        .peek()
        .is_some_and(|w| w.eq_ignore_ascii_case("/datasync"))
    {
        words.next();
    }
    let Some(sub) = words.next() else {
        return Ok(Sub::Help);
    };
    let args: Vec<&str> = words.collect();
    let sub = sub.to_lowercase();
    let usage = |form: &str| format!("Usage: `/datasync {form}`");
    let one = |form: &str| match args.as_slice() {
        [name] => Ok(name.to_string()),
        [] => Err(format!("Which sync? {}", usage(form))),
        _ => Err(format!("Too many words. {}", usage(form))),
    };
    match sub.as_str() {
        "help" | "?" if args.is_empty() => Ok(Sub::Help),
        "list" if args.is_empty() => Ok(Sub::List),
        "validate" if args.is_empty() => Ok(Sub::Validate),
        "transforms" if args.is_empty() => Ok(Sub::Transforms),
        "help" | "?" | "list" | "validate" | "transforms" => {
            Err(format!("`{sub}` takes no arguments. {}", usage(&sub)))
        }
        "status" => match args.as_slice() {
            [] => Ok(Sub::Status(None)),
            [name] => Ok(Sub::Status(Some(name.to_string()))),
            _ => Err(format!("Too many words. {}", usage("status [sync]"))),
        },
        "history" => history(&args).map_err(|e| format!("{e} {}", usage("history <sync> [n]"))),
        "run" => one("run <sync>").map(Sub::Run),
        "preview" => one("preview <sync>").map(Sub::Preview),
        "pause" => one("pause <sync>").map(Sub::Pause),
        "resume" => one("resume <sync>").map(Sub::Resume),
        "test" => match args.as_slice() {
            [name] => Ok(Sub::Test(name.to_string())),
            [] => Err(format!("Which connection? {}", usage("test <connection>"))),
            _ => Err(format!("Too many words. {}", usage("test <connection>"))),
        },
        "transform" => match args.as_slice() {
            [verb, name] if verb.eq_ignore_ascii_case("add") => {
                Ok(Sub::TransformAdd(name.to_string(), false))
            }
            [verb, name] if verb.eq_ignore_ascii_case("replace") => {
                Ok(Sub::TransformAdd(name.to_string(), true))
            }
            _ => Err(format!(
                "{} with the module's `.wasm` file attached, in a direct message to the bot.",
                usage("transform add <name>")
            )),
        },
        "reset" => match args.as_slice() {
            [name] => Ok(Sub::Reset(name.to_string(), false)),
            [name, c] if c.eq_ignore_ascii_case("confirm") => {
                Ok(Sub::Reset(name.to_string(), true))
            }
            [] => Err(format!("Which sync? {}", usage("reset <sync>"))),
            _ => Err(usage("reset <sync> [confirm]")),
        },
        other => Err(format!(
            "`{}` is not a Data Sync command. `/datasync help` lists them.",
            other.chars().take(40).collect::<String>()
        )),
    }
}

fn history(args: &[&str]) -> Result<Sub, String> {
    match args {
        [] => Err("Which sync?".into()),
        [name] => Ok(Sub::History(name.to_string(), HISTORY_DEFAULT)),
        [name, n] => match n.parse::<usize>() {
            Ok(n) if (1..=HISTORY_MAX).contains(&n) => Ok(Sub::History(name.to_string(), n)),
            _ => Err(format!(
                "`{n}` is not a number of runs from 1 to {HISTORY_MAX}."
            )),
        },
        _ => Err("Too many words.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_and_its_arguments() {
        let ok = |t: &str| parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(ok(""), Sub::Help);
        assert_eq!(ok("/datasync"), Sub::Help);
        assert_eq!(ok("/datasync help"), Sub::Help);
        assert_eq!(ok("LIST"), Sub::List);
        assert_eq!(ok("status"), Sub::Status(None));
        assert_eq!(
            ok("status big_deals"),
            Sub::Status(Some("big_deals".into()))
        );
        assert_eq!(
            ok("history big_deals"),
            Sub::History("big_deals".into(), 10)
        );
        assert_eq!(
            ok("history big_deals 3"),
            Sub::History("big_deals".into(), 3)
        );
        assert_eq!(ok("validate"), Sub::Validate);
        assert_eq!(ok("run x"), Sub::Run("x".into()));
        assert_eq!(ok("preview x"), Sub::Preview("x".into()));
        assert_eq!(ok("  pause   x "), Sub::Pause("x".into()));
        assert_eq!(ok("resume x"), Sub::Resume("x".into()));
        assert_eq!(ok("reset x"), Sub::Reset("x".into(), false));
        assert_eq!(ok("reset x CONFIRM"), Sub::Reset("x".into(), true));
        assert_eq!(ok("test warehouse"), Sub::Test("warehouse".into()));
        assert_eq!(ok("transforms"), Sub::Transforms);
        assert_eq!(
            ok("transform add mask"),
            Sub::TransformAdd("mask".into(), false)
        );
        assert_eq!(
            ok("transform REPLACE mask"),
            Sub::TransformAdd("mask".into(), true)
        );
        assert!(
            parse("transform mask")
                .unwrap_err()
                .contains("`.wasm` file attached")
        );
        assert!(Sub::TransformAdd("m".into(), false).needs_admin());
    }

    #[test]
    fn argument_errors_say_how_the_command_is_written() {
        for (text, want) in [
            ("run", "Which sync? Usage: `/datasync run <sync>`"),
            ("run a b", "Too many words. Usage: `/datasync run <sync>`"),
            ("history x 0", "`0` is not a number of runs from 1 to 50."),
            ("history x many", "`many` is not a number of runs"),
            (
                "history",
                "Which sync? Usage: `/datasync history <sync> [n]`",
            ),
            ("list all", "`list` takes no arguments."),
            ("reset x now", "Usage: `/datasync reset <sync> [confirm]`"),
            ("status a b", "Too many words."),
            (
                "test",
                "Which connection? Usage: `/datasync test <connection>`",
            ),
            ("drop x", "`drop` is not a Data Sync command."),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn changing_and_source_reading_subcommands_need_an_operator() {
        assert!(Sub::Run("x".into()).needs_operator());
        assert!(Sub::Preview("x".into()).needs_operator());
        assert!(Sub::Reset("x".into(), false).needs_operator());
        assert!(!Sub::Status(None).needs_operator());
        assert!(!Sub::History("x".into(), 1).needs_operator());
        assert!(!Sub::Validate.needs_operator());
    }
}
