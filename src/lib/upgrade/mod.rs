//! Converting RED 5–8 files to RED 9.
