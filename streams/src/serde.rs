//! Serdes: how keys and values become bytes on topics and in state stores, and back.
//!
//! A [`Serde`] works at the level of a Kafka record's key or value, which may be null: built-in
//! serdes refuse null (a typed `String` has no null), and [`Nullable`] wraps one to map null to
//! `None`.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A key or value that cannot be turned into bytes or back.
#[derive(Debug, thiserror::Error)]
#[error("{serde}: {reason}")]
pub struct SerdeError {
    /// The serde that failed.
    pub serde: &'static str,
    /// Why.
    pub reason: String,
}

impl SerdeError {
    /// An error of serde `serde`.
    pub fn new(serde: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            serde,
            reason: reason.to_string(),
        }
    }

    fn null(serde: &'static str) -> Self {
        Self::new(
            serde,
            "null where a value is required (wrap the serde in Nullable to accept null)",
        )
    }
}

/// Converts values of `T` to record bytes (`None` for null) and back.
pub trait Serde<T>: Send + Sync + 'static {
    /// The bytes of `value`; `None` writes a null key or value.
    fn serialize(&self, value: &T) -> Result<Option<Bytes>, SerdeError>;

    /// The bytes of `value`, given away (as a sink does); serdes that can reuse it override
    /// this.
    fn serialize_owned(&self, value: T) -> Result<Option<Bytes>, SerdeError> {
        self.serialize(&value)
    }
    /// The value of `bytes` (`None` for a null key or value).
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError>;

    /// The value of `bytes` as read from a topic; serdes that can keep (a slice of) the buffer
    /// instead of copying it override this.
    fn deserialize_owned(&self, bytes: Option<Bytes>) -> Result<T, SerdeError> {
        self.deserialize(bytes.as_deref())
    }
}

/// UTF-8 strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<String, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError::null("string"))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| SerdeError::new("string", e))
    }
}

/// Raw bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Bytes> for BytesSerde {
    fn serialize(&self, value: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(value.clone()))
    }

    fn serialize_owned(&self, value: Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(value))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Bytes, SerdeError> {
        bytes
            .map(Bytes::copy_from_slice)
            .ok_or_else(|| SerdeError::null("bytes"))
    }

    fn deserialize_owned(&self, bytes: Option<Bytes>) -> Result<Bytes, SerdeError> {
        bytes.ok_or_else(|| SerdeError::null("bytes"))
    }
}

/// Big-endian fixed-width integers, as Kafka's `IntegerSerde`/`LongSerde` write them.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntSerde;

macro_rules! int_serde {
    ($($t:ty => $name:literal),*) => {$(
        impl Serde<$t> for IntSerde {
            fn serialize(&self, value: &$t) -> Result<Option<Bytes>, SerdeError> {
                Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
            }

            fn deserialize(&self, bytes: Option<&[u8]>) -> Result<$t, SerdeError> {
                let bytes = bytes.ok_or_else(|| SerdeError::null($name))?;
                let array = bytes.try_into().map_err(|_| {
                    SerdeError::new($name, format!("{} bytes, expected {}", bytes.len(), size_of::<$t>()))
                })?;
                Ok(<$t>::from_be_bytes(array))
            }
        }
    )*};
}

int_serde!(i32 => "i32", i64 => "i64", u32 => "u32", u64 => "u64", f64 => "f64");

/// JSON via serde.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for JsonSerde<T> {
    fn serialize(&self, value: &T) -> Result<Option<Bytes>, SerdeError> {
        serde_json::to_vec(value)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| SerdeError::new("json", e))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError::null("json"))?;
        serde_json::from_slice(bytes).map_err(|e| SerdeError::new("json", e))
    }
}

/// Maps null to `None` around another serde.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nullable<S>(pub S);

impl<T, S: Serde<T>> Serde<Option<T>> for Nullable<S> {
    fn serialize(&self, value: &Option<T>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            Some(v) => self.0.serialize(v),
            None => Ok(None),
        }
    }

    fn serialize_owned(&self, value: Option<T>) -> Result<Option<Bytes>, SerdeError> {
        value.map_or(Ok(None), |v| self.0.serialize_owned(v))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        bytes.map(|b| self.0.deserialize(Some(b))).transpose()
    }

    fn deserialize_owned(&self, bytes: Option<Bytes>) -> Result<Option<T>, SerdeError> {
        bytes.map(|b| self.0.deserialize_owned(Some(b))).transpose()
    }
}

/// The unit type as a null key or value: for streams whose keys do not matter.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize(&self, (): &()) -> Result<Option<Bytes>, SerdeError> {
        Ok(None)
    }

    fn deserialize(&self, _bytes: Option<&[u8]>) -> Result<(), SerdeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors() {
        let s = StringSerde.serialize(&"héllo".to_owned()).expect("ser");
        assert_eq!(StringSerde.deserialize(s.as_deref()).expect("de"), "héllo");
        assert!(StringSerde.deserialize(None).is_err());
        assert!(StringSerde.deserialize(Some(&[0xff])).is_err());

        let b = IntSerde.serialize(&-2i64).expect("ser");
        assert_eq!(
            b.as_deref(),
            Some(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe][..])
        );
        assert_eq!(Serde::<i64>::deserialize(&IntSerde, b.as_deref()).expect("de"), -2);
        let short = Serde::<i64>::deserialize(&IntSerde, Some(&[1, 2])).expect_err("short");
        assert!(short.to_string().contains("2 bytes, expected 8"), "{short}");

        let json = JsonSerde::<Vec<u32>>::new();
        let b = json.serialize(&vec![1, 2]).expect("ser");
        assert_eq!(b.as_deref(), Some(&b"[1,2]"[..]));
        assert_eq!(json.deserialize(Some(b"[3]")).expect("de"), vec![3]);
        assert!(json.deserialize(Some(b"{")).is_err());

        let nullable = Nullable(StringSerde);
        assert_eq!(nullable.deserialize(None).expect("null"), None);
        assert_eq!(nullable.serialize(&None).expect("null"), None);
        assert_eq!(nullable.deserialize(Some(b"x")).expect("value"), Some("x".to_owned()));
    }
}
