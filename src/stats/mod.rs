//! Statistics and plots of what the pipeline produces.

pub mod plot;
