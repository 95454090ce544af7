use std::any::TypeId;
use std::time::Duration;

use clap::CommandFactory;
use clap::error::ErrorKind;
use proptest::prelude::*;

use super::*;
use crate::app::Cli;

/// Values no numeric option may take.
const HOSTILE: [&str; 16] = [
    "1e300",
    "-1e300",
    "99999999999999999999",
    "99999999999999999999h",
    "18446744073709551616",
    "-1",
    "-0.5",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "abc",
    "",
    "1x",
    "0x10",
];

/// Whether an argument's values are numbers (every type a numeric option parses into).
fn is_numeric(arg: &clap::Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
        TypeId::of::<Duration>(),
    ]
    .into_iter()
    .any(|t| id == t)
}

/// Every (subcommand path, argument) of red that takes a number.
fn numeric_args() -> Vec<(Vec<String>, clap::Arg)> {
    fn walk(command: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Arg)>) {
        for arg in command.get_arguments() {
            if arg.get_action().takes_values() && is_numeric(arg) {
                out.push((path.to_vec(), arg.clone()));
            }
        }
        for sub in command.get_subcommands() {
            let mut deeper = path.to_vec();
            deeper.push(sub.get_name().to_owned());
            walk(sub, &deeper, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

fn argv(path: &[String], arg: &clap::Arg, value: &str) -> Vec<String> {
    let mut argv = vec!["red".to_owned()];
    argv.extend(path.iter().cloned());
    match arg.get_long() {
        Some(long) => argv.push(format!("--{long}={value}")),
        None => argv.push(value.to_owned()),
    }
    argv
}

fn name(path: &[String], arg: &clap::Arg) -> String {
    format!(
        "red {} --{}",
        path.join(" "),
        arg.get_long().unwrap_or(arg.get_id().as_str())
    )
}

#[test]
fn the_table_covers_the_options_of_the_issue() {
    let names: Vec<String> = numeric_args().iter().map(|(p, a)| name(p, a)).collect();
    for expected in [
        "red exec --timeout",
        "red bench io --duration",
        "red mount --timeout",
        "red mount --cache-ttl",
        "red bench io --readers",
        "red convert format --indent",
        "red kiosk submit --poll",
        "red status --timeout",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[test]
fn every_numeric_option_refuses_hostile_values() {
    let command = Cli::command();
    for (path, arg) in numeric_args() {
        for value in HOSTILE {
            let result = command
                .clone()
                .try_get_matches_from(argv(&path, &arg, value));
            let error = result.err().unwrap_or_else(|| {
                panic!("`{}={value}` was accepted", name(&path, &arg));
            });
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ),
                "`{}={value}`: {:?} {error}",
                name(&path, &arg),
                error.kind()
            );
            assert_eq!(error.exit_code(), 2);
        }
    }
}

#[test]
fn every_numeric_default_is_in_its_range() {
    let command = Cli::command();
    for (path, arg) in numeric_args() {
        for default in arg.get_default_values() {
            let value = default.to_string_lossy();
            let result = command
                .clone()
                .try_get_matches_from(argv(&path, &arg, &value));
            if let Err(error) = result {
                assert!(
                    !matches!(
                        error.kind(),
                        ErrorKind::ValueValidation | ErrorKind::InvalidValue
                    ),
                    "the default of {} is refused: {error}",
                    name(&path, &arg)
                );
            }
        }
    }
}

#[test]
fn durations_take_units_and_name_their_range() {
    assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(duration("1.5m"), Ok(Duration::from_secs(90)));
    assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(duration("1d"), Ok(Duration::from_secs(86_400)));
    assert_eq!(duration("0.25"), Ok(Duration::from_millis(250)));
    assert_eq!(duration("366d"), Ok(MAX_DURATION));
    for bad in [
        "0",
        "0.0000001",
        "367d",
        "5w",
        "soon",
        "1e3",
        "99999999999999999999h",
    ] {
        let message = duration(bad).unwrap_err();
        assert!(
            message.contains("from 1 ms to 366 days"),
            "{bad}: {message}"
        );
    }
    let message = duration_up_to_a_day("2d").unwrap_err();
    assert!(message.contains("from 1 ms to 1 day"), "{message}");
}

#[test]
fn sizes_and_fractions_are_checked() {
    let parse = size(4096..=1 << 30);
    assert_eq!(parse("16M"), Ok(16 << 20));
    let message = parse("2G").unwrap_err();
    assert!(message.contains("from 4 KiB to 1 GiB"), "{message}");
    assert!(parse("1k").is_err());
    assert_eq!(fraction("0.1"), Ok(0.1));
    assert!(fraction("1.5").is_err());
    assert!(fraction("NaN").is_err());
}

proptest! {
    #[test]
    fn no_text_makes_a_duration_panic(text in "\\PC{0,24}") {
        if let Ok(value) = duration(&text) {
            prop_assert!((MIN_DURATION..=MAX_DURATION).contains(&value));
        }
    }

    #[test]
    fn no_number_makes_a_duration_panic(value in proptest::num::f64::ANY, unit in "(|s|m|h|d)") {
        let text = format!("{value}{unit}");
        if let Ok(parsed) = duration(&text) {
            prop_assert!((MIN_DURATION..=MAX_DURATION).contains(&parsed));
        }
    }
}

#[test]
fn a_delay_may_be_zero_and_is_at_most_an_hour() {
    assert_eq!(delay("0"), Ok(Duration::ZERO));
    assert_eq!(delay("0.0"), Ok(Duration::ZERO));
    assert_eq!(delay("0.05"), Ok(Duration::from_millis(50)));
    assert_eq!(delay("1m"), Ok(Duration::from_secs(60)));
    assert!(delay("1h").is_ok());
    assert!(delay("61m").is_err());
    assert!(delay("-1").is_err());
}
