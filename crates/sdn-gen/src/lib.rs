//! sdn-gen
