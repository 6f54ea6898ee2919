//! Kafka's topic name rules (`org.apache.kafka.common.internals.Topic`).

use super::TopicError;

/// Longest legal topic name: a partition directory `<topic>-<partition>` must fit in 255 bytes.
pub(crate) const MAX_NAME_LENGTH: usize = 249;

/// Checks a topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub(crate) fn validate(name: &str) -> Result<(), TopicError> {
    let invalid = |reason| {
        Err(TopicError::InvalidName {
            topic: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name == "." || name == ".." {
        return invalid("`.` and `..` are not allowed");
    }
    if name.len() > MAX_NAME_LENGTH {
        return invalid("it is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Whether the topic is one of Kafka's internal topics.
pub(crate) fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        for ok in ["a", "my-topic.v2_x", &"x".repeat(249)] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "tópico", "a/b", &"x".repeat(250)] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
