//! NERTC's network quality (0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad,
//! 6 down) from what a link measured over the last report interval. The level is the worst of
//! what the loss and the round trip each say:
//!
//! | level | loss (before repair) | round trip |
//! |---|---|---|
//! | 1 excellent | < 2 % | < 100 ms |
//! | 2 good | < 5 % | < 200 ms |
//! | 3 poor | < 10 % | < 400 ms |
//! | 4 bad | < 20 % | < 800 ms |
//! | 5 very bad | < 40 % | any |
//! | 6 down | ≥ 40 % | |
//!
//! Loss is counted before NACK repairs it (what the network did, not what the decoder saw):
//! a link that loses 20 % is bad even when retransmissions hide it, because every repair costs
//! latency and bandwidth.

/// What one link measured over a report interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSample {
    /// Packets expected and lost on the way during the interval.
    pub expected: u64,
    pub lost: u64,
    pub rtt_ms: Option<u32>,
}

pub const UNKNOWN: i32 = 0;
pub const DOWN: i32 = 6;

/// The NERTC level of a loss fraction (0..=1) and a round trip.
pub fn level(loss: f64, rtt_ms: Option<u32>) -> i32 {
    let by_loss = match loss {
        l if l < 0.02 => 1,
        l if l < 0.05 => 2,
        l if l < 0.10 => 3,
        l if l < 0.20 => 4,
        l if l < 0.40 => 5,
        _ => DOWN,
    };
    let by_rtt = match rtt_ms {
        None => 1,
        Some(r) if r < 100 => 1,
        Some(r) if r < 200 => 2,
        Some(r) if r < 400 => 3,
        Some(r) if r < 800 => 4,
        Some(_) => 5,
    };
    by_loss.max(by_rtt)
}

/// The level of a link's interval; unknown when nothing was expected.
pub fn of(s: LinkSample) -> i32 {
    if s.expected == 0 {
        return UNKNOWN;
    }
    level(s.lost as f64 / s.expected as f64, s.rtt_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_table() {
        assert_eq!(level(0.0, Some(5)), 1);
        assert_eq!(level(0.03, Some(5)), 2);
        assert_eq!(level(0.0, Some(250)), 3, "a long round trip alone makes it poor");
        assert_eq!(level(0.2, Some(5)), 5, "20 % loss is very bad even when repaired");
        assert_eq!(level(0.12, Some(500)), 4);
        assert_eq!(level(0.5, None), DOWN);
        assert_eq!(of(LinkSample { expected: 0, lost: 0, rtt_ms: Some(1) }), UNKNOWN);
        assert_eq!(of(LinkSample { expected: 1000, lost: 10, rtt_ms: Some(1) }), 1);
        assert_eq!(of(LinkSample { expected: 1000, lost: 1000, rtt_ms: None }), DOWN);
    }
}
