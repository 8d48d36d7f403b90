//! Tests of the reading classes that real-world files exercise.
