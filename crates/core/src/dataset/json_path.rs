//! Field paths into benchmark and corpus JSON (`Buggy`, `test.*.Code`).

use serde_json::Value;

/// Values at a dotted field path; `*` steps into every element of an array (or
/// value of an object). A top-level array is entered implicitly.
pub fn select_field<'a>(value: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = match value {
        Value::Array(items) if !path.starts_with('*') => items.iter().collect(),
        other => vec![other],
    };
    for step in path.split('.') {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match (step, v) {
                    ("*", Value::Array(items)) => items.iter().collect(),
                    ("*", Value::Object(map)) => map.values().collect(),
                    (key, Value::Object(map)) => map.get(key).into_iter().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_nested_fields() {
        let v: Value = serde_json::json!({"train": [{"Code": "a"}, {"Code": "b"}], "test": [{"Code": "c"}]});
        let got: Vec<_> = select_field(&v, "train.*.Code").into_iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(got, ["a", "b"]);
        let list = serde_json::json!([{"Buggy": "x"}, {"Buggy": "y"}]);
        assert_eq!(select_field(&list, "Buggy").len(), 2);
    }
}
