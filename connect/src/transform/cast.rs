//! `Cast$Key` / `$Value`: casts fields of an object key or value (`spec=a:int32,b:string`), or the
//! whole key or value (`spec=int64`), to another primitive type.

use serde_json::{Number, Value};

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut, type_name};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct Cast {
    part: Part,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Whole(CastType),
    Fields(Vec<(String, CastType)>),
}

/// The types a value can be cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CastType {
    /// A signed integer of this many bits.
    Int(u32),
    Float32,
    Float64,
    Boolean,
    String,
}

impl CastType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int8" => Self::Int(8),
            "int16" => Self::Int(16),
            "int32" => Self::Int(32),
            "int64" => Self::Int(64),
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Int(8) => "int8",
            Self::Int(16) => "int16",
            Self::Int(32) => "int32",
            Self::Int(_) => "int64",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Boolean => "boolean",
            Self::String => "string",
        }
    }
}

impl Cast {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let entries = settings.required_list("spec")?;
        let parse_type = |name: &str| {
            CastType::parse(name.trim()).ok_or_else(|| {
                settings.error(
                    "spec",
                    format!(
                        "unknown type `{}`: expected one of int8, int16, int32, int64, float32, float64, boolean, string",
                        name.trim()
                    ),
                )
            })
        };
        let target = match entries.as_slice() {
            [single] if !single.contains(':') => Target::Whole(parse_type(single)?),
            _ => {
                let mut fields = Vec::with_capacity(entries.len());
                for entry in &entries {
                    let Some((field, ty)) = entry.split_once(':').filter(|(f, _)| !f.trim().is_empty()) else {
                        return Err(settings.error(
                            "spec",
                            format!("invalid cast `{entry}`: expected `field:type` pairs, or a single type to cast the whole {}", part.name()),
                        ));
                    };
                    fields.push((field.trim().to_owned(), parse_type(ty)?));
                }
                Target::Fields(fields)
            }
        };
        Ok(Self { part, target })
    }
}

impl Transform for Cast {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        match &self.target {
            Target::Whole(ty) => {
                if let Some(value) = self.part.of(record) {
                    *value = cast(value, *ty).map_err(|e| format!("cannot cast the {}: {e}", self.part.name()))?;
                }
            }
            Target::Fields(fields) => {
                let Some(map) = object_mut(self.part.of(record), self.part, "casting fields")? else {
                    return Ok(Outcome::Keep);
                };
                for (field, ty) in fields {
                    if let Some(value) = map.get_mut(field) {
                        *value = cast(value, *ty).map_err(|e| format!("cannot cast field `{field}`: {e}"))?;
                    }
                }
            }
        }
        Ok(Outcome::Keep)
    }
}

/// `value` as `ty`, or why not. Null stays null.
fn cast(value: &Value, ty: CastType) -> Result<Value, String> {
    let cannot = || format!("{} {value} cannot be cast to {}", type_name(value), ty.name());
    if value.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        CastType::Int(bits) => {
            let int = match value {
                Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => i128::from(i),
                    (None, Some(f)) if f.is_finite() => {
                        let t = f.trunc();
                        if t.abs() >= 2f64.powi(64) {
                            return Err(out_of_range(value, ty));
                        }
                        // In range of i128 after the check above; `as` saturates anyway.
                        t as i128
                    }
                    _ => return Err(out_of_range(value, ty)),
                },
                Value::Bool(b) => i128::from(*b),
                Value::String(s) => s.parse::<i128>().map_err(|_| cannot())?,
                Value::Null | Value::Array(_) | Value::Object(_) => return Err(cannot()),
            };
            let bound = 1i128 << (bits - 1);
            if int < -bound || int >= bound {
                return Err(out_of_range(value, ty));
            }
            i64::try_from(int).map(Value::from).map_err(|_| out_of_range(value, ty))
        }
        CastType::Float32 | CastType::Float64 => {
            let float = match value {
                Value::Number(n) => n.as_f64().ok_or_else(cannot)?,
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| cannot())?,
                Value::Null | Value::Array(_) | Value::Object(_) => return Err(cannot()),
            };
            let float = if ty == CastType::Float32 {
                narrow_to_f32(float)
            } else {
                Some(float)
            };
            float
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| out_of_range(value, ty))
        }
        CastType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) => Ok(Value::Bool(match n.as_i64() {
                Some(i) => i != 0,
                None => n.as_f64().is_some_and(|f| f.trunc() != 0.0),
            })),
            Value::String(s) => Ok(Value::Bool(s.trim().eq_ignore_ascii_case("true"))),
            Value::Null | Value::Array(_) | Value::Object(_) => Err(cannot()),
        },
        CastType::String => Ok(match value {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        }),
    }
}

