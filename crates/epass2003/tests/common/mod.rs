#![allow(dead_code)]
pub(crate) mod suite;
pub(crate) mod vectors;
