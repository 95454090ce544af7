//! The RED 9 JSON Schemas, embedded at build time.
//!
//! The files in `schemas/` are the reference's own schemas (`faice schema show NAME --format
//! json`), byte for byte, so `red schema show` prints what users of the Python tools know and
//! the validator checks exactly the same structure.

/// A named schema.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The name `red schema show` takes.
    pub name: &'static str,
    /// What it describes.
    pub describes: &'static str,
    /// The JSON text.
    pub text: &'static str,
}

macro_rules! schema {
    ($name:literal, $describes:literal) => {
        Schema {
            name: $name,
            describes: $describes,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemas/",
                $name,
                ".json"
            )),
        }
    };
}

/// The schemas `red schema list` shows, in the reference's order.
pub const ALL: &[Schema] = &[
    schema!("red", "a whole RED 9 document"),
    schema!(
        "red-engine-container-docker",
        "`container.settings` of the docker engine"
    ),
    schema!(
        "red-engine-execution-ccfaice",
        "`execution.settings` of the ccfaice engine"
    ),
    schema!(
        "red-engine-execution-ccagency",
        "`execution.settings` of the ccagency engine"
    ),
];

/// Look a schema up by name.
#[must_use]
pub fn find(name: &str) -> Option<&'static Schema> {
    ALL.iter().find(|schema| schema.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_is_json() {
        for schema in super::ALL {
            let value: serde_json::Value = serde_json::from_str(schema.text).unwrap();
            assert!(value.is_object(), "{}", schema.name);
        }
    }
}
