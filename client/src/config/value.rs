//! Parsing and rendering of typed configuration values.

use super::ConfigError;

/// The type of a configuration, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` / `false`.
    Boolean,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// Free text.
    String,
    /// Comma-separated list.
    List,
}

impl ConfigType {
    /// Kafka's `ConfigType` code in DescribeConfigs responses.
    pub fn code(self) -> i8 {
        match self {
            Self::Boolean => 1,
            Self::String => 2,
            Self::Int => 3,
            Self::Long => 5,
            Self::Double => 6,
            Self::List => 7,
        }
    }
}

/// A value type a configuration field can have.
pub trait ConfigValue: Sized {
    /// Kafka's type of the value.
    const TYPE: ConfigType;
    /// Parses the string form, naming `key` in errors.
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError>;
    /// The string form.
    fn render(&self) -> String;
}

fn bad(key: &str, raw: &str, expected: &str) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_owned(),
        value: raw.to_owned(),
        expected: expected.to_owned(),
    }
}

impl ConfigValue for bool {
    const TYPE: ConfigType = ConfigType::Boolean;
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad(key, raw, "true or false")),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

macro_rules! int_value {
    ($t:ty, $kind:expr, $what:literal) => {
        impl ConfigValue for $t {
            const TYPE: ConfigType = $kind;
            fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
                raw.trim().parse().map_err(|_| bad(key, raw, $what))
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    };
}
int_value!(i16, ConfigType::Int, "a 16-bit integer");
int_value!(i32, ConfigType::Int, "a 32-bit integer");
int_value!(i64, ConfigType::Long, "a 64-bit integer");

impl ConfigValue for f64 {
    const TYPE: ConfigType = ConfigType::Double;
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
        raw.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(key, raw, "a number"))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    const TYPE: ConfigType = ConfigType::String;
    fn parse(_key: &str, raw: &str) -> Result<Self, ConfigError> {
        Ok(raw.trim().to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl ConfigValue for Option<String> {
    const TYPE: ConfigType = ConfigType::String;
    fn parse(_key: &str, raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        Ok(if raw.is_empty() { None } else { Some(raw.to_owned()) })
    }
    fn render(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

/// Checks a numeric value against an inclusive lower bound.
pub fn at_least<T: PartialOrd + std::fmt::Display + ConfigValue>(
    min: T,
) -> impl Fn(&str, &T) -> Result<(), ConfigError> {
    move |key, value| {
        if *value < min {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: value.render(),
                reason: format!("must be at least {min}"),
            })
        } else {
            Ok(())
        }
    }
}

/// Checks a numeric value against an inclusive range.
pub fn between<T: PartialOrd + std::fmt::Display + ConfigValue>(
    min: T,
    max: T,
) -> impl Fn(&str, &T) -> Result<(), ConfigError> {
    move |key, value| {
        if *value < min || *value > max {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: value.render(),
                reason: format!("must be between {min} and {max}"),
            })
        } else {
            Ok(())
        }
    }
}

/// Accepts any value.
pub fn any<T>(_key: &str, _value: &T) -> Result<(), ConfigError> {
    Ok(())
}

/// Declares a configuration struct from one table: field, type, Kafka key, default, check, doc.
/// Generates the struct, `Default`, and string `set`/`get` by key, so each key is written once.
#[macro_export]
macro_rules! config_table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident: $ty:ty = $key:literal, default $default:expr, check $check:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every key with its type and documentation, in declaration order.
            pub const KEYS: &'static [$crate::config::KeyInfo] = &[
                $( $crate::config::KeyInfo {
                    name: $key,
                    doc: concat!($($doc),+),
                    ty: <$ty as $crate::config::ConfigValue>::TYPE,
                }, )*
            ];

            /// Sets `key` from its string form; `Ok(false)` if the key is not one of this table's.
            pub fn set(&mut self, key: &str, raw: &str) -> Result<bool, $crate::config::ConfigError> {
                match key {
                    $( $key => {
                        let value = <$ty as $crate::config::ConfigValue>::parse(key, raw)?;
                        ($check)(key, &value)?;
                        self.$field = value;
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            /// The current value of `key` in string form.
            pub fn get(&self, key: &str) -> Option<String> {
                match key {
                    $( $key => Some($crate::config::ConfigValue::render(&self.$field)), )*
                    _ => None,
                }
            }
        }
    };
}

/// A key of a configuration table.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    /// Kafka's name for it.
    pub name: &'static str,
    /// What it does, with units.
    pub doc: &'static str,
    /// Its type.
    pub ty: ConfigType,
}
