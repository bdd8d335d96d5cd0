//! `skip_serializing_if` predicates shared by the configs and reports, so that
//! a field left at its default stays out of the JSON and TOML they write (and a
//! file written before the field existed reads back the same).

/// Whether `value` is its type's default (`0`, `0.0`, `false`, empty).
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
