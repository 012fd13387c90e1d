//! Which settings exist, read off the serde `Raw*` structs themselves, so that a setting added
//! to one of them is known here without a second list; and the "did you mean" for one that
//! does not exist.
use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::spelling::edit_distance;

/// Every key path `T` reads, e.g. `http.tls.cert_path`, sections included (`http`, `http.tls`).
///
/// Walks `T`'s `Deserialize` impl with a deserializer that offers every field of every struct
/// and a placeholder for every leaf. Best effort: a field type this walk cannot satisfy (an
/// enum) ends the walk there, which only costs suggestions, never detection.
pub fn known_keys<T: DeserializeOwned>() -> Vec<String> {
    let mut keys = Vec::new();
    let _ = T::deserialize(Schema {
        path: String::new(),
        keys: &mut keys,
    });
    keys
}

/// The known key closest to `unknown`, if it is close enough to be a slip of the keyboard.
pub fn closest<'a>(unknown: &str, known: &'a [String]) -> Option<&'a str> {
    let unknown = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|key| (edit_distance(&unknown, key), key))
        .filter(|(distance, key)| *distance <= (key.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key.as_str())
}

struct Schema<'k> {
    path: String,
    keys: &'k mut Vec<String>,
}

impl Schema<'_> {
    fn child(&mut self, field: &str) -> Schema<'_> {
        let path = if self.path.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.path)
        };
        Schema {
            path,
            keys: self.keys,
        }
    }
}

struct Fields<'s, 'k> {
    schema: &'s mut Schema<'k>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> MapAccess<'de> for Fields<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.fields.get(self.next) {
            Some(field) => seed
                .deserialize(BorrowedStrDeserializer::<Error>::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.schema.child(field))
    }
}

struct Empty;

impl<'de> MapAccess<'de> for Empty {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, _: K) -> Result<Option<K::Value>, Error> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("no value"))
    }
}

impl<'de> de::SeqAccess<'de> for Empty {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        _: T,
    ) -> Result<Option<T::Value>, Error> {
        Ok(None)
    }
}

macro_rules! placeholder {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> Deserializer<'de> for Schema<'_> {
    type Error = Error;

    placeholder! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_u64(0),
        deserialize_i16 => visit_u64(0),
        deserialize_i32 => visit_u64(0),
        deserialize_i64 => visit_u64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_identifier => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_any => visit_unit(),
        deserialize_ignored_any => visit_unit(),
        deserialize_seq => visit_seq(Empty),
        deserialize_map => visit_map(Empty),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Empty)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Empty)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        for field in fields {
            let key = self.child(field).path;
            self.keys.push(key);
        }
        visitor.visit_map(Fields {
            schema: &mut self,
            fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom("enums are not walked"))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        first: u32,
        #[serde(default)]
        section: Inner,
        maybe: Option<Inner>,
        names: Vec<String>,
    }

    #[derive(Deserialize, Default)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
        path: Option<std::path::PathBuf>,
    }

    #[test]
    fn every_field_of_nested_and_optional_structs_is_known() {
        let keys = known_keys::<Outer>();

        for key in [
            "first",
            "section",
            "section.flag",
            "section.path",
            "maybe.flag",
            "names",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn a_slip_of_the_keyboard_finds_the_setting_it_meant() {
        let known: Vec<String> = ["http.api_keys", "integration_log.enabled", "http.listen"]
            .map(String::from)
            .into();

        assert_eq!(closest("http.api_key", &known), Some("http.api_keys"));
        assert_eq!(
            closest("integration_log.enabeld", &known),
            Some("integration_log.enabled")
        );
        assert_eq!(closest("database.something_else", &known), None);
    }
}