/// The `f32` nearest to `float`, as the shortest decimal that reads back as that `f32` (so 0.1 stays
/// 0.1, not 0.10000000149011612); `None` when out of `f32`'s range.
fn narrow_to_f32(float: f64) -> Option<f64> {
    let narrow = float as f32;
    if !narrow.is_finite() {
        return None;
    }
    narrow.to_string().parse::<f64>().ok()
}

fn out_of_range(value: &Value, ty: CastType) -> String {
    format!("{value} is out of range for {}", ty.name())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn integers_are_range_checked_and_floats_truncated() {
        assert_eq!(cast(&json!(127), CastType::Int(8)), Ok(json!(127)));
        assert_eq!(cast(&json!(-128), CastType::Int(8)), Ok(json!(-128)));
        assert_eq!(
            cast(&json!(128), CastType::Int(8)),
            Err("128 is out of range for int8".into())
        );
        assert_eq!(
            cast(&json!(-32769), CastType::Int(16)),
            Err("-32769 is out of range for int16".into())
        );
        assert_eq!(cast(&json!(2147483647), CastType::Int(32)), Ok(json!(2147483647)));
        assert_eq!(cast(&json!(-7.9), CastType::Int(32)), Ok(json!(-7)));
        assert_eq!(
            cast(&json!(u64::MAX), CastType::Int(64)),
            Err("18446744073709551615 is out of range for int64".into())
        );
        assert_eq!(
            cast(&json!(9.3e18), CastType::Int(64)),
            Err("9.3e+18 is out of range for int64".into())
        );
        assert_eq!(cast(&json!("-12"), CastType::Int(64)), Ok(json!(-12)));
        assert_eq!(
            cast(&json!("1.5"), CastType::Int(64)),
            Err("a string \"1.5\" cannot be cast to int64".into())
        );
        assert_eq!(cast(&json!(true), CastType::Int(16)), Ok(json!(1)));
    }

    #[test]
    fn floats_booleans_and_strings() {
        assert_eq!(cast(&json!(0.1), CastType::Float32), Ok(json!(0.1)));
        assert_eq!(cast(&json!(3), CastType::Float64), Ok(json!(3.0)));
        assert_eq!(
            cast(&json!(1e300), CastType::Float32),
            Err("1e+300 is out of range for float32".into())
        );
        assert_eq!(cast(&json!(" 2.5 "), CastType::Float64), Ok(json!(2.5)));
        assert_eq!(cast(&json!(0), CastType::Boolean), Ok(json!(false)));
        assert_eq!(cast(&json!(-2), CastType::Boolean), Ok(json!(true)));
        assert_eq!(cast(&json!("TRUE"), CastType::Boolean), Ok(json!(true)));
        assert_eq!(cast(&json!("yes"), CastType::Boolean), Ok(json!(false)));
        assert_eq!(cast(&json!(12.5), CastType::String), Ok(json!("12.5")));
        assert_eq!(cast(&json!(false), CastType::String), Ok(json!("false")));
        assert_eq!(cast(&json!({"a": 1}), CastType::String), Ok(json!("{\"a\":1}")));
        assert_eq!(
            cast(&json!([1]), CastType::Int(32)),
            Err("an array [1] cannot be cast to int32".into())
        );
        assert_eq!(cast(&Value::Null, CastType::Int(32)), Ok(Value::Null));
    }
}
