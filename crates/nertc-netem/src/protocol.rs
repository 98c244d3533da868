//! The control protocol on the binary's stdin/stdout: one command per line, one answer line
//! (`ok ...` or `err ...`) per command. Parsing and formatting only; no I/O.

use std::time::Duration;

use crate::model::Params;

/// The line the binary prints once the link is up, before it reads any command.
pub const READY_PREFIX: &str = "netem ready ";

/// A parsed control command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `set key=value ...`: change some parameters.
    Set(ParamUpdate),
    /// `blackout on`
    BlackoutOn,
    /// `blackout off`
    BlackoutOff,
    /// `blackout MS`: on now, off by itself after MS milliseconds.
    BlackoutFor(Duration),
    /// `spawn CMD ARGS...`: run a command in the far namespace.
    Spawn(Vec<String>),
    /// `stats`
    Stats,
    /// `params`: the parameters in force.
    Params,
    /// `quit`
    Quit,
}

/// A subset of [`Params`] to change (`set`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamUpdate {
    pub delay_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss_pct: Option<f64>,
    pub rate_kbps: Option<u64>,
    pub queue_ms: Option<f64>,
    pub allow_reorder: Option<bool>,
}

impl ParamUpdate {
    /// `base` with this update applied.
    pub fn apply(&self, base: &Params) -> Params {
        Params {
            delay_ms: self.delay_ms.unwrap_or(base.delay_ms),
            jitter_ms: self.jitter_ms.unwrap_or(base.jitter_ms),
            loss_pct: self.loss_pct.unwrap_or(base.loss_pct),
            rate_kbps: self.rate_kbps.unwrap_or(base.rate_kbps),
            queue_ms: self.queue_ms.unwrap_or(base.queue_ms),
            allow_reorder: self.allow_reorder.unwrap_or(base.allow_reorder),
        }
    }
}

/// `key=value` pairs of all of `p`, as `set` takes them and `params` prints them.
pub fn format_params(p: &Params) -> String {
    format!(
        "loss={} delay={} jitter={} rate={} queue={} reorder={}",
        p.loss_pct, p.delay_ms, p.jitter_ms, p.rate_kbps, p.queue_ms, p.allow_reorder as u8
    )
}

/// The `set` command line that sets every parameter to `p`'s.
pub fn set_line(p: &Params) -> String {
    format!("set {}", format_params(p))
}

fn number(key: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{key}: not a non-negative number: {value:?}")),
    }
}

/// Parses the `key=value` pairs of a `set` command.
pub fn parse_update<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<ParamUpdate, String> {
    let mut u = ParamUpdate::default();
    let mut any = false;
    for pair in pairs {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("expected key=value, got {pair:?}"))?;
        match key {
            "loss" => u.loss_pct = Some(number(key, value)?),
            "delay" => u.delay_ms = Some(number(key, value)?),
            "jitter" => u.jitter_ms = Some(number(key, value)?),
            "queue" => u.queue_ms = Some(number(key, value)?),
            "rate" => u.rate_kbps = Some(value.parse().map_err(|_| format!("rate: not a whole number of kbit/s: {value:?}"))?),
            "reorder" => {
                u.allow_reorder = Some(match value {
                    "1" | "on" | "true" => true,
                    "0" | "off" | "false" => false,
                    _ => return Err(format!("reorder: expected 0 or 1, got {value:?}")),
                })
            }
            _ => return Err(format!("unknown parameter {key:?} (loss, delay, jitter, rate, queue, reorder)")),
        }
        any = true;
    }
    if !any {
        return Err("set: nothing to set".into());
    }
    Ok(u)
}

/// Parses one control line.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let no_args = |c: Command| if rest.is_empty() { Ok(c) } else { Err(format!("{word} takes no arguments")) };
    match word {
        "set" => Ok(Command::Set(parse_update(rest.split_whitespace())?)),
        "blackout" => match rest {
            "on" => Ok(Command::BlackoutOn),
            "off" => Ok(Command::BlackoutOff),
            ms => match ms.parse::<u64>() {
                Ok(ms) => Ok(Command::BlackoutFor(Duration::from_millis(ms))),
                Err(_) => Err(format!("blackout: expected on, off or milliseconds, got {ms:?}")),
            },
        },
        "spawn" => {
            let argv = split_args(rest)?;
            if argv.is_empty() {
                return Err("spawn: no command".into());
            }
            Ok(Command::Spawn(argv))
        }
        "stats" => no_args(Command::Stats),
        "params" => no_args(Command::Params),
        "quit" => no_args(Command::Quit),
        "" => Err("empty command".into()),
        _ => Err(format!("unknown command {word:?} (set, blackout, spawn, stats, params, quit)")),
    }
}

