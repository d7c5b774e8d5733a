//! Value parsers shared by the commands' flags, for clap: each refuses what
//! the command could not use, with a message that says what to write.

/// The longest time a flag counts in seconds takes (100 years, as the
/// configuration's durations): a timer that far out overflows a clock.
const MAX_SECONDS: f64 = 100.0 * 365.0 * 24.0 * 3600.0;

/// Parses a flag that counts seconds (`--exit-after`): a finite number
/// from 0 to 100 years, so that it converts to a `Duration` without a
/// panic. The error is clap's to show, with the flag's name.
pub fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "not a number of seconds; write one such as 30 or 0.5".to_owned())?;
    if v.is_nan() {
        return Err("not a number of seconds; write one such as 30 or 0.5".into());
    }
    if v < 0.0 {
        return Err("a number of seconds cannot be negative; write 0 or more, such as 30".into());
    }
    if v > MAX_SECONDS {
        return Err(format!(
            "more than 100 years ({MAX_SECONDS} s); leave the flag out to run until interrupted"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_finite_and_not_negative() {
        assert_eq!(seconds("30"), Ok(30.0));
        assert_eq!(seconds(" 0.5 "), Ok(0.5));
        assert_eq!(seconds("0"), Ok(0.0));
        for bad in [
            "-1", "-0.001", "NaN", "nan", "inf", "-inf", "infinity", "1e300", "x", "",
        ] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
