//! Validation rules for channel names and uids, as NERTC defines them.

/// Longest channel name in bytes.
pub const MAX_CHANNEL_BYTES: usize = 64;

/// Punctuation NERTC allows in channel names besides `a-zA-Z0-9` and space.
const CHANNEL_PUNCTUATION: &str = "!#$%&()+-:;<=.,>?@[]^_{|}~";

/// Why a channel name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    #[error("channel name is empty")]
    Empty,
    #[error("channel name is {0} bytes, more than 64")]
    TooLong(usize),
    #[error("channel name contains {0:?}, outside a-zA-Z0-9, space and !#$%&()+-:;<=.,>?@[]^_{{|}}~")]
    BadChar(char),
}

/// Checks a channel name: 1-64 bytes of `a-zA-Z0-9`, space and NERTC's punctuation set.
pub fn channel_name(name: &str) -> Result<(), ChannelNameError> {
    if name.is_empty() {
        return Err(ChannelNameError::Empty);
    }
    if name.len() > MAX_CHANNEL_BYTES {
        return Err(ChannelNameError::TooLong(name.len()));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == ' ' || CHANNEL_PUNCTUATION.contains(*c))) {
        Some(c) => Err(ChannelNameError::BadChar(c)),
        None => Ok(()),
    }
}

/// A uid must be non-zero.
pub fn uid(uid: u64) -> bool {
    uid != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        assert_eq!(channel_name("room-1 {test}~"), Ok(()));
        assert_eq!(channel_name(&"a".repeat(64)), Ok(()));
        assert_eq!(channel_name(""), Err(ChannelNameError::Empty));
        assert_eq!(channel_name(&"a".repeat(65)), Err(ChannelNameError::TooLong(65)));
        assert_eq!(channel_name("a/b"), Err(ChannelNameError::BadChar('/')));
        assert_eq!(channel_name("café"), Err(ChannelNameError::BadChar('é')));
        assert_eq!(channel_name("tab\t"), Err(ChannelNameError::BadChar('\t')));
        assert!(!uid(0));
        assert!(uid(u64::MAX));
    }
}