/// Splits a `spawn` command line into arguments: whitespace separates them; `'...'` quotes
/// literally; `"..."` quotes with `\` escaping `"` and `\`; outside quotes `\` escapes any
/// character.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            '\'' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated '".into()),
                    }
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated \"".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated \"".into()),
                    }
                }
            }
            '\\' => {
                in_arg = true;
                cur.push(chars.next().ok_or("trailing \\")?);
            }
            c => {
                in_arg = true;
                cur.push(c);
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    Ok(args)
}

/// Quotes one argument so that [`split_args`] gives it back unchanged.
pub fn quote_arg(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

/// The fields of the ready line: `netem ready near=IP far=IP farns=PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    pub near: std::net::Ipv4Addr,
    pub far: std::net::Ipv4Addr,
    pub far_ns: std::path::PathBuf,
}

impl Ready {
    pub fn format(&self) -> String {
        format!("{READY_PREFIX}near={} far={} farns={}", self.near, self.far, self.far_ns.display())
    }

    pub fn parse(line: &str) -> Result<Ready, String> {
        let rest = line.trim_end().strip_prefix(READY_PREFIX).ok_or_else(|| format!("not a ready line: {line:?}"))?;
        let (mut near, mut far, mut far_ns) = (None, None, None);
        for pair in rest.split_whitespace() {
            match pair.split_once('=') {
                Some(("near", v)) => near = v.parse().ok(),
                Some(("far", v)) => far = v.parse().ok(),
                Some(("farns", v)) => far_ns = Some(std::path::PathBuf::from(v)),
                _ => {}
            }
        }
        match (near, far, far_ns) {
            (Some(near), Some(far), Some(far_ns)) => Ok(Ready { near, far, far_ns }),
            _ => Err(format!("incomplete ready line: {line:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_round_trips() {
        let p = Params { delay_ms: 100.0, jitter_ms: 2.5, loss_pct: 20.0, rate_kbps: 2000, queue_ms: 150.0, allow_reorder: true };
        let Command::Set(u) = parse_command(&set_line(&p)).expect("set_line parses") else { panic!("not a set") };
        assert_eq!(u.apply(&Params::default()), p);
    }

    #[test]
    fn set_takes_any_subset() {
        let Command::Set(u) = parse_command("set loss=20 delay=100").expect("parses") else { panic!("not a set") };
        let base = Params { jitter_ms: 3.0, ..Params::default() };
        assert_eq!(u.apply(&base), Params { loss_pct: 20.0, delay_ms: 100.0, jitter_ms: 3.0, ..Params::default() });
        for bad in ["set", "set loss", "set loss=x", "set loss=-1", "set rate=1.5", "set color=red", "set reorder=2", "set delay=inf"] {
            assert!(parse_command(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands() {
        assert_eq!(parse_command("blackout on"), Ok(Command::BlackoutOn));
        assert_eq!(parse_command("  blackout   off "), Ok(Command::BlackoutOff));
        assert_eq!(parse_command("blackout 1500"), Ok(Command::BlackoutFor(Duration::from_millis(1500))));
        assert_eq!(parse_command("stats"), Ok(Command::Stats));
        assert_eq!(parse_command("params"), Ok(Command::Params));
        assert_eq!(parse_command("quit"), Ok(Command::Quit));
        assert_eq!(parse_command("spawn /bin/echo hi there"), Ok(Command::Spawn(vec!["/bin/echo".into(), "hi".into(), "there".into()])));
        for bad in ["", "blackout", "blackout maybe", "spawn", "stats now", "reboot"] {
            assert!(parse_command(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_round_trips() {
        let args = ["plain", "with space", "it's", "", "a\"b\\c", "tab\there", "--x=1,2"];
        let line = args.iter().map(|a| quote_arg(a)).collect::<Vec<_>>().join(" ");
        assert_eq!(split_args(&line).expect("quoted line splits"), args);
        assert_eq!(split_args(r#"a "b \"c\" d" e\ f"#).expect("splits"), ["a", "b \"c\" d", "e f"]);
        assert!(split_args("'open").is_err());
        assert!(split_args("\"open").is_err());
    }

    #[test]
    fn ready_line() {
        let r = Ready { near: [10, 77, 0, 1].into(), far: [10, 77, 0, 2].into(), far_ns: "/proc/12/task/13/ns/net".into() };
        assert_eq!(r.format(), "netem ready near=10.77.0.1 far=10.77.0.2 farns=/proc/12/task/13/ns/net");
        assert_eq!(Ready::parse(&r.format()), Ok(r));
        assert!(Ready::parse("netem ready near=10.77.0.1").is_err());
        assert!(Ready::parse("hello").is_err());
    }
}
